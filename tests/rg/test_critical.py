"""Critical point and scaling dimensions of block-spin maps (rgnet.rg.critical): reweighting against Kaufman's
exact torus, two-lattice matching of majority rule against K_c = ln(1 + sqrt 2) / 2, y_t = 1, y_h = 15/8, the
spin's scaling dimension 1/8, negative controls (an information-destroying map, data off the critical point,
a start outside the reweighting range) and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import rgnet.ising as ising
from rgnet.ising.exact import energy_torus, specific_heat_torus
from rgnet.rg import majority_2d
from rgnet.rg.critical import (
    MatchingResult,
    _reweighted,
    blocked_observables,
    combine_matchings,
    correlation_function,
    match_critical_point,
    scaling_dimension,
)

K_C = ising.K_CRITICAL
Y_T, Y_H, DELTA_SPIN = 1.0, 15.0 / 8.0, 1.0 / 8.0


def majority_map(seed: int):
    generator = torch.Generator().manual_seed(seed)
    return lambda spins: majority_2d(spins, 2, generator=generator)


def random_map(seed: int):
    """Independent fair coins on the coarse lattice: a map that destroys all information."""
    generator = torch.Generator().manual_seed(seed)

    def transform(spins: torch.Tensor) -> torch.Tensor:
        side = spins.shape[1] // 2
        coins = torch.randint(0, 2, (spins.shape[0], side, side), generator=generator)
        return (2 * coins - 1).to(spins.dtype)

    return transform


@pytest.fixture(scope="module")
def critical_pair():
    """10^4 Swendsen-Wang configurations of 64 x 64 and of 32 x 32 at K_c."""
    large = ising.sample_2d(L=64, K=K_C, n=10000, method="swendsen_wang", seed=11)
    small = ising.sample_2d(L=32, K=K_C, n=10000, method="swendsen_wang", seed=12)
    return large, small


def test_reweighted_energy_and_its_derivative_match_kaufman():
    """Single-histogram reweighting of the nn density from K0 to K0 +- 0.004, and its fluctuation derivative,
    against the exact 16 x 16 torus (energy and specific heat), within 4 jackknife sigma."""
    L, K0 = 16, 0.43
    spins = ising.sample_2d(L=L, K=K0, n=20000, method="swendsen_wang", seed=5)
    obs = blocked_observables(spins, majority_map(0), 0)
    density = obs.even[0][:, 0]
    blocks = np.array_split(np.arange(density.shape[0]), 20)
    for K in (K0 - 0.004, K0, K0 + 0.004):
        mean, slope, effective = _reweighted(obs.energy, density, K - K0)
        jack = [
            _reweighted(
                obs.energy[np.setdiff1d(np.arange(density.shape[0]), b)], np.delete(density, b), K - K0
            )
            for b in blocks
        ]
        jack_mean, jack_slope = (np.array([j[i] for j in jack]) for i in (0, 1))
        err_mean = math.sqrt(19 / 20 * ((jack_mean - jack_mean.mean()) ** 2).sum())
        err_slope = math.sqrt(19 / 20 * ((jack_slope - jack_slope.mean()) ** 2).sum())
        assert effective > 0.5
        assert abs(mean + energy_torus(L, L, K)) < 4 * err_mean, (K, mean, -energy_torus(L, L, K), err_mean)
        exact_slope = specific_heat_torus(L, L, K) / K**2
        assert abs(slope - exact_slope) < 4 * err_slope, (K, slope, exact_slope, err_slope)
    # power: the reweighted mean resolves the change of <nn> between K0 and K0 + 0.004
    shift = _reweighted(obs.energy, density, 0.004)[0] - _reweighted(obs.energy, density, 0.0)[0]
    assert shift > 8 * err_mean


def test_correlation_function_is_the_site_average_of_shifted_products():
    spins = (2 * torch.randint(0, 2, (7, 10, 10), generator=torch.Generator().manual_seed(0)) - 1).to(
        torch.int8
    )
    s = spins.double()
    ref = torch.stack(
        [0.5 * ((s * s.roll(r, 1)).mean((1, 2)) + (s * s.roll(r, 2)).mean((1, 2))) for r in range(6)], 1
    )
    assert torch.allclose(correlation_function(spins), ref, atol=1e-12)


def test_potts_correlation_is_that_of_the_order_parameter_and_half_the_ising_one_for_two_colours():
    """Colours: the site average of delta(s_i, s_{i+r}) - 1/q (r = 0: 1 - 1/q); q = 2: half the Ising
    correlation of s = 1 - 2 colour, so the scaling dimension of the same configurations is the Ising one."""
    colours = torch.randint(0, 3, (7, 10, 10), generator=torch.Generator().manual_seed(1)).to(torch.int8)
    same = [
        0.5
        * (
            (colours == colours.roll(r, 1)).double().mean((1, 2))
            + (colours == colours.roll(r, 2)).double().mean((1, 2))
        )
        for r in range(6)
    ]
    expected = torch.stack(same, 1) - 1.0 / 3.0
    assert torch.allclose(correlation_function(colours, q=3), expected, atol=1e-12)
    assert torch.allclose(
        correlation_function(colours, q=3)[:, 0], torch.full((7,), 2.0 / 3.0, dtype=torch.float64)
    )
    two = (colours % 2).to(torch.int8)
    spins = (1 - 2 * two).to(torch.int8)
    assert torch.allclose(2.0 * correlation_function(two, q=2), correlation_function(spins), atol=1e-12)
    large = ising.sample_2d(L=16, K=K_C, n=60, method="swendsen_wang", seed=2)
    small = ising.sample_2d(L=8, K=K_C, n=60, method="swendsen_wang", seed=3)
    decimate = lambda s: s[:, ::2, ::2]  # noqa: E731 (a map of +-1 spins and of colours alike)
    spin_result = scaling_dimension(large, small, decimate, levels=1, n_blocks=4)
    colour_result = scaling_dimension((1 - large) // 2, (1 - small) // 2, decimate, levels=1, n_blocks=4, q=2)
    assert all(math.isfinite(value) for value in spin_result.Delta.values())
    for key, value in spin_result.Delta.items():
        assert colour_result.Delta[key] == pytest.approx(value, rel=1e-9)
        assert colour_result.Delta_err[key] == pytest.approx(spin_result.Delta_err[key], rel=1e-9)
    with pytest.raises(ValueError, match="colours 0..2|values"):
        correlation_function(torch.full((2, 4, 4), 3, dtype=torch.int8), q=3)


@pytest.fixture(scope="module")
def majority_matching(critical_pair):
    large, small = critical_pair
    return match_critical_point(large, small, K_C, majority_map(1), levels=4)


def test_matching_majority_rule_finds_the_exact_critical_point(majority_matching):
    """Levels 3-4 (the irrelevant operators have died out): K_c within 4 sigma and within 0.5%, y_t within
    4 sigma of 1, y_h within 4 sigma and 0.5% of 15/8, for every matched operator."""
    r = majority_matching
    for n in (3, 4):
        for op in r.operators:
            key = (n, op)
            assert 0 < r.K_c_err[key] < 1e-3 and abs(r.K_c[key] - K_C) < 4 * r.K_c_err[key] + 2e-4, key
            assert abs(r.K_c[key] / K_C - 1) < 0.005
            assert abs(r.y_t[key] - Y_T) < 4 * r.y_t_err[key] and r.y_t_err[key] < 0.06, (key, r.y_t[key])
            assert abs(r.y_h[key] - Y_H) < 4 * r.y_h_err[key] + 1e-3 and abs(r.y_h[key] / Y_H - 1) < 0.005
    assert {"K0", "level", "operator", "K_c", "y_t_err"} <= set(r.table()[0])


def test_negative_control_a_map_that_destroys_information_matches_nothing(critical_pair):
    large, small = critical_pair
    r = match_critical_point(large, small, K_C, random_map(2), levels=3)
    for key in r.K_c:
        passes = (
            math.isfinite(r.K_c[key])
            and abs(r.K_c[key] - K_C) < 4 * r.K_c_err[key]
            and abs(r.y_t[key] - Y_T) < 4 * r.y_t_err[key]
            and abs(r.y_h[key] - Y_H) < 4 * r.y_h_err[key]
        )
        assert not passes, key


def test_a_start_outside_the_reweighting_range_is_not_a_number(critical_pair):
    """Samples at K0 = 0.40 cannot be reweighted to K_c: the root is NaN, never a wrong number."""
    large = ising.sample_2d(L=32, K=0.40, n=2000, method="swendsen_wang", seed=3)
    small = ising.sample_2d(L=16, K=0.40, n=2000, method="swendsen_wang", seed=4)
    r = match_critical_point(large, small, 0.40, majority_map(3), levels=2)
    assert all(math.isnan(v) for v in r.K_c.values())
    estimate = combine_matchings([r])
    assert math.isnan(estimate.best()["K_c"]) and estimate.n_starts[(2, "nn")] == 0


def _result(K0: float, K_c: float, err: float) -> MatchingResult:
    r = MatchingResult(K0=K0, b=2, levels=1, operators=("nn",), sides=(8, 4), n_configurations=(100, 100))
    for name, value in (("K_c", K_c), ("y_t", 1.0), ("y_h", 1.9)):
        getattr(r, name)[(1, "nn")] = value
        getattr(r, f"{name}_err")[(1, "nn")] = err
    return r


def test_combine_matchings_is_the_inverse_variance_mean_of_converged_starts():
    estimate = combine_matchings(
        [_result(0.44, 0.440, 0.002), _result(0.45, 0.443, 0.001), _result(0.4, math.nan, 1)]
    )
    w1, w2 = 1 / 0.002**2, 1 / 0.001**2
    assert estimate.K_c[(1, "nn")] == pytest.approx((w1 * 0.440 + w2 * 0.443) / (w1 + w2))
    assert estimate.K_c_err[(1, "nn")] == pytest.approx(1 / math.sqrt(w1 + w2))
    assert estimate.n_starts[(1, "nn")] == 2
    best = estimate.best()
    assert best["nu"] == pytest.approx(1.0) and best["level"] == 1
    with pytest.raises(TypeError, match="MatchingResult"):
        combine_matchings([])


def test_scaling_dimension_of_majority_spins_is_one_eighth(critical_pair):
    """Delta of the spin (level 0) and of the majority block spins (levels 1-2) within 4 sigma of 1/8."""
    large, small = critical_pair
    r = scaling_dimension(large, small, majority_map(4), levels=2, fractions=(0.25,))
    assert r.sides == [(64, 32), (32, 16), (16, 8)]
    for n in range(3):
        key = (n, 0.25)
        assert 0 < r.Delta_err[key] < 0.01
        assert abs(r.Delta[key] - DELTA_SPIN) < 4 * r.Delta_err[key], (key, r.Delta[key], r.Delta_err[key])


def test_power_check_off_the_critical_point_delta_is_not_one_eighth():
    """In the disordered phase (K = 0.40, correlation length ~ 4) the same measurement is far from 1/8."""
    large = ising.sample_2d(L=64, K=0.40, n=4000, method="swendsen_wang", seed=6)
    small = ising.sample_2d(L=32, K=0.40, n=4000, method="swendsen_wang", seed=7)
    r = scaling_dimension(large, small, majority_map(5), levels=1, fractions=(0.25,))
    for n in range(2):
        value = r.Delta[(n, 0.25)]
        assert math.isnan(value) or abs(value - DELTA_SPIN) > 4 * r.Delta_err[(n, 0.25)]


def test_bad_input_is_named_before_any_work(critical_pair):
    large, small = critical_pair
    maj = majority_map(0)
    with pytest.raises(ValueError, match="small must have side L / b"):
        match_critical_point(large[:400], large[:400], K_C, maj, levels=2)
    with pytest.raises(ValueError, match="large must hold only"):
        match_critical_point(large[:400] * 2, small[:400], K_C, maj, levels=2)
    with pytest.raises(ValueError, match="levels"):
        match_critical_point(large[:400], small[:400], K_C, maj, levels=5)
    with pytest.raises(ValueError, match="too few"):
        match_critical_point(large[:50], small[:50], K_C, maj, levels=2)
    with pytest.raises(ValueError, match="transform"):
        match_critical_point(large[:400], small[:400], K_C, lambda s: s[:, ::2, :], levels=2)
    with pytest.raises(TypeError, match="transform must be callable"):
        match_critical_point(large[:400], small[:400], K_C, "majority", levels=2)
    with pytest.raises(ValueError, match="operators"):
        match_critical_point(large[:400], small[:400], K_C, maj, levels=2, operators=("nn", "magnetization"))
    with pytest.raises(ValueError, match="fractions"):
        scaling_dimension(large[:400], small[:400], maj, levels=2, fractions=(0.3,))
    with pytest.raises(ValueError, match="fractions"):
        scaling_dimension(large[:400], small[:400], maj, levels=2, fractions=(0.7,))
    with pytest.raises(ValueError, match="larger side"):
        scaling_dimension(small[:400], large[:400], maj, levels=1)
