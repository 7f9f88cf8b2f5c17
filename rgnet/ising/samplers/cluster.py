"""Cluster samplers: Wolff and Swendsen-Wang (Fortuin-Kasteleyn clusters), for any ``L >= 2`` and ``K >= 0``.

Both build Fortuin-Kasteleyn (FK) clusters: a nearest-neighbour bond between two *equal* spins is active with
probability ``p = 1 - exp(-2K)``; clusters are the connected components of the active bonds (periodic). For
``L = 2`` the two bonds between a pair of sites along an axis are tested independently (torus convention).

* Swendsen-Wang (``method = "swendsen_wang"``). One sweep: activate all bonds, find every cluster, give each
  cluster a new sign ``s`` drawn with probability ``exp(h s |C|) / (2 cosh(h |C|))``. This is exact Gibbs
  sampling of the Edwards-Sokal joint law
  ``prod_<ij> [(1-p) d(b_ij,0) + p d(b_ij,1) d(s_i,s_j)] prod_i e^{h s_i}``: given the spins the bonds are
  independent Bernoulli(p) on equal pairs; given the bonds the clusters are independent and a cluster's
  sign has weight ``e^{h s |C|}`` (heat bath for the cluster orientation). Both conditional updates leave the
  joint law ``mu(s, b)`` invariant and its spin marginal is the Boltzmann weight ``pi``; the sweep's kernel
  satisfies detailed balance, ``pi(s) P(s -> s') = sum_b mu(s, b) mu(s', b) / mu(b)`` being symmetric. It is
  equivalent to the ghost-spin formulation (a ghost bond of strength ``|h|`` whose clusters are frozen to
  ``sign(h)``) but needs no extra site.
* Wolff (``method = "wolff"``). One cluster flip: grow the FK cluster ``C`` of a uniformly random seed site
  and flip it with probability ``min(1, exp(-2 h s_C |C|))`` (``s_C`` its current sign). The growth proposal
  is symmetric up to the bond factors ``(1-p)^{boundary}`` that cancel the coupling part of the Boltzmann
  ratio, so the Metropolis acceptance only has to account for the field energy ``2 h s_C |C|``.
  One *sweep* is a fixed number ``flips_per_sweep`` of flips per chain, chosen so that about ``N = L*L``
  sites are grown per sweep on average. With ``flips_per_sweep=None`` it is set once, at the first step,
  from a pilot run (whose flips act as extra equilibration) and then kept fixed; the number of flips never
  depends on the trajectory afterwards (a state-dependent stopping rule would bias the distribution).

Two backends, same physics:

* ``"numba"`` (CPU): compiled kernels parallel over chains, one splitmix64 stream per chain
  (:mod:`rgnet.ising.samplers._rng`; a bond is active when 32 random bits fall below ``round(p 2^32)``,
  decided exactly from 16 bits except on a tie); Wolff grows each cluster with a queue in ``O(|C|)``;
  Swendsen-Wang labels clusters in one raster pass of union-find (path halving, smallest index as root) and
  relabels them in a second.
* ``"torch"`` (any device, vectorized over chains): clusters are labelled on the device by min-label hooking
  plus pointer jumping; Swendsen-Wang labels all bonds, Wolff the bonds among sites of the seed's sign and
  flips the seed's component (all chains' clusters together). The torch backend
  draws from the sampler's ``torch.Generator``; the numba backend from its per-chain streams (saved in
  :meth:`state_dict`). Results are reproducible from the seed on the same device and backend.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import torch

from rgnet._checks import check_choice, check_int, check_real
from rgnet.ising.samplers._rng import (
    below_threshold16,
    probability_to_threshold,
    split_threshold,
    weyl_next,
    weyl_streams,
    widest_stream_length,
)
from rgnet.ising.samplers.base import Sampler

BACKENDS = ("auto", "numba", "torch")


# ---------------------------------------------------------------------------------------------- numba kernels
# Shared conventions: spins (chains, N = L*L) int8 +-1, row-major; one splitmix64 Weyl counter per chain, held in
# a local variable while the chain runs; a bond is active with probability t / 2^32, decided from 16 random bits
# by below_threshold16 (exact), so one 64-bit output serves four bonds. Neighbours are computed from (row, column).
@numba.njit(inline="always")
def _find(parent: np.ndarray, i: np.uint64) -> np.uint64:
    """Root of site ``i`` in the union-find forest ``parent`` (uint32; a root is its own parent); points i at it.

    Two hops are taken unconditionally (hops from a root stay there), so the loop runs only for deeper trees.
    Indices are unsigned throughout the kernels: no negative-index wrap-around code.
    """
    p = parent[parent[i]]
    while parent[p] != p:
        p = parent[parent[p]]
    parent[i] = p
    return np.uint64(p)


@numba.njit(inline="always")
def _sw_bonds(s: np.ndarray, parent: np.ndarray, L: int, t_hi: int, t_lo: int, x: np.uint64) -> np.uint64:
    """Draw every FK bond of chain ``s`` once and build its clusters in ``parent`` (uint32, N); returns the counter.

    Raster scan (Hoshen-Kopelman style) over the left and up bonds: a site joins the cluster of its left
    neighbour, whose root is still in a register, and is merged with its up neighbour's (selects, no
    data-dependent branches); then the L horizontal and L vertical wrap-around bonds are merged in. Every root
    is its cluster's smallest site index, and parent[i] <= i. For L = 2 the left bond and the wrap bond of a
    row are two distinct bonds.
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
    """``n_flips`` Wolff cluster updates per chain in place, chains in parallel; adds grown sizes to ``grown``.

    spins: (chains, L*L) int8 +-1; counters: (chains,) uint64 splitmix64 counters; (t_hi, t_lo): the bond
    threshold of :func:`split_threshold`; grown: (chains,) int64. The queue holds sites as (row << 16) | column
    (uint32; unsigned arithmetic throughout). Sites are flipped as they join, so "equal to the seed's old sign"
    also means "not yet in the cluster"; each bond from a newly added site to such a neighbour is tested once
    (one 64-bit output per added site, 16 bits per bond). A rejected flip (h != 0) is undone.
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


# ---------------------------------------------------------------------------------------------- torch helpers
def _active_bonds(
    spins: torch.Tensor, p: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """FK bonds of ``spins`` (chains, L, L): bool (chains, L, L) masks of the active right and down bonds."""
    u = torch.rand((2, *spins.shape), generator=generator, device=spins.device)
    right = (spins == spins.roll(-1, -1)) & (u[0] < p)
    down = (spins == spins.roll(-1, -2)) & (u[1] < p)
    return right, down


def _cluster_labels(right: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """Connected components of the active bonds; int64 (chains, N): each site gets its cluster's minimal
    flat site index.

    right, down: bool (chains, L, L) active bonds to the right / lower neighbour. Label propagation: every
    site's current root takes the minimum label over the site and its active neighbours (hooking with
    scatter-min), then labels are compressed by pointer jumping, label = label[label]; repeated until nothing
    changes. Invariant: a label is the index of a site of the same cluster, <= the site, so the fixed point is
    the cluster's minimal index.
    """
    chains, L, _ = right.shape
    n = L * L
    left, up = right.roll(1, -1), down.roll(1, -2)
    labels = torch.arange(n, device=right.device).expand(chains, n).contiguous()
    while True:
        grid = labels.view(chains, L, L)
        low = grid
        for bond, shift, dim in ((right, -1, -1), (left, 1, -1), (down, -1, -2), (up, 1, -2)):
            low = torch.where(bond, torch.minimum(low, grid.roll(shift, dim)), low)
        new = labels.scatter_reduce(1, labels, low.reshape(chains, n), reduce="amin")
        new = new.gather(1, new)
        new = new.gather(1, new)
        if torch.equal(new, labels):
            return labels
        labels = new


class _ClusterSampler(Sampler):
    """Shared set-up of the FK cluster samplers: K >= 0 check, backend choice, per-chain streams."""

    def __init__(
        self,
        L: int,
        K: float,
        *,
        h: float = 0.0,
        chains: int = 1,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        start: str = "auto",
        backend: str = "auto",
    ) -> None:
        K = check_real(K, "K")
        if K < 0:
            raise ValueError(
                f"K must be >= 0 for method={self.method!r} (Fortuin-Kasteleyn clusters need a ferromagnetic "
                f"coupling; use a checkerboard method for K < 0), got K={K}"
            )
        check_choice(backend, "backend", BACKENDS)
        super().__init__(L, K, h=h, chains=chains, seed=seed, device=device, start=start)
        if backend == "numba" and self.device.type != "cpu":
            raise ValueError(
                f"backend='numba' runs on the CPU only, got device={str(self.device)!r}; use backend='torch'"
            )
        if backend == "auto":
            backend = "numba" if self.device.type == "cpu" else "torch"
        self.backend = backend
        #: FK bond probability p = 1 - exp(-2K).
        self.bond_probability = -math.expm1(-2.0 * self.K)
        if backend == "numba":
            self._bond_threshold = split_threshold(probability_to_threshold(np.array(self.bond_probability)))
            self._streams = self._new_streams()

    def _flat_numpy_spins(self) -> np.ndarray:
        """(chains, N) int8 numpy view sharing memory with ``self.spins`` (made contiguous first)."""
        self.spins = self.spins.contiguous()
        return self.spins.numpy().reshape(self.chains, self.n_sites)

    def _extra_state(self) -> dict[str, Any]:
        if self.backend != "numba":
            return {}
        return {"streams": torch.from_numpy(self._streams.view(np.int64).copy())}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        if self.backend != "numba":
            return
        if "streams" in extra:
            streams = extra["streams"].numpy().view(np.uint64).copy()
            if streams.shape != (self.chains,):
                raise ValueError(f"state holds {streams.shape[0]} random streams for {self.chains} chains")
            self._streams = streams
        else:  # saved by the torch backend: derive fresh streams from the restored generator
            self._streams = self._new_streams()

    def _new_streams(self) -> np.ndarray:
        """One splitmix64 counter per chain, disjoint segments of one sequence (as long as they can be)."""
        return weyl_streams(self.chains, self.generator, widest_stream_length(self.chains))

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", backend={self.backend!r})"


class SwendsenWangSampler(_ClusterSampler):
    """Swendsen-Wang: one sweep relabels every FK cluster of every chain (see the module docstring).

    Args: those of :class:`~rgnet.ising.samplers.base.Sampler` (with ``K >= 0``), plus
        backend: ``"numba"`` (CPU only), ``"torch"`` (any device) or ``"auto"`` (numba on CPU, else torch).
    """

    method = "swendsen_wang"

    def _advance(self, n_sweeps: int) -> None:
        if self.backend == "numba":
            _swendsen_wang_kernel(
                self._flat_numpy_spins(), self.L, self._streams, n_sweeps, *self._bond_threshold, 2.0 * self.h
            )
            return
        for _ in range(n_sweeps):
            self._sweep_torch()

    def _sweep_torch(self) -> None:
        chains, n = self.chains, self.n_sites
        right, down = _active_bonds(self.spins, self.bond_probability, self.generator)
        labels = _cluster_labels(right, down)
        u = torch.rand((chains, n), generator=self.generator, device=self.device, dtype=torch.float64)
        if self.h == 0.0:
            p_up: torch.Tensor | float = 0.5
        else:
            size = torch.zeros((chains, n), dtype=torch.float64, device=self.device)
            size.scatter_add_(1, labels, torch.ones_like(size))
            p_up = torch.sigmoid(2.0 * self.h * size)
        root_sign = torch.where(u < p_up, 1, -1).to(torch.int8)
        self.spins = root_sign.gather(1, labels).view(chains, self.L, self.L)


class WolffSampler(_ClusterSampler):
    """Wolff single-cluster updates; one sweep = ``flips_per_sweep`` cluster flips per chain (see the module).

    Args: those of :class:`~rgnet.ising.samplers.base.Sampler` (with ``K >= 0``), plus
        backend: ``"numba"`` (CPU only), ``"torch"`` (any device) or ``"auto"`` (numba on CPU, else torch).
        flips_per_sweep: cluster flips per chain per sweep (>= 1), or None: set at the first step to
            ``max(1, round(N / <|C|>))`` from a pilot estimate of the mean grown cluster size ``<|C|>`` and
            fixed from then on (available as ``self.flips_per_sweep`` and saved in :meth:`state_dict`).
    """

    method = "wolff"

    def __init__(
        self,
        L: int,
        K: float,
        *,
        h: float = 0.0,
        chains: int = 1,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        start: str = "auto",
        backend: str = "auto",
        flips_per_sweep: int | None = None,
    ) -> None:
        if flips_per_sweep is not None:
            flips_per_sweep = check_int(flips_per_sweep, "flips_per_sweep", minimum=1)
        super().__init__(L, K, h=h, chains=chains, seed=seed, device=device, start=start, backend=backend)
        self._fixed_by_user = flips_per_sweep is not None
        self.flips_per_sweep: int | None = flips_per_sweep

    def _advance(self, n_sweeps: int) -> None:
        if self.flips_per_sweep is None:
            self.flips_per_sweep = self._pilot()
        self._flip(n_sweeps * self.flips_per_sweep)

    def _flip(self, n_flips: int) -> np.ndarray:
        """``n_flips`` cluster updates per chain; returns the summed grown cluster sizes, int64 (chains,)."""
        if self.backend == "numba":
            grown = np.zeros(self.chains, dtype=np.int64)
            _wolff_kernel(
                self._flat_numpy_spins(),
                self.L,
                self._streams,
                n_flips,
                *self._bond_threshold,
                2.0 * self.h,
                grown,
            )
            return grown
        total = torch.zeros(self.chains, dtype=torch.int64, device=self.device)
        for _ in range(n_flips):
            total += self._flip_torch()
        return total.cpu().numpy()

    def _flip_torch(self) -> torch.Tensor:
        """One Wolff update of every chain at once on the device; returns |C|, int64 (chains,).

        Every bond between two sites of the seed's sign is drawn once (Bernoulli(p)), up front; the seed's
        cluster is its connected component, found with :func:`_cluster_labels`. Drawing each bond once and
        independently is the same law as testing it when the growing cluster first reaches it (bonds the
        growth never reaches do not matter). Labelling converges in a few hooking/pointer-jumping passes,
        whereas breadth-first growth needs one pass per layer (the cluster's chemical diameter, ~L near K_c):
        on an H100 it was 15-25x slower for 64 chains at K_c, L = 64 and 256.
        """
        chains, L, n = self.chains, self.L, self.n_sites
        seed = torch.randint(0, n, (chains, 1), generator=self.generator, device=self.device)
        s0 = self.spins.view(chains, n).gather(1, seed).view(chains, 1, 1)
        right, down = _active_bonds(self.spins, self.bond_probability, self.generator)
        same = self.spins == s0
        labels = _cluster_labels(right & same, down & same)
        cluster = (labels == labels.gather(1, seed)).view(chains, L, L)
        size = cluster.sum(dim=(1, 2))
        if self.h != 0.0:
            log_accept = -2.0 * self.h * s0.view(chains).to(torch.float64) * size.to(torch.float64)
            u = torch.rand(chains, generator=self.generator, device=self.device, dtype=torch.float64)
            cluster &= (u < torch.exp(log_accept)).view(chains, 1, 1)
        self.spins = torch.where(cluster, -self.spins, self.spins)
        return size

    def _pilot(self) -> int:
        """Flips per sweep ``max(1, round(N / <|C|>))`` from a pilot run of whole rounds (one flip per chain).

        Warm-up: rounds until the chains grew 20 N sites each on average (about twenty sweeps); measurement:
        rounds until they grew 2 N more; ``<|C|>`` = sites grown / flips in the measurement (chains pooled).
        From a random start near or above K_c clusters are still growing during the pilot, so ``<|C|>`` comes
        out low and flips_per_sweep high (more work per sweep, never a bias).
        """
        self._grow_at_least(20 * self.n_sites)
        rounds, grown = self._grow_at_least(2 * self.n_sites)
        return max(1, round(self.n_sites * rounds * self.chains / grown))

    def _grow_at_least(self, sites_per_chain: int) -> tuple[int, int]:
        """Rounds of flips until all chains together grew >= ``sites_per_chain * chains`` sites.

        Rounds run in batches sized from the growth rate of the previous batch (at most doubling).
        Returns (rounds, sites grown in total).
        """
        goal = sites_per_chain * self.chains
        rounds, grown, batch = 0, 0, 1
        while grown < goal:
            batch_grown = int(self._flip(batch).sum())
            rounds += batch
            grown += batch_grown
            batch = max(1, min(2 * batch, math.ceil((goal - grown) * batch / batch_grown)))
        return rounds, grown

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "flips_per_sweep": self.flips_per_sweep}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        super()._load_extra_state(extra)
        saved = extra["flips_per_sweep"]
        if self._fixed_by_user and saved != self.flips_per_sweep:
            raise ValueError(
                f"state was saved with flips_per_sweep={saved!r}, this sampler has {self.flips_per_sweep!r}"
            )
        self.flips_per_sweep = saved
