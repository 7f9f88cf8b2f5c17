"""Chain1DDataModule: validation before sampling, split sizes, batch shapes/dtypes, reproducibility, and the
samples carry the requested couplings."""

from __future__ import annotations

import pytest
import torch

from rgnet.data.chain1d import Chain1DDataModule
from rgnet.rg import fit_couplings


def test_batches_and_split():
    dm = Chain1DDataModule(N=16, K=0.8, h=0.1, n=500, batch_size=64, val_fraction=0.2, n_heldout=300, seed=3)
    assert dm.train_spins is None  # nothing drawn in __init__
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (64, 16) and batch.dtype == torch.float32
    assert bool(((batch == 1) | (batch == -1)).all())
    assert sum(len(b) for b in dm.train_dataloader()) == 400
    assert sum(len(b) for b in dm.val_dataloader()) == 100
    assert dm.heldout.shape == (300, 16) and dm.heldout.dtype == torch.int8
    assert sum(len(b) for b in dm.heldout_dataloader()) == 300
    again = Chain1DDataModule(N=16, K=0.8, h=0.1, n=500, val_fraction=0.2, n_heldout=300, seed=3)
    again.setup()
    assert torch.equal(again.train_spins, dm.train_spins) and torch.equal(again.heldout, dm.heldout)
    assert not torch.equal(dm.heldout[:100], dm.val_spins)


def test_samples_have_the_requested_couplings():
    dm = Chain1DDataModule(N=32, K=1.0, h=0.2, n=2000, n_heldout=1500, seed=0)
    dm.setup()
    fit = fit_couplings(dm.heldout, method="exact")
    assert abs(fit["K"] - 1.0) < 4 * fit.errors["K"] and abs(fit["h"] - 0.2) < 4 * fit.errors["h"]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"K": 0.0}, ValueError, "K must be > 0"),
        ({"K": -0.5}, ValueError, "K must be > 0"),
        ({"K": float("nan")}, ValueError, "K"),
        ({"N": 2}, ValueError, "N"),
        ({"N": 8.5}, TypeError, "N"),
        ({"val_fraction": 0.0}, ValueError, "val_fraction"),
        ({"val_fraction": 1.5}, ValueError, "val_fraction"),
        ({"n": 3, "val_fraction": 0.1}, ValueError, "val_fraction"),
        ({"n_heldout": 1}, ValueError, "n_heldout"),
        ({"periodic": "yes"}, TypeError, "periodic"),
        ({"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Chain1DDataModule(**kwargs)


def test_dataloader_before_setup():
    with pytest.raises(RuntimeError, match="setup"):
        Chain1DDataModule(N=8, n=20).train_dataloader()
