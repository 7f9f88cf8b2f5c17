"""Block-spin transforms: majority rule (seeded tie-break), decimation, shapes, validation; decimated exact
chain samples carry the decimated coupling."""

from __future__ import annotations

import math

import pytest
import torch

from rgnet.ising import sample_1d
from rgnet.rg import (
    decimate_1d,
    decimate_spins_1d,
    decimate_spins_2d,
    fit_couplings,
    majority_1d,
    majority_2d,
)


def random_spins(shape, seed=0, dtype=torch.int8):
    gen = torch.Generator().manual_seed(seed)
    return (2 * torch.randint(0, 2, shape, generator=gen) - 1).to(dtype)


def test_majority_odd_block_is_sign_of_sum():
    s = random_spins((20, 9, 9))
    out = majority_2d(s, 3)
    assert out.shape == (20, 3, 3) and out.dtype == torch.int8
    expected = torch.sign(s.to(torch.int32).reshape(20, 3, 3, 3, 3).sum(dim=(2, 4)))
    assert torch.equal(out.to(torch.int32), expected)
    chain = random_spins((30, 15), dtype=torch.float32)
    out1 = majority_1d(chain, 5)
    assert out1.dtype == torch.float32
    assert torch.equal(out1, torch.sign(chain.reshape(30, 3, 5).sum(-1)))


def test_majority_ties_are_fair_and_seeded():
    # blocks of two opposite spins are all ties
    s = torch.tensor([[1, -1] * 2000], dtype=torch.int8)
    a = majority_1d(s, 2, seed=3)
    b = majority_1d(s, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, majority_1d(s, 2, seed=4))
    frac = float((a == 1).float().mean())
    assert abs(frac - 0.5) < 4 * math.sqrt(0.25 / 2000)
    # a decided block is never touched by the coin
    s2 = torch.ones((5, 4, 4), dtype=torch.int8)
    assert torch.equal(majority_2d(s2, 2, seed=1), torch.ones((5, 2, 2), dtype=torch.int8))


def test_decimation_shapes_and_sites():
    s = random_spins((4, 8, 8))
    assert torch.equal(decimate_spins_2d(s, 2), s[:, ::2, ::2])
    c = random_spins((4, 12))
    assert torch.equal(decimate_spins_1d(c, 3, offset=1), c[:, 1::3])


def test_decimated_chain_samples_have_decimated_coupling():
    K0 = 0.9
    s = sample_1d(48, K0, 3000, seed=5)
    fit = fit_couplings(decimate_spins_1d(s, 2), terms=("K",), method="exact")
    expected = decimate_1d(K0, 2).K
    assert abs(fit["K"] - expected) < 4 * fit.errors["K"]
    # power: the undecimated coupling is excluded
    assert abs(fit["K"] - K0) > 10 * fit.errors["K"]


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: majority_2d(random_spins((2, 6, 6)), 4), ValueError, "divide"),
        (lambda: majority_1d(random_spins((2, 6)), 0), ValueError, "b"),
        (lambda: majority_2d(random_spins((2, 6)), 2), ValueError, "shape"),
        (lambda: decimate_spins_1d(torch.zeros((2, 6)), 2), ValueError, r"\+1 and -1"),
        (lambda: decimate_spins_1d(random_spins((2, 6)), 2, offset=2), ValueError, "offset"),
        (lambda: majority_1d([[1, -1]], 2), TypeError, "torch.Tensor"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
