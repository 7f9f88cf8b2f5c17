"""CouplingTrajectories on square lattices (RBM stacks): units placed at their receptive fields' centres on
the coarse lattice, couplings fitted and compared with the majority-rule flow of the same configurations."""

from __future__ import annotations

import itertools
import json
import math

import lightning
import pytest
import torch
from torch.utils.data import DataLoader

from rgnet.callbacks.couplings import CouplingTrajectories
from rgnet.ising import sample_2d
from rgnet.models.rbm_stack import RBMStack
from rgnet.rg import check_block_spin_flow

L, SIDES, K = 24, (12, 6, 3), 0.4


@pytest.fixture(scope="module")
def spins() -> torch.Tensor:
    """(1500, L*L) float32 +-1 Wolff samples of the 24 x 24 torus at K = 0.4."""
    return sample_2d(L, K, 1500, method="wolff", seed=1).reshape(1500, -1).float()


def block_indicator(side_in: int, side_out: int) -> torch.Tensor:
    """(side_in^2, side_out^2) float32: 1 where the input site (row-major) lies in the output block."""
    b = side_in // side_out
    rows = torch.arange(side_in).repeat_interleave(side_in) // b
    cols = torch.arange(side_in).repeat(side_in) // b
    return torch.nn.functional.one_hot(rows * side_out + cols, side_out * side_out).float()


def majority_stack(weight: float = 20.0, seed: int = 0) -> RBMStack:
    """An RBM stack that performs iterated majority rule (strong block weights, zero biases, so a tied block
    gives a fair coin), with every hidden layer's units stored in a random order and half of them flipped."""
    sides = (L, *SIDES)
    stack = RBMStack([s * s for s in sides], init_std=0.0)
    weights = [weight * block_indicator(a, b) for a, b in itertools.pairwise(sides)]
    gen = torch.Generator().manual_seed(seed)
    for l in range(len(weights)):
        n = weights[l].shape[1]
        perm = torch.randperm(n, generator=gen)
        sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
        weights[l] = weights[l][:, perm] * sign  # unit j is now sign_j * (old unit perm_j)
        if l + 1 < len(weights):
            weights[l + 1] = weights[l + 1][perm] * sign[:, None]  # the layer above reads it back
    with torch.no_grad():
        for rbm, w in zip(stack.rbms, weights, strict=True):
            rbm.W.copy_(w)
    return stack


def test_majority_rule_stack_follows_the_block_spin_flow(spins):
    stack = majority_stack()
    rows = CouplingTrajectories().measure(stack, spins, K, 0.0)
    assert [r["side"] for r in rows] == list(SIDES) and [r["spacing"] for r in rows] == [2, 4, 8]
    assert all(r["placement_error"] == 0.0 for r in rows)
    verdict = check_block_spin_flow(rows)
    assert verdict["passed"], verdict["failures"]
    # the majority flow is non-trivial at this depth: every layer keeps a clearly positive coupling
    assert all(r["K_majority"] > 10 * r["K_majority_err"] for r in rows)


def test_untrained_stack_fails(spins):
    """Negative control: small random weights destroy the information, so every layer is at K ~ 0."""
    torch.manual_seed(0)
    rows = CouplingTrajectories().measure(RBMStack([L * L] + [s * s for s in SIDES]), spins, K, 0.0)
    assert not check_block_spin_flow(rows)["passed"]
    assert all(abs(r["K"]) < 4 * r["K_err"] + 0.05 for r in rows)


def test_bad_layers_and_method(spins):
    stack = RBMStack([L * L, 100], init_std=0.01)  # 10 x 10 does not divide 24
    with pytest.raises(ValueError, match="layer 1 has 100 units"):
        CouplingTrajectories().measure(stack, spins[:10], K, 0.0)
    with pytest.raises(ValueError, match="exact"):
        CouplingTrajectories(method="exact").measure(majority_stack(), spins[:10], K, 0.0)


class _Pairs(lightning.LightningDataModule):
    def __init__(self, spins: torch.Tensor) -> None:
        super().__init__()
        self.spins, self.K, self.h = spins, K, 0.0

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.spins[:1000], batch_size=100, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.spins[1000:], batch_size=250)


def test_training_an_rbm_stack_with_the_callback(spins, tmp_path):
    lightning.seed_everything(0, verbose=False)
    stack = RBMStack([L * L] + [s * s for s in SIDES], epochs_per_layer=1, lr=0.05, ais_runs=4, ais_betas=20)
    cb = CouplingTrajectories(every_n_epochs=1, max_samples=500)
    trainer = lightning.Trainer(
        max_epochs=3, logger=lightning.pytorch.loggers.TensorBoardLogger(tmp_path), callbacks=[cb],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(stack, datamodule=_Pairs(spins))
    assert [rec["geometry"] for rec in cb.history] == ["lattice"] * 3
    summary = cb.summary_metrics()
    json.dumps(summary)
    flow = summary["coupling_flow"]
    assert flow["geometry"] == "lattice" and flow["reference"] == "majority-rule flow"
    assert isinstance(flow["follows_block_spin_flow"], bool) and len(flow["layers"]) == 3
    assert all(math.isfinite(r["K"]) and r["K_majority"] > 0 for r in flow["layers"])
    assert cb.figure() is not None


def test_layers_that_cannot_be_fitted_fail_before_training(spins):
    trainer = lightning.Trainer(
        max_epochs=1, logger=False, callbacks=[CouplingTrajectories()], enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )  # fmt: skip
    stack = RBMStack([L * L, 144, 4], epochs_per_layer=1)  # a 2 x 2 top lattice has no distinct neighbours
    with pytest.raises(ValueError, match="layer 2 has 4 units"):
        trainer.fit(stack, datamodule=_Pairs(spins))
    assert stack.rbms[0].W.abs().max() < 0.1  # nothing was trained
