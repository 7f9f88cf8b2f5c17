"""CouplingTrajectories: model-agnostic interface (the HasLayerOutputs contract + optional layer_positions),
training integration with TensorBoard, summary, resume state, validation, the contract errors."""

from __future__ import annotations

import json
import math

import lightning
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader

from rgnet.callbacks._tensorboard import scalar_tags
from rgnet.callbacks.couplings import CouplingTrajectories
from rgnet.data.chain1d import Chain1DDataModule
from rgnet.ising import sample_1d
from rgnet.models.flow_dnn import FlowDNN
from rgnet.rg import check_exact_flow, decimate_spins_1d, fit_layers


class ShuffledDecimator(lightning.LightningModule):
    """Exact decimation by 2 per layer, with the units of every layer stored in a scrambled order and their
    positions exposed (like an RBM stack whose hidden units carry no intrinsic order)."""

    def __init__(self, n_layers: int, N: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.perms = [torch.randperm(N // 2**l, generator=gen) for l in range(1, n_layers + 1)]
        self.N = N

    def layer_outputs(self, x, generator=None):  # deterministic: the generator is not needed
        outs, y = [], x
        for perm in self.perms:
            y = decimate_spins_1d(y, 2)
            outs.append(y[:, perm])
        return outs

    def layer_positions(self):
        return [(2**l * perm).float() for l, perm in enumerate(self.perms, start=1)]


def test_any_model_with_layer_outputs_and_positions():
    spins = sample_1d(32, 1.0, 1500, seed=3)
    cb = CouplingTrajectories()
    rows = cb.measure(ShuffledDecimator(4, 32), spins, 1.0, 0.0)
    assert [r["size"] for r in rows] == [16, 8, 4, 2] and [r["spacing"] for r in rows] == [2, 4, 8, 16]
    assert check_exact_flow(rows)["passed"]
    for r in rows:
        assert math.isclose(r["xi_input_units"], r["xi"] * r["spacing"])
    # power of the check: without sorting by position the scrambled chains have no coupling left
    scrambled = fit_layers(ShuffledDecimator(4, 32).layer_outputs(spins), 32, 1.0)
    assert not check_exact_flow(scrambled)["passed"]


def test_training_integration_tensorboard_summary_and_resume(tmp_path):
    lightning.seed_everything(0, verbose=False)
    dm = Chain1DDataModule(N=16, K=1.0, n=600, batch_size=128, n_heldout=500)
    model = FlowDNN(n_visible=16, n_layers=2, lr=0.1)
    cb = CouplingTrajectories(every_n_epochs=1, method="pseudo", max_samples=400)
    trainer = lightning.Trainer(
        max_epochs=2,
        logger=TensorBoardLogger(tmp_path),
        callbacks=[cb],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, datamodule=dm)
    assert [rec["epoch"] for rec in cb.history] == [0, 1]
    summary = cb.summary_metrics()
    json.dumps(summary)  # serializable
    flow = summary["coupling_flow"]
    assert flow["K0"] == 1.0 and len(flow["layers"]) == 2
    assert flow["layers"][0]["K_exact"] == pytest.approx(math.atanh(math.tanh(1.0) ** 2))
    assert summary["coupling_chi2"] == pytest.approx(sum(r["pull_K"] ** 2 for r in flow["layers"]))
    assert len(flow["trajectory_K"]) == 2 and len(flow["trajectory_K"][0]) == 2
    events = list(tmp_path.rglob("events.out.tfevents*"))
    # HParams: the verdict (0/1) and per layer the fitted K, xi next to exact decimation's, as logged
    tags = cb.hparam_metrics()
    assert tags["couplings/follows_exact_flow"] is flow["follows_exact_flow"]
    assert tags["couplings/layer2/K/exact"] == flow["layers"][1]["K_exact"]
    assert {"couplings/layer1/xi/fitted", "couplings/layer1/xi/exact", "couplings/layer2/pull_K"} <= set(tags)
    assert set(tags) <= set(scalar_tags(events[0].parent))
    restored = CouplingTrajectories()
    restored.load_state_dict(cb.state_dict())
    assert json.dumps(restored.summary_metrics(), sort_keys=True) == json.dumps(summary, sort_keys=True)
    assert CouplingTrajectories().summary_metrics() == {}


def test_runs_without_a_logger():
    lightning.seed_everything(0, verbose=False)
    cb = CouplingTrajectories(every_n_epochs=2)
    trainer = lightning.Trainer(
        max_epochs=2,
        logger=False,
        callbacks=[cb],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(
        FlowDNN(n_visible=8, n_layers=2), datamodule=Chain1DDataModule(N=8, K=0.5, n=200, n_heldout=200)
    )
    assert [rec["epoch"] for rec in cb.history] == [1]
    assert cb.figure() is not None


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"every_n_epochs": 0}, ValueError, "every_n_epochs"),
        ({"method": "ml"}, ValueError, "method"),
        ({"fit_field": 1}, TypeError, "fit_field"),
        ({"max_samples": 1}, ValueError, "max_samples"),
        ({"K0": "1"}, TypeError, "K0"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CouplingTrajectories(**kwargs)


def test_model_without_layer_outputs():
    with pytest.raises(TypeError, match="HasLayerOutputs.*LightningModule has no layer_outputs"):
        CouplingTrajectories().measure(lightning.LightningModule(), torch.ones(4, 8), 1.0, 0.0)


class _ChainsWithoutCouplings(lightning.LightningDataModule):
    """Chains served without saying at which couplings they were drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.spins = sample_1d(8, 0.5, 200, seed=0).float()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.spins, batch_size=100)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.spins, batch_size=100)


def _fit_one_epoch(cb: CouplingTrajectories, dm: lightning.LightningDataModule) -> None:
    trainer = lightning.Trainer(
        max_epochs=1, logger=False, callbacks=[cb], enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(FlowDNN(n_visible=8, n_layers=2), datamodule=dm)


def test_couplings_come_from_the_data_module_or_from_the_arguments():
    """Without K0 the data module must say its couplings (HasCouplings): the error names the data module."""
    with pytest.raises(TypeError, match="without K0 needs HasCouplings.*_ChainsWithoutCouplings has no K, h"):
        _fit_one_epoch(CouplingTrajectories(), _ChainsWithoutCouplings())
    cb = CouplingTrajectories(K0=0.5)  # h0 falls back to 0 when the data module does not know it
    _fit_one_epoch(cb, _ChainsWithoutCouplings())
    assert (cb.history[0]["K0"], cb.history[0]["h0"]) == (0.5, 0.0)
