"""Exact Potts results: enumeration against Kaufman (q = 2), a brute-force loop, limits; critical point."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rgnet.ising.exact import (
    K_CRITICAL,
    energy_torus,
    log_partition_torus,
    onsager_energy,
    specific_heat_torus,
)
from rgnet.potts.exact import (
    potts_critical_coupling,
    potts_critical_energy,
    potts_energy_exact,
    potts_enumeration,
    potts_log_partition,
    potts_specific_heat_exact,
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
