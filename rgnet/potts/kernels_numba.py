"""q-state Potts kernels on the CPU (numba): Swendsen-Wang, Wolff and heat bath, chains in parallel.

Conventions (those of rgnet.ising.samplers.cluster_numba): spins (chains, N = L*L) int8 colours 0..q-1,
row-major; one splitmix64 Weyl counter per chain (rgnet.ising.samplers._rng), held in a local variable while
the chain runs, so results do not depend on thread scheduling. An FK bond between equal neighbours is active
with probability t / 2^32, t = round(p 2^32), p = 1 - exp(-K), decided exactly from 16 random bits by
below_threshold16. A uniform colour out of m is ((u32 * m) >> 32) for 32 random bits u32 (each colour has
probability within 2^-32 of 1/m).

The heat bath draws each site from its conditional law by one lookup in an integer alias table (Walker)
indexed by the neighbour colours (q <= 8, 32 random bits per site, two sites per output as the Ising
checkerboard kernel) or by which neighbours agree (any q, one output per site); see :func:`heatbath_table`.

The Swendsen-Wang bond pass is the Ising kernel's own (cluster_numba._sw_bonds): it only compares neighbours
for equality, so it serves any number of colours; with p = 1 - exp(-K) it builds the Potts FK clusters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import expit

from rgnet.ising.samplers._rng import SPLITMIX_GAMMA, below_threshold16, splitmix64, weyl_next
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
    spins: np.ndarray,
    L: int,
    q: int,
    counters: np.ndarray,
    n_sweeps: int,
    t_hi: int,
    t_lo: int,
    zero_thresholds: np.ndarray,
) -> None:
    """``n_sweeps`` Swendsen-Wang sweeps in place: FK clusters, each given a new colour from its conditional
    law given the bonds (uniform in 0..q-1 without a field).

    spins: (chains, L*L) int8; counters: (chains,) uint64, advanced in place; (t_hi, t_lo): split threshold
    of p = 1 - exp(-K); zero_thresholds: empty (h = 0), or uint64 (L*L + 1,) of :func:`field_thresholds`:
    with a field h on colour 0 a cluster of m sites takes colour 0 with probability
    e^(h m) / (e^(h m) + q - 1) (u32 below entry m), else a uniform one of 1..q-1 (heat bath of the cluster
    colour in the field: exact, as the Edwards-Sokal weight given the bonds factorizes over clusters).
    After the bond pass every root is its cluster's smallest index and parent[i] <= i, so in decreasing
    order each site adds its subtree size to its parent's (roots end with their cluster sizes) and in
    increasing order a non-root copies the already-new colour of its parent.
    """
    chains, n = spins.shape
    field = zero_thresholds.size > 0
    for c in numba.prange(chains):
        s = spins[c]
        parent = np.empty(n, np.uint32)
        size = np.empty(n if field else 0, np.int64)
        x = counters[c]
        for _ in range(n_sweeps):
            x = _sw_bonds(s, parent, L, t_hi, t_lo, x)
            if field:
                size[:] = 1
                for i in range(n - 1, 0, -1):
                    p = parent[i]
                    if p != i:
                        size[p] += size[i]
                for i in range(n):
                    p = parent[i]
                    if p == i:
                        x, z = weyl_next(x)
                        other = 1 + _uniform_below(z >> _SHIFT32, q - 1)
                        s[i] = other * np.int64((z & _LOW32) >= zero_thresholds[size[i]])
                    else:
                        s[i] = s[p]
                continue
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
    field_sign: int,
    accept: np.ndarray,
) -> None:
    """``n_flips`` Wolff updates per chain, in place; adds the cluster sizes to ``grown`` (int64, chains).

    Field h on colour 0 (field_sign = sign of h, 0: none): the recolouring of a cluster of m sites is
    accepted with the Metropolis probability min(1, exp(h m (delta(b, 0) - delta(a, 0)))), i.e. always
    unless it moves colour 0 against the field (a = 0 for h > 0, b = 0 for h < 0); then with probability
    exp(-|h| m) (u32 below accept[m], uint64 (L*L + 1,) of :func:`field_thresholds`), else the cluster is
    put back. Exact: the growth probabilities satisfy detailed balance for the bond part (below), so the
    acceptance only has to correct the field part.

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
            if (field_sign > 0 and old == 0) or (field_sign < 0 and new == 0):
                x, z = weyl_next(x)
                if (z & _LOW32) >= accept[tail]:  # rejected: the cluster gets its colour back
                    for i in range(tail):
                        packed = queue[i]
                        s[(packed >> 16) * L + (packed & 0xFFFF)] = old
        counters[c] = x
        grown[c] += total


#: Largest q whose heat-bath table is indexed by the four neighbour colours themselves (q**4 patterns).
HEATBATH_DIRECT_MAX_Q = 8
_GENERIC_BITS = 3  # alias columns 2**3 >= the 6 outcomes of the generic table


@numba.njit(inline="always")
def _alias_draw(table: np.ndarray, row: np.int64, u: np.uint64, bits: int, cut_mask: np.uint64) -> np.int64:
    """Outcome of alias row ``row`` (offset of its first entry) for 32 random bits ``u``: the top ``bits``
    pick a column, the rest are compared with its cut (below: the column itself, else its alias)."""
    col = u >> np.uint64(32 - bits)
    entry = table[np.uint64(row) + col]
    alias = np.int64(entry >> _SHIFT32)
    return alias + np.int64((u & cut_mask) < (entry & _LOW32)) * (np.int64(col) - alias)


@numba.njit(inline="always")
def _pattern(a1: np.int8, a2: np.int8, a3: np.int8, a4: np.int8, q: np.int32, bits: np.int32) -> np.int32:
    """Direct table row offset of neighbour colours (a1..a4): (a1 + q a2 + q^2 a3 + q^3 a4) << bits."""
    return (np.int32(a1) + q * (np.int32(a2) + q * (np.int32(a3) + q * np.int32(a4)))) << bits


@numba.njit(inline="always")
def _code(a1: np.int8, a2: np.int8, a3: np.int8, a4: np.int8) -> np.int32:
    """Generic table row offset: the 6 equalities between neighbours and the 4 'is colour 0' bits, << 3."""
    e = (
        np.int32(a1 == a2)
        | (np.int32(a1 == a3) << 1)
        | (np.int32(a1 == a4) << 2)
        | (np.int32(a2 == a3) << 3)
        | (np.int32(a2 == a4) << 4)
        | (np.int32(a3 == a4) << 5)
    )
    z = np.int32(a1 == 0) | (np.int32(a2 == 0) << 1) | (np.int32(a3 == 0) << 2) | (np.int32(a4 == 0) << 3)
    return (e | (z << 6)) << _GENERIC_BITS


@numba.njit(inline="always")
def _pack(a1: np.int8, a2: np.int8, a3: np.int8, a4: np.int8) -> np.int64:
    """The four neighbour colours as bytes 0..3 of one word."""
    return np.int64(a1) | (np.int64(a2) << 8) | (np.int64(a3) << 16) | (np.int64(a4) << 24)


@numba.njit(inline="always")
def _generic_colour(
    table: np.ndarray, row: np.int32, packed: np.int64, z: np.uint64, q: int, lo: int, span: int
) -> np.int8:
    """Generic draw from one 64-bit output z: the low half picks the outcome k (0..3: neighbour k's colour,
    4: a uniform colour of 0..q-1, 5: lo + a uniform one of 0..span-1), the high half the uniform colours."""
    k = _alias_draw(table, np.int64(row), z & _LOW32, _GENERIC_BITS, np.uint64(0x1FFFFFFF))
    v = z >> _SHIFT32
    free = np.int64((v * np.uint64(q)) >> _SHIFT32)
    special = lo + np.int64((v * np.uint64(span)) >> _SHIFT32)
    word = packed | (free << 32) | (special << 40)
    return np.int8((word >> (8 * k)) & 0xFF)


@numba.njit(cache=True, boundscheck=False, error_model="numpy")
def _heatbath_row(
    s: np.ndarray,
    L: int,
    row: int,
    parity: int,
    table: np.ndarray,
    q: int,
    bits: int,
    direct: bool,
    lo: int,
    span: int,
    x: np.uint64,
    rows: np.ndarray,
    packed: np.ndarray,
) -> np.uint64:
    """Heat-bath update of the sites (row, col) with (row + col) % 2 == parity of one chain ``s`` (L*L,) int8.

    Pass 1 (contiguous, vectorized) computes every site's table row offset (and, generic table, its packed
    neighbours) into the scratch ``rows`` int32 (L,) and ``packed`` int64 (L,); pass 2 draws the sites of the
    parity: direct table two per 64-bit output (low then high 32 bits), generic one per output. The sites of
    one parity in a row are not neighbours, except the two ends of a row of odd length: then site L-1 is
    drawn last, from its current neighbours. Returns the advanced counter ``x``. Indices are unsigned (no
    negative-index wrap-around code in the loops).
    """
    one = np.uint64(1)
    n = np.uint64(L)
    up = np.uint64((row - 1 if row > 0 else L - 1) * L)
    down = np.uint64((row + 1 if row < L - 1 else 0) * L)
    base = np.uint64(row * L)
    qq, bb = np.int32(q), np.int32(bits)
    cut_mask = (one << np.uint64(32 - bits)) - one
    end = n - one
    # pass 1: both ends wrap around
    a1, a2, a3, a4 = s[base + one], s[base + end], s[up], s[down]
    rows[0] = _pattern(a1, a2, a3, a4, qq, bb) if direct else _code(a1, a2, a3, a4)
    packed[0] = _pack(a1, a2, a3, a4)
    if direct:
        for jj in range(1, L - 1):
            j = np.uint64(jj)
            rows[j] = _pattern(s[base + j + one], s[base + j - one], s[up + j], s[down + j], qq, bb)
    else:
        for jj in range(1, L - 1):
            j = np.uint64(jj)
            a1, a2, a3, a4 = s[base + j + one], s[base + j - one], s[up + j], s[down + j]
            rows[j] = _code(a1, a2, a3, a4)
            packed[j] = _pack(a1, a2, a3, a4)
    a1, a2, a3, a4 = s[base], s[base + end - one], s[up + end], s[down + end]
    rows[end] = _pattern(a1, a2, a3, a4, qq, bb) if direct else _code(a1, a2, a3, a4)
    packed[end] = _pack(a1, a2, a3, a4)
    # pass 2
    j0 = (row + parity) & 1
    m = (L - j0 + 1) >> 1  # sites of this parity in the row
    wrap = (L & 1) == 1 and j0 == 0  # site L-1 neighbours site 0, also of this parity
    if wrap:
        m -= 1
    first = np.uint64(j0)
    if direct:
        pairs = m >> 1
        for pp in range(pairs):
            p = np.uint64(pp)
            z = splitmix64(x + (p + one) * np.uint64(SPLITMIX_GAMMA))
            j = first + np.uint64(4) * p
            s[base + j] = _alias_draw(table, np.int64(rows[j]), z & _LOW32, bits, cut_mask)
            j2 = j + np.uint64(2)
            s[base + j2] = _alias_draw(table, np.int64(rows[j2]), z >> _SHIFT32, bits, cut_mask)
        x += np.uint64(pairs) * np.uint64(SPLITMIX_GAMMA)
        if m & 1:
            x, z = weyl_next(x)
            j = first + np.uint64(2 * (m - 1))
            s[base + j] = _alias_draw(table, np.int64(rows[j]), z & _LOW32, bits, cut_mask)
    else:
        for pp in range(m):
            p = np.uint64(pp)
            z = splitmix64(x + (p + one) * np.uint64(SPLITMIX_GAMMA))
            j = first + np.uint64(2) * p
            s[base + j] = _generic_colour(table, rows[j], packed[j], z, q, lo, span)
        x += np.uint64(m) * np.uint64(SPLITMIX_GAMMA)
    if wrap:
        a1, a2, a3, a4 = s[base], s[base + end - one], s[up + end], s[down + end]
        x, z = weyl_next(x)
        if direct:
            s[base + end] = _alias_draw(
                table, np.int64(_pattern(a1, a2, a3, a4, qq, bb)), z & _LOW32, bits, cut_mask
            )
        else:
            s[base + end] = _generic_colour(
                table, _code(a1, a2, a3, a4), _pack(a1, a2, a3, a4), z, q, lo, span
            )
    return x


@numba.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy")
def heatbath_potts(
    spins: np.ndarray,
    L: int,
    q: int,
    counters: np.ndarray,
    n_sweeps: int,
    table: np.ndarray,
    bits: int,
    direct: bool,
    lo: int,
    span: int,
) -> None:
    """``n_sweeps`` heat-bath sweeps in place, in checkerboard order (per half-sweep, row by row, the sites of
    one parity of (row + col); all even ones, then all odd ones), chains in parallel.

    spins: (chains, L*L) int8; counters: (chains,) uint64, advanced in place; (table, bits, direct, lo, span):
    a :class:`HeatbathTable`'s fields. Each site's new colour is drawn from its conditional law by one alias
    lookup in the row of its neighbour pattern (see :func:`heatbath_table`). For even L this is the usual
    two-sublattice checkerboard; for odd L sites of one parity can neighbour across the boundary and each
    update still sees its current neighbours (see :func:`_heatbath_row`), so the sweep is valid for any L.
    """
    chains = spins.shape[0]
    for c in numba.prange(chains):
        s = spins[c]
        rows = np.zeros(L, np.int32)
        packed = np.zeros(L, np.int64)
        x = counters[c]
        for _ in range(n_sweeps):
            for parity in range(2):
                for row in range(L):
                    x = _heatbath_row(s, L, row, parity, table, q, bits, direct, lo, span, x, rows, packed)
        counters[c] = x


@numba.njit(cache=True)
def _alias_rows(weights: np.ndarray, bits: int) -> np.ndarray:
    """Integer alias tables (Walker; Vose's pairing) of integer weights (rows, 2**bits) int64 summing to 2^32
    per row: uint64 (rows, 2**bits) entries cut | alias << 32, column capacity 2^(32 - bits). Column c keeps
    a 32 - bits bit remainder r < cut and gives its alias otherwise, so outcome c has probability exactly
    weights[c] / 2^32."""
    n_rows, columns = weights.shape
    cap = np.int64(1) << (32 - bits)
    out = np.zeros((n_rows, columns), np.uint64)
    for i in range(n_rows):
        w = weights[i].copy()
        cut = np.full(columns, cap, np.int64)
        alias = np.arange(columns)
        small = [c for c in range(columns) if w[c] < cap]
        large = [c for c in range(columns) if w[c] >= cap]
        while len(small) > 0 and len(large) > 0:
            lo = small.pop()
            hi = large[-1]
            cut[lo] = w[lo]
            alias[lo] = hi
            w[hi] -= cap - w[lo]
            if w[hi] < cap:
                large.pop()
                small.append(hi)
        # integer weights summing to columns * cap: whatever is left is exactly full (cut = cap, no alias)
        for c in range(columns):
            out[i, c] = np.uint64(cut[c]) | (np.uint64(alias[c]) << np.uint64(32))
    return out


def _integer_weights(log_weights: np.ndarray, columns: int) -> np.ndarray:
    """Probabilities softmax(log_weights) per row (-inf: 0) as int64 weights summing to exactly 2^32, each
    within 1 of p 2^32 (floors, plus one for the largest remainders), padded with zeros to ``columns``."""
    top = log_weights.max(axis=1, keepdims=True)
    p = np.exp(log_weights - top)
    p /= p.sum(axis=1, keepdims=True)
    scaled = p * 2.0**32
    w = np.floor(scaled).astype(np.int64)
    missing = (1 << 32) - w.sum(axis=1)  # in [0, outcomes]
    remainder = np.where(p > 0, scaled - w, -1.0)  # impossible outcomes never get the extra one
    order = np.argsort(-remainder, axis=1, kind="stable")  # largest remainders first
    ranks = np.argsort(order, axis=1, kind="stable")
    w += ranks < missing[:, None]
    out = np.zeros((w.shape[0], columns), np.int64)
    out[:, : w.shape[1]] = w
    return out


@dataclass(frozen=True)
class HeatbathTable:
    """Alias tables of the heat-bath conditional laws (arguments of :func:`heatbath_potts` after n_sweeps).

    table: uint64 (rows * 2**bits,), row r's entries at r * 2**bits...; direct: rows indexed by the neighbour
    colours (q <= :data:`HEATBATH_DIRECT_MAX_Q`, outcomes are colours), else by the generic 10-bit code
    (outcomes 0..3: neighbour k's colour, 4: uniform of all q, 5: lo + uniform of 0..span-1).
    """

    table: np.ndarray
    bits: int
    direct: bool
    lo: int
    span: int

    def args(self) -> tuple[np.ndarray, int, bool, int, int]:
        return self.table, self.bits, self.direct, self.lo, self.span

    def probabilities(self) -> np.ndarray:
        """The exact outcome probabilities the table realizes, float64 (rows, 2**bits) (for tests)."""
        columns = 1 << self.bits
        entries = self.table.reshape(-1, columns)
        cut = (entries & _LOW32).astype(np.float64) / 2.0 ** (32 - self.bits)
        alias = (entries >> _SHIFT32).astype(np.int64)
        p = cut / columns
        rows = np.arange(entries.shape[0])[:, None]
        np.add.at(p, (np.broadcast_to(rows, alias.shape), alias), (1.0 - cut) / columns)
        return p


def heatbath_table(K: float, q: int, h: float = 0.0, *, direct: bool | None = None) -> HeatbathTable:
    """Alias tables of the conditional law P(a) ∝ exp(K n_a + h delta(a, 0)) of a site, n_a its neighbours of
    colour a, for :func:`heatbath_potts`; every probability is an integer multiple of 2^-32 within 2^-32 of
    the exact one (as the Ising tables, rgnet.ising.samplers.tables).

    q <= HEATBATH_DIRECT_MAX_Q: one row per neighbour colouring (q**4 rows, 2**ceil(log2 q) columns, one
    32-bit uniform per site). Larger q: one row per 10-bit code (which neighbours agree, which have colour
    0) over 6 outcomes, from exp(K n_a) = 1 + (exp(K n_a) - 1): neighbour k carries (exp(K n_k) - 1) / n_k
    (times e^h if its colour is 0; a colour shared by n neighbours is counted n times), every colour 1 more,
    and the field is e^h - 1 more on colour 0 (h >= 0) or, h < 0, weight e^h on every colour plus 1 - e^h on
    each of 1..q-1; one 64-bit output per site (the high half draws the uniform colours). ``direct``: force
    one layout (None: direct iff q <= HEATBATH_DIRECT_MAX_Q; the generic one serves any q).
    """
    ninf = -np.inf
    with np.errstate(divide="ignore"):
        if direct or (direct is None and q <= HEATBATH_DIRECT_MAX_Q):
            bits = max(1, math.ceil(math.log2(q)))
            patterns = np.arange(q**4)
            neighbours = np.stack([patterns // q**k % q for k in range(4)], axis=1)  # (q^4, 4)
            counts = (neighbours[:, :, None] == np.arange(q)).sum(axis=1)  # (q^4, q)
            log_w = K * counts + h * (np.arange(q) == 0)
            weights = _integer_weights(log_w, 1 << bits)
            return HeatbathTable(_alias_rows(weights, bits).ravel(), bits, True, 0, 1)
        codes = np.arange(1 << 10)
        pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
        n = np.ones((codes.size, 4))
        for bit, (i, k) in enumerate(pairs):
            agree = (codes >> bit) & 1
            n[:, i] += agree
            n[:, k] += agree
        zero = (codes[:, None] >> (6 + np.arange(4))) & 1
        log_neighbour = K * n + np.log(-np.expm1(-K * n)) - np.log(n) + h * zero  # -inf at K = 0
        if h >= 0:
            rest = [math.log(q), math.log(math.expm1(h)) if h > 0 else ninf]
            lo, span = 0, 1
        else:
            rest = [math.log(q) + h, math.log(q - 1) + math.log(-math.expm1(h))]
            lo, span = 1, q - 1
        log_w = np.concatenate([log_neighbour, np.broadcast_to(rest, (codes.size, 2))], axis=1)
        weights = _integer_weights(log_w, 1 << _GENERIC_BITS)
        return HeatbathTable(_alias_rows(weights, _GENERIC_BITS).ravel(), _GENERIC_BITS, False, lo, span)


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


def field_thresholds(h: float, q: int, n_sites: int) -> tuple[np.ndarray, np.ndarray]:
    """The cluster-size thresholds of a field h on colour 0, uint64 (n_sites + 1,) each (empty for h = 0):
    Swendsen-Wang's round(2^32 e^(h m) / (e^(h m) + q - 1)) and Wolff's round(2^32 exp(-|h| m)), m = 0..N."""
    if h == 0.0:
        empty = np.zeros(0, np.uint64)
        return empty, empty
    m = np.arange(n_sites + 1, dtype=np.float64)
    zero = probability_to_threshold(expit(h * m - math.log(q - 1)))
    return zero, probability_to_threshold(np.exp(-abs(h) * m))


def bond_threshold(K: float) -> tuple[int, int]:
    """(t_hi, t_lo) of the FK bond probability p = 1 - exp(-K) for below_threshold16."""
    return split_threshold(probability_to_threshold(np.array(-math.expm1(-K))))


__all__ = [
    "HEATBATH_DIRECT_MAX_Q",
    "HeatbathTable",
    "bond_threshold",
    "bonds_and_largest_colour",
    "field_thresholds",
    "heatbath_potts",
    "heatbath_table",
    "swendsen_wang_potts",
    "wolff_potts",
]
