"""Exact results of rgnet.ising.exact against brute-force enumeration and independent exact formulas."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
import torch

from rgnet.ising.exact import (
    K_CRITICAL,
    boltzmann_probabilities_1d,
    boltzmann_probabilities_2d,
    chain_correlation,
    chain_correlation_open,
    chain_log_partition,
    chain_magnetization,
    chain_transfer_matrix,
    configuration_index,
    energy_torus,
    enumerate_configurations,
    log_partition_torus,
    onsager_energy,
    onsager_free_energy,
    onsager_magnetization,
    onsager_specific_heat,
    specific_heat_torus,
)
from rgnet.ising.lattice import bond_sum

# ----------------------------------------------------------------------------------------------------------
# Brute force
# ----------------------------------------------------------------------------------------------------------


@functools.cache
def _torus_levels(L: int, M: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct bond sums of the L x M torus and their exact (integer) multiplicities, by enumeration."""
    levels, counts = torch.unique(bond_sum(enumerate_configurations((L, M))), return_counts=True)
    return levels.numpy().astype(np.float64), counts.numpy().astype(np.float64)


def _torus_reference(L: int, M: int, K: float) -> tuple[float, float, float]:
    """(ln Z, e, C) by summing over the enumerated energy levels."""
    levels, counts = _torus_levels(L, M)
    log_w = K * levels + np.log(counts)
    log_z = float(np.logaddexp.reduce(log_w))
    # <E> = sum g E (e^{KE} - 1) / Z since sum g E = 0: no cancellation at small K
    mean = float(np.sum(counts * levels * np.expm1(K * levels) * np.exp(-log_z)))
    var = float(np.sum(np.exp(log_w - log_z) * (levels - mean) ** 2))
    n = L * M
    return log_z, -mean / n, K * K * var / n


def _chain_reference(N: int, K: float, h: float, periodic: bool) -> tuple[float, np.ndarray, np.ndarray]:
    """(ln Z, <s_i>, <s_i s_j>) of the chain by enumeration."""
    s = enumerate_configurations((N,)).to(torch.float64)
    bonds = (s * torch.roll(s, -1, dims=1)).sum(1) if periodic else (s[:, :-1] * s[:, 1:]).sum(1)
    log_w = K * bonds + h * s.sum(1)
    p = torch.softmax(log_w, 0)
    corr = torch.einsum("c,ci,cj->ij", p, s, s)
    return torch.logsumexp(log_w, 0).item(), (p @ s).numpy(), corr.numpy()


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# ----------------------------------------------------------------------------------------------------------
# Kaufman: finite torus
# ----------------------------------------------------------------------------------------------------------

TORUS_SIZES = [(2, 2), (2, 3), (3, 2), (2, 5), (3, 3), (3, 4), (4, 3), (4, 4), (4, 5)]
TORUS_K = [1e-6, 0.04, 0.1, 0.3, K_CRITICAL, 0.6, 1.2, 2.0]


@pytest.mark.parametrize("L,M", TORUS_SIZES)
def test_kaufman_matches_enumeration(L, M):
    for K in TORUS_K:
        log_z, e, c = _torus_reference(L, M, K)
        assert _rel(log_partition_torus(L, M, K), log_z) < 1e-12, (L, M, K)
        assert _rel(energy_torus(L, M, K), e) < 1e-10, (L, M, K)
        # C ~ e^{-8K} at large K: documented relative accuracy ~1e-16 e^{8K}
        assert _rel(specific_heat_torus(L, M, K), c) < (1e-10 if K < 1.5 else 1e-8), (L, M, K)


@pytest.mark.parametrize("L,M", [(2, 2), (2, 4), (4, 4)])
def test_kaufman_antiferromagnet_even_sizes(L, M):
    for K in (-0.3, -K_CRITICAL, -1.0):
        log_z, e, c = _torus_reference(L, M, K)
        assert _rel(log_partition_torus(L, M, K), log_z) < 1e-12
        assert _rel(energy_torus(L, M, K), e) < 1e-10
        assert _rel(specific_heat_torus(L, M, K), c) < 1e-10


def test_kaufman_at_zero_and_tiny_coupling():
    for L, M in [(2, 2), (3, 5), (512, 512)]:
        assert log_partition_torus(L, M, 0.0) == pytest.approx(L * M * math.log(2.0), rel=1e-15)
        assert energy_torus(L, M, 0.0) == 0.0
        assert specific_heat_torus(L, M, 0.0) == 0.0
    # e = -(K / N) var_0(E) + O(K^2): var_0(E) / N = 1 per axis of length >= 3, 2 per axis of length 2
    for K in (1e-300, 1e-40, 1e-20, 1e-9):
        assert energy_torus(512, 512, K) == pytest.approx(-2.0 * K, rel=1e-12)
        assert energy_torus(2, 6, K) == pytest.approx(-3.0 * K, rel=1e-8)
        assert specific_heat_torus(512, 512, K) == pytest.approx(2.0 * K * K, rel=1e-12)


def test_kaufman_symmetric_in_the_two_sides_for_large_sizes():
    for K in (0.2, K_CRITICAL, 0.7):
        assert log_partition_torus(7, 12, K) == pytest.approx(log_partition_torus(12, 7, K), rel=1e-14)
        assert energy_torus(9, 16, K) == pytest.approx(energy_torus(16, 9, K), rel=1e-12)
        assert specific_heat_torus(5, 11, K) == pytest.approx(specific_heat_torus(11, 5, K), rel=1e-10)


def test_kaufman_large_lattice_is_finite_and_bounded():
    n = 512 * 512
    for K in (1e-8, 0.1, 0.3, K_CRITICAL - 1e-9, K_CRITICAL, K_CRITICAL + 1e-9, 0.6, 1.0, 2.0, 50.0):
        log_z = log_partition_torus(512, 512, K)
        e, c = energy_torus(512, 512, K), specific_heat_torus(512, 512, K)
        assert all(math.isfinite(x) for x in (log_z, e, c)), K
        # Jensen: Z >= 2^N; two ground states: Z >= 2 e^{2NK}; e in [-2, 0]; C >= 0
        assert log_z >= max(n * math.log(2.0), math.log(2.0) + 2.0 * n * K) - 1e-9
        assert -2.0 - 1e-12 <= e <= 0.0 and c >= 0.0


def _ising_cft_log_z_square_torus() -> float:
    """ln Z of the Ising CFT on the square torus (tau = i): ln[(|th2| + |th3| + |th4|) / (2 |eta|)]."""
    q = math.exp(-2.0 * math.pi)  # q = exp(2 pi i tau)
    n = range(-20, 21)
    th2 = sum(q ** ((k + 0.5) ** 2 / 2) for k in n)
    th3 = sum(q ** (k * k / 2) for k in n)
    th4 = sum((-1) ** k * q ** (k * k / 2) for k in n)
    eta = q ** (1 / 24) * math.prod(1.0 - q**k for k in range(1, 60))
    return math.log((th2 + th3 + th4) / (2.0 * eta))


def test_kaufman_approaches_onsager():
    L = 256
    n = L * L
    for K in (0.2, 0.3, 0.6, 1.0):
        # the ordered phase carries ln 2 (two ground states) on top of N f
        log_z = log_partition_torus(L, L, K) - (math.log(2.0) if K > K_CRITICAL else 0.0)
        assert log_z / n == pytest.approx(onsager_free_energy(K), abs=1e-12)
        assert energy_torus(L, L, K) == pytest.approx(onsager_energy(K), abs=1e-12)
        assert specific_heat_torus(L, L, K) == pytest.approx(onsager_specific_heat(K), rel=1e-9)
    # at K_c: ln Z = N f + ln Z_CFT(tau = i) + O(1/L^2)
    excess = log_partition_torus(L, L, K_CRITICAL) - n * onsager_free_energy(K_CRITICAL)
    assert excess == pytest.approx(_ising_cft_log_z_square_torus(), abs=2e-3)
    assert energy_torus(L, L, K_CRITICAL) == pytest.approx(-math.sqrt(2.0), abs=1e-2)


def test_finite_size_specific_heat_grows_like_log_l():
    # Ferdinand & Fisher: C(L, K_c) = (8 K_c^2 / pi) ln L + const + O(ln L / L)
    c128, c256 = specific_heat_torus(128, 128, K_CRITICAL), specific_heat_torus(256, 256, K_CRITICAL)
    slope = (c256 - c128) / math.log(2.0)
    assert slope == pytest.approx(8.0 * K_CRITICAL**2 / math.pi, rel=5e-3)


def test_torus_argument_errors():
    with pytest.raises(ValueError, match="L must be >= 2"):
        log_partition_torus(1, 4, 0.3)
    with pytest.raises(ValueError, match="M must be >= 2"):
        energy_torus(4, 0, 0.3)
    with pytest.raises(TypeError, match="L must be an integer"):
        specific_heat_torus(4.0, 4, 0.3)
    with pytest.raises(ValueError, match="K must be finite"):
        log_partition_torus(4, 4, math.inf)
    with pytest.raises(ValueError, match="both even"):
        log_partition_torus(3, 4, -0.2)


# ----------------------------------------------------------------------------------------------------------
# Onsager: infinite lattice
# ----------------------------------------------------------------------------------------------------------


def test_onsager_magnetization():
    for K in (-1.0, 0.0, 0.3, K_CRITICAL):
        assert onsager_magnetization(K) == 0.0
    assert onsager_magnetization(K_CRITICAL + 1e-6) > 0.0
    values = [onsager_magnetization(K) for K in np.linspace(K_CRITICAL + 1e-3, 3.0, 50)]
    assert all(b > a for a, b in itertools.pairwise(values))
    assert onsager_magnetization(40.0) == 1.0
    # low-temperature series (Domb): M = 1 - 2 z^4 - 8 z^6 - 34 z^8 - 152 z^10 - 714 z^12 - ..., z = e^{-2K}
    for K in (1.0, 1.5, 2.5):
        z = math.exp(-2.0 * K)
        series = 1 - 2 * z**4 - 8 * z**6 - 34 * z**8 - 152 * z**10
        assert onsager_magnetization(K) == pytest.approx(series, abs=1000 * z**12)
    # M^8 = 1 - sinh(2K)^-4, i.e. (1 - M^8) sinh(2K)^4 = 1
    for K in (0.45, 0.5, 0.8):
        assert (1.0 - onsager_magnetization(K) ** 8) * math.sinh(2 * K) ** 4 == pytest.approx(1.0, rel=1e-12)


def test_onsager_free_energy_limits_and_duality():
    assert onsager_free_energy(0.0) == pytest.approx(math.log(2.0), rel=1e-15)
    assert onsager_free_energy(20.0) == pytest.approx(40.0, rel=1e-15)
    # Kramers-Wannier: f(K) - ln 2 - 2 ln cosh K = f(K*) - 2 K*, tanh K = e^{-2K*}
    for K in (0.1, 0.3, 0.43):
        dual = -0.5 * math.log(math.tanh(K))
        lhs = onsager_free_energy(K) - math.log(2.0) - 2.0 * math.log(math.cosh(K))
        assert lhs == pytest.approx(onsager_free_energy(dual) - 2.0 * dual, abs=1e-13)
    assert onsager_free_energy(-0.3) == onsager_free_energy(0.3)


def test_onsager_energy_and_specific_heat_are_derivatives():
    step = 1e-5
    for K in (0.05, 0.3, 0.42, 0.46, 0.7, 1.2, -0.3):
        slope = (onsager_free_energy(K + step) - onsager_free_energy(K - step)) / (2 * step)
        assert onsager_energy(K) == pytest.approx(-slope, rel=1e-7)
        de = (onsager_energy(K + step) - onsager_energy(K - step)) / (2 * step)
        assert onsager_specific_heat(K) == pytest.approx(-K * K * de, rel=1e-6)
    assert onsager_energy(K_CRITICAL) == pytest.approx(-math.sqrt(2.0), rel=1e-15)
    assert onsager_energy(0.0) == 0.0 and onsager_specific_heat(0.0) == 0.0
    assert onsager_specific_heat(K_CRITICAL) == math.inf
    assert onsager_energy(1e-3) == pytest.approx(-2e-3, rel=1e-5)  # high-T: e = -2 tanh K + O(K^3)


# ----------------------------------------------------------------------------------------------------------
# 1D chain
# ----------------------------------------------------------------------------------------------------------

CHAIN_KH = [(0.4, 0.0), (1.1, 0.0), (-0.5, 0.0), (0.4, 0.3), (-0.5, -0.7), (1.1, 0.05), (0.0, 0.9)]


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("N", [1, 2, 5, 6, 7, 8, 9, 10, 11, 12])
def test_chain_matches_enumeration(N, periodic):
    r = np.arange(N)
    for K, h in CHAIN_KH:
        log_z, mag, corr = _chain_reference(N, K, h, periodic)
        assert chain_log_partition(N, K, h, periodic=periodic) == pytest.approx(log_z, rel=1e-13, abs=1e-13)
        assert chain_magnetization(N, K, h, periodic=periodic) == pytest.approx(mag.mean(), abs=1e-13)
        np.testing.assert_allclose(chain_correlation(N, K, r, h, periodic=periodic), corr[0], atol=1e-13)
        if not periodic:
            i, j = np.meshgrid(r, r, indexing="ij")
            np.testing.assert_allclose(chain_correlation_open(N, K, i, j, h), corr, atol=1e-13)


def test_chain_closed_forms():
    for N in (3, 10, 1000):
        for K in (0.2, 1.0, -0.7):
            t = math.tanh(K)
            # ln[(2 cosh K)^N + (2 sinh K)^N] = N ln(2 cosh K) + ln(1 + t^N)
            log_z = N * math.log(2 * math.cosh(K)) + math.log1p(t**N)
            assert chain_log_partition(N, K) == pytest.approx(log_z, rel=1e-13)
            r = np.arange(N)
            np.testing.assert_allclose(
                chain_correlation(N, K, r), (t**r + t ** (N - r)) / (1 + t**N), rtol=1e-12, atol=1e-300
            )
            assert chain_magnetization(N, K, 0.0) == 0.0
    # infinite chain in a field: m = sinh h / sqrt(sinh^2 h + e^{-4K})
    K, h = 0.6, 0.2
    m = math.sinh(h) / math.sqrt(math.sinh(h) ** 2 + math.exp(-4 * K))
    assert chain_magnetization(10**4, K, h) == pytest.approx(m, rel=1e-13)
    assert chain_magnetization(10**4, K, h, periodic=False) == pytest.approx(m, rel=1e-3)


def test_chain_transfer_matrix_trace():
    for K, h in CHAIN_KH:
        T = chain_transfer_matrix(K, h)
        assert T.shape == (2, 2) and T.dtype == np.float64
        assert T[0, 0] == pytest.approx(math.exp(K + h)) and T[1, 1] == pytest.approx(math.exp(K - h))
        assert T[0, 1] == T[1, 0] == pytest.approx(math.exp(-K))
        trace = np.trace(np.linalg.matrix_power(T, 7))
        assert chain_log_partition(7, K, h) == pytest.approx(math.log(trace), rel=1e-13)


def test_chain_extreme_parameters_stay_finite():
    log_z = chain_log_partition(10**6, 500.0, 800.0, periodic=False)
    assert log_z == pytest.approx(1e6 * 1300 - 500, rel=1e-15)
    assert chain_log_partition(10**6, -500.0, 0.0) == pytest.approx(5e8 + math.log(2.0), rel=1e-15)
    np.testing.assert_allclose(chain_correlation(10**6, -500.0, np.array([1, 2, 3])), [-1.0, 1.0, -1.0])
    assert chain_magnetization(100, 50.0, -900.0, periodic=False) == -1.0


def test_chain_return_types_and_errors():
    assert isinstance(chain_correlation(10, 0.5, 3), float)
    assert isinstance(chain_correlation_open(10, 0.5, 2, np.int64(7)), float)
    out = chain_correlation(10, 0.5, [[1, 2], [3, 4]], periodic=False)
    assert isinstance(out, np.ndarray) and out.shape == (2, 2)
    with pytest.raises(ValueError, match=r"r must lie in \[0, 9\]"):
        chain_correlation(10, 0.5, 10)
    with pytest.raises(ValueError, match=r"j must lie in \[0, 9\]"):
        chain_correlation_open(10, 0.5, 0, [3, -1])
    with pytest.raises(TypeError, match="r must be an integer"):
        chain_correlation(10, 0.5, 1.5)
    with pytest.raises(ValueError, match="N must be >= 1"):
        chain_log_partition(0, 0.5)
    with pytest.raises(ValueError, match="h must be finite"):
        chain_magnetization(5, 0.5, math.nan)
    with pytest.raises(TypeError, match="periodic must be True or False"):
        chain_log_partition(5, 0.5, periodic="yes")


# ----------------------------------------------------------------------------------------------------------
# Enumeration and exact probabilities
# ----------------------------------------------------------------------------------------------------------


def test_enumeration_bit_convention():
    conf = enumerate_configurations((2, 3))
    assert conf.dtype == torch.int8 and conf.shape == (64, 2, 3)
    # row 5 = 0b000101: sites 0 and 2 (row-major) are +1
    assert conf[5].flatten().tolist() == [1, -1, 1, -1, -1, -1]
    assert bool((conf[0] == -1).all()) and bool((conf[63] == 1).all())
    assert torch.unique(conf.reshape(64, -1), dim=0).shape[0] == 64


def test_configuration_index_round_trip():
    for shape in [(7,), (3, 3), (2, 2, 3)]:
        conf = enumerate_configurations(shape)
        n = conf.shape[0]
        assert torch.equal(configuration_index(conf), torch.arange(n))
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
        assert torch.equal(configuration_index(conf[perm].float()), perm)


def test_enumeration_errors():
    with pytest.raises(ValueError, match="<= 24 sites"):
        enumerate_configurations((5, 5))
    with pytest.raises(TypeError, match="shape must be"):
        enumerate_configurations(4)
    with pytest.raises(ValueError, match="only \\+1 and -1"):
        configuration_index(torch.zeros(2, 3, dtype=torch.int8))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        configuration_index(torch.ones(3, dtype=torch.int8))
    with pytest.raises(ValueError, match="<= 24 sites"):
        boltzmann_probabilities_2d(5, 5, 0.3)
    with pytest.raises(ValueError, match="L must be >= 2"):
        boltzmann_probabilities_2d(1, 4, 0.3)


@pytest.mark.parametrize("L,M", [(2, 2), (3, 3), (3, 4)])
def test_boltzmann_probabilities_2d(L, M):
    conf = enumerate_configurations((L, M))
    for K, h in [(0.3, 0.0), (K_CRITICAL, 0.2), (-0.6, -0.4)]:
        p = boltzmann_probabilities_2d(L, M, K, h)
        assert p.dtype == torch.float64 and p.shape == (2 ** (L * M),)
        assert p.sum().item() == pytest.approx(1.0, abs=1e-14)
        log_w = K * bond_sum(conf).double() + h * conf.double().sum(dim=(1, 2))
        torch.testing.assert_close(p, torch.softmax(log_w, 0), rtol=1e-13, atol=0.0)
        if h == 0.0 and K >= 0.0:
            # consistent with Kaufman's partition function: p(all up) = e^{2NK} / Z
            all_up = 2 * L * M * K - log_partition_torus(L, M, K)
            assert p[-1].item() == pytest.approx(math.exp(all_up), rel=1e-12)


@pytest.mark.parametrize("periodic", [True, False])
def test_boltzmann_probabilities_1d(periodic):
    N = 9
    conf = enumerate_configurations((N,)).double()
    for K, h in CHAIN_KH:
        p = boltzmann_probabilities_1d(N, K, h, periodic=periodic)
        assert p.dtype == torch.float64 and p.shape == (2**N,)
        assert p.sum().item() == pytest.approx(1.0, abs=1e-14)
        n_bonds = N if periodic else N - 1
        all_up = n_bonds * K + N * h - chain_log_partition(N, K, h, periodic=periodic)
        assert p[-1].item() == pytest.approx(math.exp(all_up), rel=1e-12)
        # magnetization and correlations from the probabilities agree with the transfer matrix
        mag = chain_magnetization(N, K, h, periodic=periodic)
        assert (p @ conf).mean().item() == pytest.approx(mag, abs=1e-13)
        c03 = (p * conf[:, 0] * conf[:, 3]).sum().item()
        assert c03 == pytest.approx(chain_correlation(N, K, 3, h, periodic=periodic), abs=1e-13)
