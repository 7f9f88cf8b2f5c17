"""CouplingTrajectories: model-agnostic interface (layer_outputs + optional layer_positions), training
integration with TensorBoard, summary, resume state, validation."""

from __future__ import annotations

import json
import math

import lightning
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from rgnet.callbacks.couplings import CouplingTrajectories, check_exact_flow, fit_layers
from rgnet.data.chain1d import Chain1DDataModule
from rgnet.ising import sample_1d
from rgnet.models.flow_dnn import FlowDNN
from rgnet.rg import decimate_spins_1d


class ShuffledDecimator(lightning.LightningModule):
    """Exact decimation by 2 per layer, with the units of every layer stored in a scrambled order and their
    positions exposed (like an RBM stack whose hidden units carry no intrinsic order)."""

    def __init__(self, n_layers: int, N: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.perms = [torch.randperm(N // 2**l, generator=gen) for l in range(1, n_layers + 1)]
        self.N = N

    def layer_outputs(self, x):
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
    assert list(tmp_path.rglob("events.out.tfevents*"))
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
    with pytest.raises(TypeError, match="layer_outputs"):
        CouplingTrajectories().measure(lightning.LightningModule(), torch.ones(4, 8), 1.0, 0.0)


def _rows(K_fit, K_exact, err=0.01):
    """Hand-made layer rows (xi consistent with K) for check_exact_flow."""
    from rgnet.rg import correlation_length_1d

    return [
        {
            "layer": l + 1,
            "K": k,
            "K_err": err,
            "K_exact": ke,
            "xi": correlation_length_1d(k),
            "xi_exact": correlation_length_1d(ke),
            "xi_err": 0.05,
        }
        for l, (k, ke) in enumerate(zip(K_fit, K_exact))
    ]


def test_deepest_layer_is_judged_against_its_exact_value_and_the_fixed_point_separately():
    exact = [1.6536, 1.3077, 0.9638, 0.6277]  # K0 = 2: four halvings do not reach K* = 0
    verdict = check_exact_flow(_rows(exact, exact))
    assert verdict["passed"] and not verdict["deepest_at_fixed_point"]
    off = check_exact_flow(_rows([*exact[:3], 0.5], exact))
    assert not off["passed"] and "deepest layer 4" in off["failures"][0]
    near_zero = [0.6625, 0.3501, 0.1137, 0.0128]  # K0 = 1
    assert check_exact_flow(_rows([*near_zero[:3], 0.004], near_zero))["deepest_at_fixed_point"]


def test_a_layer_whose_fit_did_not_converge_fails_the_flow_check():
    exact = [0.6625, 0.3501, 0.1137, 0.0128]
    rows = _rows(exact, exact)
    rows[3]["converged"], rows[3]["K_err"] = False, float("inf")
    verdict = check_exact_flow(rows)
    assert not verdict["passed"] and "did not converge" in verdict["failures"][0]
