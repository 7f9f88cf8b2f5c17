"""RBM callbacks: TensorBoard output, block-spin controls (structureless data, resume), thermodynamics."""

from __future__ import annotations

import math

import lightning
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rgnet.callbacks.rbm import (
    BlockSpinEmergence,
    RBMFilters,
    RBMReconstructions,
    RBMThermodynamics,
)
from rgnet.ising.exact import boltzmann_probabilities_2d, enumerate_configurations
from rgnet.ising.lattice import bond_sum
from rgnet.models.rbm import RBM
from rgnet.models.rbm_stack import RBMStack
from rgnet.models.rbm_training import batch_loader

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def ising_4x4(n: int, K: float, seed: int = 0) -> torch.Tensor:
    p = boltzmann_probabilities_2d(4, 4, K)
    index = torch.multinomial(p, n, replacement=True, generator=torch.Generator().manual_seed(seed))
    return enumerate_configurations((4, 4)).reshape(-1, 16)[index].float()


def callbacks(K: float) -> list[lightning.Callback]:
    return [
        RBMFilters(every_n_epochs=1),
        BlockSpinEmergence(every_n_epochs=1, control="shuffle"),
        RBMReconstructions(every_n_epochs=1, n_samples=4),
        RBMThermodynamics(K, every_n_epochs=2, n_chains=50, steps=20, max_data=100),
    ]


def fit(model, data, tmp_path, epochs, cbs, logger=True, ckpt_path=None) -> lightning.Trainer:
    checkpoint = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    trainer = lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=TensorBoardLogger(tmp_path, name="tb", version=0) if logger else False,
        callbacks=[*cbs, checkpoint],
        log_every_n_steps=1,
    )
    trainer.fit(model, batch_loader(data, 50, True), batch_loader(data[:100], 50, False), ckpt_path=ckpt_path)
    return trainer


def test_callbacks_write_tensorboard_images_and_scalars_and_summaries(tmp_path):
    data = ising_4x4(400, 0.4)
    torch.manual_seed(0)
    stack = RBMStack([16, 8, 4], epochs_per_layer=2, lr=0.05, l1=1e-3)
    cbs = callbacks(0.4)
    fit(stack, data, tmp_path, 4, cbs)
    log_dir = tmp_path / "tb" / "version_0"
    events = EventAccumulator(str(log_dir), size_guidance={"images": 0}).Reload()
    images = set(events.Tags()["images"])
    assert {"filters/layer1", "filters/layer2", "reconstructions"} <= images
    # every series is a tag of the one run (no sub-run directory per series)
    assert not [p for p in log_dir.iterdir() if p.is_dir()]
    scalars = set(events.Tags()["scalars"])
    assert {f"block_spin/layer2/{s}" for s in ("init", "trained", "control")} <= scalars
    assert {"block_radius/layer1/trained", "thermo/energy/model", "thermo/energy/data"} <= scalars
    block = cbs[1].summary_metrics()
    assert set(block) == {
        "locality_trained",
        "locality_init",
        "locality_control",
        "locality_excess_over_control",
        "block_radius_trained",
        "block_radius_control",
    }
    assert set(block["block_radius_control"]) == {"layer1", "layer2"}
    assert set(block["locality_trained"]) == {"layer1", "layer2"}
    # what they report for HParams are tags they logged
    assert "block_spin/excess_over_control/layer2" in cbs[1].hparam_metrics()
    assert set(cbs[1].hparam_metrics()) | set(cbs[3].hparam_metrics()) <= scalars
    thermo = cbs[3].summary_metrics()
    assert set(thermo) == {"model", "data"}
    assert all(math.isfinite(v) for part in thermo.values() for v in part.values())
    # figures a person can read (they were 14-pixel images): reconstructions of 4 samples from 2 depths
    for tag in ("reconstructions", "filters/layer2"):
        image = events.Images(tag)[-1]
        assert image.width >= 700 and image.height >= 400


def test_thermodynamics_of_data_match_exact_observables():
    data = ising_4x4(5000, 0.3, seed=2)
    callback = RBMThermodynamics(0.3, n_chains=2000, steps=1, max_data=5000)
    out = callback.measure(RBM(16, 4), data)
    spins = data.reshape(-1, 4, 4)
    assert out["data"]["energy"] == pytest.approx(float(-bond_sum(spins).double().mean() / 16))
    # an untrained RBM (tiny weights) generates nearly independent spins: energy near 0, far from the data's
    assert abs(out["model"]["energy"]) < 0.05 < abs(out["data"]["energy"])


def test_structureless_controls_keep_magnetization_and_destroy_correlations():
    data = ising_4x4(2000, 0.3)
    callback = BlockSpinEmergence(control="shuffle")
    callback.control = RBMStack([16, 4])
    shuffled = callback.structureless(data)
    torch.testing.assert_close(shuffled.sum(1), data.sum(1))  # each configuration keeps its magnetization

    def neighbour(v: torch.Tensor) -> float:
        return float((v.reshape(-1, 4, 4) * v.reshape(-1, 4, 4).roll(1, 2)).mean())

    pair = float(((16 * data.mean(1) ** 2 - 1) / 15).mean())  # <s_i s_j> of a random pair i != j
    assert neighbour(data) > pair + 0.1  # nearest neighbours are correlated beyond the magnetization
    assert neighbour(shuffled) == pytest.approx(pair, abs=0.03)  # shuffled: only the magnetization is left
    callback.control_mode = "random"
    noise = callback.structureless(data)
    assert abs(float(noise.mean())) < 0.02 and set(noise.unique().tolist()) == {-1.0, 1.0}


def test_block_spin_control_survives_resume(tmp_path):
    data = ising_4x4(200, 0.4)
    torch.manual_seed(0)
    first = BlockSpinEmergence(control="shuffle")
    fit(RBMStack([16, 4], epochs_per_layer=3, lr=0.05), data, tmp_path, 2, [first], logger=False)
    control_w = first.control.rbms[0].W.detach().clone()
    second = BlockSpinEmergence(control="shuffle")
    fit(
        RBMStack([16, 4], epochs_per_layer=3, lr=0.05),
        data,
        tmp_path,
        3,
        [second],
        logger=False,
        ckpt_path=tmp_path / "ckpt" / "last.ckpt",
    )
    assert second.init_locality == first.init_locality
    assert [h["epoch"] for h in second.history] == [0, 1, 2]
    assert not torch.equal(
        second.control.rbms[0].W.detach(), control_w
    )  # it continued from the saved control
    assert len(second.control_optimizers[0].state) > 0


def test_callbacks_reject_bad_arguments_and_models():
    with pytest.raises(ValueError, match="every_n_epochs must be >= 1"):
        RBMFilters(every_n_epochs=0)
    with pytest.raises(ValueError, match="control must be one of"):
        BlockSpinEmergence(control="K0")
    with pytest.raises(ValueError, match="square lattice"):
        RBMFilters().on_fit_start(None, RBM(15, 3))
