"""Tests of rgnet.ising.stats against processes with exactly known autocorrelation (Gaussian AR(1))."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.signal import lfilter

from rgnet.ising.stats import (
    autocorrelation,
    blocking_error,
    integrated_autocorrelation_time,
    jackknife,
    mean_and_error,
    tau_int_error,
)


def ar1(rho: float, T: int, realisations: int, seed: int) -> np.ndarray:
    """Stationary AR(1) x_t = rho x_{t-1} + sqrt(1 - rho^2) eps_t (mean 0, variance 1); (T, realisations).

    rho(t) = rho^t and tau_int = (1 + rho) / (2 (1 - rho)).
    """
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((T, realisations))
    x_before = rng.standard_normal(realisations)  # x_{-1} drawn from the stationary law
    return lfilter([math.sqrt(1.0 - rho**2)], [1.0, -rho], eps, axis=0, zi=(rho * x_before)[None, :])[0]


def exact_tau(rho: float) -> float:
    return (1.0 + rho) / (2.0 * (1.0 - rho))


# ----------------------------------------------------------------------------- autocorrelation


def test_autocorrelation_matches_direct_sum_with_overall_mean():
    x = np.random.default_rng(0).standard_normal((37, 3)) + np.array([0.0, 0.5, -1.0])
    d = x - x.mean()
    T = x.shape[0]
    direct = np.array([np.sum(d[: T - t] * d[t:]) / (3 * (T - t)) for t in range(T)])
    np.testing.assert_allclose(autocorrelation(x), direct / direct[0], rtol=1e-10, atol=1e-12)


def test_autocorrelation_of_ar1_decays_as_rho_to_the_t():
    rho, T = 0.5, 100_000
    r = autocorrelation(ar1(rho, T, 1, seed=1)[:, 0])
    assert r.shape == (T,) and r[0] == 1.0
    # Bartlett: var(r_t) <= (1 + rho^2) / ((1 - rho^2) T) for AR(1)
    tol = 4.0 * math.sqrt((1 + rho**2) / ((1 - rho**2) * T))
    np.testing.assert_allclose(r[1:6], rho ** np.arange(1, 6), atol=tol)


def test_torch_input_gives_the_same_results():
    x = ar1(0.7, 2000, 2, seed=2)
    xt = torch.from_numpy(x).to(torch.float32)
    np.testing.assert_allclose(autocorrelation(xt), autocorrelation(x.astype(np.float32)), rtol=1e-9)
    assert mean_and_error(xt) == pytest.approx(mean_and_error(x.astype(np.float32)), rel=1e-12)
    assert isinstance(blocking_error(xt), float)


def test_constant_series_is_uncorrelated_with_zero_error():
    x = np.full((50, 2), 0.1)
    np.testing.assert_array_equal(autocorrelation(x), np.eye(1, 50)[0])
    tau, W = integrated_autocorrelation_time(x)
    assert tau == 0.5 and W == 3  # smallest W >= 5 * 0.5
    assert mean_and_error(x) == (pytest.approx(0.1), 0.0)
    assert blocking_error(x) == 0.0


def test_chains_stuck_in_different_states_are_not_hidden():
    # each chain constant but chains differ: the pooled mean has the chain-to-chain error, not zero
    x = np.repeat(np.array([[1.0, -1.0, 1.0, 1.0]]), 400, axis=0)
    with pytest.warns(RuntimeWarning, match="too short"):
        tau, _ = integrated_autocorrelation_time(x)
    assert tau > 100


# ----------------------------------------------------------------------------- tau_int


@pytest.mark.parametrize(
    ("rho", "T", "chains"),
    [(0.0, 100_000, 1), (0.5, 100_000, 1), (0.9, 100_000, 1), (0.9, 20_000, 8), (0.99, 50_000, 4)],
)
def test_tau_int_of_ar1_within_error(rho, T, chains):
    x = ar1(rho, T, chains, seed=10 + int(100 * rho) + chains)
    x = x[:, 0] if chains == 1 else x
    tau, W = integrated_autocorrelation_time(x, c=5.0)
    err = tau_int_error(tau, W, T * chains)
    assert abs(tau - exact_tau(rho)) < 4 * err, (tau, err, exact_tau(rho))
    # W is the smallest window with W >= c tau(W)
    partial = 0.5 + np.cumsum(autocorrelation(x)[1:])
    assert W >= 5.0 * tau and tau == pytest.approx(partial[W - 1])
    assert np.all(np.arange(1, W) < 5.0 * partial[: W - 1])


def test_tau_int_warns_for_too_short_series():
    step = np.r_[np.zeros(50), np.ones(50)]  # rho(t) = (T - 2t) / (T - t): tau_int ~ 10 from 100 points
    with pytest.warns(RuntimeWarning, match="too short"):
        integrated_autocorrelation_time(step)


def test_tau_int_error_formula_and_validation():
    assert tau_int_error(2.0, 10, 1000) == pytest.approx(math.sqrt(2 * 21 / 1000) * 2.0)
    with pytest.raises(ValueError, match="T"):
        tau_int_error(1.0, 3, 0)
    with pytest.raises(TypeError, match="W"):
        tau_int_error(1.0, 2.5, 10)
    with pytest.raises(ValueError, match="c must be > 0"):
        integrated_autocorrelation_time(np.arange(10.0), c=0.0)


# ----------------------------------------------------------------------------- errors of the mean


def test_mean_and_error_with_given_tau_is_the_formula():
    x = np.random.default_rng(4).standard_normal((100, 3))
    mean, err = mean_and_error(x, tau=3.0)
    assert mean == pytest.approx(x.mean())
    assert err == pytest.approx(math.sqrt(2 * 3.0 * x.var(ddof=1) / 300))
    with pytest.raises(ValueError, match="tau must be > 0"):
        mean_and_error(x, tau=0.0)


@pytest.mark.parametrize(("rho", "chains"), [(0.5, 1), (0.9, 1), (0.9, 4)])
def test_mean_and_blocking_errors_cover_the_true_mean(rho, chains):
    T, groups = 4096, 300
    x = ar1(rho, T, chains * groups, seed=20 + chains + int(10 * rho))
    naive, auto, blocked = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # these series are long enough: no warning may be raised
        for g in range(groups):
            xs = x[:, g * chains : (g + 1) * chains]
            mean, err = mean_and_error(xs)
            auto.append(abs(mean) < 2 * err)
            blocked.append(abs(mean) < 2 * blocking_error(xs))
            naive.append(abs(mean) < 2 * xs.std(ddof=1) / math.sqrt(xs.size))
    for covered in (auto, blocked):
        assert 0.88 <= np.mean(covered) <= 0.99, np.mean(covered)
    # correlated data: the naive error is too small by sqrt(2 tau) (expected coverage 0.75 at rho = 0.5)
    assert np.mean(naive) < 0.85


def test_blocking_error_of_iid_data_is_the_naive_error():
    x = np.random.default_rng(5).standard_normal((1 << 14, 2))
    naive = x.std(ddof=1) / math.sqrt(x.size)
    assert blocking_error(x) == pytest.approx(naive, rel=0.15)


def test_blocking_error_warns_for_short_series():
    with pytest.warns(RuntimeWarning, match="too short"):
        blocking_error(np.random.default_rng(6).standard_normal(12))  # fewer than 16 blocks at every level


# ----------------------------------------------------------------------------- jackknife


def test_jackknife_of_the_mean_is_the_block_error():
    x = np.random.default_rng(7).standard_normal((200, 3))
    block_means = x.reshape(10, 20, 3).mean(axis=(1, 2))
    est, err = jackknife(np.mean, x, n_blocks=10)
    assert est == pytest.approx(x.mean())
    assert err == pytest.approx(block_means.std(ddof=1) / math.sqrt(10), rel=1e-10)


def test_jackknife_bias_correction_of_squared_mean():
    # for theta = mean^2 the bias-corrected jackknife is exactly mean^2 - s_b^2 / n (s_b: block means)
    x = np.random.default_rng(8).standard_normal(120) + 0.3
    block_means = x.reshape(12, 10).mean(axis=1)
    est, _ = jackknife(lambda v: np.mean(v) ** 2, x, n_blocks=12, bias_corrected=True)
    assert est == pytest.approx(x.mean() ** 2 - block_means.var(ddof=1) / 12, rel=1e-10)


def test_jackknife_error_matches_spread_of_nonlinear_estimates():
    # covariance of two correlated AR(1)-driven series from (T, chains) data: the mean jackknife error over
    # realisations must match the actual spread of the estimates
    T, chains, reps = 2000, 2, 200
    x = ar1(0.8, T, chains * reps, seed=9)
    y = 0.5 * x + ar1(0.5, T, chains * reps, seed=10)

    def cov(a: np.ndarray, b: np.ndarray) -> float:
        return np.mean(a * b) - np.mean(a) * np.mean(b)

    results = np.array(
        [
            jackknife(cov, x[:, r * chains : (r + 1) * chains], y[:, r * chains : (r + 1) * chains])
            for r in range(reps)
        ]
    )
    spread = results[:, 0].std(ddof=1)  # known to ~5% (200 realisations)
    assert results[:, 0].mean() == pytest.approx(0.5, abs=4 * spread / math.sqrt(reps))
    assert results[:, 1].mean() == pytest.approx(spread, rel=0.2)


def test_jackknife_validation():
    x = np.arange(40.0)
    with pytest.raises(ValueError, match="same shape"):
        jackknife(lambda a, b: 0.0, x, np.arange(41.0))
    with pytest.raises(ValueError, match="n_blocks"):
        jackknife(np.mean, x, n_blocks=41)
    with pytest.raises(TypeError, match="bias_corrected"):
        jackknife(np.mean, x, bias_corrected=1)
    with pytest.raises(TypeError, match="callable"):
        jackknife(3.0, x)
    with pytest.raises(ValueError, match="at least one series"):
        jackknife(np.mean)
    with pytest.raises(TypeError, match="scalar"):
        jackknife(lambda a: a, x)
    with pytest.raises(ValueError, match="non-finite"):
        jackknife(lambda a: np.inf, x)


@pytest.mark.parametrize(
    ("bad", "exc", "match"),
    [
        (np.zeros((4, 2, 2)), ValueError, "shape"),
        (np.array(["a", "b"]), TypeError, "real numbers"),
        (np.array([1.0, np.nan, 2.0]), ValueError, "non-finite"),
        (np.array([1.0]), ValueError, "at least 2"),
        (torch.zeros(3, dtype=torch.complex64), TypeError, "real"),
    ],
)
def test_series_validation(bad, exc, match):
    with pytest.raises(exc, match=match):
        mean_and_error(bad)


def test_chain_major_order_puts_each_chain_in_time_order():
    from rgnet.ising.stats import chain_major_order

    # sample i is chain i % 3 at time i // 3
    order = chain_major_order(7, 3)
    assert order.tolist() == [0, 3, 6, 1, 4, 2, 5]
    with pytest.raises(ValueError, match="chains"):
        chain_major_order(7, 0)
