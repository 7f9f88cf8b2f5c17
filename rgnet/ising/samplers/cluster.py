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

Two backends (kernels), same physics:

* ``"numba"`` (CPU; :mod:`~rgnet.ising.samplers.cluster_numba`): compiled kernels parallel over chains, one
  splitmix64 stream per chain (a bond is active when 32 random bits fall below ``round(p 2^32)``, decided
  exactly from 16 bits except on a tie); the streams are saved in :meth:`state_dict`.
* ``"torch"`` (any device, vectorized over chains; :mod:`~rgnet.ising.samplers.cluster_torch`): clusters
  labelled on the device; random numbers from the sampler's ``torch.Generator``.

Results are reproducible from the seed on the same device and backend.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from rgnet._checks import check_int, check_real
from rgnet.ising.samplers.base import Sampler
from rgnet.ising.samplers.cluster_numba import NumbaSwendsenWangKernel, NumbaWolffKernel
from rgnet.ising.samplers.cluster_torch import TorchSwendsenWangKernel, TorchWolffKernel
from rgnet.ising.samplers.kernel import ClusterFlipKernel, Kernel, SweepKernel

#: backend name -> kernel class, per algorithm
SWENDSEN_WANG_KERNELS: dict[str, type[SweepKernel]] = {
    cls.backend: cls for cls in (NumbaSwendsenWangKernel, TorchSwendsenWangKernel)
}
WOLFF_KERNELS: dict[str, type[ClusterFlipKernel]] = {
    cls.backend: cls for cls in (NumbaWolffKernel, TorchWolffKernel)
}
BACKENDS = ("auto", "numba", "torch")


class _ClusterSampler(Sampler):
    """Shared set-up of the FK cluster samplers: the K >= 0 check and the bond probability."""

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
        super().__init__(L, K, h=h, chains=chains, seed=seed, device=device, start=start, backend=backend)

    @property
    def bond_probability(self) -> float:
        """FK bond probability p = 1 - exp(-2K)."""
        return -math.expm1(-2.0 * self.K)

    def _build_kernel(self, kernel_class: type[Kernel]) -> Kernel:
        return kernel_class(self.bond_probability, self.h, self.generator)


class SwendsenWangSampler(_ClusterSampler):
    """Swendsen-Wang: one sweep relabels every FK cluster of every chain (see the module docstring).

    Args: those of :class:`~rgnet.ising.samplers.base.Sampler` (with ``K >= 0``), plus
        backend: ``"numba"`` (CPU only), ``"torch"`` (any device) or ``"auto"`` (numba on CPU, else torch).
    """

    method = "swendsen_wang"
    kernels: ClassVar[dict[str, type[SweepKernel]]] = SWENDSEN_WANG_KERNELS
    kernel: SweepKernel

    def _advance(self, n_sweeps: int) -> None:
        self.spins = self.kernel.sweep(self.spins, n_sweeps)


class WolffSampler(_ClusterSampler):
    """Wolff single-cluster updates; one sweep = ``flips_per_sweep`` cluster flips per chain (see the module).

    Args: those of :class:`~rgnet.ising.samplers.base.Sampler` (with ``K >= 0``), plus
        backend: ``"numba"`` (CPU only), ``"torch"`` (any device) or ``"auto"`` (numba on CPU, else torch).
        flips_per_sweep: cluster flips per chain per sweep (>= 1), or None: set at the first step to
            ``max(1, round(N / <|C|>))`` from a pilot estimate of the mean grown cluster size ``<|C|>`` and
            fixed from then on (available as ``self.flips_per_sweep`` and saved in :meth:`state_dict`).
    """

    method = "wolff"
    kernels: ClassVar[dict[str, type[ClusterFlipKernel]]] = WOLFF_KERNELS
    kernel: ClusterFlipKernel

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
        self.spins, grown = self.kernel.flip(self.spins, n_flips)
        return grown

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
        return {"flips_per_sweep": self.flips_per_sweep}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        saved = extra["flips_per_sweep"]
        if self._fixed_by_user and saved != self.flips_per_sweep:
            raise ValueError(
                f"state was saved with flips_per_sweep={saved!r}, this sampler has {self.flips_per_sweep!r}"
            )
        self.flips_per_sweep = saved
