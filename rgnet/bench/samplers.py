"""Sampler throughput: attempted spin updates per ns and effectively independent samples per second.

Every figure is also reported as a ratio to a baseline run in the same process (these machines are noisy):
a naive eager-PyTorch masked-update checkerboard Metropolis (float32 spins, four rolls, ``torch.rand`` and
``exp`` over the whole lattice, ``torch.where`` on a colour mask), i.e. what one writes first in PyTorch.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from rgnet._checks import check_device
from rgnet.ising import K_CRITICAL, METHODS, make_sampler
from rgnet.ising.lattice import checkerboard_mask
from rgnet.ising.sampling import THINNING_IN_TAUS, equilibrate

#: (L, chains) of the throughput table: many small lattices, then single larger ones.
DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((64, 64), (256, 1), (1024, 1))


class NaiveCheckerboard:
    """The baseline: eager PyTorch Metropolis on float32 +-1 spins (chains, L, L), whole-lattice
    ops by colour."""

    def __init__(self, L: int, K: float, chains: int, device: torch.device, seed: int = 0) -> None:
        self.K = K
        self.generator = torch.Generator(device=device).manual_seed(seed)
        bits = torch.randint(0, 2, (chains, L, L), generator=self.generator, device=device)
        self.spins = (2 * bits - 1).to(torch.float32)
        self.masks = [checkerboard_mask(L, parity, device) for parity in (0, 1)]

    def step(self, n_sweeps: int) -> None:
        s = self.spins
        for _ in range(n_sweeps):
            for mask in self.masks:
                nb = s.roll(1, -1) + s.roll(-1, -1) + s.roll(1, -2) + s.roll(-1, -2)
                accept = torch.rand(s.shape, generator=self.generator, device=s.device) < torch.exp(
                    -2 * self.K * s * nb
                )
                s = torch.where(mask & accept, -s, s)
        self.spins = s


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(run: Callable[[int], None], n: int, device: torch.device) -> float:
    """Wall seconds of ``run(n)``, the device synchronized before and after."""
    _synchronize(device)
    start = time.perf_counter()
    run(n)
    _synchronize(device)
    return time.perf_counter() - start


def _calls_to_time(run: Callable[[int], None], device: torch.device, min_seconds: float) -> int:
    """After a warm-up ``run(1)`` (compilation, caches), the ``n`` doubled from 1 until ``run(n)`` lasts
    ``min_seconds``."""
    _timed(run, 1, device)
    n = 1
    while _timed(run, n, device) < min_seconds and n < 1 << 20:
        n *= 2
    return n


def seconds_per_sweep(
    step: Callable[[int], None], device: torch.device, min_seconds: float = 0.3, repeats: int = 3
) -> float:
    """Median wall time of one sweep of ``step(n)``: warm-up excluded, n doubled until a run lasts
    ``min_seconds``."""
    n = _calls_to_time(step, device, min_seconds)
    return statistics.median(_timed(step, n, device) for _ in range(repeats)) / n


def interleaved_seconds(
    a: Callable[[int], None],
    b: Callable[[int], None],
    device: torch.device,
    min_seconds: float,
    repeats: int = 5,
) -> tuple[float, float]:
    """Median seconds per call of ``a(n)`` and ``b(n)``, timed alternately so that load drifts hit both alike.

    Each callable gets a warm-up call, then its own ``n``, doubled until one run lasts ``min_seconds``.
    """
    counts = [_calls_to_time(run, device, min_seconds) for run in (a, b)]
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, n, out in zip((a, b), counts, samples, strict=True):
            out.append(_timed(run, n, device) / n)
    return statistics.median(samples[0]), statistics.median(samples[1])


def throughput_table(
    sizes: tuple[tuple[int, int], ...] = DEFAULT_SIZES,
    methods: tuple[str, ...] = METHODS,
    device: str | torch.device = "cpu",
    K: float = K_CRITICAL,
    min_seconds: float = 0.3,
) -> list[dict[str, Any]]:
    """Attempted updates per ns (sites x sweeps / time) for each method and (L, chains), with the baseline's.

    One Wolff sweep flips about L*L spins (see WolffSampler), so its rate counts L*L updates per sweep.
    """
    dev = check_device(device)
    rows = []
    for L, chains in sizes:
        updates = L * L * chains
        baseline = NaiveCheckerboard(L, K, chains, dev)
        base_rate = updates / seconds_per_sweep(baseline.step, dev, min_seconds) / 1e9
        rows.append(
            {"method": "naive_torch", "L": L, "chains": chains, "flips_per_ns": base_rate, "ratio": 1.0}
        )
        for method in methods:
            sampler = make_sampler(method, L, K, chains=chains, seed=0, device=dev)
            rate = updates / seconds_per_sweep(sampler.step, dev, min_seconds) / 1e9
            rows.append(
                {
                    "method": method,
                    "L": L,
                    "chains": chains,
                    "flips_per_ns": rate,
                    "ratio": rate / base_rate,
                    "backend": sampler.backend,
                }
            )
    return rows


def independent_samples_table(
    L: int = 64,
    chains: int = 8,
    methods: tuple[str, ...] = METHODS,
    device: str | torch.device = "cpu",
    K: float = K_CRITICAL,
    max_sweeps: int = 2_000_000,
    min_seconds: float = 0.3,
) -> list[dict[str, Any]]:
    """Effectively independent samples per second at K: chains / (2 tau_int time-per-sweep).

    tau_int (sweeps) is the larger of the energy's and |m|'s, measured by the same automatic equilibration
    that rgnet.ising.generate_2d uses (windows of >= 50 tau_int). Ratios are to the baseline naive
    checkerboard, taken with the Metropolis tau_int (same dynamics).
    """
    dev = check_device(device)
    rows = []
    metropolis_tau = None
    for method in methods:
        sampler = make_sampler(method, L, K, chains=chains, seed=0, device=dev)
        taus = equilibrate(sampler, max_sweeps, progress=False)
        tau = max(taus.values())
        if method == "checkerboard":
            metropolis_tau = tau
        per_sweep = seconds_per_sweep(sampler.step, dev, min_seconds)
        rows.append(
            {
                "method": method,
                "L": L,
                "chains": chains,
                "tau_int": tau,
                "seconds_per_sweep": per_sweep,
                "independent_per_s": chains / (THINNING_IN_TAUS * tau * per_sweep),
            }
        )
    if metropolis_tau is not None:
        baseline = NaiveCheckerboard(L, K, chains, dev)
        per_sweep = seconds_per_sweep(baseline.step, dev, min_seconds)
        base = chains / (THINNING_IN_TAUS * metropolis_tau * per_sweep)
        rows.insert(
            0,
            {
                "method": "naive_torch",
                "L": L,
                "chains": chains,
                "tau_int": metropolis_tau,
                "seconds_per_sweep": per_sweep,
                "independent_per_s": base,
            },
        )
        for row in rows:
            row["ratio"] = row["independent_per_s"] / base
    best_local = max(
        (r["independent_per_s"] for r in rows if r["method"] in ("checkerboard", "heatbath")),
        default=math.nan,
    )
    for row in rows:
        row["ratio_to_best_single_spin"] = row["independent_per_s"] / best_local
    return rows
