"""Exact 1D decimation recursions against closed forms, brute-force sums and exact partition functions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rgnet.ising.exact import chain_correlation, chain_log_partition, chain_magnetization
from rgnet.rg import (
    correlation_length_1d,
    coupling_from_correlation_length,
    decimate_1d,
    decimation_jacobian,
    exact_decimation_sequence,
    fixed_points_1d,
    flow_1d,
    stability_1d,
)


@pytest.mark.parametrize("b", [1, 2, 3, 5])
@pytest.mark.parametrize("K", [0.05, 0.4, 1.0, 3.0, -0.7])
def test_zero_field_closed_form(K, b):
    step = decimate_1d(K, b)
    assert step.h == 0.0
    assert math.tanh(step.K) == pytest.approx(math.tanh(K) ** b, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("b", [2, 3])
@pytest.mark.parametrize("K, h", [(0.7, 0.0), (0.7, 0.4), (-0.3, 0.9), (1.5, -0.2)])
def test_summing_out_spins_by_brute_force(K, h, b):
    """sum over the b-1 inner spins of a segment = exp(g + K' a c + h' (a + c) / 2) for all end spins a, c."""
    step = decimate_1d(K, b, h)
    for a, c in itertools.product((1, -1), repeat=2):
        total = 0.0
        for inner in itertools.product((1, -1), repeat=b - 1):
            chain = (a, *inner, c)
            energy = K * sum(x * y for x, y in itertools.pairwise(chain)) + h * sum(inner) + 0.5 * h * (a + c)
            total += math.exp(energy)
        assert math.log(total) == pytest.approx(step.g + step.K * a * c + 0.5 * step.h * (a + c), abs=1e-12)


@pytest.mark.parametrize("N, b", [(12, 2), (12, 3), (64, 4)])
@pytest.mark.parametrize("K, h", [(1.0, 0.0), (0.6, 0.25), (2.0, -0.1)])
def test_partition_function_is_preserved(N, b, K, h):
    """ln Z_N(K, h) = (N/b) g + ln Z_{N/b}(K', h') for periodic chains (decimation is exact)."""
    step = decimate_1d(K, b, h)
    lhs = chain_log_partition(N, K, h)
    rhs = (N // b) * step.g + chain_log_partition(N // b, step.K, step.h)
    assert lhs == pytest.approx(rhs, rel=1e-11)


def test_extreme_couplings_keep_precision():
    # K' ~ tanh(K)^b underflow regime and t -> 1 regime
    assert decimate_1d(0.01, 8).K == pytest.approx(math.tanh(0.01) ** 8, rel=1e-10)
    big = decimate_1d(15.0, 2)
    # 1 - tanh K' = 2 / (e^{2K'} + 1) ~ 2(1 - tanh K) for K -> inf, so K' = K - ln(2)/2
    assert big.K == pytest.approx(15.0 - 0.5 * math.log(2.0), abs=1e-9)
    assert math.isfinite(decimate_1d(40.0, 2, 0.1).K)


def test_jacobian_closed_form_and_fixed_points():
    b = 2
    for K in (0.3, 1.0, 2.5):
        t = math.tanh(K)
        expected = b * t ** (b - 1) * (1 - t**2) / (1 - t ** (2 * b))
        jac = decimation_jacobian(K, 0.0, b)
        assert jac[0, 0] == pytest.approx(expected, rel=1e-10)
        assert jac[0, 1] == pytest.approx(0.0, abs=1e-12) and jac[1, 0] == pytest.approx(0.0, abs=1e-12)
    values, _ = stability_1d(0.0, 0.0, 2)
    np.testing.assert_allclose(values, [1.0, 0.0], atol=1e-12)  # h marginal, K irrelevant at K* = 0
    stable, unstable = fixed_points_1d(2)
    assert stable.stable and stable.K == 0.0 and decimate_1d(0.0, 2).K == 0.0
    assert not unstable.stable and unstable.eigenvalue == 2.0 and math.isinf(unstable.K)
    # in t = tanh K, the slope of t' = t^b near t = 1 tends to b (checked on the map itself)
    K = 8.0
    eps = 1e-6
    t0 = math.tanh(K)
    slope = (math.tanh(decimate_1d(math.atanh(t0 - eps), 2).K) - math.tanh(decimate_1d(K, 2).K)) / -eps
    assert slope == pytest.approx(2.0, rel=1e-3)


def test_flow_and_correlation_lengths():
    flow = flow_1d(1.0, 5)
    seq = exact_decimation_sequence(1.0, 5)
    np.testing.assert_allclose(flow["K"], seq)
    np.testing.assert_allclose(seq, [math.atanh(math.tanh(1.0) ** (2**l)) for l in range(6)], rtol=1e-12)
    xi = [correlation_length_1d(K) for K in seq]
    np.testing.assert_allclose(xi, xi[0] / 2.0 ** np.arange(6), rtol=1e-10)
    assert coupling_from_correlation_length(xi[2]) == pytest.approx(seq[2], rel=1e-12)
    assert correlation_length_1d(0.0) == 0.0
    # flow with a field: h grows toward the K = 0 fixed line, K decays
    fl = flow_1d(1.0, 6, h0=0.1)
    assert fl["K"][-1] < 0.01 and fl["h"][-1] > 0.1


def test_correlation_length_with_field_against_transfer_matrix():
    K, h, N = 0.8, 0.3, 400
    xi = correlation_length_1d(K, h)
    m = chain_magnetization(N, K, h)
    r = np.arange(1, 8)
    connected = np.asarray(chain_correlation(N, K, r, h)) - m**2
    np.testing.assert_allclose(np.diff(np.log(connected)), -1.0 / xi, rtol=1e-8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="b"):
        decimate_1d(1.0, 0)
    with pytest.raises(TypeError, match="b"):
        decimate_1d(1.0, 2.5)
    with pytest.raises(ValueError, match="K"):
        decimate_1d(math.inf)
    with pytest.raises(ValueError, match="steps"):
        flow_1d(1.0, -1)
    with pytest.raises(ValueError, match="b"):
        fixed_points_1d(1)
