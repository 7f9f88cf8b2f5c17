"""q-state Potts kernels on the CPU (numba): Swendsen-Wang, Wolff and heat bath, chains in parallel.

Conventions (those of rgnet.ising.samplers.cluster_numba): spins (chains, N = L*L) int8 colours 0..q-1,
row-major; one splitmix64 Weyl counter per chain (rgnet.ising.samplers._rng), held in a local variable while
the chain runs, so results do not depend on thread scheduling. An FK bond between equal neighbours is active
with probability t / 2^32, t = round(p 2^32), p = 1 - exp(-K), decided exactly from 16 random bits by
below_threshold16. A uniform colour out of m is ((u32 * m) >> 32) for 32 random bits u32 (each colour has
probability within 2^-32 of 1/m).

The Swendsen-Wang bond pass is the Ising kernel's own (cluster_numba._sw_bonds): it only compares neighbours
for equality, so it serves any number of colours; with p = 1 - exp(-K) it builds the Potts FK clusters.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from rgnet.ising.samplers._rng import below_threshold16, weyl_next
from rgnet.ising.samplers.cluster_numba import _sw_bonds
from rgnet.ising.samplers.tables import probability_to_threshold, split_threshold

_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


@numba.njit(inline="always")
def _uniform_below(u32: np.uint64, m: int) -> np.int64:
    """A colour in 0..m-1 from 32 random bits (multiply-shift)."""
    return np.int64((u32 * np.uint64(m)) >> _SHIFT32)


@numba.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy")
def swendsen_wang_potts(
    spins: np.ndarray, L: int, q: int, counters: np.ndarray, n_sweeps: int, t_hi: int, t_lo: int
) -> None:
    """``n_sweeps`` Swendsen-Wang sweeps in place: FK clusters, each given a new uniform colour in 0..q-1.

    spins: (chains, L*L) int8; counters: (chains,) uint64, advanced in place; (t_hi, t_lo): split threshold
    of p = 1 - exp(-K). After the bond pass every root is its cluster's smallest index and parent[i] <= i, so
    in increasing order a non-root copies the already-new colour of its parent.
    """
    chains, n = spins.shape
    for c in numba.prange(chains):
        s = spins[c]
        parent = np.empty(n, np.uint32)
        x = counters[c]
        for _ in range(n_sweeps):
            x = _sw_bonds(s, parent, L, t_hi, t_lo, x)
            z = np.uint64(0)
            spare = False  # the low half of the last output is still unused
            for i in range(n):
                p = parent[i]
                if p == i:
                    if spare:
                        u = z & _LOW32
                    else:
                        x, z = weyl_next(x)
                        u = z >> _SHIFT32
                    spare = not spare
                    s[i] = _uniform_below(u, q)
                else:
                    s[i] = s[p]
        counters[c] = x


@numba.njit(inline="always")
def _wolff_try(
    s: np.ndarray,
    queue: np.ndarray,
    tail: int,
    row: int,
    col: int,
    L: int,
    old: int,
    new: int,
    u16: int,
    t_hi: int,
    t_lo: int,
    x: np.uint64,
) -> tuple[int, np.uint64]:
    """Site (row, col) joins (recoloured old -> new, queued as (row << 16) | col) iff its colour is ``old``
    and the bond is active.

    Sites are recoloured as they join, so colour ``old`` also means "not yet in the cluster". Branch-free
    push: the slot is always written, ``tail`` advances by 0 or 1. Returns (tail, counter).
    """
    j = row * L + col
    hit, x = below_threshold16(u16, t_hi, t_lo, x)
    sj = np.int64(s[j])
    join = np.int64(hit) & np.int64(sj == old)
    s[j] = sj + join * (new - sj)
    queue[tail] = (row << 16) | col
    return tail + join, x


@numba.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy")
def wolff_potts(
    spins: np.ndarray,
    L: int,
    q: int,
    counters: np.ndarray,
    n_flips: int,
    t_hi: int,
    t_lo: int,
    grown: np.ndarray,
) -> None:
    """``n_flips`` Wolff updates per chain, in place; adds the cluster sizes to ``grown`` (int64, chains).

    Each update picks a uniform seed site (colour a) and a uniform new colour b != a, grows the FK cluster of
    colour-a sites from it (bond probability p = 1 - exp(-K)) and recolours it to b. Detailed balance: the
    cluster is grown with probability p^(inner bonds) (1-p)^(m_a) and grown back with p^(inner) (1-p)^(m_b),
    m_a, m_b the boundary bonds to colour a, b; their ratio exp(-K (m_a - m_b)) is the Boltzmann ratio, and
    the choice of b (1/(q-1) either way) cancels. Drawing b among all q colours is also valid but wastes the
    1/q of the updates that keep the colour. The queue holds (row << 16) | column (no division in the loop).
    """
    chains, n = spins.shape
    mask16 = np.uint64(0xFFFF)
    sixteen = np.uint64(16)
    last = L - 1
    for c in numba.prange(chains):
        s = spins[c]
        queue = np.empty(n + 1, np.int64)  # + 1: the branch-free push writes one slot past a full cluster
        x = counters[c]
        total = 0
        for _ in range(n_flips):
            x, z = weyl_next(x)
            seed = np.int64(_uniform_below(z >> _SHIFT32, n))
            old = np.int64(s[seed])
            new = (old + 1 + _uniform_below(z & _LOW32, q - 1)) % q
            s[seed] = new
            queue[0] = ((seed // L) << 16) | (seed % L)
            head = 0
            tail = 1
            while head < tail:
                packed = queue[head]
                head += 1
                row = packed >> 16
                col = packed & 0xFFFF
                x, z = weyl_next(x)
                u1 = np.int64(z & mask16)
                u2 = np.int64((z >> sixteen) & mask16)
                u3 = np.int64((z >> _SHIFT32) & mask16)
                u4 = np.int64(z >> np.uint64(48))
                right = col + 1 if col < last else 0
                left = col - 1 if col > 0 else last
                down = row + 1 if row < last else 0
                up = row - 1 if row > 0 else last
                tail, x = _wolff_try(s, queue, tail, row, right, L, old, new, u1, t_hi, t_lo, x)
                tail, x = _wolff_try(s, queue, tail, row, left, L, old, new, u2, t_hi, t_lo, x)
                tail, x = _wolff_try(s, queue, tail, down, col, L, old, new, u3, t_hi, t_lo, x)
                tail, x = _wolff_try(s, queue, tail, up, col, L, old, new, u4, t_hi, t_lo, x)
            total += tail
        counters[c] = x
        grown[c] += total


@numba.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy")
def heatbath_potts(
    spins: np.ndarray, L: int, q: int, counters: np.ndarray, n_sweeps: int, g: np.ndarray
) -> None:
    """``n_sweeps`` heat-bath sweeps in place, in checkerboard order (all (r + c) even sites, then all odd).

    Each site's new colour is drawn from its conditional law P(a) = exp(K n_a) / Z, n_a the number of its 4
    neighbours of colour a, in O(1) for any q: exp(K n_a) = 1 + (exp(K n_a) - 1), so Z = q + sum over the
    four neighbours k of g[n_k], with g[n] = (exp(K n) - 1) / n (a colour shared by n neighbours is counted
    n times) and n_k the number of neighbours with the colour of neighbour k. One uniform u in [0, Z) picks
    neighbour k's colour on the k-th stretch of the cumulative g's, else the uniform colour floor(u - sum g)
    (branch-free: random branches would cost more than the arithmetic). ``g``: float64 (5,), g[0] unused;
    u comes from 53 random bits, converted via int64 (one instruction; uint64 -> float is not). Sites are
    updated one after another within a chain (chains in parallel), so every update sees its current
    neighbours and the sweep is valid for odd L as well; for even L the order is the usual two-sublattice
    checkerboard.
    """
    chains, n = spins.shape
    scale = 2.0**-53
    for c in numba.prange(chains):
        s = spins[c]
        x = counters[c]
        for _ in range(n_sweeps):
            for parity in range(2):
                for row in range(L):
                    up = (row - 1 if row > 0 else L - 1) * L
                    down = (row + 1 if row < L - 1 else 0) * L
                    base = row * L
                    for col in range((row + parity) & 1, L, 2):
                        a1 = np.int64(s[base + (col + 1 if col < L - 1 else 0)])
                        a2 = np.int64(s[base + (col - 1 if col > 0 else L - 1)])
                        a3 = np.int64(s[up + col])
                        a4 = np.int64(s[down + col])
                        e12, e13, e14 = a1 == a2, a1 == a3, a1 == a4
                        e23, e24, e34 = a2 == a3, a2 == a4, a3 == a4
                        s1 = g[1 + e12 + e13 + e14]
                        s2 = s1 + g[1 + e12 + e23 + e24]
                        s3 = s2 + g[1 + e13 + e23 + e34]
                        s4 = s3 + g[1 + e14 + e24 + e34]
                        x, z = weyl_next(x)
                        u = np.float64(np.int64(z >> np.uint64(11))) * scale * (s4 + q)
                        free = min(np.int64(max(u - s4, 0.0)), q - 1)
                        pick = (  # branch-free: the thresholds s1 <= s2 <= s3 <= s4 are in increasing order
                            a1
                            + np.int64(u >= s1) * (a2 - a1)
                            + np.int64(u >= s2) * (a3 - a2)
                            + np.int64(u >= s3) * (a4 - a3)
                            + np.int64(u >= s4) * (free - a4)
                        )
                        s[base + col] = pick
        counters[c] = x


def heatbath_table(K: float) -> np.ndarray:
    """g[n] = (exp(K n) - 1) / n for n = 1..4 (g[0] = 0), float64 (5,), for :func:`heatbath_potts`."""
    k = np.arange(1.0, 5.0)
    return np.concatenate([[0.0], np.expm1(K * k) / k])


@numba.njit(parallel=True, cache=True)
def bonds_and_largest_colour(spins: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Per chain: satisfied bonds sum_<ij> delta (each bond once, periodic) and the count of the most
    frequent colour; int64 (chains,) each, for spins (chains, L, M) int8 in 0..q-1 (one pass over memory)."""
    chains, L, M = spins.shape
    bonds = np.zeros(chains, dtype=np.int64)
    largest = np.zeros(chains, dtype=np.int64)
    for c in numba.prange(chains):
        counts = np.zeros(q, np.int64)
        b = 0
        for i in range(L):
            down = i + 1 if i < L - 1 else 0
            for j in range(M):
                right = j + 1 if j < M - 1 else 0
                s = spins[c, i, j]
                b += np.int64(s == spins[c, i, right]) + np.int64(s == spins[c, down, j])
                counts[s] += 1
        bonds[c] = b
        largest[c] = counts.max()
    return bonds, largest


def bond_threshold(K: float) -> tuple[int, int]:
    """(t_hi, t_lo) of the FK bond probability p = 1 - exp(-K) for below_threshold16."""
    return split_threshold(probability_to_threshold(np.array(-math.expm1(-K))))


__all__ = [
    "bond_threshold",
    "bonds_and_largest_colour",
    "heatbath_potts",
    "swendsen_wang_potts",
    "wolff_potts",
]
