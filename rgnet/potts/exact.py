"""Exact results for the 2D q-state Potts model: critical point, critical energy, tiny-lattice enumeration.

Conventions (see rgnet.potts): Boltzmann weight exp(K sum_<ij> delta(s_i, s_j)) on the periodic L x M square
lattice, each bond once (2 L M bonds; on a side of length 2 both bonds of a pair count, as in
rgnet.ising.exact). Energy per site e = -(1/N) <sum delta>, units of J; specific heat per site
C = K^2 N var(e). For q = 2, delta(s, s') = (1 + sigma sigma') / 2, so Z_Potts(K) = exp(K L M) Z_Ising(K/2).

Contents:

* :func:`potts_critical_coupling`: K_c = ln(1 + sqrt q) (self-dual point, Potts 1952; Baxter, "Exactly Solved
  Models in Statistical Mechanics" (1982), ch. 12).
* :func:`potts_critical_energy`: the infinite-lattice energy per site at K_c, e_c = -(1 + 1/sqrt q)
  (Baxter 1982, sec. 12.4; continuous for q <= 4, the mean of the two coexisting phases for q > 4).
  Derivation from the FK representation Z = sum_A v^|A| q^C(A), v = e^K - 1: duality maps a bond set A to its
  dual complement and v to q/v, so at the self-dual point v = sqrt q the active-bond density is 1/2 in the
  thermodynamic limit; d ln Z / dK = (e^K / v) <|A|> then gives <delta> = (1 + 1/sqrt q) / 2 per bond, two
  bonds per site. q = 2: <delta> = (1 + <sigma sigma'>) / 2 with Onsager's <sigma sigma'> = 1/sqrt 2 at K_c.
* :func:`potts_enumeration`: density of states of tiny tori (number of configurations with k satisfied
  bonds), and from it ln Z, energy, specific heat and the energy distribution at any K.
* :func:`potts_torus_observables`: exact energy and specific heat of an L x L torus where known (q = 2 by
  Kaufman at any L, q >= 3 by enumeration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.special import logsumexp

from rgnet._checks import check_int, check_real
from rgnet.potts.observables import satisfied_bonds

#: Largest number of configurations q^(L M) :func:`potts_enumeration` visits (a few seconds on one core).
MAX_ENUMERATION_STATES = 1 << 22
_CHUNK = 1 << 15  # configurations per block


def potts_critical_coupling(q: int) -> float:
    """Critical coupling K_c = ln(1 + sqrt q) of the square q-state Potts model (q = 2: 2 K_c Ising)."""
    q = check_int(q, "q", minimum=2)
    return math.log1p(math.sqrt(q))


def potts_critical_energy(q: int) -> float:
    """Energy per site of the infinite square lattice at K_c, e_c = -(1 + 1/sqrt q) (units of J).

    Per bond, <delta> = (1 + 1/sqrt q) / 2. For q > 4 (first-order transition) it is the mean of the ordered
    and disordered energies at K_c. See the module docstring for the derivation.
    """
    q = check_int(q, "q", minimum=2)
    return -(1.0 + 1.0 / math.sqrt(q))


@dataclass(frozen=True)
class PottsDensityOfStates:
    """Density of states of the L x M Potts torus: ``degeneracy[i]`` configurations have ``bonds[i]``
    satisfied bonds (int64 arrays, increasing ``bonds``, only nonzero degeneracies)."""

    L: int
    M: int
    q: int
    bonds: np.ndarray
    degeneracy: np.ndarray

    @property
    def n_sites(self) -> int:
        return self.L * self.M

    def _log_weights(self, K: float) -> np.ndarray:
        K = check_real(K, "K")
        return np.log(self.degeneracy.astype(np.float64)) + K * self.bonds

    def log_partition(self, K: float) -> float:
        """ln Z(K) = ln sum_k g_k exp(K k)."""
        return float(logsumexp(self._log_weights(K)))

    def energy_distribution(self, K: float) -> np.ndarray:
        """P(bonds[i]) at coupling K, float64 (len(bonds),); the energy per site is -bonds / N."""
        w = self._log_weights(K)
        return np.exp(w - logsumexp(w))

    def energy(self, K: float) -> float:
        """Mean energy per site -<k>/N."""
        return -float(self.energy_distribution(K) @ self.bonds) / self.n_sites

    def specific_heat(self, K: float) -> float:
        """Specific heat per site C = K^2 var(k) / N."""
        p = self.energy_distribution(K)
        mean = p @ self.bonds
        var = p @ (self.bonds - mean) ** 2
        return float(K * K * var / self.n_sites)


@lru_cache(maxsize=16)
def _enumerate(L: int, M: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    n = L * M
    total = q**n
    powers = torch.tensor([q**k for k in range(n)], dtype=torch.int64)
    hist = torch.zeros(2 * n + 1, dtype=torch.int64)
    for start in range(0, total, _CHUNK):
        idx = torch.arange(start, min(start + _CHUNK, total), dtype=torch.int64)
        colours = (idx[:, None] // powers % q).to(torch.int8).reshape(-1, L, M)
        hist += torch.bincount(satisfied_bonds(colours), minlength=2 * n + 1)
    counts = hist.numpy()
    bonds = np.nonzero(counts)[0].astype(np.int64)
    bonds.setflags(write=False)
    degeneracy = counts[bonds]
    degeneracy.setflags(write=False)
    return bonds, degeneracy


def _enumerable(L: int, M: int, q: int) -> bool:
    """Whether the q^(L M) states of the L x M torus are within :data:`MAX_ENUMERATION_STATES`."""
    return q ** (L * M) <= MAX_ENUMERATION_STATES


def potts_enumeration(L: int, M: int, q: int) -> PottsDensityOfStates:
    """Exact density of states of the L x M periodic q-state Potts model by enumerating all q^(L M) states.

    L, M >= 2, q >= 2 and q^(L M) <= :data:`MAX_ENUMERATION_STATES` (e.g. 4 x 4 with q = 2, 4 x 3 with q = 3,
    3 x 3 with q = 5). Degeneracies sum to q^(L M). Cached per (L, M, q).
    """
    L = check_int(L, "L", minimum=2)
    M = check_int(M, "M", minimum=2)
    q = check_int(q, "q", minimum=2)
    if not _enumerable(L, M, q):
        raise ValueError(
            f"L={L}, M={M}, q={q}: q^(L*M) = {q}^{L * M} states exceed the enumeration limit "
            f"MAX_ENUMERATION_STATES = {MAX_ENUMERATION_STATES}"
        )
    bonds, degeneracy = _enumerate(L, M, q)
    return PottsDensityOfStates(L, M, q, bonds, degeneracy)


def potts_log_partition(L: int, M: int, q: int, K: float) -> float:
    """Exact ln Z of the L x M Potts torus at coupling K (by enumeration, see :func:`potts_enumeration`)."""
    return potts_enumeration(L, M, q).log_partition(K)


def potts_energy_exact(L: int, M: int, q: int, K: float) -> float:
    """Exact mean energy per site -<sum delta>/N of the L x M Potts torus at K (by enumeration)."""
    return potts_enumeration(L, M, q).energy(K)


def potts_specific_heat_exact(L: int, M: int, q: int, K: float) -> float:
    """Exact specific heat per site K^2 N var(e) of the L x M Potts torus at K (by enumeration)."""
    return potts_enumeration(L, M, q).specific_heat(K)


def potts_torus_observables(L: int, q: int, K: float) -> dict[str, float | None]:
    """Exact ``energy`` and ``specific_heat`` per site of the L x L Potts torus where known, else None each.

    q = 2: Kaufman's Ising torus at K / 2 (e = (e_Ising - 2) / 2, C = C_Ising), any L; q >= 3: enumeration
    when q^(L L) <= :data:`MAX_ENUMERATION_STATES` (L = 2 or 3 for q = 3).
    """
    from rgnet.ising.exact import torus_observables

    L, q, K = check_int(L, "L", minimum=2), check_int(q, "q", minimum=2), check_real(K, "K")
    if q == 2:
        ising = torus_observables(L, K / 2.0)
        if ising["energy"] is None:
            return ising
        return {"energy": (ising["energy"] - 2.0) / 2.0, "specific_heat": ising["specific_heat"]}
    if not _enumerable(L, L, q):
        return {"energy": None, "specific_heat": None}
    return {"energy": potts_energy_exact(L, L, q, K), "specific_heat": potts_specific_heat_exact(L, L, q, K)}


__all__ = [
    "MAX_ENUMERATION_STATES",
    "PottsDensityOfStates",
    "potts_critical_coupling",
    "potts_critical_energy",
    "potts_energy_exact",
    "potts_enumeration",
    "potts_log_partition",
    "potts_specific_heat_exact",
    "potts_torus_observables",
]
