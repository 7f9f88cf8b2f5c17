"""Cylinder transfer matrices vs Kaufman's torus partition function, enumeration and Onsager/CFT limits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rgnet.ising.exact import (
    K_CRITICAL,
    cylinder_ring_states,
    cylinder_spectrum,
    cylinder_transfer_matrix,
    enumerate_configurations,
    log_partition_torus,
    onsager_free_energy,
)
from rgnet.ising.lattice import bond_sum


def _log_trace_power(T: np.ndarray, M: int) -> float:
    values = np.linalg.eigvalsh(T)
    top = np.abs(values).max()
    return float(M * math.log(top) + math.log(np.sum((values / top) ** M)))


@pytest.mark.parametrize("K", [0.2, K_CRITICAL, 0.7, -0.3])
@pytest.mark.parametrize("L, M", [(4, 4), (4, 5), (6, 3), (2, 6)])
def test_trace_matches_kaufman(L: int, M: int, K: float) -> None:
    if K < 0 and (L % 2 or M % 2):
        pytest.skip("antiferromagnet only on even tori")
    T = cylinder_transfer_matrix(L, K)
    assert T.shape == (2**L, 2**L) and T.dtype == np.float64
    np.testing.assert_array_equal(T, T.T)
    assert _log_trace_power(T, M) == pytest.approx(log_partition_torus(L, M, K), rel=1e-12)


@pytest.mark.parametrize("K, h", [(0.3, 0.2), (0.5, -0.7), (-0.4, 0.3)])
def test_trace_matches_enumeration_with_field(K: float, h: float) -> None:
    L, M = 3, 4
    spins = enumerate_configurations((M, L))  # row m = ring m
    log_w = K * bond_sum(spins).to(torch.float64) + h * spins.to(torch.float64).sum(dim=(1, 2))
    log_z = float(torch.logsumexp(log_w, dim=0))
    assert _log_trace_power(cylinder_transfer_matrix(L, K, h), M) == pytest.approx(log_z, rel=1e-12)


def test_ring_states_and_flip() -> None:
    s = cylinder_ring_states(3)
    assert s.shape == (8, 3) and s.dtype == np.int8
    np.testing.assert_array_equal(s[0], [-1, -1, -1])
    np.testing.assert_array_equal(s[1], [1, -1, -1])
    np.testing.assert_array_equal(s[::-1], -s)  # flip of state i is 2**L - 1 - i


@pytest.mark.parametrize("h", [0.0, 0.15])
def test_spectrum_dense_and_lanczos_agree_with_eigenvectors(h: float) -> None:
    L, K = 9, 0.4  # L > 8 uses the matrix-free Lanczos path
    values, vectors = cylinder_spectrum(L, K, h, n_eig=4)
    T = cylinder_transfer_matrix(L, K, h)
    np.testing.assert_allclose(T @ vectors, vectors * values, rtol=1e-9, atol=1e-9 * values[0])
    dense = np.linalg.eigvalsh(T)
    np.testing.assert_allclose(values, dense[np.argsort(-np.abs(dense))][:4], rtol=1e-10)
    assert np.all(vectors[:, 0] > 0)  # Perron vector


@pytest.mark.parametrize("L", [5, 9])
def test_sectors_split_the_spectrum(L: int) -> None:
    all_values, _ = cylinder_spectrum(L, K_CRITICAL, n_eig=6)
    even, v_even = cylinder_spectrum(L, K_CRITICAL, n_eig=3, sector="even")
    odd, v_odd = cylinder_spectrum(L, K_CRITICAL, n_eig=3, sector="odd")
    merged = np.sort(np.concatenate([even, odd]))[::-1]
    np.testing.assert_allclose(merged[:4], all_values[:4], rtol=1e-10)
    np.testing.assert_allclose(v_even, v_even[::-1], atol=1e-12)
    np.testing.assert_allclose(v_odd, -v_odd[::-1], atol=1e-12)
    assert even[0] == pytest.approx(all_values[0]) and odd[0] == pytest.approx(all_values[1])


def test_free_energy_tends_to_onsager() -> None:
    K = 0.3  # short correlation length: finite-circumference corrections decay exponentially in L
    errors = [
        abs(math.log(cylinder_spectrum(L, K, n_eig=1)[0][0]) / L - onsager_free_energy(K)) for L in (8, 12)
    ]
    assert errors[1] < 1e-5 * onsager_free_energy(K) and errors[1] < errors[0] / 10


def test_critical_gaps_give_ising_scaling_dimensions() -> None:
    # ln(lambda_0 / lambda_k) ~ 2 pi Delta_k / L at K_c: Delta_sigma = 1/8, Delta_epsilon = 1
    spin, energy = [], []
    for L in (6, 8, 10):
        v, _ = cylinder_spectrum(L, K_CRITICAL, n_eig=2)
        ve, _ = cylinder_spectrum(L, K_CRITICAL, n_eig=2, sector="even")
        spin.append(L * math.log(v[0] / v[1]) / (2 * math.pi))
        energy.append(L * math.log(ve[0] / ve[1]) / (2 * math.pi))
    assert abs(spin[-1] - 0.125) < 0.005 * 0.125 and np.all(np.diff(np.abs(np.array(spin) - 0.125)) < 0)
    assert abs(energy[-1] - 1.0) < 0.01 and np.all(np.diff(np.abs(np.array(energy) - 1.0)) < 0)
    # negative control: away from criticality the "dimension" grows with L (massive gap)
    v, _ = cylinder_spectrum(10, 0.3, n_eig=2)
    assert 10 * math.log(v[0] / v[1]) / (2 * math.pi) > 1.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="L"):
        cylinder_transfer_matrix(1, 0.3)
    with pytest.raises(ValueError, match="L"):
        cylinder_transfer_matrix(13, 0.3)
    with pytest.raises(ValueError, match="K"):
        cylinder_transfer_matrix(4, math.nan)
    with pytest.raises(ValueError, match="overflow"):
        cylinder_transfer_matrix(10, 40.0)
    with pytest.raises(ValueError, match="sector"):
        cylinder_spectrum(4, 0.3, sector="up")
    with pytest.raises(ValueError, match="h = 0"):
        cylinder_spectrum(4, 0.3, h=0.1, sector="odd")
    with pytest.raises(ValueError, match="n_eig"):
        cylinder_spectrum(4, 0.3, n_eig=17)
