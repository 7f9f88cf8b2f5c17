"""Checkerboard single-spin-flip samplers: Metropolis and heat-bath, vectorized over chains.

The lattice is coloured like a checkerboard; all sites of one colour are updated at once (their neighbours
all have the other colour), so one sweep = colour 0 then colour 1, i.e. one attempted update per site.
Both rules flip spin s with a probability that depends only on s and its neighbour sum nb in {-4,..,4}:

- Metropolis: p_flip = min(1, exp(-2 s (K nb + h)))
- heat-bath:  p_flip = 1 / (1 + exp(2 s (K nb + h)))   (the new spin is drawn from its conditional law)

so every backend takes the same (2, 5) table, indexed by ((s + 1) / 2, (nb + 4) / 2).

Backends: ``"numba"`` (compiled CPU loops, one splitmix64 stream per lattice row), ``"torch"`` (vectorized
tensor ops on any device) and ``"triton"`` (fused GPU kernel, rgnet.ising.samplers.triton_kernels).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numba
import numpy as np
import torch

from rgnet._checks import check_choice, check_real
from rgnet.ising.lattice import checkerboard_mask, neighbour_sum
from rgnet.ising.samplers._rng import SPLITMIX_GAMMA, probability_to_threshold, splitmix64, weyl_streams
from rgnet.ising.samplers.base import Sampler

RULES = ("metropolis", "heatbath")
BACKENDS = ("auto", "numba", "torch", "triton")


def flip_probability_table(K: float, h: float, rule: str) -> np.ndarray:
    """Flip probabilities, float64 of shape (2, 5): entry [(s+1)/2, (nb+4)/2] for spin s and neighbour sum nb."""
    K = check_real(K, "K")
    h = check_real(h, "h")
    check_choice(rule, "rule", RULES)
    s = np.array([-1.0, 1.0])[:, None]
    nb = np.arange(-4.0, 5.0, 2.0)[None, :]
    delta = 2.0 * s * (K * nb + h)  # beta * energy change of the flip
    if rule == "metropolis":
        return np.exp(-np.maximum(delta, 0.0))
    return 0.5 * (1.0 - np.tanh(0.5 * delta))  # = 1 / (1 + exp(delta)), without overflow


@numba.njit(cache=True, boundscheck=False, error_model="numpy")
def _numba_row_update(
    flat: np.ndarray,
    L: int,
    row_id: int,
    colour: int,
    thresholds: np.ndarray,
    streams: np.ndarray,
    index: np.ndarray,
) -> None:
    """Update the sites of one colour in lattice row ``row_id`` of int8 spins ``flat`` (chains * L * L,), L even.

    thresholds: uint64 (19,), entry 2 nb + s + 9 for spin s and neighbour sum nb (see :func:`_numba_thresholds`);
    streams: uint64 (chains * L,), one splitmix64 counter per row, advanced in place; index: uint8 (L,) scratch.
    Pass 1 computes the table index of every site of the row (a contiguous loop the compiler vectorizes); pass 2
    flips the sites of the colour, two per splitmix64 output (low then high 32 bits u), branch-free:
    s -> s ^ -2 when u < threshold. In a row-parallel half-sweep, pass 1 also reads neighbours of the other
    colour's sites that other threads are updating; those entries are never used.
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
def _numba_sweeps(
    spins: np.ndarray, thresholds: np.ndarray, streams: np.ndarray, n_sweeps: int, n_blocks: int
) -> None:
    """In-place sweeps of C-contiguous int8 spins (chains, L, L), L even (arguments as :func:`_numba_row_update`).

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
                        _numba_row_update(flat, L, row_id, colour, thresholds, streams, index)
        return
    for _ in range(n_sweeps):
        for colour in range(2):
            for block in numba.prange(n_blocks):
                index = np.empty(L, dtype=np.uint8)
                for row_id in range(block * rows // n_blocks, (block + 1) * rows // n_blocks):
                    _numba_row_update(flat, L, row_id, colour, thresholds, streams, index)


def _numba_thresholds(flip_probability: np.ndarray) -> np.ndarray:
    """The (2, 5) flip table as the numba kernel's (19,) uint64 thresholds, entry 2 nb + s + 9 (odd entries unused)."""
    s = np.array([-1, 1])[:, None]
    nb = np.arange(-4, 5, 2)[None, :]
    table = np.zeros(19, dtype=np.uint64)
    table[(2 * nb + s + 9).ravel()] = probability_to_threshold(flip_probability).ravel()
    return table


class CheckerboardSampler(Sampler):
    """Checkerboard Metropolis or heat-bath chains; one sweep = one attempted update of every site.

    Extra options: ``backend`` in ("auto", "numba", "torch", "triton"); "auto" picks numba on the CPU and
    the fused Triton kernel on CUDA when Triton is installed (torch otherwise).
    """

    requires_even_L: ClassVar[bool] = True
    rule: ClassVar[str]

    def __init__(self, L: int, K: float, *, backend: str = "auto", **kwargs: Any) -> None:
        check_choice(backend, "backend", BACKENDS)
        super().__init__(L, K, **kwargs)
        self.backend = self._resolve_backend(backend)
        self.flip_probability = flip_probability_table(self.K, self.h, self.rule)
        thresholds = probability_to_threshold(self.flip_probability)
        if self.backend == "numba":
            self._thresholds = _numba_thresholds(self.flip_probability)
            self._streams = weyl_streams(self.chains * self.L, self.generator)
        elif self.backend == "triton":
            self._thresholds = torch.as_tensor(thresholds.astype(np.int64), device=self.device)
            self._philox_seed = int(
                torch.randint(0, 2**31 - 1, (1,), generator=self.generator, device=self.device)
            )
            self._philox_counter = 0
        else:
            self._thresholds = torch.as_tensor(thresholds.astype(np.int64), device=self.device).flatten()
            self._masks = [checkerboard_mask(self.L, parity, self.device) for parity in (0, 1)]

    def _resolve_backend(self, backend: str) -> str:
        on_cpu = self.device.type == "cpu"
        if backend == "auto":
            if on_cpu:
                return "numba"
            return "triton" if _triton_available() else "torch"
        if backend == "numba" and not on_cpu:
            raise ValueError(f"backend='numba' runs on the CPU only, but device={str(self.device)!r}")
        if backend == "triton" and not _triton_available():
            raise ValueError("backend='triton' needs the triton package (pip install triton)")
        return backend

    def _advance(self, n_sweeps: int) -> None:
        if self.backend == "numba":
            self.spins = self.spins.contiguous()
            threads = numba.get_num_threads()
            # whole chains per task when they balance over the threads, else rows of each half-sweep
            n_blocks = 0 if self.chains % threads == 0 or self.chains >= 4 * threads else 8 * threads
            _numba_sweeps(self.spins.numpy(), self._thresholds, self._streams, n_sweeps, n_blocks)
        elif self.backend == "triton":
            from rgnet.ising.samplers import triton_kernels

            self._philox_counter = triton_kernels.checkerboard_sweeps(
                self.spins, self._thresholds, self._philox_seed, self._philox_counter, n_sweeps
            )
        else:
            for _ in range(n_sweeps):
                for mask in self._masks:
                    self._torch_half_sweep(mask)

    def _torch_half_sweep(self, mask: torch.Tensor) -> None:
        spins = self.spins
        index = (spins.to(torch.int64) + 1) // 2 * 5 + (neighbour_sum(spins).to(torch.int64) + 4) // 2
        u32 = torch.randint(
            0, 2**32, spins.shape, generator=self.generator, device=self.device, dtype=torch.int64
        )
        flip = (u32 < self._thresholds[index]) & mask
        self.spins = torch.where(flip, -spins, spins)

    def _extra_state(self) -> dict[str, Any]:
        if self.backend == "numba":
            return {"streams": torch.from_numpy(self._streams.view(np.int64).copy())}
        if self.backend == "triton":
            return {"philox_seed": self._philox_seed, "philox_counter": self._philox_counter}
        return {}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        if self.backend == "numba":
            streams = extra.get("streams")
            if (
                not isinstance(streams, torch.Tensor)
                or streams.dtype != torch.int64
                or tuple(streams.shape) != (self.chains * self.L,)
            ):
                raise ValueError(
                    "state has no numba random streams matching this sampler (saved with another backend?)"
                )
            self._streams = streams.cpu().numpy().view(np.uint64).copy()
        elif self.backend == "triton":
            self._philox_seed = int(extra["philox_seed"])
            self._philox_counter = int(extra["philox_counter"])


class MetropolisCheckerboard(CheckerboardSampler):
    """Checkerboard Metropolis: flip with probability min(1, exp(-beta dE))."""

    method = "checkerboard"
    rule = "metropolis"


class HeatBathCheckerboard(CheckerboardSampler):
    """Checkerboard heat-bath (Glauber): draw each spin from its conditional distribution."""

    method = "heatbath"
    rule = "heatbath"


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


__all__ = ["CheckerboardSampler", "HeatBathCheckerboard", "MetropolisCheckerboard", "flip_probability_table"]
