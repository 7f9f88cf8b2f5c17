"""Sampling the 2D q-state Potts model: Swendsen-Wang, Wolff and heat bath on the CPU, chains in parallel.

:class:`PottsSampler` runs ``chains`` independent L x L periodic chains (int8 colours 0..q-1) with the numba
kernels of :mod:`rgnet.potts.kernels_numba`. It is a rgnet.ising.sampling.Chains, so
:func:`generate_potts_2d` chooses burn-in and thinning with the Ising generate_2d's own draw_samples:
windows of doubling length until one is >= 50 tau_int long and its halves agree within 4 sigma; kept
samples 2 tau_int sweeps apart (tau_int of the energy and of the order parameter m, in sweeps). One sweep:
one SW update; ``flips_per_sweep`` Wolff updates (fixed once from a pilot run so that ~N sites are
recoloured per sweep); one heat-bath pass over all sites.

A field h on colour 0 (H = -K sum_<ij> delta(s_i, s_j) - h sum_i delta(s_i, 0), h in units of kT, default 0)
is exact in every method: the heat bath draws from the conditional law with the field, Swendsen-Wang colours
each FK cluster from its conditional law given the bonds (heat bath of the cluster colour: colour 0 with
probability e^(h m) / (e^(h m) + q - 1) for m sites), Wolff accepts a cluster recolouring with the Metropolis
probability of its field energy change (min(1, exp(h m (delta(b, 0) - delta(a, 0))))).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rgnet._checks import check_choice, check_device, check_int, check_real, make_generator
from rgnet.ising.samplers._rng import weyl_streams, widest_stream_length
from rgnet.ising.samplers.base import MeasuredChains
from rgnet.ising.sampling import SampleSet, check_schedule, draw_samples
from rgnet.potts.kernels_numba import (
    bond_threshold,
    bonds_and_largest_colour,
    field_thresholds,
    heatbath_potts,
    heatbath_table,
    swendsen_wang_potts,
    wolff_potts,
)

#: Update rules of :class:`PottsSampler`.
POTTS_METHODS = ("swendsen_wang", "wolff", "heatbath")


def _check_q(q: object) -> int:
    return check_int(q, "q", minimum=2, maximum=127)


class PottsSampler(MeasuredChains):
    """``chains`` independent q-state Potts chains on the L x L torus, advanced in place (CPU, numba).

    Args:
        L: side (>= 2); K: coupling J/kT (>= 0, finite); q: colours (2..127); method: one of POTTS_METHODS;
        chains: independent chains (>= 1); seed: seed of all random numbers (None: drawn, kept in ``seed``);
        flips_per_sweep: Wolff updates per sweep (None: from a pilot run, see the module docstring);
        h: field on colour 0 in units of kT (finite, either sign; see the module docstring).
    ``spins`` is int8 (chains, L, L). Chains start from independent uniformly random colourings.
    """

    def __init__(
        self,
        L: int,
        K: float,
        q: int = 3,
        *,
        method: str = "swendsen_wang",
        chains: int = 1,
        seed: int | None = 0,
        flips_per_sweep: int | None = None,
        h: float = 0.0,
    ) -> None:
        self.L = check_int(L, "L", minimum=2, maximum=1 << 15)
        self.K = check_real(K, "K", minimum=0.0)
        self.h = check_real(h, "h")
        self.q = _check_q(q)
        self.method = check_choice(method, "method", POTTS_METHODS)
        self.chains = check_int(chains, "chains", minimum=1)
        if flips_per_sweep is not None:
            flips_per_sweep = check_int(flips_per_sweep, "flips_per_sweep", minimum=1)
        self.flips_per_sweep = flips_per_sweep
        self.generator, self.seed = make_generator(seed, torch.device("cpu"))
        shape = (self.chains, self.L, self.L)
        self.spins = torch.randint(0, self.q, shape, generator=self.generator, dtype=torch.int8)
        self.streams = weyl_streams(self.chains, self.generator, widest_stream_length(self.chains))
        self.threshold = bond_threshold(self.K)
        self.heatbath = heatbath_table(self.K, self.q, self.h)
        self.zero_thresholds, self.accept_thresholds = field_thresholds(self.h, self.q, self.n_sites)
        self.sweeps_done = 0

    @property
    def n_sites(self) -> int:
        return self.L * self.L

    def _flat(self) -> np.ndarray:
        return self.spins.numpy().reshape(self.chains, -1)

    def _wolff(self, n_flips: int) -> int:
        grown = np.zeros(self.chains, dtype=np.int64)
        field_sign = int(np.sign(self.h))
        wolff_potts(
            self._flat(),
            self.L,
            self.q,
            self.streams,
            n_flips,
            *self.threshold,
            grown,
            field_sign,
            self.accept_thresholds,
        )
        return int(grown.sum())

    def _grow(self, sites_per_chain: int) -> tuple[int, int]:
        """Rounds of one flip per chain until all chains grew >= sites_per_chain * chains sites together."""
        rounds, grown = 0, 0
        while grown < sites_per_chain * self.chains:
            grown += self._wolff(1)
            rounds += 1
        return rounds, grown

    def _pilot(self) -> int:
        """Wolff flips per sweep, max(1, round(N / <|C|>)), set once before the first sweep.

        <|C|> (grown sites per flip, chains pooled) is measured twice: after 20 N grown sites, and again after
        20 more sweeps at that first estimate, since clusters from the random start are still small at first
        (a low <|C|> only costs work per sweep, never a bias; the count is fixed from then on).
        """
        self._grow(20 * self.n_sites)
        for _ in range(2):
            rounds, grown = self._grow(2 * self.n_sites)
            flips = max(1, round(self.n_sites * rounds * self.chains / grown))
            self._wolff(20 * flips)
        return flips

    def step(self, n_sweeps: int = 1) -> None:
        """Advance every chain by ``n_sweeps`` sweeps (>= 0)."""
        n_sweeps = check_int(n_sweeps, "n_sweeps", minimum=0)
        if n_sweeps == 0:
            return
        if self.method == "swendsen_wang":
            swendsen_wang_potts(
                self._flat(), self.L, self.q, self.streams, n_sweeps, *self.threshold, self.zero_thresholds
            )
        elif self.method == "wolff":
            if self.flips_per_sweep is None:
                self.flips_per_sweep = self._pilot()
            self._wolff(n_sweeps * self.flips_per_sweep)
        else:
            heatbath_potts(self._flat(), self.L, self.q, self.streams, n_sweeps, *self.heatbath.args())
        self.sweeps_done += n_sweeps

    def energy_and_magnetization(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy per site e = -sum delta / N and order parameter m; float64 (chains,) each."""
        bonds, largest = bonds_and_largest_colour(self.spins.numpy(), self.q)
        energy = -torch.from_numpy(bonds).double() / self.n_sites
        m = (self.q * torch.from_numpy(largest).double() / self.n_sites - 1.0) / (self.q - 1)
        return energy, m


@dataclass(frozen=True)
class PottsSampleSet(SampleSet):
    """:class:`rgnet.ising.sampling.SampleSet` of Potts samples: ``spins`` int8 (n, L, L) colours 0..q-1;
    ``abs_magnetization`` is the order parameter m of rgnet.potts.observables.potts_magnetization."""

    q: int = 3


def generate_potts_2d(
    L: int,
    K: float,
    n: int,
    q: int = 3,
    *,
    method: str = "swendsen_wang",
    seed: int | None = 0,
    chains: int | None = None,
    burn_in: int | None = None,
    thinning: int | None = None,
    h: float = 0.0,
    device: str | torch.device = "cpu",
    max_sweeps: int = 2_000_000,
    progress: bool = False,
    flips_per_sweep: int | None = None,
) -> PottsSampleSet:
    """``n`` equilibrated configurations of the L x L periodic q-state Potts model, with their provenance.

    Args:
        L: side (>= 2); K: coupling J/kT (>= 0; K_c = ln(1 + sqrt q)); n: configurations (>= 1);
        q: number of colours (2..127); method: "swendsen_wang", "wolff" or "heatbath";
        seed: seed of all random numbers (None draws one); chains: parallel chains (default min(n, 64));
        burn_in, thinning: sweeps (default: automatic from tau_int, see the module docstring);
        h: field on colour 0 in units of kT (finite; H gets - h sum_i delta(s_i, 0)); device: "cpu" only;
        max_sweeps: bound on the automatic equilibration; progress: show a progress bar while collecting;
        flips_per_sweep: Wolff updates per sweep (default: from a pilot run).

    Returns:
        A :class:`PottsSampleSet` whose ``spins`` is int8 (n, L, L) of colours 0..q-1 on the CPU.
    """
    h = check_real(h, "h")
    if check_device(device).type != "cpu":
        raise ValueError(
            f"device={device!r}: the Potts samplers run on the CPU only (numba); use device='cpu'"
        )
    check_choice(method, "method", POTTS_METHODS)
    n, chains, burn_in, thinning, max_sweeps = check_schedule(n, chains, burn_in, thinning, max_sweeps)
    chains = min(n, 64) if chains is None else chains
    sampler = PottsSampler(
        L, K, q, method=method, chains=chains, seed=seed, flips_per_sweep=flips_per_sweep, h=h
    )
    drawn = draw_samples(
        sampler, n, burn_in=burn_in, thinning=thinning, max_sweeps=max_sweeps, progress=progress
    )
    return PottsSampleSet(
        L=sampler.L,
        K=sampler.K,
        h=sampler.h,
        method=method,
        seed=sampler.seed,
        device="cpu",
        q=sampler.q,
        **drawn,
    )


def sample_potts_2d(
    L: int,
    K: float,
    n: int,
    q: int = 3,
    *,
    method: str = "swendsen_wang",
    seed: int | None = 0,
    **opts: Any,
) -> torch.Tensor:
    """``n`` equilibrated, decorrelated L x L Potts configurations, int8 (n, L, L) of colours 0..q-1 (CPU).

    Same arguments as :func:`generate_potts_2d`, which also returns the provenance (burn-in, thinning,
    tau_int).
    """
    return generate_potts_2d(L, K, n, q, method=method, seed=seed, **opts).spins


__all__ = ["POTTS_METHODS", "PottsSampleSet", "PottsSampler", "generate_potts_2d", "sample_potts_2d"]
