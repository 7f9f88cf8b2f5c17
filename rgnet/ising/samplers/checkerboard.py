"""Checkerboard single-spin-flip samplers: Metropolis and heat-bath, vectorized over chains.

The lattice is coloured like a checkerboard; all sites of one colour are updated at once (their neighbours
all have the other colour), so one sweep = colour 0 then colour 1, i.e. one attempted update per site.
Both rules flip spin s with a probability that depends only on s and its neighbour sum nb in {-4,..,4}:

- Metropolis: p_flip = min(1, exp(-2 s (K nb + h)))
- heat-bath:  p_flip = 1 / (1 + exp(2 s (K nb + h)))   (the new spin is drawn from its conditional law)

so every backend takes the same (2, 5) table, indexed by ((s + 1) / 2, (nb + 4) / 2).

Backends: ``"numba"`` (compiled CPU loops, one random stream per lattice row), ``"torch"`` (vectorized
tensor ops on any device) and ``"triton"`` (fused GPU kernel, rgnet.ising.samplers.triton_kernels).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numba
import numpy as np
import torch

from rgnet._checks import check_choice
from rgnet.ising.lattice import checkerboard_mask, neighbour_sum
from rgnet.ising.samplers._rng import probability_to_threshold, seed_streams
from rgnet.ising.samplers.base import Sampler

RULES = ("metropolis", "heatbath")
BACKENDS = ("auto", "numba", "torch", "triton")


def flip_probability_table(K: float, h: float, rule: str) -> np.ndarray:
    """Flip probabilities, float64 of shape (2, 5): entry [(s+1)/2, (nb+4)/2] for spin s and neighbour sum nb."""
    check_choice(rule, "rule", RULES)
    s = np.array([-1.0, 1.0])[:, None]
    nb = np.arange(-4.0, 5.0, 2.0)[None, :]
    delta = 2.0 * s * (K * nb + h)  # beta * energy change of the flip
    if rule == "metropolis":
        return np.exp(-np.maximum(delta, 0.0))
    return 0.5 * (1.0 - np.tanh(0.5 * delta))  # = 1 / (1 + exp(delta)), without overflow


@numba.njit(parallel=True, cache=True)
def _numba_sweeps(spins: np.ndarray, thresholds: np.ndarray, streams: np.ndarray, n_sweeps: int) -> None:
    """In-place sweeps of int8 spins (chains, L, L).

    thresholds: uint64 (18,), entry 9 * (s + 1) / 2 + nb + 4 (odd nb unused); streams: uint64 (chains * L,),
    one xorshift64* state per row. The update is branch-free: s -> s - 2 s [u32 < threshold].
    """
    chains, L, _ = spins.shape
    for _ in range(n_sweeps):
        for colour in range(2):
            for row_id in numba.prange(chains * L):
                c = row_id // L
                i = row_id % L
                up = i - 1 if i > 0 else L - 1
                down = i + 1 if i < L - 1 else 0
                row = spins[c, i]
                row_up = spins[c, up]
                row_down = spins[c, down]
                x = streams[row_id]
                for j in range((i + colour) & 1, L, 2):
                    left = j - 1 if j > 0 else L - 1
                    right = j + 1 if j < L - 1 else 0
                    s = row[j]
                    k = ((s + 1) >> 1) * 9 + row_up[j] + row_down[j] + row[left] + row[right] + 4
                    x ^= x >> np.uint64(12)
                    x ^= x << np.uint64(25)
                    x ^= x >> np.uint64(27)
                    u32 = (x * np.uint64(0x2545F4914F6CDD1D)) >> np.uint64(32)
                    row[j] = s - 2 * s * np.int8(u32 < thresholds[k])
                streams[row_id] = x


def _numba_thresholds(flip_probability: np.ndarray) -> np.ndarray:
    """The (2, 5) flip table as the numba kernel's flat (18,) uint64 threshold table."""
    table = np.zeros((2, 9), dtype=np.uint64)
    table[:, ::2] = probability_to_threshold(flip_probability)
    return table.ravel()


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
            self._streams = seed_streams(self.chains * self.L, self.generator)
        elif self.backend == "triton":
            self._thresholds = torch.as_tensor(thresholds.astype(np.int64), device=self.device)
            self._philox_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator, device=self.device))
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
            _numba_sweeps(self.spins.numpy(), self._thresholds, self._streams, n_sweeps)
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
        u32 = torch.randint(0, 2**32, spins.shape, generator=self.generator, device=self.device, dtype=torch.int64)
        flip = (u32 < self._thresholds[index]) & mask
        self.spins = torch.where(flip, -spins, spins)

    def _extra_state(self) -> dict[str, Any]:
        if self.backend == "numba":
            return {"streams": self._streams.copy()}
        if self.backend == "triton":
            return {"philox_seed": self._philox_seed, "philox_counter": self._philox_counter}
        return {}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        if self.backend == "numba":
            if "streams" not in extra or extra["streams"].shape != (self.chains * self.L,):
                raise ValueError("state has no numba random streams matching this sampler (saved with another backend?)")
            self._streams = extra["streams"].copy()
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
