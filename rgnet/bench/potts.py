"""q-state Potts benchmark: the numba Potts samplers' time per site next to the Ising kernels', and the wall
time of the exact q = 3 cylinder IB per circumference.

Samplers. For each method (Swendsen-Wang, Wolff, heat bath) and q, a :class:`rgnet.potts.PottsSampler` at
K_c(q) = ln(1 + sqrt q) and the Ising sampler of the same method (numba backend) at the Ising K_c, on the same
L and chains, are timed alternately in the same process (:func:`rgnet.bench.samplers.interleaved_seconds`,
median of 3 runs of >= ``min_seconds`` each). Site updates per ns are L * L * chains * sweeps / time; a
Wolff sweep counts L * L updates in both models (each sampler's pilot sets its flips per sweep so that
about L * L sites are grown). ``ratio`` = Potts time per site / Ising time per site (the issue's target:
<= 2).

Cylinder. One call of :func:`rgnet.potts.potts_cylinder_ib` (q = 3, K_c, default solver: 40 betas) per
circumference, timed once (seconds to minutes each; the cost grows as 3**(2 L)).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from rgnet._checks import check_int
from rgnet.bench.samplers import interleaved_seconds
from rgnet.ising import K_CRITICAL, make_sampler
from rgnet.potts import (
    MAX_POTTS_CYLINDER_STATES,
    POTTS_METHODS,
    PottsSampler,
    potts_critical_coupling,
    potts_cylinder_ib,
)

#: Columns of :func:`potts_throughput_table`.
SAMPLER_COLUMNS = ["method", "q", "L", "chains", "potts_sites_per_ns", "ising_sites_per_ns", "ratio"]
#: Columns of :func:`potts_cylinder_table`.
CYLINDER_COLUMNS = ["q", "circumference", "states", "separation", "seconds", "beta_c", "beta_c_predicted"]
#: Colours of the cylinder IB benchmark.
CYLINDER_Q = 3
_CPU = torch.device("cpu")


def check_circumference(value: object, name: str) -> int:
    """A ring size ``L >= 2`` with ``3**L`` <= MAX_POTTS_CYLINDER_STATES (ValueError naming ``name``)."""
    L = check_int(value, name, minimum=2)
    if CYLINDER_Q**L > MAX_POTTS_CYLINDER_STATES:
        raise ValueError(
            f"{name}: {L} gives {CYLINDER_Q}**{L} ring states, more than MAX_POTTS_CYLINDER_STATES = "
            f"{MAX_POTTS_CYLINDER_STATES}"
        )
    return L


def potts_throughput_table(
    qs: tuple[int, ...] = (3, 4),
    L: int = 64,
    chains: int = 8,
    methods: tuple[str, ...] = POTTS_METHODS,
    min_seconds: float = 0.3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (q, method) with :data:`SAMPLER_COLUMNS`: site updates per ns of the Potts sampler at
    K_c(q) and of the Ising numba sampler of the same method at the Ising K_c (timed alternately, see the
    module docstring), and ``ratio`` = Potts time per site / Ising time per site."""
    sites = L * L * chains
    rows = []
    for q in qs:
        for method in methods:
            potts = PottsSampler(L, potts_critical_coupling(q), q, method=method, chains=chains, seed=seed)
            ising = make_sampler(method, L, K_CRITICAL, chains=chains, seed=seed, backend="numba")
            potts_s, ising_s = interleaved_seconds(potts.step, ising.step, _CPU, min_seconds, repeats=3)
            rows.append(
                {
                    "method": method,
                    "q": q,
                    "L": L,
                    "chains": chains,
                    "potts_sites_per_ns": sites / potts_s / 1e9,
                    "ising_sites_per_ns": sites / ising_s / 1e9,
                    "ratio": potts_s / ising_s,
                }
            )
    return rows


def potts_cylinder_table(circumferences: tuple[int, ...] = (5, 6, 7), separation: int = 1) -> list[dict]:
    """Wall seconds of one :func:`rgnet.potts.potts_cylinder_ib` (q = 3 at K_c, rings ``separation`` apart)
    per circumference, with the located and the spectral ``beta_c``; rows with :data:`CYLINDER_COLUMNS`."""
    K = potts_critical_coupling(CYLINDER_Q)
    rows = []
    for L in circumferences:
        L = check_circumference(L, "circumference")
        start = time.perf_counter()
        result = potts_cylinder_ib(L, CYLINDER_Q, K, separation)
        rows.append(
            {
                "q": CYLINDER_Q,
                "circumference": L,
                "states": CYLINDER_Q**L,
                "separation": separation,
                "seconds": time.perf_counter() - start,
                "beta_c": result.beta_c,
                "beta_c_predicted": result.beta_c_predicted,
            }
        )
    return rows


__all__ = [
    "CYLINDER_COLUMNS",
    "CYLINDER_Q",
    "SAMPLER_COLUMNS",
    "check_circumference",
    "potts_cylinder_table",
    "potts_throughput_table",
]
