"""Fused Triton kernels for checkerboard single-spin-flip sweeps (Metropolis, heat-bath) of 2D Ising lattices.

A sweep updates colour 0 (sites with (row + col) % 2 == 0) and then colour 1, one kernel launch per colour,
in place. Site s with neighbour sum nb (periodic, in {-4, ..., 4}) flips iff u < thresholds[(s + 1) / 2,
(nb + 4) / 2] for a fresh uniform 32-bit u, so a threshold t gives flip probability t / 2^32 (t = 0: never,
t = :data:`ALWAYS` = 2^32: always). :func:`flip_probability_table` gives the table of both rules,
:func:`thresholds_from_probabilities` turns it into thresholds (int64, shape (2, 5)); both live in
rgnet.ising.samplers.tables, shared with the CPU kernels, and are re-exported here.

Two storage formats, one Markov chain law (same table, same update order, independent uniform randoms):

* :func:`checkerboard_sweeps` works on the library's layout, int8 spins (chains, L, L), L even. The kernel
  reads a lattice row as int16 words, each holding the two columns (2k, 2k+1): one site of each colour. A
  program owns a tile of 4 consecutive rows (flattened over chains) x BK words and updates only the sites of
  the launch's colour, so no work is spent on the other colour; the four rows of a tile share one Philox call
  (one 32-bit output per row). Memory traffic: every byte read and written once per colour, 4 bytes per
  attempted flip.
* :func:`multispin_sweeps` works on a multispin-coded copy made by :func:`pack_multispin` (4 bits per spin,
  each colour in its own array of int32 words; :func:`unpack_multispin` converts back). A word holds NPW
  nibbles of one colour and one row; nibble z of word m holds the colour's k-th site of the row with
  k = z * WM + m (WM words per row), so the horizontal neighbours of a word are the neighbouring words of the
  other colour (rotated by one nibble at the row's ends) and the four neighbour counts of all NPW spins are
  added at once. NPW = gcd(8, L / 2): 8 (the fast case) for L a multiple of 16, fewer for other even L.
  Memory traffic: 1.5 bytes per attempted flip.

Random numbers: Philox4x32-10 (the stream of ``tl.randint4x``) keyed by ``seed``; launch number ``counter``
(one per colour update, so a sweep uses two) uses the Philox counters [counter * n, (counter + 1) * n) where n
is the number of Philox calls per launch, so no (seed, counter) pair is ever reused and no two sites or chains
share a random number. Which counter serves which site does not depend on the tile sizes, so results are
identical on any GPU and in Triton's CPU interpreter; with one multispin word per row (L <= 16) both kernels
even give bit-identical chains. The kernels run on CUDA tensors, or on CPU tensors when the environment
variable TRITON_INTERPRET=1 is set before this module is imported and while the kernels run (the
interpreter, for tests).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator

import torch
import triton
import triton.language as tl

from rgnet._checks import check_int
from rgnet.ising.samplers.tables import ALWAYS, flip_probability_table, thresholds_from_probabilities

_INTERPRETED = os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")
# Words per block tensor: tuned on an H100 (triton 3.6, Metropolis at K_c, CUDA-graph timing): int8 kernel
# 290-330 flips/ns, multispin 540-600 flips/ns for L >= 4096 and ~375 for 4096 chains of 64 x 64. Large in the
# interpreter (numpy speed). The random stream does not depend on them.
_TILE_INT8 = 65536 if _INTERPRETED else 512
_TILE_MULTISPIN = 65536 if _INTERPRETED else 128
_MAX_BK = 128
_NUM_WARPS = 4
_MAX_COUNTER = 2**63 - 1


# ------------------------------------------------------------------------------------------- random numbers
@triton.jit
def _philox4x32(offset, seed_lo, seed_hi):
    """Philox4x32-10 of counter (offset mod 2^32, offset >> 32, 0, 0) under key (seed_lo, seed_hi).

    ``offset``: int64 tensor; returns four uint32 tensors of its shape. Same stream as ``tl.randint4x``,
    written out here so that the Triton interpreter can run it even when triton was imported before the
    interpreter was switched on.
    """
    c0 = offset.to(tl.uint32)
    c1 = (offset >> 32).to(tl.uint32)
    c2 = c0 * 0
    c3 = c2
    k0 = seed_lo.to(tl.uint32)
    k1 = seed_hi.to(tl.uint32)
    for _ in tl.static_range(10):
        prev0 = c0
        prev2 = c2
        c0 = tl.umulhi(prev2, 0xCD9E8D57) ^ c1 ^ k0
        c2 = tl.umulhi(prev0, 0xD2511F53) ^ c3 ^ k1
        c1 = tl.mul(prev2, 0xCD9E8D57, sanitize_overflow=False)  # wraps mod 2^32 by design
        c3 = tl.mul(prev0, 0xD2511F53, sanitize_overflow=False)
        k0 = tl.add(k0, 0x9E3779B9, sanitize_overflow=False)
        k1 = tl.add(k1, 0xBB67AE85, sanitize_overflow=False)
    return c0, c1, c2, c3


# ------------------------------------------------------------------------------------------- kernel 1: int8
@triton.jit
def _update_words(c, side, up, down, u, thr_ptr, P: tl.constexpr):
    """New words for centre words ``c`` whose byte P is the site being updated.

    ``side``: the word holding the horizontal neighbour that is not in ``c`` (word k - 1 for P = 0, k + 1 for
    P = 1); ``up``/``down``: words of the rows above/below (their byte P is the vertical neighbour);
    ``u``: uniform uint32. Words are sign-extended to int32: (w << 24) >> 24 is the even column's spin, w >> 8
    the odd column's. Flipping a +-1 byte is xor with 0xFE.
    """
    if P == 0:
        s = (c << 24) >> 24
        nb = (c >> 8) + (side >> 8) + ((up << 24) >> 24) + ((down << 24) >> 24)
    else:
        s = c >> 8
        nb = ((c << 24) >> 24) + ((side << 24) >> 24) + (up >> 8) + (down >> 8)
    idx = tl.minimum(tl.maximum((5 * s + nb + 9) >> 1, 0), 9)  # ((s+1)/2)*5 + (nb+4)/2, clamped for safety
    t = tl.load(thr_ptr + idx)
    return tl.where(u.to(tl.int64) < t, c ^ (0xFE << (8 * P)), c)


@triton.jit
def _load_rows(words_ptr, rows, k, kmask, n_rows, W):
    """Words (int32) at flattened rows ``rows`` (BR,) and word indices ``k`` (BK,); zeros where masked."""
    m = (rows < n_rows)[:, None] & kmask[None, :]
    ptr = words_ptr + rows.to(tl.int64)[:, None] * W + k[None, :]
    return tl.load(ptr, mask=m, other=0).to(tl.int32)


@triton.jit
def _neighbour_rows(rows, L):
    """Flattened rows above and below ``rows``, periodic within each chain of L rows."""
    r = rows % L
    up = tl.where(r == 0, rows + (L - 1), rows - 1)
    down = tl.where(r == L - 1, rows - (L - 1), rows + 1)
    return up, down


@triton.jit
def _store_rows(words_ptr, rows, k, kmask, n_rows, W, values):
    """Store ``values`` (cast to the pointer's element type) at flattened rows ``rows`` and words ``k``."""
    m = (rows < n_rows)[:, None] & kmask[None, :]
    ptr = words_ptr + rows.to(tl.int64)[:, None] * W + k[None, :]
    tl.store(ptr, values.to(ptr.dtype.element_ty), mask=m)


@triton.jit
def _update_row_generic(words_ptr, thr_ptr, rows, k, k_side, kmask, n_rows, L, W, u, P: tl.constexpr):
    """Update one row of a tile, loading all four neighbours (any even L)."""
    up_rows, down_rows = _neighbour_rows(rows, L)
    c = _load_rows(words_ptr, rows, k, kmask, n_rows, W)
    side = _load_rows(words_ptr, rows, k_side, kmask, n_rows, W)
    up = _load_rows(words_ptr, up_rows, k, kmask, n_rows, W)
    down = _load_rows(words_ptr, down_rows, k, kmask, n_rows, W)
    _store_rows(words_ptr, rows, k, kmask, n_rows, W, _update_words(c, side, up, down, u, thr_ptr, P))


@triton.jit(do_not_specialize=["seed_lo", "seed_hi", "rand_base"])
def _checkerboard_kernel(
    words_ptr,  # int16 (chains * L, L / 2), word k of a row = columns (2k, 2k+1)
    thr_ptr,  # int64 (10,)
    seed_lo,  # Philox key, low and high 32 bits
    seed_hi,
    rand_base,  # first Philox counter of this launch
    n_rows,  # chains * L
    L,
    W,  # L / 2
    n_col_tiles,
    COLOUR: tl.constexpr,
    ALIGNED4: tl.constexpr,  # L % 4 == 0: a tile's 4 rows lie in one chain and share loaded rows
    BR: tl.constexpr,
    BK: tl.constexpr,
):
    pid = tl.program_id(0)
    q = (pid // n_col_tiles) * BR + tl.arange(0, BR)  # tile rows 4q .. 4q+3
    k = (pid % n_col_tiles) * BK + tl.arange(0, BK)
    kmask = k < W
    k_prev = tl.where(k == 0, W - 1, k - 1)
    k_next = tl.where(k == W - 1, 0, k + 1)
    # One Philox call per (q, k); output j serves row 4q + j. Row parity j decides which byte is updated.
    u0, u1, u2, u3 = _philox4x32(rand_base + q.to(tl.int64)[:, None] * W + k[None, :], seed_lo, seed_hi)
    # P_j = (j + COLOUR) % 2: byte of row 4q + j's words holding the colour; side word k - 1 (P = 0) or k + 1
    rows0 = 4 * q
    if ALIGNED4:
        up_rows, _ = _neighbour_rows(rows0, L)
        _, down_rows = _neighbour_rows(rows0 + 3, L)
        a0 = _load_rows(words_ptr, rows0, k, kmask, n_rows, W)
        a1 = _load_rows(words_ptr, rows0 + 1, k, kmask, n_rows, W)
        a2 = _load_rows(words_ptr, rows0 + 2, k, kmask, n_rows, W)
        a3 = _load_rows(words_ptr, rows0 + 3, k, kmask, n_rows, W)
        halo_up = _load_rows(words_ptr, up_rows, k, kmask, n_rows, W)
        halo_down = _load_rows(words_ptr, down_rows, k, kmask, n_rows, W)
        if COLOUR == 0:
            s0 = _load_rows(words_ptr, rows0, k_prev, kmask, n_rows, W)
            s1 = _load_rows(words_ptr, rows0 + 1, k_next, kmask, n_rows, W)
            s2 = _load_rows(words_ptr, rows0 + 2, k_prev, kmask, n_rows, W)
            s3 = _load_rows(words_ptr, rows0 + 3, k_next, kmask, n_rows, W)
        else:
            s0 = _load_rows(words_ptr, rows0, k_next, kmask, n_rows, W)
            s1 = _load_rows(words_ptr, rows0 + 1, k_prev, kmask, n_rows, W)
            s2 = _load_rows(words_ptr, rows0 + 2, k_next, kmask, n_rows, W)
            s3 = _load_rows(words_ptr, rows0 + 3, k_prev, kmask, n_rows, W)
        # Rows updated in this launch only change their colour's byte; neighbours only read the other byte.
        n0 = _update_words(a0, s0, halo_up, a1, u0, thr_ptr, COLOUR % 2)
        n1 = _update_words(a1, s1, a0, a2, u1, thr_ptr, (COLOUR + 1) % 2)
        n2 = _update_words(a2, s2, a1, a3, u2, thr_ptr, COLOUR % 2)
        n3 = _update_words(a3, s3, a2, halo_down, u3, thr_ptr, (COLOUR + 1) % 2)
        _store_rows(words_ptr, rows0, k, kmask, n_rows, W, n0)
        _store_rows(words_ptr, rows0 + 1, k, kmask, n_rows, W, n1)
        _store_rows(words_ptr, rows0 + 2, k, kmask, n_rows, W, n2)
        _store_rows(words_ptr, rows0 + 3, k, kmask, n_rows, W, n3)
    else:
        if COLOUR == 0:
            _update_row_generic(words_ptr, thr_ptr, rows0, k, k_prev, kmask, n_rows, L, W, u0, 0)
            _update_row_generic(words_ptr, thr_ptr, rows0 + 1, k, k_next, kmask, n_rows, L, W, u1, 1)
            _update_row_generic(words_ptr, thr_ptr, rows0 + 2, k, k_prev, kmask, n_rows, L, W, u2, 0)
            _update_row_generic(words_ptr, thr_ptr, rows0 + 3, k, k_next, kmask, n_rows, L, W, u3, 1)
        else:
            _update_row_generic(words_ptr, thr_ptr, rows0, k, k_next, kmask, n_rows, L, W, u0, 1)
            _update_row_generic(words_ptr, thr_ptr, rows0 + 1, k, k_prev, kmask, n_rows, L, W, u1, 0)
            _update_row_generic(words_ptr, thr_ptr, rows0 + 2, k, k_next, kmask, n_rows, L, W, u2, 1)
            _update_row_generic(words_ptr, thr_ptr, rows0 + 3, k, k_prev, kmask, n_rows, L, W, u3, 0)


# -------------------------------------------------------------------------------------- kernel 2: multispin
@triton.jit
def _rotate_up(w, NPW: tl.constexpr):
    """Move nibble z to z + 1 and the top nibble (NPW - 1) to 0; only the low bit of each nibble is kept."""
    return ((w << 4) | (w >> (4 * (NPW - 1)))) & (0x11111111 >> (4 * (8 - NPW)))


@triton.jit
def _rotate_down(w, NPW: tl.constexpr):
    """Move nibble z to z - 1 and nibble 0 to the top (NPW - 1); only the low bit of each nibble is kept."""
    return ((w >> 4) | (w << (4 * (NPW - 1)))) & (0x11111111 >> (4 * (8 - NPW)))


@triton.jit
def _side_words(src_ptr, rows, m, m_prev, m_next, mmask, n_rows, WM, OFF: tl.constexpr, NPW: tl.constexpr):
    """Other-colour words holding the horizontal neighbour not in the same word position.

    OFF = column offset of the updated colour in these rows: 0 -> neighbour k - 1, 1 -> neighbour k + 1.
    """
    if OFF == 0:
        w = _load_rows(src_ptr, rows, m_prev, mmask, n_rows, WM)
        return tl.where((m == 0)[None, :], _rotate_up(w, NPW), w)
    else:
        w = _load_rows(src_ptr, rows, m_next, mmask, n_rows, WM)
        return tl.where((m == WM - 1)[None, :], _rotate_down(w, NPW), w)


@triton.jit
def _nibble_flips(spins, counts, u, thr_ptr, Z: tl.constexpr):
    """Flip bit (at nibble Z) of the spins in nibble Z: spin bit s (1 = up), up-neighbour count n in 0..4."""
    s = (spins >> (4 * Z)) & 1
    n = (counts >> (4 * Z)) & 7
    t = tl.load(thr_ptr + tl.minimum(5 * s + n, 9))
    return (u.to(tl.int64) < t).to(tl.int32) << (4 * Z)


@triton.jit(do_not_specialize=["seed_lo", "seed_hi", "rand_base"])
def _multispin_kernel(
    packed_ptr,  # int32 (2, chains * L, WM)
    thr_ptr,  # int64 (10,)
    seed_lo,
    seed_hi,
    rand_base,
    n_rows,  # chains * L
    L,
    WM,  # words per row and colour
    colour_stride,  # chains * L * WM
    n_col_tiles,
    COLOUR: tl.constexpr,
    NPW: tl.constexpr,  # spins (nibbles) per word
    ALIGNED4: tl.constexpr,
    BR: tl.constexpr,
    BK: tl.constexpr,
):
    dst_ptr = packed_ptr + COLOUR * colour_stride
    src_ptr = packed_ptr + (1 - COLOUR) * colour_stride
    pid = tl.program_id(0)
    q = (pid // n_col_tiles) * BR + tl.arange(0, BR)  # tile rows 4q .. 4q+3
    m = (pid % n_col_tiles) * BK + tl.arange(0, BK)
    mmask = m < WM
    m_prev = tl.where(m == 0, WM - 1, m - 1)
    m_next = tl.where(m == WM - 1, 0, m + 1)
    rows0 = 4 * q
    # Row 4q + j of this colour sits at column offset (j + COLOUR) % 2 (L even).
    if ALIGNED4:
        up_rows, _ = _neighbour_rows(rows0, L)
        _, down_rows = _neighbour_rows(rows0 + 3, L)
        c0 = _load_rows(src_ptr, rows0, m, mmask, n_rows, WM)
        c1 = _load_rows(src_ptr, rows0 + 1, m, mmask, n_rows, WM)
        c2 = _load_rows(src_ptr, rows0 + 2, m, mmask, n_rows, WM)
        c3 = _load_rows(src_ptr, rows0 + 3, m, mmask, n_rows, WM)
        cu = _load_rows(src_ptr, up_rows, m, mmask, n_rows, WM)
        cd = _load_rows(src_ptr, down_rows, m, mmask, n_rows, WM)
        count0 = c0 + cu + c1
        count1 = c1 + c0 + c2
        count2 = c2 + c1 + c3
        count3 = c3 + c2 + cd
    else:
        u_rows, d_rows = _neighbour_rows(rows0, L)
        count0 = (
            _load_rows(src_ptr, rows0, m, mmask, n_rows, WM)
            + _load_rows(src_ptr, u_rows, m, mmask, n_rows, WM)
            + _load_rows(src_ptr, d_rows, m, mmask, n_rows, WM)
        )
        u_rows, d_rows = _neighbour_rows(rows0 + 1, L)
        count1 = (
            _load_rows(src_ptr, rows0 + 1, m, mmask, n_rows, WM)
            + _load_rows(src_ptr, u_rows, m, mmask, n_rows, WM)
            + _load_rows(src_ptr, d_rows, m, mmask, n_rows, WM)
        )
        u_rows, d_rows = _neighbour_rows(rows0 + 2, L)
        count2 = (
            _load_rows(src_ptr, rows0 + 2, m, mmask, n_rows, WM)
            + _load_rows(src_ptr, u_rows, m, mmask, n_rows, WM)
            + _load_rows(src_ptr, d_rows, m, mmask, n_rows, WM)
        )
        u_rows, d_rows = _neighbour_rows(rows0 + 3, L)
        count3 = (
            _load_rows(src_ptr, rows0 + 3, m, mmask, n_rows, WM)
            + _load_rows(src_ptr, u_rows, m, mmask, n_rows, WM)
            + _load_rows(src_ptr, d_rows, m, mmask, n_rows, WM)
        )
    count0 += _side_words(src_ptr, rows0, m, m_prev, m_next, mmask, n_rows, WM, COLOUR % 2, NPW)
    count1 += _side_words(src_ptr, rows0 + 1, m, m_prev, m_next, mmask, n_rows, WM, (COLOUR + 1) % 2, NPW)
    count2 += _side_words(src_ptr, rows0 + 2, m, m_prev, m_next, mmask, n_rows, WM, COLOUR % 2, NPW)
    count3 += _side_words(src_ptr, rows0 + 3, m, m_prev, m_next, mmask, n_rows, WM, (COLOUR + 1) % 2, NPW)
    d0 = _load_rows(dst_ptr, rows0, m, mmask, n_rows, WM)
    d1 = _load_rows(dst_ptr, rows0 + 1, m, mmask, n_rows, WM)
    d2 = _load_rows(dst_ptr, rows0 + 2, m, mmask, n_rows, WM)
    d3 = _load_rows(dst_ptr, rows0 + 3, m, mmask, n_rows, WM)
    f0 = d0 * 0
    f1 = f0
    f2 = f0
    f3 = f0
    call0 = (q.to(tl.int64)[:, None] * WM + m[None, :]) * NPW + rand_base
    for z in tl.static_range(NPW):
        # Philox call (q, m, z); output j serves nibble z of row 4q + j.
        u0, u1, u2, u3 = _philox4x32(call0 + z, seed_lo, seed_hi)
        f0 |= _nibble_flips(d0, count0, u0, thr_ptr, z)
        f1 |= _nibble_flips(d1, count1, u1, thr_ptr, z)
        f2 |= _nibble_flips(d2, count2, u2, thr_ptr, z)
        f3 |= _nibble_flips(d3, count3, u3, thr_ptr, z)
    _store_rows(dst_ptr, rows0, m, mmask, n_rows, WM, d0 ^ f0)
    _store_rows(dst_ptr, rows0 + 1, m, mmask, n_rows, WM, d1 ^ f1)
    _store_rows(dst_ptr, rows0 + 2, m, mmask, n_rows, WM, d2 ^ f2)
    _store_rows(dst_ptr, rows0 + 3, m, mmask, n_rows, WM, d3 ^ f3)


# ------------------------------------------------------------------------------------------------ host side
def _check_device_usable(device: torch.device, name: str) -> None:
    if device.type != "cuda" and not _INTERPRETED:
        raise ValueError(
            f"{name} is on {device}: the Triton kernels need a CUDA tensor "
            "(or TRITON_INTERPRET=1 set before importing rgnet.ising.samplers.triton_kernels, for tests)"
        )


def _check_table(thresholds: object, device: torch.device) -> torch.Tensor:
    if not isinstance(thresholds, torch.Tensor):
        raise TypeError(f"thresholds must be a torch.Tensor, got {type(thresholds).__name__}")
    if thresholds.dtype != torch.int64 or tuple(thresholds.shape) != (2, 5):
        raise ValueError(
            f"thresholds must be int64 of shape (2, 5), got {thresholds.dtype} {tuple(thresholds.shape)}"
        )
    if thresholds.device != device:
        raise ValueError(f"thresholds are on {thresholds.device}, spins on {device}; put both on one device")
    return thresholds.reshape(10).contiguous()


def _check_run_args(seed: int, counter: int, n_sweeps: int, calls_per_launch: int) -> tuple[int, int, int]:
    seed = check_int(seed, "seed", minimum=0, maximum=2**63 - 1)
    counter = check_int(counter, "counter", minimum=0)
    n_sweeps = check_int(n_sweeps, "n_sweeps", minimum=0)
    if (counter + 2 * n_sweeps) * calls_per_launch > _MAX_COUNTER:
        raise ValueError(
            f"counter={counter} with n_sweeps={n_sweeps} exhausts the Philox counter space "
            f"({calls_per_launch} calls per launch); start a new seed with counter=0"
        )
    return seed, counter, n_sweeps


@contextlib.contextmanager
def _on_device(device: torch.device) -> Iterator[None]:
    if device.type == "cuda":
        with torch.cuda.device(device):
            yield
    else:
        yield


def _tile(n_groups: int, width: int, target: int) -> tuple[int, int]:
    """Block shape (BR groups of four rows, BK words) of about ``target`` words per block tensor."""
    bk = min(triton.next_power_of_2(width), _MAX_BK)
    br = max(1, min(target // bk, triton.next_power_of_2(n_groups)))
    return br, bk


def _philox_calls(chains: int, L: int) -> int:
    """Philox calls per launch (either kernel): one per four sites of the launch's colour."""
    return math.ceil(chains * L / 4) * (L // 2)


def checkerboard_sweeps(
    spins: torch.Tensor, thresholds: torch.Tensor, seed: int, counter: int, n_sweeps: int
) -> int:
    """Run ``n_sweeps`` checkerboard sweeps on int8 spins in place; returns counter + 2 n_sweeps.

    Args:
        spins: int8 +-1, (chains, L, L), contiguous, L even; CUDA (or CPU under TRITON_INTERPRET=1).
        thresholds: int64 (2, 5) on the same device; site s with neighbour sum nb flips iff
            u32 < thresholds[(s + 1) / 2, (nb + 4) / 2] (see :func:`thresholds_from_probabilities`).
        seed: Philox key in [0, 2^63).
        counter: number of colour updates already done with this seed (0 for a fresh seed).
        n_sweeps: sweeps to run (colour 0 then colour 1 each).
    """
    chains, L = _check_spins(spins)
    table = _check_table(thresholds, spins.device)
    calls = _philox_calls(chains, L)
    seed, counter, n_sweeps = _check_run_args(seed, counter, n_sweeps, calls)
    n_rows, width = chains * L, L // 2
    words = spins.view(torch.int16)
    br, bk = _tile(math.ceil(n_rows / 4), width, _TILE_INT8)
    n_col_tiles = triton.cdiv(width, bk)
    grid = (triton.cdiv(math.ceil(n_rows / 4), br) * n_col_tiles,)
    with _on_device(spins.device):
        for _ in range(n_sweeps):
            for colour in (0, 1):
                _checkerboard_kernel[grid](
                    words,
                    table,
                    seed & 0xFFFFFFFF,
                    seed >> 32,
                    counter * calls,
                    n_rows,
                    L,
                    width,
                    n_col_tiles,
                    COLOUR=colour,
                    ALIGNED4=L % 4 == 0,
                    BR=br,
                    BK=bk,
                    num_warps=_NUM_WARPS,
                )
                counter += 1
    return counter


def _check_spins(spins: object) -> tuple[int, int]:
    chains, L = _check_spin_shape(spins)
    if not spins.is_contiguous() or spins.storage_offset() % 2:
        raise ValueError(
            "spins must be contiguous (the update is in place); pass spins.contiguous() and keep it"
        )
    _check_device_usable(spins.device, "spins")
    return chains, L


# -------------------------------------------------------------------------------------- multispin host side
def multispin_layout(L: int) -> tuple[int, int]:
    """(spins per int32 word NPW = gcd(8, L / 2), words per row and colour WM = L / (2 NPW)) for even L."""
    L = check_int(L, "L", minimum=2)
    if L % 2:
        raise ValueError(f"L must be even for the multispin layout, got {L}")
    npw = math.gcd(8, L // 2)
    return npw, L // 2 // npw


def pack_multispin(spins: torch.Tensor) -> torch.Tensor:
    """Multispin-coded copy of int8 spins (chains, L, L): int32 (2, chains, L, WM), same device.

    ``packed[c, b, r, m]`` holds, in bit 4 z, whether the colour-c site k = z * WM + m of row r (column
    2k + (r + c) % 2) of chain b is up; the other bits are 0. See :func:`multispin_layout`.
    """
    chains, L = _check_spin_shape(spins)
    npw, wm = multispin_layout(L)
    up = (spins > 0).to(torch.int32).view(chains, L, L // 2, 2)  # [..., k, o] = column 2k + o
    rows = torch.arange(L, device=spins.device)
    shifts = (4 * torch.arange(npw, device=spins.device, dtype=torch.int32)).view(1, 1, npw, 1)
    out = torch.empty((2, chains, L, wm), dtype=torch.int32, device=spins.device)
    for colour in (0, 1):
        offset = ((rows + colour) % 2).view(1, L, 1, 1).expand(chains, L, L // 2, 1)
        sites = torch.gather(up, 3, offset).view(chains, L, npw, wm)  # k = z * wm + m
        out[colour] = (sites << shifts).sum(dim=2, dtype=torch.int32)
    return out


def unpack_multispin(packed: torch.Tensor) -> torch.Tensor:
    """int8 spins (chains, L, L) from a packed tensor made by :func:`pack_multispin` (inverse of it)."""
    chains, L, npw, _ = _check_packed(packed, need_kernel_device=False)
    shifts = (4 * torch.arange(npw, device=packed.device, dtype=torch.int32)).view(1, 1, npw, 1)
    rows = torch.arange(L, device=packed.device)
    out = torch.empty((chains, L, L // 2, 2), dtype=torch.int8, device=packed.device)
    for colour in (0, 1):
        bits = (packed[colour].unsqueeze(2) >> shifts) & 1  # (chains, L, npw, wm)
        sites = (bits.to(torch.int8) * 2 - 1).reshape(chains, L, L // 2, 1)
        offset = ((rows + colour) % 2).view(1, L, 1, 1).expand(chains, L, L // 2, 1)
        out.scatter_(3, offset, sites)
    return out.view(chains, L, L)


def multispin_sweeps(
    packed: torch.Tensor, thresholds: torch.Tensor, seed: int, counter: int, n_sweeps: int
) -> int:
    """Run ``n_sweeps`` checkerboard sweeps on a multispin-coded lattice in place; returns the new counter.

    Same Markov chain law as :func:`checkerboard_sweeps` (different random stream). ``packed``: int32
    (2, chains, L, WM) from :func:`pack_multispin`, contiguous, on CUDA (or CPU under TRITON_INTERPRET=1);
    the other arguments as for :func:`checkerboard_sweeps`.
    """
    chains, L, npw, wm = _check_packed(packed, need_kernel_device=True)
    table = _check_table(thresholds, packed.device)
    calls = _philox_calls(chains, L)
    seed, counter, n_sweeps = _check_run_args(seed, counter, n_sweeps, calls)
    n_rows = chains * L
    br, bk = _tile(math.ceil(n_rows / 4), wm, _TILE_MULTISPIN)
    n_col_tiles = triton.cdiv(wm, bk)
    grid = (triton.cdiv(math.ceil(n_rows / 4), br) * n_col_tiles,)
    with _on_device(packed.device):
        for _ in range(n_sweeps):
            for colour in (0, 1):
                _multispin_kernel[grid](
                    packed,
                    table,
                    seed & 0xFFFFFFFF,
                    seed >> 32,
                    counter * calls,
                    n_rows,
                    L,
                    wm,
                    n_rows * wm,
                    n_col_tiles,
                    COLOUR=colour,
                    NPW=npw,
                    ALIGNED4=L % 4 == 0,
                    BR=br,
                    BK=bk,
                    num_warps=_NUM_WARPS,
                )
                counter += 1
    return counter


def _check_spin_shape(spins: object) -> tuple[int, int]:
    if not isinstance(spins, torch.Tensor):
        raise TypeError(f"spins must be a torch.Tensor, got {type(spins).__name__}")
    if spins.dtype != torch.int8 or spins.dim() != 3 or spins.shape[1] != spins.shape[2]:
        raise ValueError(
            f"spins must be int8 of shape (chains, L, L), got {spins.dtype} {tuple(spins.shape)}"
        )
    chains, L = spins.shape[0], spins.shape[1]
    if L < 2 or L % 2:
        raise ValueError(f"L must be even and >= 2 for checkerboard updates, got L={L}")
    if chains < 1:
        raise ValueError("spins must hold at least one chain")
    return chains, L


def _check_packed(packed: object, *, need_kernel_device: bool) -> tuple[int, int, int, int]:
    if not isinstance(packed, torch.Tensor):
        raise TypeError(f"packed must be a torch.Tensor, got {type(packed).__name__}")
    if packed.dtype != torch.int32 or packed.dim() != 4 or packed.shape[0] != 2:
        raise ValueError(
            f"packed must be int32 of shape (2, chains, L, WM) from pack_multispin, got "
            f"{packed.dtype} {tuple(packed.shape)}"
        )
    _, chains, L, wm = packed.shape
    if L < 2 or L % 2 or multispin_layout(L)[1] != wm:
        raise ValueError(
            f"packed has shape {tuple(packed.shape)}, not a pack_multispin layout (see multispin_layout)"
        )
    if need_kernel_device:
        if not packed.is_contiguous():
            raise ValueError("packed must be contiguous (the update is in place)")
        _check_device_usable(packed.device, "packed")
    return chains, L, L // 2 // wm, wm


__all__ = [
    "ALWAYS",
    "checkerboard_sweeps",
    "flip_probability_table",
    "multispin_layout",
    "multispin_sweeps",
    "pack_multispin",
    "thresholds_from_probabilities",
    "unpack_multispin",
]
