"""High-level sampling: equilibrated, decorrelated 2D Ising configurations with their provenance.

``generate_2d`` runs many independent chains as one batch. Unless given, the burn-in and the thinning are
chosen from the measured integrated autocorrelation time tau_int (in sweeps) of the energy and of |m|:
the chains are run in windows of doubling length until a window is at least 50 tau_int long and its two
halves agree within 4 sigma (all sweeps before sampling are discarded), and kept samples of one chain are
2 tau_int sweeps apart, i.e. effectively independent.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from rgnet._checks import check_choice, check_device, check_int
from rgnet.ising.samplers import METHODS, SAMPLERS, make_sampler
from rgnet.ising.stats import integrated_autocorrelation_time, mean_and_error

log = logging.getLogger(__name__)

#: Sweeps of the first equilibration window; windows double until long enough.
FIRST_WINDOW = 64
#: An equilibration window must be this many tau_int long.
WINDOW_IN_TAUS = 50
#: Kept samples of one chain are this many tau_int apart.
THINNING_IN_TAUS = 2.0


@dataclass(frozen=True)
class SampleSet:
    """Samples of the 2D model and how they were made.

    ``spins`` is int8 (n, L, L) on the CPU; consecutive samples come from different chains. Sweep counts and
    ``tau_int`` (keys "energy", "abs_magnetization") are in sweeps of ``method``. ``energy`` (per site, units
    of J) and ``abs_magnetization`` are (mean, error) over the returned samples.
    """

    spins: torch.Tensor
    L: int
    K: float
    h: float
    method: str
    seed: int
    device: str
    chains: int
    burn_in: int
    thinning: int
    tau_int: dict[str, float] = field(default_factory=dict)
    energy: tuple[float, float] = (math.nan, math.nan)
    abs_magnetization: tuple[float, float] = (math.nan, math.nan)

    @property
    def n(self) -> int:
        return int(self.spins.shape[0])

    def metadata(self) -> dict[str, Any]:
        """Everything but the spins, JSON-serializable."""
        meta = {k: v for k, v in asdict(self).items() if k != "spins"}
        meta["n"] = self.n
        meta["energy"] = list(self.energy)
        meta["abs_magnetization"] = list(self.abs_magnetization)
        return meta


def _tau_of(series: dict[str, torch.Tensor]) -> dict[str, float]:
    """tau_int (in measurement intervals) of energy and |m| from (T, chains) series.

    Short-series warnings are silenced: callers check the window length against tau_int themselves.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {
            "energy": integrated_autocorrelation_time(series["energy"].numpy())[0],
            "abs_magnetization": integrated_autocorrelation_time(series["magnetization"].abs().numpy())[0],
        }


def _halves_agree(x: np.ndarray, tau: float) -> bool:
    """True when the means of the two halves of the (T, chains) series ``x`` agree within 4 sigma."""
    half = x.shape[0] // 2
    first, second = x[:half], x[half : 2 * half]
    (m1, e1), (m2, e2) = mean_and_error(first, tau), mean_and_error(second, tau)
    spread = math.hypot(e1, e2)
    return abs(m1 - m2) <= 4.0 * spread + 1e-12


class Chains(Protocol):
    """What :func:`equilibrate` and :func:`draw_samples` need of a batch of chains: an Ising
    :class:`rgnet.ising.samplers.Sampler` or a :class:`rgnet.potts.sampling.PottsSampler`.

    ``spins`` is int8 (chains, L, L); ``run`` returns float64 (n_measurements, chains) series under "energy"
    and "magnetization" (the order parameter; its absolute value is what is tracked).
    """

    L: int
    K: float
    h: float
    method: str
    chains: int
    sweeps_done: int
    spins: torch.Tensor

    def step(self, n_sweeps: int = 1) -> None: ...

    def run(self, n_measurements: int, every: int = 1) -> dict[str, torch.Tensor]: ...

    def energy_and_magnetization(self) -> tuple[torch.Tensor, torch.Tensor]: ...


def equilibrate(sampler: Chains, max_sweeps: int, progress: bool) -> dict[str, float]:
    """Run windows of doubling length until equilibrated; returns tau_int (sweeps) of the last window."""
    window = FIRST_WINDOW
    while True:
        series = sampler.run(window)
        taus = _tau_of(series)
        tau = max(taus.values())
        settled = all(
            _halves_agree(x, tau) for x in (series["energy"].numpy(), series["magnetization"].abs().numpy())
        )
        if progress:
            log.info("equilibration: %d sweeps, tau_int = %s", sampler.sweeps_done, taus)
        if window >= WINDOW_IN_TAUS * tau and settled:
            return taus
        if sampler.sweeps_done + 2 * window > max_sweeps:
            raise RuntimeError(
                f"{sampler.method} at L={sampler.L}, K={sampler.K}, h={sampler.h} did not equilibrate within "
                f"max_sweeps={max_sweeps} (tau_int ~ {tau:.3g} sweeps); raise max_sweeps, give burn_in and "
                f"thinning explicitly, or use a cluster method"
            )
        window *= 2


def check_schedule(
    n: object, chains: object, burn_in: object, thinning: object, max_sweeps: object
) -> tuple[int, int | None, int | None, int | None, int]:
    """``n``, ``chains``, ``burn_in``, ``thinning`` and ``max_sweeps`` of a sampling run, checked (None kept
    for the automatic ones); a burn-in too short to measure tau_int needs an explicit thinning."""
    n = check_int(n, "n", minimum=1)
    chains, burn_in, thinning = (
        None if value is None else check_int(value, name, minimum=low)
        for value, name, low in ((chains, "chains", 1), (burn_in, "burn_in", 0), (thinning, "thinning", 1))
    )
    if burn_in is not None and burn_in < FIRST_WINDOW and thinning is None:
        raise ValueError(
            f"burn_in={burn_in} is too short to measure tau_int (need >= {FIRST_WINDOW} sweeps); "
            "give thinning as well, or a longer burn_in"
        )
    return n, chains, burn_in, thinning, check_int(max_sweeps, "max_sweeps", minimum=FIRST_WINDOW)


def draw_samples(
    sampler: Chains,
    n: int,
    *,
    burn_in: int | None,
    thinning: int | None,
    max_sweeps: int,
    progress: bool,
) -> dict[str, Any]:
    """Burn in, then keep ``n`` configurations ``thinning`` sweeps apart, cycling over the chains.

    Arguments as checked by :func:`check_schedule` (None: automatic, see the module docstring). Returns the
    :class:`SampleSet` fields that depend on the run: spins (int8 (n, L, L) on the CPU), chains, burn_in,
    thinning, tau_int, energy and abs_magnetization.
    """
    if burn_in is None:
        taus = equilibrate(sampler, max_sweeps, progress)
    elif burn_in >= FIRST_WINDOW:
        taus = _tau_of(sampler.run(burn_in))
    else:
        sampler.step(burn_in)
        taus = {}
    if thinning is None:
        thinning = max(1, math.ceil(THINNING_IN_TAUS * max(taus.values())))
    burn_in_done = sampler.sweeps_done
    log.info(
        "%s L=%d K=%g h=%g: burn-in %d sweeps, thinning %d, tau_int %s",
        sampler.method,
        sampler.L,
        sampler.K,
        sampler.h,
        burn_in_done,
        thinning,
        taus,
    )
    per_chain = max(2, math.ceil(n / sampler.chains))  # >= 2 measurements per chain for the error bars
    kept, energies, mags = [], [], []
    for _ in _progress(range(per_chain), progress, f"sampling {sampler.method} L={sampler.L}"):
        sampler.step(thinning)
        kept.append(sampler.spins.to("cpu", copy=True))
        energy, magnetization = sampler.energy_and_magnetization()
        energies.append(energy.cpu())
        mags.append(magnetization.abs().cpu())
    series = {"energy": torch.stack(energies), "magnetization": torch.stack(mags)}
    if not taus:  # explicit short burn-in: measured on the kept samples, in units of the thinning
        taus = {k: v * thinning for k, v in _tau_of(series).items()}
    return {
        "spins": torch.stack(kept).reshape(-1, sampler.L, sampler.L)[:n].contiguous(),
        "chains": sampler.chains,
        "burn_in": burn_in_done,
        "thinning": thinning,
        "tau_int": {k: float(v) for k, v in taus.items()},
        "energy": mean_and_error(series["energy"].numpy()),
        "abs_magnetization": mean_and_error(series["magnetization"].numpy()),
    }


def generate_2d(
    L: int,
    K: float,
    n: int,
    *,
    h: float = 0.0,
    method: str = "checkerboard",
    seed: int | None = None,
    device: str | torch.device = "cpu",
    chains: int | None = None,
    burn_in: int | None = None,
    thinning: int | None = None,
    max_sweeps: int = 2_000_000,
    progress: bool = False,
    **opts: Any,
) -> SampleSet:
    """Sample ``n`` equilibrated configurations of the L x L periodic 2D Ising model.

    Args:
        L, K, h: lattice size, coupling J/kT and field h/kT.
        n: number of configurations returned.
        method: one of "checkerboard" (Metropolis), "heatbath", "wolff", "swendsen_wang".
        seed: seed of all random numbers (None draws one; it is recorded in the result).
        device: where the chains run ("cpu", "cuda", "cuda:1", ...).
        chains: independent chains run in parallel (default min(n, 64) on the CPU, min(n, 1024) on a GPU).
        burn_in: sweeps discarded per chain (default: automatic, see module docstring).
        thinning: sweeps between kept samples of a chain (default: 2 tau_int, at least 1).
        max_sweeps: upper bound on automatic equilibration sweeps per chain.
        progress: show a progress bar while collecting.
        **opts: sampler options (e.g. ``backend``, ``flips_per_sweep`` for Wolff).

    Returns:
        A :class:`SampleSet` whose ``spins`` is int8 (n, L, L) on the CPU.
    """
    check_choice(method, "method", METHODS)
    n, chains, burn_in, thinning, max_sweeps = check_schedule(n, chains, burn_in, thinning, max_sweeps)
    if chains is None:
        chains = min(n, 64 if check_device(device).type == "cpu" else 1024)
    sampler = make_sampler(method, L, K, h=h, chains=chains, seed=seed, device=device, **opts)
    drawn = draw_samples(
        sampler, n, burn_in=burn_in, thinning=thinning, max_sweeps=max_sweeps, progress=progress
    )
    return SampleSet(
        L=sampler.L,
        K=sampler.K,
        h=sampler.h,
        method=method,
        seed=sampler.seed,
        device=str(sampler.device),
        **drawn,
    )


def sample_2d(
    L: int,
    K: float,
    n: int,
    *,
    h: float = 0.0,
    method: str = "checkerboard",
    seed: int | None = None,
    device: str | torch.device = "cpu",
    **opts: Any,
) -> torch.Tensor:
    """``n`` equilibrated, decorrelated L x L configurations, int8 (n, L, L) of +-1 on ``device``.

    Same arguments as :func:`generate_2d`, which also returns the provenance (burn-in, thinning, tau_int).
    """
    result = generate_2d(L, K, n, h=h, method=method, seed=seed, device=device, **opts)
    return result.spins.to(result.device)


def _progress(iterable: range, enabled: bool, description: str):
    """Wrap ``iterable`` in a rich progress bar when ``enabled``."""
    if not enabled:
        return iterable
    from rich.progress import track

    return track(iterable, description=description)


__all__ = [
    "SAMPLERS",
    "Chains",
    "SampleSet",
    "check_schedule",
    "draw_samples",
    "equilibrate",
    "generate_2d",
    "sample_2d",
]
