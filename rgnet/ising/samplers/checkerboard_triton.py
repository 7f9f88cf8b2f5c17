"""Checkerboard single-spin-flip kernel on the GPU: the fused Triton kernel of
rgnet.ising.samplers.triton_kernels (imported only when this backend is used), Philox random numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rgnet.ising.samplers.kernel import SweepKernel
from rgnet.ising.samplers.tables import thresholds_from_probabilities


class TritonCheckerboardKernel(SweepKernel):
    """Checkerboard sweeps of CUDA spins (chains, L, L), in place (CPU spins under TRITON_INTERPRET=1).

    flip_probability: float64 (2, 5) flip table (rgnet.ising.samplers.tables); :meth:`prepare` draws the
    Philox key from ``generator``; the counter (colour updates done with that key) advances by 2 per sweep.
    """

    backend = "triton"

    def __init__(self, L: int, flip_probability: np.ndarray, generator: torch.Generator) -> None:
        self.generator = generator
        self.thresholds = thresholds_from_probabilities(flip_probability, generator.device)
        self.philox_seed = 0
        self.philox_counter = 0

    @classmethod
    def unavailable_reason(cls, device: torch.device) -> str | None:
        try:
            import triton  # noqa: F401
        except ImportError:
            return "needs the triton package (pip install triton)"
        from rgnet.ising.samplers import triton_kernels

        if device.type != "cuda" and not triton_kernels._INTERPRETED:
            return (
                f"runs on CUDA devices only (or on the CPU with TRITON_INTERPRET=1 set before "
                f"{triton_kernels.__name__} is imported, for tests), got device={str(device)!r}"
            )
        return None

    def prepare(self, chains: int) -> None:
        self.philox_seed = int(
            torch.randint(0, 2**31 - 1, (1,), generator=self.generator, device=self.generator.device)
        )
        self.philox_counter = 0

    def sweep(self, spins: torch.Tensor, n_sweeps: int) -> torch.Tensor:
        from rgnet.ising.samplers import triton_kernels

        spins = spins.contiguous()
        self.philox_counter = triton_kernels.checkerboard_sweeps(
            spins, self.thresholds, self.philox_seed, self.philox_counter, n_sweeps
        )
        return spins

    def state_dict(self) -> dict[str, Any]:
        return {"philox_seed": self.philox_seed, "philox_counter": self.philox_counter}

    def load_state_dict(self, state: dict[str, Any], chains: int) -> None:
        if "philox_seed" not in state or "philox_counter" not in state:
            raise ValueError(
                "state has no Philox seed and counter for the triton kernel (saved with another backend?)"
            )
        self.philox_seed = int(state["philox_seed"])
        self.philox_counter = int(state["philox_counter"])


__all__ = ["TritonCheckerboardKernel"]
