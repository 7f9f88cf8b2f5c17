"""Fortuin-Kasteleyn cluster kernels on the CPU (numba): Swendsen-Wang and Wolff, chains in parallel.

Shared conventions: spins (chains, N = L*L) int8 +-1, row-major; one splitmix64 Weyl counter per chain
(rgnet.ising.samplers._rng), held in a local variable while the chain runs; a bond is active with probability
t / 2^32 (t = round(p 2^32), p = 1 - exp(-2K)), decided from 16 random bits by below_threshold16 (exact), so
one 64-bit output serves four bonds. Neighbours are computed from (row, column). Wolff grows each cluster with
a queue in O(|C|); Swendsen-Wang labels clusters in one raster pass of union-find (path halving, smallest
index as root) and relabels them in a second.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import torch

from rgnet.ising.samplers._rng import below_threshold16, weyl_next, weyl_streams, widest_stream_length
from rgnet.ising.samplers.kernel import ClusterFlipKernel, Kernel, SweepKernel
from rgnet.ising.samplers.tables import probability_to_threshold, split_threshold


@numba.njit(inline="always")
def _find(parent: np.ndarray, i: np.uint64) -> np.uint64:
    """Root of site ``i`` in the union-find forest ``parent`` (uint32; a root is its own parent).

    Points i at the root. Two hops are taken unconditionally (hops from a root stay there), so the loop runs
    only for deeper trees. Indices are unsigned throughout the kernels: no negative-index wrap-around code.
    """
    p = parent[parent[i]]
    while parent[p] != p:
        p = parent[parent[p]]
    parent[i] = p
    return np.uint64(p)


@numba.njit(inline="always")
def _sw_bonds(s: np.ndarray, parent: np.ndarray, L: int, t_hi: int, t_lo: int, x: np.uint64) -> np.uint64:
    """Draw every FK bond of chain ``s`` once and build its clusters in ``parent`` (uint32, N).

    Returns the advanced counter. Raster scan (Hoshen-Kopelman style) over the left and up bonds: a site joins
    the cluster of its left neighbour, whose root is still in a register, and is merged with its up
    neighbour's (selects, no data-dependent branches); then the L horizontal and L vertical wrap-around bonds
    are merged in. Every root is its cluster's smallest site index, and parent[i] <= i. For L = 2 the left
    bond and the wrap bond of a row are two distinct bonds.
    """
    Lu = np.uint64(L)
    zero = np.uint64(0)
    mask = np.uint64(0xFFFF)
    for r in range(L):
        base = np.uint64(r) * Lu
        root = base
        z = zero
        for col in range(L):
            i = base + np.uint64(col)
            if col & 1 == 0:  # one 64-bit output per two sites: (left, up) 16-bit draws each
                x, z = weyl_next(x)
            else:
                z >>= np.uint64(32)
            si = s[i]
            hit_left, x = below_threshold16(np.int64(z & mask), t_hi, t_lo, x)
            has_left = col > 0
            joined = root if hit_left & has_left & (s[i - np.uint64(has_left)] == si) else i
            if r > 0:
                hit_up, x = below_threshold16(np.int64((z >> np.uint64(16)) & mask), t_hi, t_lo, x)
                up_root = _find(parent, i - Lu)
                if not (hit_up & (s[i - Lu] == si)):
                    up_root = joined
                low = min(joined, up_root)
                parent[max(joined, up_root)] = low
                joined = low
            parent[i] = joined
            root = joined
    z = zero
    for k in range(2 * L):  # wrap-around bonds: (r, L-1)-(r, 0) for k = r < L; (L-1, c)-(0, c) for k = L + c
        if k & 3 == 0:
            x, z = weyl_next(x)
        else:
            z >>= np.uint64(16)
        hit, x = below_threshold16(np.int64(z & mask), t_hi, t_lo, x)
        ku = np.uint64(k)
        if k < L:
            a, b = ku * Lu + Lu - np.uint64(1), ku * Lu
        else:
            a, b = (Lu - np.uint64(1)) * Lu + ku - Lu, ku - Lu
        if hit and s[a] == s[b]:
            ra = _find(parent, a)
            rb = _find(parent, b)
            parent[max(ra, rb)] = min(ra, rb)
    return x


@numba.njit(inline="always")
def _sw_flip_fair(s: np.ndarray, parent: np.ndarray, x: np.uint64) -> np.uint64:
    """h = 0: give every cluster a fair random sign; returns the counter.

    Sites in increasing order: a root takes bit (i mod 64) of a fresh output per 64 sites, any other site the
    already-updated spin of its parent (parent[i] < i is in the same cluster); branch-free.
    """
    n = s.shape[0]
    z = np.uint64(0)
    for i in range(n):
        if i & 63 == 0:
            x, z = weyl_next(x)
        else:
            z >>= np.uint64(1)
        p = parent[i]
        coin = 2 * np.int64(z & np.uint64(1)) - 1
        sp = np.int64(s[p])
        s[i] = sp + np.int64(p == i) * (coin - sp)
    return x


@numba.njit(inline="always")
def _sw_flip_field(
    s: np.ndarray, parent: np.ndarray, size: np.ndarray, two_h: float, x: np.uint64
) -> np.uint64:
    """h != 0: cluster sign +1 with probability 1 / (1 + exp(-2 h |C|)); returns the counter.

    First pass: parent[i] <- root (parent[i]'s parent is already its root) and cluster sizes at the roots.
    """
    n = s.shape[0]
    for i in range(n):
        root = parent[parent[i]]
        parent[i] = root
        size[i] = 0
        size[root] += 1
    for i in range(n):
        root = parent[i]
        if root == i:
            x, z = weyl_next(x)
            p_up = 1.0 / (1.0 + math.exp(-two_h * size[i]))
            s[i] = 1 if (z >> np.uint64(32)) < np.uint64(p_up * 4294967296.0) else -1
        else:
            s[i] = s[root]
    return x


@numba.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy")
def _swendsen_wang_kernel(
    spins: np.ndarray, L: int, counters: np.ndarray, n_sweeps: int, t_hi: int, t_lo: int, two_h: float
) -> None:
    """``n_sweeps`` Swendsen-Wang sweeps in place, chains in parallel.

    spins: (chains, L*L) int8 +-1; counters: (chains,) uint64 splitmix64 counters, advanced in place;
    (t_hi, t_lo): the bond threshold of :func:`split_threshold`; ``two_h = 2h``.
    """
    chains, n = spins.shape
    for c in numba.prange(chains):
        s = spins[c]
        parent = np.empty(n, np.uint32)
        size = np.empty(n if two_h != 0.0 else 0, np.int32)
        x = counters[c]
        for _ in range(n_sweeps):
            x = _sw_bonds(s, parent, L, t_hi, t_lo, x)
            if two_h == 0.0:
                x = _sw_flip_fair(s, parent, x)
            else:
                x = _sw_flip_field(s, parent, size, two_h, x)
        counters[c] = x


@numba.njit(inline="always")
def _wolff_try(
    s: np.ndarray,
    queue: np.ndarray,
    tail: np.uint64,
    s0: int,
    row: np.uint64,
    col: np.uint64,
    Lu: np.uint64,
    u16: int,
    t_hi: int,
    t_lo: int,
    x: np.uint64,
) -> tuple[np.uint64, np.uint64]:
    """Test the bond to site (row, col): it joins (flipped, queued) iff its spin is s0 and the bond is active.

    Branch-free: the queue slot is always written and ``tail`` advanced by 0 or 1. Returns (tail, counter).
    """
    j = row * Lu + col
    hit, x = below_threshold16(u16, t_hi, t_lo, x)
    sj = np.int64(s[j])
    join = np.int64(hit) & np.int64(sj == s0)
    s[j] = sj ^ (-join & -2)
    queue[tail] = (row << np.uint64(16)) | col
    return tail + np.uint64(join), x


@numba.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy")
def _wolff_kernel(
    spins: np.ndarray,
    L: int,
    counters: np.ndarray,
    n_flips: int,
    t_hi: int,
    t_lo: int,
    two_h: float,
    grown: np.ndarray,
) -> None:
    """``n_flips`` Wolff cluster updates per chain in place, chains in parallel; add grown sizes to ``grown``.

    spins: (chains, L*L) int8 +-1; counters: (chains,) uint64 splitmix64 counters; (t_hi, t_lo): the bond
    threshold of :func:`split_threshold`; grown: (chains,) int64. The queue holds sites as (row << 16) |
    column (uint32; unsigned arithmetic throughout). Sites are flipped as they join, so "equal to the seed's
    old sign" also means "not yet in the cluster"; each bond from a newly added site to such a neighbour is
    tested once (one 64-bit output per added site, 16 bits per bond). A rejected flip (h != 0) is undone.
    """
    chains, n = spins.shape
    mask16 = np.uint64(0xFFFF)
    sixteen = np.uint64(16)
    Lu = np.uint64(L)
    last = Lu - np.uint64(1)
    zero = np.uint64(0)
    one = np.uint64(1)
    for c in numba.prange(chains):
        s = spins[c]
        queue = np.empty(n + 1, np.uint32)  # + 1: the branch-free push writes one slot past a full cluster
        x = counters[c]
        total = 0
        for _ in range(n_flips):
            x, z = weyl_next(x)
            seed = ((z >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32)
            s0 = np.int64(s[seed])
            s[seed] = -s0
            queue[0] = ((seed // Lu) << sixteen) | (seed % Lu)
            head = zero
            tail = one
            while head < tail:
                q = np.uint64(queue[head])
                head += one
                row = q >> sixteen
                col = q & mask16
                x, z = weyl_next(x)
                tail, x = _wolff_try(
                    s,
                    queue,
                    tail,
                    s0,
                    row,
                    col + one if col < last else zero,
                    Lu,
                    np.int64(z & mask16),
                    t_hi,
                    t_lo,
                    x,
                )
                tail, x = _wolff_try(
                    s,
                    queue,
                    tail,
                    s0,
                    row,
                    col - one if col > zero else last,
                    Lu,
                    np.int64((z >> sixteen) & mask16),
                    t_hi,
                    t_lo,
                    x,
                )
                tail, x = _wolff_try(
                    s,
                    queue,
                    tail,
                    s0,
                    row + one if row < last else zero,
                    col,
                    Lu,
                    np.int64((z >> np.uint64(32)) & mask16),
                    t_hi,
                    t_lo,
                    x,
                )
                tail, x = _wolff_try(
                    s,
                    queue,
                    tail,
                    s0,
                    row - one if row > zero else last,
                    col,
                    Lu,
                    np.int64(z >> np.uint64(48)),
                    t_hi,
                    t_lo,
                    x,
                )
            total += np.int64(tail)
            log_accept = -two_h * s0 * np.int64(tail)
            if log_accept < 0.0:
                x, z = weyl_next(x)
                if (z >> np.uint64(32)) >= np.uint64(math.exp(log_accept) * 4294967296.0):
                    for k in range(tail):
                        q = np.uint64(queue[k])
                        s[(q >> sixteen) * Lu + (q & mask16)] = s0
        counters[c] = x
        grown[c] += total


class _NumbaClusterKernel(Kernel):
    """What both numba cluster kernels share: the bond threshold and one splitmix64 stream per chain.

    bond_probability: FK bond probability p = 1 - exp(-2K); h: field h/kT; generator: the sampler's CPU
    generator, from which the streams are drawn (disjoint segments of one sequence, as long as they can be).
    """

    backend = "numba"

    def __init__(self, bond_probability: float, h: float, generator: torch.Generator) -> None:
        self.generator = generator
        self.bond_threshold = split_threshold(probability_to_threshold(np.array(bond_probability)))
        self.two_h = 2.0 * h
        self.streams = np.zeros(0, dtype=np.uint64)

    @classmethod
    def unavailable_reason(cls, device: torch.device) -> str | None:
        return None if device.type == "cpu" else f"runs on the CPU only, got device={str(device)!r}"

    def prepare(self, chains: int) -> None:
        self.streams = weyl_streams(chains, self.generator, widest_stream_length(chains))

    def state_dict(self) -> dict[str, Any]:
        return {"streams": torch.from_numpy(self.streams.view(np.int64).copy())}

    def load_state_dict(self, state: dict[str, Any], chains: int) -> None:
        if "streams" not in state:  # saved by the torch backend: fresh streams from the restored generator
            self.prepare(chains)
            return
        streams = state["streams"].numpy().view(np.uint64).copy()
        if streams.shape != (chains,):
            raise ValueError(f"state holds {streams.shape[0]} random streams for {chains} chains")
        self.streams = streams


def _flat_numpy(spins: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """Contiguous CPU spins (chains, L, L) and a (chains, L*L) int8 numpy view sharing their memory."""
    spins = spins.contiguous()
    return spins, spins.numpy().reshape(spins.shape[0], -1)


class NumbaSwendsenWangKernel(_NumbaClusterKernel, SweepKernel):
    """Swendsen-Wang sweeps of CPU spins (chains, L, L), in place (see :func:`_swendsen_wang_kernel`)."""

    def sweep(self, spins: torch.Tensor, n_sweeps: int) -> torch.Tensor:
        spins, flat = _flat_numpy(spins)
        _swendsen_wang_kernel(flat, spins.shape[-1], self.streams, n_sweeps, *self.bond_threshold, self.two_h)
        return spins


class NumbaWolffKernel(_NumbaClusterKernel, ClusterFlipKernel):
    """Wolff cluster updates of CPU spins (chains, L, L), in place (see :func:`_wolff_kernel`)."""

    def flip(self, spins: torch.Tensor, n_flips: int) -> tuple[torch.Tensor, np.ndarray]:
        spins, flat = _flat_numpy(spins)
        grown = np.zeros(spins.shape[0], dtype=np.int64)
        _wolff_kernel(flat, spins.shape[-1], self.streams, n_flips, *self.bond_threshold, self.two_h, grown)
        return spins, grown


__all__ = ["NumbaSwendsenWangKernel", "NumbaWolffKernel"]
