"""Compiled CPU helpers (numba): per-stream random numbers and fused observables.

Kernels give every chain (and every row of a chain, where rows are updated in parallel) its own random
stream, so results do not depend on thread scheduling and no two chains share random numbers. The streams
are splitmix64 (:func:`splitmix64`, :func:`weyl_streams`): its state is a Weyl counter advanced by a
constant, so successive outputs are independent computations the CPU overlaps, and each 64-bit output is
used as several narrower numbers. Stream starts are drawn from the sampler's torch generator.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

_MASK64 = (1 << 64) - 1
#: splitmix64's Weyl increment (odd, so the counter has period 2^64).
SPLITMIX_GAMMA = 0x9E3779B97F4A7C15
#: Outputs reserved per stream by :func:`weyl_streams`: 2^40 + 1 (odd, so stream offsets have mixed low bits).
WEYL_STREAM_LENGTH = (1 << 40) + 1


@numba.njit
def splitmix64(counter: np.uint64) -> np.uint64:
    """splitmix64 output (Steele, Lea & Flood 2014) for a Weyl counter value (advanced by SPLITMIX_GAMMA)."""
    z = (counter ^ (counter >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def weyl_streams(n: int, generator: torch.Generator, stream_length: int = WEYL_STREAM_LENGTH) -> np.ndarray:
    """``n`` splitmix64 counters (uint64) that are disjoint segments of one splitmix64 sequence.

    Stream i starts ``stream_length * i`` outputs after a start drawn from ``generator`` (64 random bits), so
    the streams never share an output while each draws fewer than ``stream_length`` of them (default 2^40 + 1,
    for n < 2^24; :func:`widest_stream_length` gives the longest segments for n streams).
    """
    if n * stream_length > 1 << 64:
        raise ValueError(
            f"{n} splitmix64 streams of {stream_length} outputs do not fit one sequence of 2**64"
        )
    halves = torch.randint(0, 2**32, (2,), generator=generator, dtype=torch.int64, device=generator.device)
    start = (int(halves[0]) << 32) | int(halves[1])
    step = np.uint64((stream_length * SPLITMIX_GAMMA) & _MASK64)
    return np.arange(n, dtype=np.uint64) * step + np.uint64(start)  # uint64 arithmetic wraps mod 2^64


def widest_stream_length(n: int) -> int:
    """Longest odd segment length ``n`` streams of :func:`weyl_streams` can have (>= 2^40 for n < 2^24)."""
    return ((1 << 64) // n - 1) | 1


@numba.njit(inline="always")
def weyl_next(counter: np.uint64) -> tuple[np.uint64, np.uint64]:
    """Advance a splitmix64 Weyl counter held in a local variable; return (new counter, its 64-bit output)."""
    counter += np.uint64(SPLITMIX_GAMMA)
    return counter, splitmix64(counter)


@numba.njit(inline="always")
def below_threshold16(u16: int, t_hi: int, t_lo: int, counter: np.uint64) -> tuple[bool, np.uint64]:
    """Exactly the event "32-bit uniform < t" (probability t / 2^32) from 16 random bits ``u16`` (int64).

    (t_hi, t_lo) = split_threshold(t) (rgnet.ising.samplers.tables). The 16 bits are the uniform's high half:
    below ``t_hi`` it is a hit, above a miss; only on a tie (probability 2^-16) is the low half drawn, from a
    fresh output of ``counter``. Returns (hit, counter).
    """
    if u16 != t_hi:
        return u16 < t_hi, counter
    counter, z = weyl_next(counter)
    return np.int64(z & np.uint64(0xFFFF)) < t_lo, counter


@numba.njit(parallel=True, cache=True)
def bond_and_spin_sums(spins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-chain sum over bonds of s_i s_j (each bond once, periodic) and sum of spins; int64 (chains,) each.

    CPU counterpart of rgnet.ising.lattice.bond_sum for int8 spins (chains, L, L), one pass over memory.
    """
    chains, L, M = spins.shape
    bonds = np.zeros(chains, dtype=np.int64)
    totals = np.zeros(chains, dtype=np.int64)
    for c in numba.prange(chains):
        b = 0
        t = 0
        for i in range(L):
            down = i + 1 if i < L - 1 else 0
            for j in range(M):
                right = j + 1 if j < M - 1 else 0
                s = np.int64(spins[c, i, j])
                b += s * (spins[c, i, right] + spins[c, down, j])
                t += s
        bonds[c] = b
        totals[c] = t
    return bonds, totals
