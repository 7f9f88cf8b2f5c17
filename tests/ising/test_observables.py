"""Tests of rgnet.ising.observables: hand-worked configurations, exact chain correlations, enumeration."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from rgnet.ising import observables
from rgnet.ising.observables import (
    binder_cumulant,
    correlation_function,
    correlation_function_1d,
    energy_per_site,
    energy_per_site_1d,
    magnetization_per_site,
    structure_factor,
    thermodynamics,
)


def all_up(L: int) -> torch.Tensor:
    return torch.ones((1, L, L), dtype=torch.int8)


def checkerboard(L: int) -> torch.Tensor:
    idx = torch.arange(L)
    return (1 - 2 * ((idx[:, None] + idx[None, :]) % 2)).to(torch.int8)[None]


def one_flipped(L: int, row: int = 1, col: int = 0) -> torch.Tensor:
    s = all_up(L)
    s[0, row % L, col % L] = -1
    return s


# ----------------------------------------------------------------------------- energy and magnetization


@pytest.mark.parametrize("L", [2, 3, 4, 5])
def test_energy_and_magnetization_by_hand(L):
    N = L * L
    # all up: 2N satisfied bonds; one flipped spin breaks its 4 bonds (for L = 2 the 4 doubled torus bonds)
    assert energy_per_site(all_up(L)).tolist() == [-2.0]
    assert energy_per_site(one_flipped(L)).item() == pytest.approx(-2.0 + 8.0 / N)
    assert magnetization_per_site(all_up(L)).tolist() == [1.0]
    assert magnetization_per_site(one_flipped(L)).item() == pytest.approx(1.0 - 2.0 / N)
    if L % 2 == 0:  # the antiferromagnetic checkerboard breaks every bond
        assert energy_per_site(checkerboard(L)).tolist() == [2.0]
        assert magnetization_per_site(checkerboard(L)).tolist() == [0.0]


def test_energy_is_batched_float64_and_accepts_float_spins():
    s = torch.cat([all_up(4), checkerboard(4), one_flipped(4)])
    e = energy_per_site(s)
    assert e.dtype == torch.float64 and e.shape == (3,)
    assert e.tolist() == pytest.approx([-2.0, 2.0, -1.5])
    assert torch.equal(energy_per_site(s.float()), e)
    assert torch.equal(magnetization_per_site(-s.double()), -magnetization_per_site(s))


def test_energy_1d_by_hand():
    up = torch.ones((1, 6), dtype=torch.int8)
    alternating = torch.tensor([[1, -1, 1, -1, 1, -1]], dtype=torch.int8)
    flipped_inside = torch.tensor([[1, 1, -1, 1, 1, 1]], dtype=torch.int8)
    flipped_end = torch.tensor([[-1, 1, 1, 1, 1, 1]], dtype=torch.int8)
    assert energy_per_site_1d(up).item() == -1.0
    assert energy_per_site_1d(up, periodic=False).item() == pytest.approx(-5 / 6)
    assert energy_per_site_1d(alternating).item() == 1.0
    assert energy_per_site_1d(alternating, periodic=False).item() == pytest.approx(5 / 6)
    assert energy_per_site_1d(flipped_inside).item() == pytest.approx(-2 / 6)
    assert energy_per_site_1d(flipped_inside, periodic=False).item() == pytest.approx(-1 / 6)
    assert energy_per_site_1d(flipped_end).item() == pytest.approx(-2 / 6)
    assert energy_per_site_1d(flipped_end, periodic=False).item() == pytest.approx(-3 / 6)
    # N = 2 periodic: both bonds between the pair
    assert energy_per_site_1d(torch.tensor([[1, 1]], dtype=torch.int8)).item() == -1.0


def test_magnetization_of_any_shape():
    s = torch.ones((2, 3, 2, 2), dtype=torch.int8)
    s[1, 0, 0, 0] = -1
    assert magnetization_per_site(s).tolist() == pytest.approx([1.0, 10 / 12])


@pytest.mark.parametrize(
    ("fn", "bad", "exc", "match"),
    [
        (energy_per_site, np.ones((1, 4, 4)), TypeError, "torch.Tensor"),
        (energy_per_site, torch.ones((1, 4, 4), dtype=torch.bool), TypeError, "dtype"),
        (energy_per_site, torch.zeros((1, 4, 4), dtype=torch.int8), ValueError, r"\+1 and -1"),
        (energy_per_site, torch.ones((1, 16), dtype=torch.int8), ValueError, r"\(batch, L, L\)"),
        (energy_per_site_1d, torch.ones((1, 4, 4), dtype=torch.int8), ValueError, r"\(batch, N\)"),
        (magnetization_per_site, torch.ones(4, dtype=torch.int8), ValueError, "site axis"),
        (correlation_function, torch.ones((1, 4, 6), dtype=torch.int8), ValueError, "square"),
        (structure_factor, torch.ones((0, 4, 4), dtype=torch.int8), ValueError, "at least one"),
    ],
)
def test_spin_validation(fn, bad, exc, match):
    with pytest.raises(exc, match=match):
        fn(bad)


# ----------------------------------------------------------------------------- correlation functions


@pytest.mark.parametrize("L", [4, 5, 6])
def test_correlation_function_by_hand(L):
    N = L * L
    r = torch.arange(L // 2 + 1, dtype=torch.float64)
    assert torch.equal(correlation_function(all_up(L)), torch.ones(L // 2 + 1, dtype=torch.float64))
    zeros = torch.zeros(L // 2 + 1, dtype=torch.float64)
    assert torch.equal(correlation_function(all_up(L), connected=True), zeros)
    if L % 2 == 0:
        assert torch.equal(correlation_function(checkerboard(L)), (-1.0) ** r)
    # one flipped spin: along each axis and for each r >= 1 exactly two products s_x s_{x+r} are -1
    G = correlation_function(one_flipped(L))
    expected = torch.full_like(G, 1.0 - 4.0 / N)
    expected[0] = 1.0
    torch.testing.assert_close(G, expected)
    m = 1.0 - 2.0 / N
    torch.testing.assert_close(correlation_function(one_flipped(L), connected=True), expected - m**2)


def test_correlation_function_averages_the_batch_and_both_axes():
    stripes = torch.ones((1, 4, 4), dtype=torch.int8)
    stripes[0, 1::2, :] = -1  # rows alternate: G_x(r) = 1, G_y(r) = (-1)^r
    G = correlation_function(torch.cat([stripes, all_up(4)]), max_r=2)
    assert G.tolist() == pytest.approx([1.0, 0.5, 1.0])  # batch mean of (1 + (-1)^r)/2 and 1
    with pytest.raises(ValueError, match="max_r"):
        correlation_function(stripes, max_r=3)


def test_correlation_function_1d_by_hand():
    s = torch.tensor([[1, 1, -1]], dtype=torch.int8)
    assert correlation_function_1d(s, periodic=False).tolist() == pytest.approx([1.0, 0.0, -1.0])
    assert correlation_function_1d(s, periodic=True).tolist() == pytest.approx([1.0, -1 / 3])
    alternating = torch.tensor([[1, -1, 1, -1, 1, -1]], dtype=torch.int8)
    assert correlation_function_1d(alternating).tolist() == [1.0, -1.0, 1.0, -1.0]
    assert correlation_function_1d(alternating, periodic=False, max_r=2).tolist() == [1.0, -1.0, 1.0]
    with pytest.raises(ValueError, match="max_r"):
        correlation_function_1d(alternating, max_r=4)


def markov_chain_spins(K: float, batch: int, N: int, seed: int) -> torch.Tensor:
    """Exact i.i.d. samples of the open h = 0 chain: s_0 = +-1, s_{i+1} = s_i with prob (1 + tanh K)/2."""
    gen = torch.Generator().manual_seed(seed)
    first = torch.randint(0, 2, (batch, 1), generator=gen) * 2 - 1
    flips = torch.where(torch.rand((batch, N - 1), generator=gen) < (1 + math.tanh(K)) / 2, 1, -1)
    return (first * torch.cumprod(torch.cat([torch.ones((batch, 1), dtype=flips.dtype), flips], 1), 1)).to(
        torch.int8
    )


def grouped_mean_and_error(fn, spins: torch.Tensor, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of ``fn`` over ``groups`` independent sub-batches (``fn`` is batch-linear)."""
    values = np.stack([fn(chunk).numpy() for chunk in spins.chunk(groups)])
    return values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(groups)


def test_open_chain_correlation_is_tanh_k_to_the_r():
    K, N = 0.8, 32
    spins = markov_chain_spins(K, batch=4000, N=N, seed=0)
    G, err = grouped_mean_and_error(lambda s: correlation_function_1d(s, periodic=False), spins, groups=40)
    exact = math.tanh(K) ** np.arange(N)
    assert G[0] == 1.0 and np.all(np.abs(G - exact)[1:] < 4 * err[1:]), (G - exact) / np.maximum(err, 1e-12)


def test_periodic_chain_correlation_is_exact():
    # the periodic chain law is the open-chain law reweighted by exp(K s_{N-1} s_0): accept with that weight
    K, N = 0.6, 12
    open_spins = markov_chain_spins(K, batch=40_000, N=N, seed=1)
    gen = torch.Generator().manual_seed(2)
    closing = (open_spins[:, 0] * open_spins[:, -1]).double()
    accept = torch.rand(len(open_spins), generator=gen, dtype=torch.float64) < torch.exp(K * (closing - 1))
    spins = open_spins[accept][:20_000]
    G, err = grouped_mean_and_error(correlation_function_1d, spins, groups=40)
    t, r = math.tanh(K), np.arange(N // 2 + 1)
    exact = (t**r + t ** (N - r)) / (1 + t**N)
    assert np.all(np.abs(G - exact)[1:] < 4 * err[1:]), (G - exact) / np.maximum(err, 1e-12)
    # energy per site of the periodic chain is -G(1)
    e, e_err = grouped_mean_and_error(lambda s: energy_per_site_1d(s).mean()[None], spins, groups=40)
    assert abs(e[0] + exact[1]) < 4 * e_err[0]


# ----------------------------------------------------------------------------- structure factor


def test_structure_factor_by_hand():
    L = 4
    N = L * L
    S = structure_factor(all_up(L))
    expected = torch.zeros((L, L), dtype=torch.float64)
    expected[0, 0] = N
    torch.testing.assert_close(S, expected)
    expected = torch.zeros((L, L), dtype=torch.float64)
    expected[L // 2, L // 2] = N  # q = (pi, pi)
    torch.testing.assert_close(structure_factor(checkerboard(L)), expected)
    # one flipped spin: sum_x s_x e^{-iqx} = N delta_q0 - 2 e^{-iqf}
    expected = torch.full((L, L), 4.0 / N, dtype=torch.float64)
    expected[0, 0] = (N - 2) ** 2 / N
    torch.testing.assert_close(structure_factor(one_flipped(L, 2, 3)), expected)


def test_structure_factor_sum_rule_and_zero_mode(monkeypatch):
    gen = torch.Generator().manual_seed(3)
    spins = (torch.randint(0, 2, (10, 6, 6), generator=gen) * 2 - 1).to(torch.int8)
    S = structure_factor(spins)
    assert S.mean().item() == pytest.approx(1.0, abs=1e-12)
    assert S[0, 0].item() == pytest.approx(36 * (magnetization_per_site(spins) ** 2).mean().item())
    monkeypatch.setattr(observables, "_FFT_CHUNK_SITES", 3 * 36)  # several chunks, the last one partial
    torch.testing.assert_close(structure_factor(spins), S)


# ------------------------------------------------------------------------- Binder cumulant, thermodynamics


def test_binder_cumulant_by_hand():
    assert binder_cumulant(np.array([1.0, -1.0, 1.0])) == pytest.approx(2 / 3)
    m = [1, -1, 2, -2, 0]
    m2, m4 = Fraction(sum(x**2 for x in m), 5), Fraction(sum(x**4 for x in m), 5)
    assert binder_cumulant(torch.tensor(m, dtype=torch.float64)) == pytest.approx(float(1 - m4 / (3 * m2**2)))
    with pytest.raises(ValueError, match="undefined"):
        binder_cumulant(np.zeros(4))


def enumerate_4x4(K: float) -> tuple[torch.Tensor, np.ndarray]:
    """All 2^16 configurations of the 4 x 4 torus and their exact Boltzmann probabilities at h = 0."""
    codes = torch.arange(1 << 16)
    bits = (codes[:, None] >> torch.arange(16)) & 1
    spins = (1 - 2 * bits).to(torch.int8).reshape(-1, 4, 4)
    log_w = (-K * 16 * energy_per_site(spins)).numpy()
    w = np.exp(log_w - log_w.max())
    return spins, w / w.sum()


def test_thermodynamics_against_exact_enumeration():
    K, N, T, chains, stay = 0.4, 16, 20_000, 4, 0.8
    spins, p = enumerate_4x4(K)
    e_all = energy_per_site(spins).numpy()
    m_all = magnetization_per_site(spins).numpy()

    def avg(x: np.ndarray) -> float:
        return float(np.sum(p * x))

    exact = {
        "energy": avg(e_all),
        "abs_magnetization": avg(np.abs(m_all)),
        "m2": avg(m_all**2),
        "specific_heat": K**2 * N * (avg(e_all**2) - avg(e_all) ** 2),
        "susceptibility": N * (avg(m_all**2) - avg(np.abs(m_all)) ** 2),
        "binder": 1 - avg(m_all**4) / (3 * avg(m_all**2) ** 2),
    }
    # a Markov chain with the exact stationary law: keep the state with prob `stay`, else draw a fresh exact
    # sample; every observable then has rho(t) = stay^t, tau_int = (1 + stay) / (2 (1 - stay)) = 4.5
    rng = np.random.default_rng(4)
    fresh = rng.choice(len(p), size=(T, chains), p=p)
    refresh = rng.random((T, chains)) >= stay
    refresh[0] = True
    last_refresh = np.maximum.accumulate(np.where(refresh, np.arange(T)[:, None], 0), axis=0)
    states = np.take_along_axis(fresh, last_refresh, axis=0)
    e, m = e_all[states], m_all[states]

    result = thermodynamics(torch.from_numpy(e), m, K=K, n_sites=N)
    assert set(result) == set(exact)
    for key, (value, error) in result.items():
        assert abs(value - exact[key]) < 4 * error, (key, value, error, exact[key])
    # point estimates are the plain sample formulas; errors account for tau_int = 4.5 (sqrt(2 tau) = 3)
    assert result["specific_heat"][0] == pytest.approx(K**2 * N * e.var())
    assert result["binder"][0] == pytest.approx(binder_cumulant(m))
    naive = e.std(ddof=1) / math.sqrt(e.size)
    assert 2.4 < result["energy"][1] / naive < 3.6


def test_thermodynamics_warns_when_blocks_are_short_and_validates():
    rng = np.random.default_rng(5)
    x = np.cumsum(rng.standard_normal(4000)) * 0.01  # random walk: tau_int of order T
    with pytest.warns(RuntimeWarning) as record:  # tau_int itself also warns that the series is too short
        thermodynamics(x - 1.0, np.tanh(x), K=0.4, n_sites=16)
    assert any("jackknife blocks" in str(w.message) for w in record)
    with pytest.raises(ValueError, match="same shape"):
        thermodynamics(np.zeros(10), np.zeros(11), K=0.4, n_sites=16)
    with pytest.raises(ValueError, match="n_sites"):
        thermodynamics(np.zeros(10), np.zeros(10), K=0.4, n_sites=0)
