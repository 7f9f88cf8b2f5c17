"""Exact Potts results: enumeration against Kaufman (q = 2), a brute-force loop, limits; critical point."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rgnet.ising.exact import (
    K_CRITICAL,
    boltzmann_probabilities_2d,
    energy_torus,
    enumerate_configurations,
    log_partition_torus,
    onsager_energy,
    specific_heat_torus,
)
from rgnet.ising.lattice import bond_sum
from rgnet.potts.exact import (
    potts_critical_coupling,
    potts_critical_energy,
    potts_energy_exact,
    potts_enumeration,
    potts_log_partition,
    potts_specific_heat_exact,
    potts_torus_observables,
)
from rgnet.potts.observables import satisfied_bonds

COUPLINGS = (0.0, 0.1, 0.5, 2 * K_CRITICAL, 2.0)


@pytest.mark.parametrize(("L", "M"), [(4, 4), (3, 5), (2, 4), (2, 2)])
@pytest.mark.parametrize("K", COUPLINGS)
def test_q2_is_ising_at_half_the_coupling(L: int, M: int, K: float) -> None:
    """ln Z_Potts(K) = ln Z_Ising(K/2) + K N_bonds / 2; e_P = (e_I - 2) / 2; C_P(K) = C_I(K/2)."""
    n_bonds = 2 * L * M
    assert potts_log_partition(L, M, 2, K) == pytest.approx(
        log_partition_torus(L, M, K / 2) + K * n_bonds / 2, abs=1e-10
    )
    assert potts_energy_exact(L, M, 2, K) == pytest.approx((energy_torus(L, M, K / 2) - 2) / 2, abs=1e-10)
    assert potts_specific_heat_exact(L, M, 2, K) == pytest.approx(specific_heat_torus(L, M, K / 2), abs=1e-10)


def _brute_force_bonds(L: int, M: int, q: int) -> np.ndarray:
    """Histogram of satisfied bonds by explicit neighbour loops (right and down neighbour of every site)."""
    hist = np.zeros(2 * L * M + 1, dtype=np.int64)
    for colours in itertools.product(range(q), repeat=L * M):
        s = np.array(colours).reshape(L, M)
        k = sum(
            int(s[i, j] == s[i, (j + 1) % M]) + int(s[i, j] == s[(i + 1) % L, j])
            for i in range(L)
            for j in range(M)
        )
        hist[k] += 1
    return hist


@pytest.mark.parametrize(("L", "M", "q"), [(2, 3, 3), (3, 2, 3), (2, 2, 4)])
def test_enumeration_matches_brute_force_loops(L: int, M: int, q: int) -> None:
    dos = potts_enumeration(L, M, q)
    hist = _brute_force_bonds(L, M, q)
    assert np.array_equal(dos.bonds, np.nonzero(hist)[0])
    assert np.array_equal(dos.degeneracy, hist[hist > 0])


@pytest.mark.parametrize(("L", "M", "q"), [(3, 3, 3), (4, 3, 3), (3, 3, 4), (2, 4, 5)])
def test_density_of_states_limits(L: int, M: int, q: int) -> None:
    dos = potts_enumeration(L, M, q)
    N = L * M
    assert int(dos.degeneracy.sum()) == q**N
    assert dos.bonds[-1] == 2 * N and dos.degeneracy[-1] == q  # the q ordered states
    assert dos.log_partition(0.0) == pytest.approx(N * math.log(q), abs=1e-12)
    assert dos.energy(0.0) == pytest.approx(-2.0 / q, abs=1e-12)  # each bond satisfied w.p. 1/q
    assert dos.energy(40.0) == pytest.approx(-2.0, abs=1e-9)
    p = dos.energy_distribution(potts_critical_coupling(q))
    assert p.sum() == pytest.approx(1.0, abs=1e-12) and (p >= 0).all()
    # the specific heat is K^2 d^2 lnZ/dK^2 / N: check against finite differences
    K, d = 0.9, 1e-4
    second = (dos.log_partition(K + d) - 2 * dos.log_partition(K) + dos.log_partition(K - d)) / d**2
    assert dos.specific_heat(K) == pytest.approx(K * K * second / N, rel=1e-5)
    assert dos.energy(K) == pytest.approx(
        -(dos.log_partition(K + d) - dos.log_partition(K - d)) / (2 * d * N)
    )


def test_enumeration_bonds_are_satisfied_bonds_of_the_states() -> None:
    """The enumerator's histogram is the one of satisfied_bonds over all states (its own building block)."""
    colours = torch.tensor(list(itertools.product(range(3), repeat=6)), dtype=torch.int8).reshape(-1, 2, 3)
    hist = torch.bincount(satisfied_bonds(colours), minlength=13).numpy()
    assert np.array_equal(potts_enumeration(2, 3, 3).degeneracy, hist[hist > 0])


def test_critical_point() -> None:
    assert potts_critical_coupling(2) == pytest.approx(2 * K_CRITICAL, abs=1e-15)
    assert potts_critical_coupling(3) == pytest.approx(math.log(1 + math.sqrt(3)), abs=1e-15)
    # q = 2: <delta> = (1 + <sigma sigma'>) / 2 with Onsager's energy at K_c: e_P = (e_I - 2) / 2
    assert potts_critical_energy(2) == pytest.approx((onsager_energy(K_CRITICAL) - 2) / 2, abs=1e-12)
    assert potts_critical_energy(2) == pytest.approx(-(1 + 1 / math.sqrt(2)), abs=1e-15)
    assert potts_critical_energy(3) == pytest.approx(-(1 + 1 / math.sqrt(3)), abs=1e-15)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="q must be >= 2"):
        potts_critical_coupling(1)
    with pytest.raises(TypeError, match="q must be an integer"):
        potts_critical_energy(2.5)
    with pytest.raises(TypeError, match="q must be an integer"):
        potts_enumeration(3, 3, 2.5)
    with pytest.raises(ValueError, match="L must be >= 2"):
        potts_enumeration(1, 3, 3)
    with pytest.raises(ValueError, match="exceed the enumeration limit"):
        potts_enumeration(4, 4, 3)
    with pytest.raises(ValueError, match="K must be finite"):
        potts_log_partition(3, 3, 3, math.inf)


# ------------------------------------------------------------------------------------- field on colour 0
FIELD_CASES = [(0.0, 0.7), (0.5, 0.5), (2 * K_CRITICAL, -0.3), (1.5, -2.0), (0.3, 4.0)]


@pytest.mark.parametrize(("L", "M"), [(2, 2), (2, 3), (3, 3), (4, 4)])
@pytest.mark.parametrize(("K", "h"), FIELD_CASES)
def test_q2_in_a_field_is_ising_at_half_coupling_and_field(L: int, M: int, K: float, h: float) -> None:
    """q = 2: delta(s, s') = (1 + sigma sigma') / 2, delta(s, 0) = (1 + sigma) / 2 (colour 0 <-> +1), so
    ln Z_P(K, h) = (K + h/2) L M + ln Z_I(K/2, h/2) (Ising by enumeration, rgnet.ising.exact), the colour-0
    fraction is (1 + <m>) / 2 and e_P = (e_I - 2) / 2, to machine precision."""
    spins = enumerate_configurations((L, M))
    n = L * M
    log_w = (K / 2) * bond_sum(spins).double() + (h / 2) * spins.sum(dim=(1, 2)).double()
    ising_log_z = float(torch.logsumexp(log_w, dim=0))
    dos = potts_enumeration(L, M, 2)
    assert dos.log_partition(K, h) == pytest.approx((K + h / 2) * n + ising_log_z, rel=1e-13, abs=1e-12)
    assert potts_log_partition(L, M, 2, K, h) == dos.log_partition(K, h)
    p = boltzmann_probabilities_2d(L, M, K / 2, h / 2)
    m = float(p @ spins.sum(dim=(1, 2)).double()) / n
    e_ising = -float(p @ bond_sum(spins).double()) / n
    assert dos.colour_fraction(K, h) == pytest.approx((1 + m) / 2, abs=1e-13)
    assert potts_energy_exact(L, M, 2, K, h) == pytest.approx((e_ising - 2) / 2, abs=1e-13)


@pytest.mark.parametrize("q", [2, 3, 4])
def test_joint_density_of_states(q: int) -> None:
    """The (bonds, colour-0) counts: marginal = degeneracy, colour-0 marginal binomial(N, 1/q) q^N, h = 0
    unchanged, d ln Z / dh = N <fraction of colour 0>, and the fraction is 1/q at h = 0."""
    L, M = (3, 3) if q < 4 else (2, 3)
    n = L * M
    dos = potts_enumeration(L, M, q)
    assert np.array_equal(dos.joint.sum(axis=1)[dos.bonds], dos.degeneracy)
    assert int(dos.joint.sum()) == q**n
    binomial = [math.comb(n, z) * (q - 1) ** (n - z) for z in range(n + 1)]
    assert dos.joint.sum(axis=0).tolist() == binomial
    K = 0.7
    assert dos.colour_fraction(K) == pytest.approx(1 / q, abs=1e-14)
    for h in (-0.4, 0.3):
        eps = 1e-5
        slope = (dos.log_partition(K, h + eps) - dos.log_partition(K, h - eps)) / (2 * eps)
        assert slope == pytest.approx(n * dos.colour_fraction(K, h), rel=1e-8)
    assert dos.log_partition(K, 1e-300) == pytest.approx(dos.log_partition(K), rel=1e-15)
    brute = _brute_force_log_z_in_field(L, M, q, K, 0.3) if q**n <= 20000 else None
    if brute is not None:
        assert dos.log_partition(K, 0.3) == pytest.approx(brute, rel=1e-13)


def _brute_force_log_z_in_field(L: int, M: int, q: int, K: float, h: float) -> float:
    configs = torch.tensor(list(itertools.product(range(q), repeat=L * M)), dtype=torch.int8)
    colours = configs.reshape(-1, L, M)
    log_w = K * satisfied_bonds(colours).double() + h * (colours == 0).sum(dim=(1, 2)).double()
    return float(torch.logsumexp(log_w, dim=0))


def test_field_errors_name_h() -> None:
    dos = potts_enumeration(2, 2, 3)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="h must be finite"):
            dos.log_partition(0.5, bad)
        with pytest.raises(ValueError, match="h must be finite"):
            potts_torus_observables(2, 3, 0.5, bad)
    with pytest.raises(TypeError, match="h must be a real number"):
        dos.colour_fraction(0.5, "1")
