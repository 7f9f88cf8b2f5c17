"""Checkerboard single-spin-flip kernel in plain torch: vectorized tensor ops on any device."""

from __future__ import annotations

import numpy as np
import torch

from rgnet.ising.lattice import checkerboard_mask, neighbour_sum
from rgnet.ising.samplers.kernel import SweepKernel
from rgnet.ising.samplers.tables import thresholds_from_probabilities


class TorchCheckerboardKernel(SweepKernel):
    """Checkerboard sweeps of spins (chains, L, L) on the generator's device, one masked update per colour.

    flip_probability: float64 (2, 5) flip table (rgnet.ising.samplers.tables); every half-sweep draws one
    32-bit uniform per site (chains, L, L) from ``generator``, the sampler's own.
    """

    backend = "torch"

    def __init__(self, L: int, flip_probability: np.ndarray, generator: torch.Generator) -> None:
        self.generator = generator
        self.thresholds = thresholds_from_probabilities(flip_probability, generator.device).flatten()
        self.masks = [checkerboard_mask(L, parity, generator.device) for parity in (0, 1)]

    def sweep(self, spins: torch.Tensor, n_sweeps: int) -> torch.Tensor:
        for _ in range(n_sweeps):
            for mask in self.masks:
                spins = self._half_sweep(spins, mask)
        return spins

    def _half_sweep(self, spins: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Update the sites where ``mask`` (bool (L, L)) is True; returns the new spins."""
        index = (spins.to(torch.int64) + 1) // 2 * 5 + (neighbour_sum(spins).to(torch.int64) + 4) // 2
        u32 = torch.randint(
            0, 2**32, spins.shape, generator=self.generator, device=spins.device, dtype=torch.int64
        )
        flip = (u32 < self.thresholds[index]) & mask
        return torch.where(flip, -spins, spins)


__all__ = ["TorchCheckerboardKernel"]
