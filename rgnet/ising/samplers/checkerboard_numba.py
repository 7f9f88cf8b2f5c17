"""Checkerboard single-spin-flip kernel on the CPU (numba): compiled loops, one random stream per lattice row.

Each lattice row (of every chain) has its own splitmix64 stream (rgnet.ising.samplers._rng), so the result
does not depend on how rows or chains are spread over threads: the chain-parallel and the row-parallel
schedules of :func:`_sweeps` give identical chains.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import torch

from rgnet.ising.samplers._rng import SPLITMIX_GAMMA, splitmix64, weyl_streams
from rgnet.ising.samplers.kernel import SweepKernel
from rgnet.ising.samplers.tables import probability_to_threshold


@numba.njit(cache=True, boundscheck=False, error_model="numpy")
def _row_update(
    flat: np.ndarray,
    L: int,
    row_id: int,
    colour: int,
    thresholds: np.ndarray,
    streams: np.ndarray,
    index: np.ndarray,
) -> None:
    """Update the sites of one colour in lattice row ``row_id`` of int8 spins ``flat`` (chains * L * L,).

    L even; thresholds: uint64 (19,), entry 2 nb + s + 9 for spin s and neighbour sum nb (see
    :func:`_site_code_thresholds`); streams: uint64 (chains * L,), one splitmix64 counter per row, advanced in
    place; index: uint8 (L,) scratch. Pass 1 computes the table index of every site of the row (a contiguous
    loop the compiler vectorizes); pass 2 flips the sites of the colour, two per splitmix64 output (low then
    high 32 bits u), branch-free: s -> s ^ -2 when u < threshold. In a row-parallel half-sweep, pass 1 also
    reads neighbours of the other colour's sites that other threads are updating; those entries go unused.
    """
    i = row_id % L
    base = row_id * L
    up = base - L if i > 0 else base + (L - 1) * L
    down = base + L if i < L - 1 else base - (L - 1) * L
    # unsigned indices: no negative-index wraparound code
    index[0] = (
        2
        * (
            flat[np.uint64(up)]
            + flat[np.uint64(down)]
            + flat[np.uint64(base + L - 1)]
            + flat[np.uint64(base + 1)]
        )
        + flat[np.uint64(base)]
        + 9
    )
    for j in range(1, L - 1):
        index[j] = (
            2
            * (
                flat[np.uint64(up + j)]
                + flat[np.uint64(down + j)]
                + flat[np.uint64(base + j - 1)]
                + flat[np.uint64(base + j + 1)]
            )
            + flat[np.uint64(base + j)]
            + 9
        )
    index[L - 1] = (
        2
        * (
            flat[np.uint64(up + L - 1)]
            + flat[np.uint64(down + L - 1)]
            + flat[np.uint64(base + L - 2)]
            + flat[np.uint64(base)]
        )
        + flat[np.uint64(base + L - 1)]
        + 9
    )
    half = L >> 1
    pairs = half >> 1
    low = np.uint64(0xFFFFFFFF)
    top = np.uint64(63)
    j0 = (i + colour) & 1
    x = streams[row_id]
    for p in range(pairs + (half & 1)):
        x += np.uint64(SPLITMIX_GAMMA)
        z = splitmix64(x)
        j = j0 + 4 * p
        s = np.int64(flat[np.uint64(base + j)])
        flip = np.int64(((z & low) - thresholds[index[j]]) >> top)  # 1 iff u < threshold
        flat[np.uint64(base + j)] = s ^ (-flip & -2)
        if p < pairs:
            s = np.int64(flat[np.uint64(base + j + 2)])
            flip = np.int64(((z >> np.uint64(32)) - thresholds[index[j + 2]]) >> top)
            flat[np.uint64(base + j + 2)] = s ^ (-flip & -2)
    streams[row_id] = x


@numba.njit(parallel=True, cache=True, boundscheck=False, error_model="numpy")
def _sweeps(
    spins: np.ndarray, thresholds: np.ndarray, streams: np.ndarray, n_sweeps: int, n_blocks: int
) -> None:
    """In-place sweeps of C-contiguous int8 spins (chains, L, L), L even (arguments as :func:`_row_update`).

    n_blocks = 0: chains in parallel, each running all its sweeps (no synchronization between half-sweeps);
    n_blocks > 0: every half-sweep updates the rows in n_blocks parallel tasks. Both give the same result.
    """
    chains, L, _ = spins.shape
    rows = chains * L
    flat = spins.reshape(rows * L)
    if n_blocks == 0:
        for c in numba.prange(chains):
            index = np.empty(L, dtype=np.uint8)
            for _ in range(n_sweeps):
                for colour in range(2):
                    for row_id in range(c * L, (c + 1) * L):
                        _row_update(flat, L, row_id, colour, thresholds, streams, index)
        return
    for _ in range(n_sweeps):
        for colour in range(2):
            for block in numba.prange(n_blocks):
                index = np.empty(L, dtype=np.uint8)
                for row_id in range(block * rows // n_blocks, (block + 1) * rows // n_blocks):
                    _row_update(flat, L, row_id, colour, thresholds, streams, index)


def _site_code_thresholds(flip_probability: np.ndarray) -> np.ndarray:
    """The (2, 5) flip table as the kernel's (19,) uint64 thresholds, entry 2 nb + s + 9 (odd ones unused)."""
    s = np.array([-1, 1])[:, None]
    nb = np.arange(-4, 5, 2)[None, :]
    table = np.zeros(19, dtype=np.uint64)
    table[(2 * nb + s + 9).ravel()] = probability_to_threshold(flip_probability).ravel()
    return table


class NumbaCheckerboardKernel(SweepKernel):
    """Checkerboard sweeps of CPU spins (chains, L, L), in place.

    flip_probability: float64 (2, 5) flip table (rgnet.ising.samplers.tables); generator: the sampler's CPU
    generator, from which :meth:`prepare` draws one splitmix64 stream per lattice row (chains * L streams).
    """

    backend = "numba"

    def __init__(self, L: int, flip_probability: np.ndarray, generator: torch.Generator) -> None:
        self.L = L
        self.generator = generator
        self.thresholds = _site_code_thresholds(flip_probability)
        self.streams = np.zeros(0, dtype=np.uint64)

    @classmethod
    def unavailable_reason(cls, device: torch.device) -> str | None:
        return None if device.type == "cpu" else f"runs on the CPU only, got device={str(device)!r}"

    def prepare(self, chains: int) -> None:
        self.streams = weyl_streams(chains * self.L, self.generator)

    def sweep(self, spins: torch.Tensor, n_sweeps: int) -> torch.Tensor:
        spins = spins.contiguous()
        chains, threads = spins.shape[0], numba.get_num_threads()
        # whole chains per task when they balance over the threads, else rows of each half-sweep
        n_blocks = 0 if chains % threads == 0 or chains >= 4 * threads else 8 * threads
        _sweeps(spins.numpy(), self.thresholds, self.streams, n_sweeps, n_blocks)
        return spins

    def state_dict(self) -> dict[str, Any]:
        return {"streams": torch.from_numpy(self.streams.view(np.int64).copy())}

    def load_state_dict(self, state: dict[str, Any], chains: int) -> None:
        streams = state.get("streams")
        if (
            not isinstance(streams, torch.Tensor)
            or streams.dtype != torch.int64
            or tuple(streams.shape) != (chains * self.L,)
        ):
            raise ValueError(
                "state has no numba random streams matching this sampler (saved with another backend?)"
            )
        self.streams = streams.cpu().numpy().view(np.uint64).copy()


__all__ = ["NumbaCheckerboardKernel"]
