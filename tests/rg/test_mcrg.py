"""Monte Carlo RG (rgnet.rg.mcrg): the linearized map against the exact derivative of 1D decimation, the 2D
Ising exponents y_t = 1 and y_h = 15/8 from majority rule on the project's own samples, a transform that
destroys information as the negative control, and bad input."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import rgnet.ising as ising
from rgnet.rg import decimate_spins_1d, decimation_jacobian, majority_2d
from rgnet.rg.mcrg import CHAIN_EVEN, CHAIN_ODD, SQUARE_EVEN, linearized_maps, mcrg_exponents, operator_sums

Y_T, Y_H = 1.0, 15.0 / 8.0


def test_operator_sums_on_a_hand_made_configuration():
    spins = torch.ones(1, 4, 4, dtype=torch.int8)
    spins[0, 0, 0] = -1  # one flipped spin: 4 broken bonds, 4 broken diagonals
    sums = operator_sums(spins, {k: SQUARE_EVEN[k] for k in ("nn", "nnn", "plaquette")})
    assert sums[0].tolist() == [32 - 2 * 4, 32 - 2 * 4, 16 - 2 * 4]
    chain = torch.tensor([[1, 1, -1, 1]], dtype=torch.int8)
    assert operator_sums(chain, {"nn": CHAIN_EVEN["nn"], "m": CHAIN_ODD["magnetization"]})[0].tolist() == [
        0,
        2,
    ]


@pytest.fixture(scope="module")
def decimated_chains():
    """Exact i.i.d. periodic chains at (K, h) = (0.7, 0.15) and their decimation by 2 (exactly a chain)."""
    chains = ising.sample_1d(N=32, K=0.7, n=40000, h=0.15, periodic=True, seed=3)
    ops = {"nn": CHAIN_EVEN["nn"], "magnetization": CHAIN_ODD["magnetization"]}
    fine = operator_sums(chains, ops)
    coarse = operator_sums(decimate_spins_1d(chains, 2), ops)
    (_, both) = linearized_maps(fine, coarse, tuple(ops))
    return both


def test_linearized_map_of_exact_decimation_is_its_jacobian(decimated_chains):
    """T = <S'S'>_c^-1 <S'S>_c equals d(K', h')/d(K, h) of exact decimation, entry by entry within 4 sigma."""
    T, err = decimated_chains.T, decimated_chains.T_err
    exact = decimation_jacobian(0.7, 0.15, b=2)
    assert np.all(err > 0) and np.all(err < 0.05)
    assert np.all(np.abs(T - exact) < 4 * err), (T, exact, err)


def test_power_check_the_jacobian_of_another_map_is_rejected(decimated_chains):
    """The same measurement against decimation by 3 (or at another K) fails: the test has power."""
    T, err = decimated_chains.T, decimated_chains.T_err
    for wrong in (decimation_jacobian(0.7, 0.15, b=3), decimation_jacobian(0.6, 0.15, b=2)):
        assert np.any(np.abs(T - wrong) > 4 * err)


def test_chains_through_mcrg_exponents():
    """The chain path of mcrg_exponents: the even sector's k = 1 eigenvalue is dK'/dK of decimation."""
    chains = ising.sample_1d(N=64, K=1.0, n=20000, periodic=True, seed=4)
    result = mcrg_exponents(chains, lambda s: decimate_spins_1d(s, 2), levels=2)
    assert result.b == 2 and result.sides == (64, 32, 16)
    slope = decimation_jacobian(1.0, 0.0, b=2)[0, 0]
    lin = result.maps_even[(1, 1)]
    assert abs(lin.leading - slope) < 4 * lin.leading_err
    assert result.y_t[(1, 1)] == pytest.approx(math.log(lin.leading) / math.log(2))


@pytest.fixture(scope="module")
def critical_configurations():
    """10^4 Swendsen-Wang configurations of the 64 x 64 torus at K_c (decorrelated by measured tau_int)."""
    return ising.sample_2d(L=64, K=ising.K_CRITICAL, n=10000, method="swendsen_wang", seed=1)


def exponents_at_levels_2_and_3(result, k_even: int = 3, k_odd: int = 3) -> list[tuple[float, float]]:
    return [(result.y_t[(n, k_even)], result.y_h[(n, k_odd)]) for n in (2, 3)]


def test_majority_rule_gives_the_2d_ising_exponents(critical_configurations):
    """b = 2 majority rule (random tie-break) at K_c: y_t within 0.02 of 1, y_h within 0.005 of 15/8."""
    generator = torch.Generator().manual_seed(5)
    result = mcrg_exponents(
        critical_configurations, lambda s: majority_2d(s, 2, generator=generator), levels=4
    )
    assert result.sides == (64, 32, 16, 8, 4) and len(result.even_operators) == 6
    for y_t, y_h in exponents_at_levels_2_and_3(result):
        assert abs(y_t - Y_T) < 0.02 and abs(y_h - Y_H) < 0.005, (y_t, y_h)
    for n in (2, 3):
        assert 0 < result.y_t_err[(n, 3)] < 0.02 and 0 < result.y_h_err[(n, 3)] < 0.005
    rows = result.table()
    assert len(rows) == 4 * 6 and math.isnan(rows[-1]["y_h"])  # only 3 odd operators


def test_negative_control_a_map_that_destroys_information_fails(critical_configurations):
    """Independent random block spins: no memory of the configuration, so no RG eigenvalue survives."""
    generator = torch.Generator().manual_seed(6)

    def random_spins(s: torch.Tensor) -> torch.Tensor:
        shape = (s.shape[0], s.shape[1] // 2, s.shape[2] // 2)
        return (torch.randint(0, 2, shape, generator=generator, dtype=torch.int8) * 2 - 1).to(torch.int8)

    result = mcrg_exponents(critical_configurations[:4000], random_spins, levels=3)
    for y_t, y_h in exponents_at_levels_2_and_3(result):
        assert not (abs(y_t - Y_T) < 0.02 and abs(y_h - Y_H) < 0.005), (y_t, y_h)


def pm1(*shape: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, shape, generator=generator, dtype=torch.int8) * 2 - 1).to(torch.int8)


def halve(s: torch.Tensor) -> torch.Tensor:
    return majority_2d(s, 2, seed=0)


@pytest.mark.parametrize(
    ("spins", "transform", "levels", "options", "message"),
    [
        (torch.zeros(100, 8, 8, dtype=torch.int8), halve, 1, {}, "spins must hold only"),
        (pm1(100, 8, 4), halve, 1, {}, "square lattices"),
        (pm1(100, 12, 12), halve, 2, {}, "levels=2 blockings by b=2 need side divisible by b**levels = 4"),
        (pm1(100, 16, 16), halve, 3, {}, "last side >= 4, got side=16"),
        (pm1(30, 16, 16), halve, 1, {}, "too few"),
        (pm1(100, 16, 16), lambda s: s[:, :, :8], 1, {}, "square lattices"),
        (pm1(100, 16, 16), lambda s: s[:, ::2, ::2] * 0, 1, {}, "must return +-1"),
        (pm1(100, 16, 16), lambda s: s[:50, ::2, ::2], 1, {}, "same batch"),
        (pm1(100, 16, 16), halve, 1, {"even": ("nn", "nope")}, "even must be distinct names"),
        (pm1(100, 16, 16), halve, 0, {}, "levels must be >= 1"),
    ],
)
def test_bad_input_is_named_before_any_work(spins, transform, levels, options, message):
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        mcrg_exponents(spins, transform, levels, **options)


def test_singular_correlations_are_reported():
    ordered = torch.ones(200, 8, 8, dtype=torch.int8)  # no fluctuations: every correlation vanishes
    with pytest.raises(ValueError, match="singular"):
        mcrg_exponents(ordered, halve, 1)
