"""Exact results for the 2D q-state Potts model: critical point, critical energy, tiny-lattice enumeration.

Conventions (see rgnet.potts): Boltzmann weight exp(K sum_<ij> delta(s_i, s_j) + h sum_i delta(s_i, 0)) on
the periodic L x M square lattice, each bond once (2 L M bonds; on a side of length 2 both bonds of a pair
count, as in rgnet.ising.exact), h the field on colour 0 (h = 0 by default). Energy per site
e = -(1/N) <sum delta> (the bond part, units of J); specific heat per site C = K^2 N var(e). For q = 2,
delta(s, s') = (1 + sigma sigma') / 2 and delta(s, 0) = (1 + sigma) / 2 (colour 0 <-> sigma = +1), so
Z_Potts(K, h) = exp((K + h/2) L M) Z_Ising(K/2, h/2).

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
  bonds and z sites of colour 0), and from it ln Z, energy, specific heat, the fraction of colour 0 and the
  energy distribution at any K and h.
* :func:`potts_torus_observables`: exact energy and specific heat of an L x L torus where known (q = 2 and
  h = 0 by Kaufman at any L, otherwise by enumeration).
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
    satisfied bonds (int64 arrays, increasing ``bonds``, only nonzero degeneracies); ``joint[k, z]``
    configurations have k satisfied bonds and z sites of colour 0 (int64 (2 L M + 1, L M + 1)).

    Every method takes the coupling K and the field h on colour 0 (default 0), both in units of kT.
    """

    L: int
    M: int
    q: int
    bonds: np.ndarray
    degeneracy: np.ndarray
    joint: np.ndarray

    @property
    def n_sites(self) -> int:
        return self.L * self.M

    def _log_joint(self, K: float, h: float) -> np.ndarray:
        """ln(joint[k, z] exp(K k + h z)), -inf where joint is 0; float64 (2N + 1, N + 1)."""
        K, h = check_real(K, "K"), check_real(h, "h")
        k = np.arange(self.joint.shape[0])[:, None]
        z = np.arange(self.joint.shape[1])[None, :]
        with np.errstate(divide="ignore"):
            return np.log(self.joint.astype(np.float64)) + K * k + h * z

    def _log_weights(self, K: float, h: float) -> np.ndarray:
        if check_real(h, "h") == 0.0:
            K = check_real(K, "K")
            return np.log(self.degeneracy.astype(np.float64)) + K * self.bonds
        return logsumexp(self._log_joint(K, h), axis=1)[self.bonds]

    def log_partition(self, K: float, h: float = 0.0) -> float:
        """ln Z(K, h) = ln sum_{k, z} g_{k z} exp(K k + h z)."""
        return float(logsumexp(self._log_weights(K, h)))

    def joint_distribution(self, K: float, h: float = 0.0) -> np.ndarray:
        """P(k satisfied bonds, z sites of colour 0), float64 (2N + 1, N + 1)."""
        w = self._log_joint(K, h)
        return np.exp(w - logsumexp(w))

    def energy_distribution(self, K: float, h: float = 0.0) -> np.ndarray:
        """P(bonds[i]) at (K, h), float64 (len(bonds),); the energy per site is -bonds / N."""
        w = self._log_weights(K, h)
        return np.exp(w - logsumexp(w))

    def energy(self, K: float, h: float = 0.0) -> float:
        """Mean (bond) energy per site -<k>/N."""
        return -float(self.energy_distribution(K, h) @ self.bonds) / self.n_sites

    def specific_heat(self, K: float, h: float = 0.0) -> float:
        """Specific heat per site C = K^2 var(k) / N (of the bond energy)."""
        p = self.energy_distribution(K, h)
        mean = p @ self.bonds
        var = p @ (self.bonds - mean) ** 2
        return float(K * K * var / self.n_sites)

    def colour_fraction(self, K: float, h: float = 0.0) -> float:
        """Mean fraction of sites of colour 0, <z>/N (1/q at h = 0 by symmetry)."""
        p = self.joint_distribution(K, h).sum(axis=0)
        return float(p @ np.arange(p.size)) / self.n_sites


@lru_cache(maxsize=16)
def _enumerate(L: int, M: int, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = L * M
    total = q**n
    powers = torch.tensor([q**k for k in range(n)], dtype=torch.int64)
    hist = torch.zeros((2 * n + 1) * (n + 1), dtype=torch.int64)
    for start in range(0, total, _CHUNK):
        idx = torch.arange(start, min(start + _CHUNK, total), dtype=torch.int64)
        colours = (idx[:, None] // powers % q).to(torch.int8)
        zeros = (colours == 0).sum(dim=1)
        bonds = satisfied_bonds(colours.reshape(-1, L, M))
        hist += torch.bincount(bonds * (n + 1) + zeros, minlength=hist.numel())
    joint = hist.numpy().reshape(2 * n + 1, n + 1)
    joint.setflags(write=False)
    counts = joint.sum(axis=1)
    bonds = np.nonzero(counts)[0].astype(np.int64)
    bonds.setflags(write=False)
    degeneracy = counts[bonds]
    degeneracy.setflags(write=False)
    return bonds, degeneracy, joint


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
    bonds, degeneracy, joint = _enumerate(L, M, q)
    return PottsDensityOfStates(L, M, q, bonds, degeneracy, joint)


def potts_log_partition(L: int, M: int, q: int, K: float, h: float = 0.0) -> float:
    """Exact ln Z of the L x M Potts torus at coupling K and field h on colour 0 (by enumeration, see
    :func:`potts_enumeration`)."""
    return potts_enumeration(L, M, q).log_partition(K, h)


def potts_energy_exact(L: int, M: int, q: int, K: float, h: float = 0.0) -> float:
    """Exact mean energy per site -<sum delta>/N of the L x M Potts torus at (K, h) (by enumeration)."""
    return potts_enumeration(L, M, q).energy(K, h)


def potts_specific_heat_exact(L: int, M: int, q: int, K: float, h: float = 0.0) -> float:
    """Exact specific heat per site K^2 N var(e) of the L x M Potts torus at (K, h) (by enumeration)."""
    return potts_enumeration(L, M, q).specific_heat(K, h)


def potts_colour_fraction_exact(L: int, M: int, q: int, K: float, h: float = 0.0) -> float:
    """Exact mean fraction of colour-0 sites of the L x M Potts torus at (K, h) (by enumeration)."""
    return potts_enumeration(L, M, q).colour_fraction(K, h)


def potts_torus_observables(L: int, q: int, K: float, h: float = 0.0) -> dict[str, float | None]:
    """Exact ``energy`` and ``specific_heat`` per site of the L x L Potts torus where known, else None each.

    q = 2 and h = 0: Kaufman's Ising torus at K / 2 (e = (e_Ising - 2) / 2, C = C_Ising), any L; otherwise
    enumeration (any h) when q^(L L) <= :data:`MAX_ENUMERATION_STATES` (L <= 4 for q = 2, L <= 3 for q = 3).
    """
    from rgnet.ising.exact import torus_observables

    L, q = check_int(L, "L", minimum=2), check_int(q, "q", minimum=2)
    K, h = check_real(K, "K"), check_real(h, "h")
    if q == 2 and h == 0.0:
        ising = torus_observables(L, K / 2.0)
        if ising["energy"] is None:
            return ising
        return {"energy": (ising["energy"] - 2.0) / 2.0, "specific_heat": ising["specific_heat"]}
    if not _enumerable(L, L, q):
        return {"energy": None, "specific_heat": None}
    return {
        "energy": potts_energy_exact(L, L, q, K, h),
        "specific_heat": potts_specific_heat_exact(L, L, q, K, h),
    }


__all__ = [
    "MAX_ENUMERATION_STATES",
    "PottsDensityOfStates",
    "potts_critical_coupling",
    "potts_colour_fraction_exact",
    "potts_critical_energy",
    "potts_energy_exact",
    "potts_enumeration",
    "potts_log_partition",
    "potts_specific_heat_exact",
    "potts_torus_observables",
]
