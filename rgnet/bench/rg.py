"""Monte Carlo RG benchmark: :func:`rgnet.rg.mcrg_exponents` and :func:`rgnet.rg.match_critical_point` against
a textbook numpy computation of the same operator sums, timed alternately in the same process.

The baseline is what a first MCRG script does: float64 numpy arrays, ``np.roll`` for every factor of every
term (no shared shifts, no int8 products), on the same majority-rule levels. The ratio (baseline seconds
over rgnet seconds) is the figure to quote; absolute seconds on a loaded machine are not.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import torch

from rgnet._checks import check_int
from rgnet.bench.samplers import _synchronize
from rgnet.rg.blocking import majority_2d
from rgnet.rg.critical import match_critical_point
from rgnet.rg.mcrg import DEFAULT_EVEN_2D, DEFAULT_ODD_2D, SQUARE_EVEN, SQUARE_ODD, Terms, mcrg_exponents

#: Table columns of :func:`mcrg_table`.
COLUMNS = ["task", "device", "L", "n", "levels", "seconds", "baseline_seconds", "ratio"]
#: Configurations per chunk of the numpy baseline (float64 copies of the lattice).
_BASELINE_CHUNK = 500


def naive_operator_sums(spins: np.ndarray, operators: Mapping[str, Terms]) -> np.ndarray:
    """Lattice sums ``(batch, len(operators))`` of +-1 spins ``(batch, L, L)``, float64 numpy, one ``np.roll``
    per factor (the baseline)."""
    out = np.zeros((spins.shape[0], len(operators)))
    for start in range(0, spins.shape[0], _BASELINE_CHUNK):
        s = spins[start : start + _BASELINE_CHUNK].astype(np.float64)
        for column, terms in enumerate(operators.values()):
            for term in terms:
                product = np.ones_like(s)
                for dy, dx in term:
                    product *= np.roll(s, shift=(-dy, -dx), axis=(1, 2))
                out[start : start + _BASELINE_CHUNK, column] += product.sum(axis=(1, 2))
    return out


def _baseline_mcrg(levels_spins: list[torch.Tensor]) -> float:
    """Seconds of the baseline: operator sums of every level and the linearized maps' correlation products."""
    operators = {**{k: SQUARE_EVEN[k] for k in DEFAULT_EVEN_2D}, **{k: SQUARE_ODD[k] for k in DEFAULT_ODD_2D}}
    start = time.perf_counter()
    sums = [naive_operator_sums(level.cpu().numpy(), operators) for level in levels_spins]
    for fine, coarse in zip(sums[:-1], sums[1:], strict=True):
        centred_f, centred_c = fine - fine.mean(0), coarse - coarse.mean(0)
        np.linalg.solve(centred_c.T @ centred_c, centred_c.T @ centred_f)
    return time.perf_counter() - start


def check_mcrg_size(L: object, levels: object) -> tuple[int, int]:
    """``(L, levels)`` checked: ``L`` divisible by ``2**levels``, last side >= 4 (ValueError names them)."""
    L = check_int(L, "mcrg.L", minimum=8)
    levels = check_int(levels, "mcrg.levels", minimum=1)
    if L % 2**levels or L // 2**levels < 4:
        raise ValueError(
            f"mcrg.L={L} must be divisible by 2**mcrg.levels = {2**levels} with a last side >= 4"
        )
    return L, levels


def mcrg_table(
    L: int = 64,
    n: int = 10000,
    levels: int = 4,
    device: torch.device | str = "cpu",
    seed: int = 0,
    rounds: int = 3,
) -> list[dict]:
    """Median seconds (of ``rounds``, rgnet and baseline alternating) of MCRG (6 even and 3 odd operators,
    every truncation, jackknife) and of one two-lattice matching, on ``n`` Swendsen-Wang configurations of
    ``L x L`` at K_c (sampling not timed), majority rule b = 2; rgnet on ``device``, the baseline on the CPU.
    Rows with :data:`COLUMNS`."""
    from rgnet.ising import K_CRITICAL, sample_2d

    L, levels = check_mcrg_size(L, levels)
    n = check_int(n, "mcrg.n", minimum=100)
    rounds = check_int(rounds, "rounds", minimum=1)
    device = torch.device(device)
    large = sample_2d(L=L, K=K_CRITICAL, n=n, method="swendsen_wang", seed=seed).to(device)
    small = sample_2d(L=L // 2, K=K_CRITICAL, n=n, method="swendsen_wang", seed=seed + 1).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)

    def majority(spins: torch.Tensor) -> torch.Tensor:
        return majority_2d(spins, 2, generator=generator)

    blocked = [large]
    for _ in range(levels):
        blocked.append(majority(blocked[-1]))
    timings: dict[str, list[float]] = {"mcrg": [], "matching": [], "baseline": []}
    for _ in range(rounds):
        start = time.perf_counter()
        mcrg_exponents(large, majority, levels)
        _synchronize(device)
        timings["mcrg"].append(time.perf_counter() - start)
        timings["baseline"].append(_baseline_mcrg(blocked))
        start = time.perf_counter()
        match_critical_point(large, small, K_CRITICAL, majority, levels)
        _synchronize(device)
        timings["matching"].append(time.perf_counter() - start)
    baseline = float(np.median(timings["baseline"]))
    rows = []
    for task in ("mcrg", "matching"):
        seconds = float(np.median(timings[task]))
        rows.append(
            {
                "task": {"mcrg": "mcrg_exponents", "matching": "match_critical_point"}[task],
                "L": L,
                "device": device.type,
                "n": n,
                "levels": levels,
                "seconds": seconds,
                "baseline_seconds": baseline,
                "ratio": baseline / seconds,
            }
        )
    return rows


__all__ = ["COLUMNS", "check_mcrg_size", "mcrg_table", "naive_operator_sums"]
