"""Fortuin-Kasteleyn cluster kernels in plain torch (any device): Swendsen-Wang and Wolff, batched chains.

Clusters are labelled on the device by min-label hooking plus pointer jumping (:func:`_cluster_labels`);
Swendsen-Wang labels all bonds, Wolff the bonds among sites of the seed's sign and flips the seed's component
(all chains' clusters together). Random numbers come from the sampler's torch generator.
"""

from __future__ import annotations

import numpy as np
import torch

from rgnet.ising.samplers.kernel import ClusterFlipKernel, Kernel, SweepKernel


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


class _TorchClusterKernel(Kernel):
    """What both torch cluster kernels share: FK bond probability p = 1 - exp(-2K), field h/kT and the
    sampler's generator (its device is where the spins live)."""

    backend = "torch"

    def __init__(self, bond_probability: float, h: float, generator: torch.Generator) -> None:
        self.bond_probability = bond_probability
        self.h = h
        self.generator = generator


class TorchSwendsenWangKernel(_TorchClusterKernel, SweepKernel):
    """Swendsen-Wang sweeps of spins (chains, L, L) on the generator's device."""

    def sweep(self, spins: torch.Tensor, n_sweeps: int) -> torch.Tensor:
        for _ in range(n_sweeps):
            spins = self._sweep_once(spins)
        return spins

    def _sweep_once(self, spins: torch.Tensor) -> torch.Tensor:
        chains, L, _ = spins.shape
        n = L * L
        right, down = _active_bonds(spins, self.bond_probability, self.generator)
        labels = _cluster_labels(right, down)
        u = torch.rand((chains, n), generator=self.generator, device=spins.device, dtype=torch.float64)
        if self.h == 0.0:
            p_up: torch.Tensor | float = 0.5
        else:
            size = torch.zeros((chains, n), dtype=torch.float64, device=spins.device)
            size.scatter_add_(1, labels, torch.ones_like(size))
            p_up = torch.sigmoid(2.0 * self.h * size)
        root_sign = torch.where(u < p_up, 1, -1).to(torch.int8)
        return root_sign.gather(1, labels).view(chains, L, L)


class TorchWolffKernel(_TorchClusterKernel, ClusterFlipKernel):
    """Wolff cluster updates of spins (chains, L, L) on the generator's device, all chains at once."""

    def flip(self, spins: torch.Tensor, n_flips: int) -> tuple[torch.Tensor, np.ndarray]:
        total = torch.zeros(spins.shape[0], dtype=torch.int64, device=spins.device)
        for _ in range(n_flips):
            spins, size = self._flip_once(spins)
            total += size
        return spins, total.cpu().numpy()

    def _flip_once(self, spins: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One Wolff update of every chain; returns the new spins and |C|, int64 (chains,).

        Every bond between two sites of the seed's sign is drawn once (Bernoulli(p)), up front; the seed's
        cluster is its connected component, found with :func:`_cluster_labels`. Drawing each bond once and
        independently is the same law as testing it when the growing cluster first reaches it (bonds the
        growth never reaches do not matter). Labelling converges in a few hooking/pointer-jumping passes,
        whereas breadth-first growth needs one pass per layer (the cluster's chemical diameter, ~L near K_c):
        on an H100 it was 15-25x slower for 64 chains at K_c, L = 64 and 256.
        """
        chains, L, _ = spins.shape
        n = L * L
        seed = torch.randint(0, n, (chains, 1), generator=self.generator, device=spins.device)
        s0 = spins.view(chains, n).gather(1, seed).view(chains, 1, 1)
        right, down = _active_bonds(spins, self.bond_probability, self.generator)
        same = spins == s0
        labels = _cluster_labels(right & same, down & same)
        cluster = (labels == labels.gather(1, seed)).view(chains, L, L)
        size = cluster.sum(dim=(1, 2))
        if self.h != 0.0:
            log_accept = -2.0 * self.h * s0.view(chains).to(torch.float64) * size.to(torch.float64)
            u = torch.rand(chains, generator=self.generator, device=spins.device, dtype=torch.float64)
            cluster &= (u < torch.exp(log_accept)).view(chains, 1, 1)
        return torch.where(cluster, -spins, spins), size


__all__ = ["TorchSwendsenWangKernel", "TorchWolffKernel"]
