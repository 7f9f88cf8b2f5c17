"""Potts samplers against exact results: energy histograms on tiny tori (chi-square, with a power check),
mean energy and specific heat (4 sigma), q = 2 against Kaufman, the critical energy of a larger lattice,
automatic burn-in, reproducibility and argument errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.stats import chi2

from rgnet.ising.exact import energy_torus, specific_heat_torus
from rgnet.ising.stats import integrated_autocorrelation_time, jackknife, mean_and_error
from rgnet.potts import (
    POTTS_METHODS,
    PottsSampler,
    generate_potts_2d,
    potts_critical_coupling,
    potts_critical_energy,
    potts_energy,
    potts_enumeration,
    sample_potts_2d,
    satisfied_bonds,
)
from rgnet.potts.kernels_numba import heatbath_table


def _pooled_chi2_pvalue(observed: np.ndarray, expected: np.ndarray) -> float:
    """Chi-square p-value of counts against expected counts, the bins expecting fewer than 20 pooled."""
    big = expected >= 20
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    statistic = float(np.sum((obs[keep] - exp[keep]) ** 2 / exp[keep]))
    return float(chi2.sf(statistic, keep.sum() - 1))


def _bond_series(method: str, L: int, q: int, K: float, chains: int = 32, T: int = 1500) -> np.ndarray:
    """Satisfied-bond counts, int64 (T, chains), one per sweep after 50 sweeps of burn-in."""
    sampler = PottsSampler(L, K, q, method=method, chains=chains, seed=7)
    sampler.step(50)
    return np.rint(-sampler.run(T)["energy"].numpy() * L * L).astype(np.int64)


def _tau(x: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return max(0.5, integrated_autocorrelation_time(x.astype(np.float64))[0])


def _histogram_p_value(bonds: np.ndarray, L: int, q: int, K: float) -> float:
    """p-value (chi-square) of the bond-count histogram against the exact law at K.

    The (T, chains) series is thinned to every ceil(2 tau_int)-th measurement (tau_int of the bond count), so
    the counts are close to independent draws; bins expecting < 20 samples are pooled into one.
    """
    thinned = bonds[:: math.ceil(2 * _tau(bonds))]
    dos = potts_enumeration(L, L, q)
    expected = dos.energy_distribution(K) * thinned.size
    observed = np.array([(thinned == k).sum() for k in dos.bonds], dtype=np.float64)
    assert (np.isin(bonds, dos.bonds)).all()  # no count outside the exact support
    return _pooled_chi2_pvalue(observed, expected)


CASES = [(3, 3, "critical"), (3, 3, 0.6), (3, 4, "critical"), (2, 3, "critical")]  # L = 2: double bonds


def _coupling(q: int, K: float | str) -> float:
    return potts_critical_coupling(q) if K == "critical" else float(K)


@pytest.mark.parametrize("method", POTTS_METHODS)
@pytest.mark.parametrize(("L", "q", "K"), CASES)
def test_energy_histogram_is_exact(method: str, L: int, q: int, K: float | str) -> None:
    K = _coupling(q, K)
    bonds = _bond_series(method, L, q, K)
    assert _histogram_p_value(bonds, L, q, K) > 1e-4
    assert _histogram_p_value(bonds, L, q, K + 0.3) < 1e-6  # power: the test sees a 0.3 shift in K
    dos = potts_enumeration(L, L, q)
    e = -bonds / (L * L)
    mean, err = mean_and_error(e)
    assert abs(mean - dos.energy(K)) < 4 * err
    n_sites = L * L
    heat, heat_err = jackknife(lambda x: K * K * n_sites * np.var(x), e, n_blocks=20)
    assert abs(heat - dos.specific_heat(K)) < 4 * heat_err


@pytest.mark.parametrize(("L", "q"), [(3, 3), (4, 2), (2, 9)])
def test_generic_heatbath_table_is_exact(L: int, q: int) -> None:
    """The heat bath with the generic (any q) table, forced for small q: energy histogram at K_c (chi-square,
    with a power check). L = 3: rows of odd length (both ends of a row have the same parity)."""
    K = potts_critical_coupling(q)
    sampler = PottsSampler(L, K, q, method="heatbath", chains=32, seed=7)
    sampler.heatbath = heatbath_table(K, q, direct=False)
    sampler.step(50)
    bonds = np.rint(-sampler.run(1500)["energy"].numpy() * L * L).astype(np.int64)
    assert _histogram_p_value(bonds, L, q, K) > 1e-4
    assert _histogram_p_value(bonds, L, q, K + 0.3) < 1e-6


def test_seeded_heatbath_is_reproducible() -> None:
    a = sample_potts_2d(5, 1.0, 20, 3, method="heatbath", seed=5, burn_in=10, thinning=2)
    b = sample_potts_2d(5, 1.0, 20, 3, method="heatbath", seed=5, burn_in=10, thinning=2)
    c = sample_potts_2d(5, 1.0, 20, 3, method="heatbath", seed=6, burn_in=10, thinning=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("method", POTTS_METHODS)
@pytest.mark.parametrize("K", [0.6, 2 * 0.4406867935097715, 1.2])
def test_q2_is_ising_on_the_4x4_torus(method: str, K: float) -> None:
    """Potts q = 2 at K samples the Ising model at K/2: e_P = (e_I - 2) / 2 and C_P(K) = C_I(K/2)."""
    e = -_bond_series(method, 4, 2, K, T=1000) / 16.0
    mean, err = mean_and_error(e)
    assert abs(mean - (energy_torus(4, 4, K / 2) - 2) / 2) < 4 * err
    heat, heat_err = jackknife(lambda x: K * K * 16 * np.var(x), e, n_blocks=20)
    assert abs(heat - specific_heat_torus(4, 4, K / 2)) < 4 * heat_err


def test_critical_energy_of_larger_lattices_extrapolates_to_the_exact_value() -> None:
    """q = 3 at K_c, L = 16 and 32 (Swendsen-Wang): <delta> per bond approaches (1 + 1/sqrt 3)/2 from above.

    The leading finite-size correction of the energy at K_c is A L^-(2 - y_t), y_t = 6/5 for q = 3 (the
    analytic background contributes only L^-2), so e(16) and e(32) extrapolate to
    e(inf) = (2^0.8 e(32) - e(16)) / (2^0.8 - 1); allowed: 4 sigma plus 0.004 per site for the neglected
    L^-2 terms (|A_2| L^-2 with A_2 ~ 1). Each lattice must also lie below the infinite-lattice energy by
    less than 0.06 per site (measured: 0.046 and 0.025; 2D Ising at the same sizes, amplitude 1/L: 0.019 and
    0.0097).
    """
    q = 3
    K = potts_critical_coupling(q)
    exact = potts_critical_energy(q)
    results = []
    for L in (16, 32):
        sampler = PottsSampler(L, K, q, method="swendsen_wang", chains=16, seed=11)
        sampler.step(200)
        results.append(mean_and_error(sampler.run(800)["energy"].numpy()))
    (e16, s16), (e32, s32) = results
    factor = 2.0**0.8
    extrapolated = (factor * e32 - e16) / (factor - 1)
    sigma = math.hypot(factor * s32, s16) / (factor - 1)
    assert abs(extrapolated - exact) < 4 * sigma + 0.004
    for e, s in results:
        assert -0.06 < e - exact < 4 * s


@pytest.mark.parametrize("method", POTTS_METHODS)
def test_generate_chooses_burn_in_and_thinning(method: str) -> None:
    result = generate_potts_2d(8, potts_critical_coupling(3), 96, 3, method=method, seed=3, chains=8)
    assert result.spins.dtype == torch.int8 and result.spins.shape == (96, 8, 8)
    assert int(result.spins.min()) >= 0 and int(result.spins.max()) <= 2
    assert result.burn_in >= 64 and result.thinning >= 1 and result.q == 3
    assert set(result.tau_int) == {"energy", "abs_magnetization"}
    meta = result.metadata()
    assert meta["q"] == 3 and meta["method"] == method and meta["n"] == 96
    assert result.energy[0] == pytest.approx(float(potts_energy(result.spins).mean()), abs=1e-12)


def test_seeded_samples_are_reproducible() -> None:
    a = sample_potts_2d(6, 0.9, 20, 4, method="wolff", seed=5, burn_in=10, thinning=2)
    b = sample_potts_2d(6, 0.9, 20, 4, method="wolff", seed=5, burn_in=10, thinning=2)
    c = sample_potts_2d(6, 0.9, 20, 4, method="wolff", seed=6, burn_in=10, thinning=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_wolff_limits() -> None:
    """K = 0: clusters are single sites, recoloured to another colour; K large: the whole ordered lattice."""
    sampler = PottsSampler(5, 0.0, 3, method="wolff", chains=4, seed=1, flips_per_sweep=1)
    before = sampler.spins.clone()
    sampler.step(1)
    assert ((sampler.spins != before).sum(dim=(1, 2)) == 1).all()
    sampler = PottsSampler(4, 40.0, 5, method="wolff", chains=4, seed=1, flips_per_sweep=1)
    sampler.spins.zero_()
    sampler.step(1)
    colours = sampler.spins.reshape(4, -1)
    assert (colours == colours[:, :1]).all() and (colours[:, 0] != 0).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"q": 1}, ValueError, "q must be >= 2"),
        ({"q": 2.5}, TypeError, "q must be an integer"),
        ({"method": "metropolis"}, ValueError, "method must be one of"),
        ({"n": -1}, ValueError, "n must be >= 1"),
        ({"n": 0}, ValueError, "n must be >= 1"),
        ({"L": 1}, ValueError, "L must be >= 2"),
        ({"K": math.nan}, ValueError, "K must be finite"),
        ({"K": -0.5}, ValueError, "K must be >= 0"),
        ({"h": math.nan}, ValueError, "h must be finite"),
        ({"h": math.inf}, ValueError, "h must be finite"),
        ({"h": "0.5"}, TypeError, "h must be a real number"),
        ({"device": "meta"}, ValueError, "device"),
        ({"chains": 0}, ValueError, "chains must be >= 1"),
        ({"burn_in": 5}, ValueError, "burn_in=5 is too short"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    args = {"L": 4, "K": 1.0, "n": 10, "q": 3, **kwargs}
    with pytest.raises(error, match=match):
        sample_potts_2d(args.pop("L"), args.pop("K"), args.pop("n"), args.pop("q"), **args)


# ------------------------------------------------------------------------------------- field on colour 0
def _bond_and_zero_series(
    method: str, L: int, q: int, K: float, h: float, direct: bool | None = None, T: int = 1500
) -> tuple[np.ndarray, np.ndarray]:
    """Satisfied bonds and colour-0 counts, int64 (T, 32 chains) each, one per sweep after 50 of burn-in
    (``direct``: force a heat-bath table layout)."""
    sampler = PottsSampler(L, K, q, method=method, chains=32, seed=7, h=h)
    if direct is not None:
        sampler.heatbath = heatbath_table(K, q, h, direct=direct)
    sampler.step(50)
    bonds, zeros = [], []
    for _ in range(T):
        sampler.step(1)
        bonds.append(satisfied_bonds(sampler.spins).numpy())
        zeros.append((sampler.spins == 0).sum(dim=(1, 2)).numpy())
    return np.array(bonds, dtype=np.int64), np.array(zeros, dtype=np.int64)


def _joint_p_value(bonds: np.ndarray, zeros: np.ndarray, law: np.ndarray) -> float:
    """Chi-square p-value of the (bonds, colour-0 count) histogram against ``law`` (2N + 1, N + 1), after
    thinning to every ceil(2 tau_int)-th sweep (the larger tau_int of the two series); bins expecting < 20
    samples pooled into one."""
    step = math.ceil(2 * max(_tau(bonds), _tau(zeros)))
    b, z = bonds[::step].ravel(), zeros[::step].ravel()
    observed = np.bincount(b * law.shape[1] + z, minlength=law.size).astype(np.float64)
    expected = law.ravel() * b.size
    assert np.all(observed[expected == 0] == 0)  # nothing outside the exact support
    return _pooled_chi2_pvalue(observed, expected)


@pytest.mark.parametrize("method", POTTS_METHODS)
@pytest.mark.parametrize(("K", "h"), [(0.8, 0.5), (0.8, -0.3), ("critical", -0.3), (0.4, 1.5)])
def test_field_on_colour_zero_is_exact(method: str, K: float | str, h: float) -> None:
    """q = 3 on the 3 x 3 torus (3^9 states, enumerable; 4 x 4 would be 3^16) in a field h on colour 0:
    the joint (bonds, colour-0 count) histogram against enumeration (chi-square) with a power check against
    the same K at h = 0, and the mean colour-0 fraction and energy within 4 sigma (autocorrelation-aware
    errors from the chain-averaged series)."""
    L, q = 3, 3
    K = _coupling(q, K)
    dos = potts_enumeration(L, L, q)
    bonds, zeros = _bond_and_zero_series(method, L, q, K, h)
    assert _joint_p_value(bonds, zeros, dos.joint_distribution(K, h)) > 1e-4
    assert _joint_p_value(bonds, zeros, dos.joint_distribution(K, 0.0)) < 1e-6  # power
    fraction, err = mean_and_error(zeros / (L * L))
    assert abs(fraction - dos.colour_fraction(K, h)) < 4 * err
    assert abs(fraction - 1 / q) > 8 * err  # the field is seen
    energy, energy_err = mean_and_error(-bonds / (L * L))
    assert abs(energy - dos.energy(K, h)) < 4 * energy_err


def test_generic_heatbath_table_in_a_field() -> None:
    """The generic (any q) heat-bath table with h > 0 and h < 0 (forced for q = 3 on the 3 x 3 torus)."""
    L, q, K = 3, 3, 0.8
    dos = potts_enumeration(L, L, q)
    for h in (0.5, -0.3):
        bonds, zeros = _bond_and_zero_series("heatbath", L, q, K, h, direct=False)
        assert _joint_p_value(bonds, zeros, dos.joint_distribution(K, h)) > 1e-4
        assert _joint_p_value(bonds, zeros, dos.joint_distribution(K, 0.0)) < 1e-6


@pytest.mark.filterwarnings("ignore:.*too short.*:RuntimeWarning")  # 64 samples: tiny by design
def test_generate_in_a_field_records_it() -> None:
    result = generate_potts_2d(4, 0.5, 64, 3, method="heatbath", seed=1, chains=8, h=1.0)
    assert result.h == 1.0 and result.metadata()["h"] == 1.0
    assert float((result.spins == 0).double().mean()) > 0.5  # 1/3 without the field
