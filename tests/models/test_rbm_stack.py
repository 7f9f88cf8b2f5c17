"""RBMStack: greedy layer-wise training across blocks of epochs, resume across layers, effective fields and
summary metrics, argument and data checks."""

from __future__ import annotations

import math

import lightning
import pytest
import torch

from rgnet.models.rbm_stack import RBMStack
from rgnet.models.rbm_training import batch_loader

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def stack_trainer(tmp_path, epochs: int) -> lightning.Trainer:
    checkpoint = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    return lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[checkpoint],
    )


def test_stack_trains_one_layer_per_block_of_epochs_and_resumes_across_layers(tmp_path, spin_data):
    data = spin_data(200, 16)
    torch.manual_seed(0)
    stack = RBMStack([16, 8, 4], epochs_per_layer=2, lr=0.05, l1=1e-4)
    assert stack.total_epochs == 4
    w0, w1 = stack.rbms[0].W.detach().clone(), stack.rbms[1].W.detach().clone()
    trainer = stack_trainer(tmp_path, 2)
    trainer.fit(stack, batch_loader(data, 50, True), batch_loader(data[:100], 50, False))
    assert not torch.equal(stack.rbms[0].W.detach(), w0)
    torch.testing.assert_close(stack.rbms[1].W.detach(), w1)  # the second layer has not started
    w0_trained = stack.rbms[0].W.detach().clone()
    resumed = RBMStack([16, 8, 4], epochs_per_layer=2, lr=0.05, l1=1e-4)
    trainer = stack_trainer(tmp_path, 4)
    trainer.fit(
        resumed,
        batch_loader(data, 50, True),
        batch_loader(data[:100], 50, False),
        ckpt_path=tmp_path / "last.ckpt",
    )
    torch.testing.assert_close(resumed.rbms[0].W.detach(), w0_trained)  # frozen after its block
    assert not torch.equal(resumed.rbms[1].W.detach(), w1)
    assert trainer.global_step == 16
    fields = resumed.effective_fields()
    assert [tuple(f.shape) for f in fields] == [(8, 16), (4, 16)]
    torch.testing.assert_close(fields[1], (resumed.rbms[0].W @ resumed.rbms[1].W).t().detach())
    summary = resumed.summary_metrics()
    assert set(summary["locality"]) == {"layer1", "layer2"}
    assert set(summary["block_radius"]) == {"layer1", "layer2"}
    assert 0.0 < summary["block_radius"]["layer1"] <= (15 / 6) ** 0.5 + 1e-6  # at most the uniform field's
    assert set(summary["reconstruction_error"]) == {"depth1", "depth2"}
    assert math.isfinite(summary["layer1_log_likelihood"]) and summary["layer1_log_z_error"] == 0.0
    recon = resumed.reconstruct(data[:5], 2)
    assert recon.shape == (5, 16) and bool((recon.abs() <= 1).all())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layers": [16]}, "layers must be a list"),
        ({"layers": [16, 0]}, r"layers\[1\] must be >= 1"),
        ({"epochs_per_layer": 0}, "epochs_per_layer must be >= 1"),
        ({"propagate": "both"}, "propagate must be one of"),
        ({"k": 0}, "k must be >= 1"),
        ({"l1": -2e-4}, "l1 must be >= 0"),
    ],
)
def test_stack_rejects_bad_arguments(kwargs, match):
    args = {"layers": [16, 8, 4], **kwargs}
    with pytest.raises(ValueError, match=match):
        RBMStack(**args)


def test_stack_warns_when_max_epochs_does_not_cover_every_layer(spin_data):
    data = spin_data(100, 16)
    for epochs, match in ((2, "deeper layers are never trained"), (5, "top layer trains longer")):
        trainer = lightning.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            limit_train_batches=1,
        )
        with pytest.warns(UserWarning, match=match):
            trainer.fit(RBMStack([16, 8, 4], epochs_per_layer=2), batch_loader(data, 50, True))


def test_stack_rejects_data_of_the_wrong_size_before_training():
    stack = RBMStack([16, 8])
    with pytest.raises(ValueError, match="n_visible=16"):
        stack.training_step(torch.ones(4, 25), 0)


def test_stack_refuses_a_datamodule_of_another_lattice_size_at_fit_start(tmp_path):
    from rgnet.data.datamodule import IsingDataModule

    dm = IsingDataModule.from_fields(cache_dir=tmp_path, L=6, K=0.3, n=20, method="wolff")
    trainer = lightning.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    with pytest.raises(ValueError, match=r"layers\[0\] = 16 does not match the data's L\*L = 36"):
        trainer.fit(RBMStack([16, 4]), datamodule=dm)
