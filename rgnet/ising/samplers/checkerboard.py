"""Checkerboard single-spin-flip samplers: Metropolis and heat-bath, vectorized over chains.

The lattice is coloured like a checkerboard; all sites of one colour are updated at once (their neighbours
all have the other colour), so one sweep = colour 0 then colour 1, i.e. one attempted update per site.
Both rules flip spin s with a probability that depends only on s and its neighbour sum, one (2, 5) table
(:func:`rgnet.ising.samplers.tables.flip_probability_table`) that every backend takes.

Backends (kernels, one module each): ``"numba"`` (compiled CPU loops, one splitmix64 stream per lattice row;
:mod:`~rgnet.ising.samplers.checkerboard_numba`), ``"torch"`` (vectorized tensor ops on any device;
:mod:`~rgnet.ising.samplers.checkerboard_torch`) and ``"triton"`` (fused GPU kernel;
:mod:`~rgnet.ising.samplers.checkerboard_triton`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from rgnet.ising.samplers.base import Sampler
from rgnet.ising.samplers.checkerboard_numba import NumbaCheckerboardKernel
from rgnet.ising.samplers.checkerboard_torch import TorchCheckerboardKernel
from rgnet.ising.samplers.checkerboard_triton import TritonCheckerboardKernel
from rgnet.ising.samplers.kernel import SweepKernel
from rgnet.ising.samplers.tables import flip_probability_table

#: backend name -> checkerboard kernel class
KERNELS: dict[str, type[SweepKernel]] = {
    cls.backend: cls for cls in (NumbaCheckerboardKernel, TorchCheckerboardKernel, TritonCheckerboardKernel)
}
BACKENDS = ("auto", *KERNELS)


class CheckerboardSampler(Sampler):
    """Checkerboard Metropolis or heat-bath chains; one sweep = one attempted update of every site.

    Extra options: ``backend`` in ("auto", "numba", "torch", "triton"); "auto" picks numba on the CPU and
    the fused Triton kernel on CUDA when Triton is installed (torch otherwise).
    """

    requires_even_L: ClassVar[bool] = True
    kernels: ClassVar[dict[str, type[SweepKernel]]] = KERNELS
    rule: ClassVar[str]
    kernel: SweepKernel

    @property
    def flip_probability(self) -> np.ndarray:
        """Flip probabilities of the rule, float64 (2, 5), entry [(s+1)/2, (nb+4)/2] (see tables)."""
        return flip_probability_table(self.K, self.h, self.rule)

    def _build_kernel(self, kernel_class: type[SweepKernel]) -> SweepKernel:
        return kernel_class(self.L, self.flip_probability, self.generator)

    def _advance(self, n_sweeps: int) -> None:
        self.spins = self.kernel.sweep(self.spins, n_sweeps)


class MetropolisCheckerboard(CheckerboardSampler):
    """Checkerboard Metropolis: flip with probability min(1, exp(-beta dE))."""

    method = "checkerboard"
    rule = "metropolis"


class HeatBathCheckerboard(CheckerboardSampler):
    """Checkerboard heat-bath (Glauber): draw each spin from its conditional distribution."""

    method = "heatbath"
    rule = "heatbath"


__all__ = [
    "BACKENDS",
    "KERNELS",
    "CheckerboardSampler",
    "HeatBathCheckerboard",
    "MetropolisCheckerboard",
    "flip_probability_table",
]
