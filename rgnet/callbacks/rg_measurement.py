"""Measure a trained model's coarse-graining as an RG: exponents, critical point and scaling dimensions.

At the end of training, the model's block-spin map (:class:`rgnet.contracts.HasBlockSpinMap`: the RSMI filter,
the RBM stack's units on their coarse lattices) and majority rule with the same block factor are run on fresh
2D Ising datasets (cached with provenance, :func:`rgnet.data.get_or_create_dataset`) and measured alike:

* **Monte Carlo RG** at the reference coupling (K_c by default; :func:`rgnet.rg.mcrg_exponents`): ``y_t`` and
  ``y_h`` per level, with every truncation of the operator set;
* **two-lattice matching** (:func:`rgnet.rg.match_critical_point`) of ``L`` against ``L / b`` from several
  starting couplings around the reference, combined (:func:`rgnet.rg.combine_matchings`): the map's critical
  coupling ``K_c``, ``y_t`` (``nu = 1 / y_t``) and ``y_h`` per level and matched operator;
* **scaling dimension** of the coarse variable per level (:func:`rgnet.rg.scaling_dimension`; 1/8 for a map
  that carries the Ising spin);
* the **coupling flow**: nearest-neighbour, next-nearest-neighbour and plaquette couplings fitted to every
  level (:func:`rgnet.rg.fit_couplings`, pseudo-likelihood) from each start, next to majority rule's.

Everything lands in ``summary.json`` under the callback's name (``learned``, ``majority``, ``exact``), with
error bars, and in TensorBoard (scalars ``rg/y_t/level<n>/<map>``..., :meth:`RGMeasurement.hparam_metrics`;
figures ``rg/exponents`` and ``rg/flow``). Matching and the scaling dimension need a map that applies at every
lattice side (the RSMI filter); a map tied to one input side (the RBM stack) is measured by MCRG and the flow
only (``matching=false``, ``scaling_dimension=false``).

A model whose map acts on q-state Potts colours (``colours = q``: the RSMI filter on one-hot blocks) is
measured on Potts datasets at its ``K_c = ln(1 + sqrt q)`` next to the plurality rule
(:func:`rgnet.rg.plurality_2d`, ``reference="plurality"``) by MCRG and the scaling dimension of the coarse
colour (exact ``y_t``, ``y_h``, ``Delta`` for q = 2, 3, 4: :func:`exact_values`); matching and the flow
are Ising-only and must be switched off.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import lightning
import torch

from rgnet._checks import check_bool, check_choice, check_int, check_real
from rgnet.callbacks._tensorboard import legend_below, run_title, tensorboard_writer, wrap_title
from rgnet.contracts import BLOCK_SPIN_MODES, HasBlockSpinMap, TiedToSides, require
from rgnet.data.dataset import get_or_create_dataset
from rgnet.ising.exact import K_CRITICAL
from rgnet.ising.samplers import METHODS
from rgnet.potts.exact import potts_critical_coupling
from rgnet.potts.sampling import POTTS_METHODS
from rgnet.rg.blocking import majority_2d, plurality_2d
from rgnet.rg.couplings import fit_couplings
from rgnet.rg.critical import (
    DEFAULT_FRACTIONS,
    ESTIMATES,
    check_fractions,
    combine_matchings,
    match_critical_point,
    scaling_dimension,
)
from rgnet.rg.mcrg import MIN_LAST_SIDE, check_blockings, mcrg_exponents

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Exact 2D Ising values (Onsager; Y_H = 15/8 from eta = 1/4).
EXACT = {"K_c": K_CRITICAL, "y_t": 1.0, "nu": 1.0, "y_h": 15.0 / 8.0, "Delta": 1.0 / 8.0}
#: Exact (y_t, Delta of the spin) of the critical q-state Potts model, q = 2, 3, 4 (den Nijs 1979, Nienhuis
#: 1984: x_epsilon = 1/2, 4/5, 1/2 and x_sigma = 1/8, 2/15, 1/8; y_t = 2 - x_epsilon, y_h = 2 - x_sigma;
#: q = 4 with logarithmic corrections). For q > 4 the transition is first order.
POTTS_EXACT = {2: (1.0, 1.0 / 8.0), 3: (6.0 / 5.0, 2.0 / 15.0), 4: (3.0 / 2.0, 1.0 / 8.0)}
#: The maps a measurement can hold: the model's, and the reference rules (Ising: majority; Potts: plurality).
MAPS = ("learned", "majority", "plurality")
#: Couplings fitted to every level for the flow.
FLOW_TERMS = ("K", "K2", "Kp")
Transform = Callable[[torch.Tensor], torch.Tensor]


def _offsets(values: Sequence[float], name: str) -> tuple[float, ...]:
    """Relative coupling offsets in [-0.5, 0.5], including 0 (the reference coupling itself)."""
    if isinstance(values, str) or not list(values):
        raise ValueError(f"{name} must be a non-empty list of relative offsets including 0, got {values!r}")
    offsets = tuple(check_real(x, name, minimum=-0.5, maximum=0.5) for x in values)
    if 0.0 not in offsets or len(set(offsets)) != len(offsets):
        raise ValueError(
            f"{name} must be distinct offsets including 0 (the reference coupling), got {list(offsets)}"
        )
    return offsets


def exact_values(q: int | None = None) -> dict[str, float]:
    """The exact critical numbers a map is measured against: :data:`EXACT` for Ising (``q`` None); for
    q-state Potts ``K_c = ln(1 + sqrt q)`` (Potts units, ``H = -K sum delta``) and, for q <= 4,
    ``y_t``, ``nu``, ``y_h`` and ``Delta`` (:data:`POTTS_EXACT`)."""
    if q is None:
        return dict(EXACT)
    out = {"K_c": potts_critical_coupling(q)}
    if q in POTTS_EXACT:
        y_t, delta = POTTS_EXACT[q]
        out |= {"y_t": y_t, "nu": 1.0 / y_t, "y_h": 2.0 - delta, "Delta": delta}
    return out


def _finite(value: float) -> float | None:
    """JSON-friendly float: None for NaN/inf."""
    return float(value) if math.isfinite(value) else None


class RGMeasurement(lightning.Callback):
    """Measure the model's block-spin map against majority rule at the end of training (module docstring).

    Args:
        cache_dir: dataset cache directory (the experiment's ``${paths.cache_dir}``).
        L: side of the large lattice (the small one is ``L / b``); must be divisible by ``b**levels`` with a
            last side >= 4.
        n: configurations per dataset.
        levels: blockings measured (MCRG and matching levels ``1..levels``).
        K: reference coupling (K = J/kT; default the exact K_c of the model's lattice, Ising or q-state
            Potts); MCRG, the scaling dimension and the flow's first start are measured there.
        starts: starting couplings of the matching, as relative offsets from ``K`` (must include 0).
        method: sampler of the datasets (:data:`rgnet.ising.samplers.METHODS`, or for a Potts model
            :data:`rgnet.potts.POTTS_METHODS`).
        seed: seed of the first dataset (each dataset gets its own) and of the maps' random draws.
        mode: ``"sample"`` (the coarse variable drawn from the model's P(h | v)) or ``"mean_sign"``.
        matching, scaling_dimension: measure them (need a map that applies at any side).
        fractions: distances (fractions of the side) of the scaling-dimension estimate.
        flow: fit the couplings of every level.
        flow_starts: couplings of the flow's datasets, relative offsets from ``K``; wider than the matching's
            starts so that the flow visibly leaves the fixed point within ``levels`` blockings.
        flow_samples: configurations per coupling fit (at most ``n``).
        reference: ``"majority"`` (majority rule with the model's block factor, measured the same way; Ising),
            ``"plurality"`` (the plurality rule, for a Potts model) or ``"none"``.
    """

    def __init__(
        self,
        cache_dir: str,
        L: int = 64,
        n: int = 10000,
        levels: int = 4,
        K: float | None = None,
        starts: Sequence[float] = (-0.005, 0.0, 0.005),
        method: str = "swendsen_wang",
        seed: int = 0,
        mode: str = "sample",
        matching: bool = True,
        scaling_dimension: bool = True,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        flow: bool = True,
        flow_starts: Sequence[float] = (-0.02, 0.0, 0.02),
        flow_samples: int = 5000,
        reference: str = "majority",
    ) -> None:
        super().__init__()
        self.cache_dir = str(cache_dir)
        self.L = check_int(L, "L", minimum=2 * MIN_LAST_SIDE)
        self.n = check_int(n, "n", minimum=200)
        self.levels = check_int(levels, "levels", minimum=1)
        self.K_setting = None if K is None else check_real(K, "K", minimum=0.0)
        #: colours of the model's lattice (None: Ising), set by check_model
        self.q: int | None = None
        self.starts = _offsets(starts, "starts")
        self.flow_starts = _offsets(flow_starts, "flow_starts")
        self.method = check_choice(method, "method", tuple(dict.fromkeys(METHODS + POTTS_METHODS)))
        self.seed = check_int(seed, "seed", minimum=0)
        self.mode = check_choice(mode, "mode", BLOCK_SPIN_MODES)
        self.matching = check_bool(matching, "matching")
        self.measure_dimension = check_bool(scaling_dimension, "scaling_dimension")
        self.fractions = check_fractions(fractions)
        self.flow = check_bool(flow, "flow")
        self.flow_samples = check_int(flow_samples, "flow_samples", minimum=100)
        self.reference = check_choice(reference, "reference", ("majority", "plurality", "none"))
        self.results: dict[str, Any] = {}

    # ------------------------------------------------------------------ checks
    def _block_factor(self, transform: Transform, side: int, what: str) -> int:
        """Apply ``transform`` to two random configurations of ``side``; its block factor (clear errors)."""
        generator = torch.Generator().manual_seed(0)
        if self.q is None:
            probe = 2 * torch.randint(0, 2, (2, side, side), generator=generator) - 1
        else:
            probe = torch.randint(0, self.q, (2, side, side), generator=generator)
        try:
            out = transform(probe.to(torch.int8))
        except (ValueError, TypeError, RuntimeError) as err:
            raise ValueError(
                f"RGMeasurement: the model's block-spin map does not apply to {what} lattices of side {side} "
                f"({err}): set callbacks.rg_measurement.L (and levels) to sides the map takes, e.g. "
                "multiples of the model's block; a map tied to one input side needs L = that side, "
                "matching=false and scaling_dimension=false"
            ) from err
        if out.ndim != 3 or out.shape[1] < 1 or side % out.shape[1] or out.shape[1] == side:
            raise ValueError(f"RGMeasurement: the block-spin map returned {tuple(out.shape)} for side {side}")
        return side // out.shape[1]

    def check_model(self, pl_module: lightning.LightningModule) -> int:
        """Fail before training when the measurement cannot run: no block-spin map, a map that does not apply
        to the large (and, for matching or the scaling dimension, the small) lattice, ``L`` not divisible
        by ``b**levels`` with a last side >= 4, or scaling-dimension fractions that are not whole distances on
        the last small lattice; for a Potts map (``colours``) a method, reference or measurement that does
        not apply to Potts. Sets :attr:`q` (the lattice, and so :attr:`K`) and returns the block factor
        ``b``. (``rgnet-train`` calls it before any data is made, :class:`rgnet.contracts.ChecksModel`;
        ``on_fit_start`` again.)"""
        model = require(pl_module, HasBlockSpinMap, "RGMeasurement")
        self._set_lattice(getattr(model, "colours", None))
        transform = model.block_spin_map(mode=self.mode, generator=torch.Generator().manual_seed(self.seed))
        if isinstance(transform, TiedToSides):
            sides = list(transform.sides)
            if self.matching or self.measure_dimension:
                raise ValueError(
                    f"RGMeasurement: the model's block-spin map applies only to the sides {sides} (one map "
                    "per level), not at every side as matching and the scaling dimension need: set "
                    "matching=false and scaling_dimension=false"
                )
            if self.L != sides[0] or self.levels > len(sides) - 1:
                raise ValueError(
                    f"RGMeasurement: the model's block-spin map takes L = {sides[0]} and at most "
                    f"{len(sides) - 1} levels, got L={self.L}, levels={self.levels}"
                )
        b = self._block_factor(transform, self.L, "large")
        check_blockings(self.L, b, self.levels, "L")
        if self.matching or self.measure_dimension:
            self._block_factor(transform, self.L // b, "small")
        if self.measure_dimension:
            check_fractions(
                self.fractions, self.L // b**self.levels
            )  # the small lattice after every blocking
        return b

    @property
    def K(self) -> float:
        """The reference coupling: the ``K`` setting, else the exact K_c of the model's lattice (Ising, or
        q-state Potts once :meth:`check_model` has seen a map of colours)."""
        if self.K_setting is not None:
            return self.K_setting
        return K_CRITICAL if self.q is None else potts_critical_coupling(self.q)

    def _set_lattice(self, q: int | None) -> None:
        """Take the lattice of a map on ``q`` colours (None: +-1 spins) and check the settings against it."""
        self.q = q
        if q is None:
            allowed, rule, other = METHODS, "majority", "Ising"
        else:
            allowed, rule, other = POTTS_METHODS, "plurality", f"q={q} Potts"
        if self.method not in allowed:
            raise ValueError(
                f"RGMeasurement: method must be one of {list(allowed)} for {other} maps, got {self.method!r}"
            )
        if self.reference not in (rule, "none"):
            raise ValueError(
                f"RGMeasurement: reference must be {rule!r} or 'none' for {other} maps, "
                f"got {self.reference!r}"
            )
        if q is not None and (self.matching or self.flow):
            raise ValueError(
                f"RGMeasurement: a map of q={q} Potts colours is measured by MCRG and the scaling dimension; "
                "two-lattice matching and the coupling flow are Ising-only: set matching=false and flow=false"
            )

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        self.check_model(pl_module)

    # ------------------------------------------------------------------ measurement
    def _dataset(self, L: int, K: float, index: int, device: torch.device) -> tuple[torch.Tensor, str]:
        config = {"L": L, "K": K, "n": self.n, "method": self.method, "seed": self.seed + index}
        if self.q is not None:
            config |= {"q": self.q, "storage": "int8"}
        spins, metadata = get_or_create_dataset(config, self.cache_dir)
        return spins.to(device), str(metadata["sha256"])

    def _measure_map(
        self,
        transform: Transform,
        samples: dict[float, tuple[torch.Tensor, torch.Tensor | None]],
    ) -> dict[str, Any]:
        """All measurements of one map on the datasets ``samples[start] = (large, small)``."""
        large0, small0 = samples[0.0]
        out: dict[str, Any] = {}
        mcrg = mcrg_exponents(large0, transform, self.levels, q=self.q)
        k_even, k_odd = len(mcrg.even_operators), len(mcrg.odd_operators)
        out["mcrg"] = {
            "levels": [
                {
                    "level": n,
                    "y_t": _finite(mcrg.y_t[(n, k_even)]),
                    "y_t_err": _finite(mcrg.y_t_err[(n, k_even)]),
                    "y_h": _finite(mcrg.y_h[(n, k_odd)]),
                    "y_h_err": _finite(mcrg.y_h_err[(n, k_odd)]),
                }
                for n in range(1, self.levels + 1)
            ],
            "even_operators": list(mcrg.even_operators),
            "odd_operators": list(mcrg.odd_operators),
            "table": [
                {k: _finite(v) if isinstance(v, float) else v for k, v in r.items()} for r in mcrg.table()
            ],
        }
        if self.matching:
            results = [
                match_critical_point(*samples[x], self.K * (1 + x), transform, self.levels)
                for x in self.starts
            ]
            combined = combine_matchings(results)
            best = combined.best()
            out["matching"] = {
                **{k: _finite(v) if isinstance(v, float) else v for k, v in best.items()},
                "levels": [
                    {"level": n, "operator": op}
                    | {name: _finite(getattr(combined, name)[(n, op)]) for name in ESTIMATES}
                    | {"n_starts": combined.n_starts[(n, op)]}
                    for (n, op) in sorted(combined.K_c)
                ],
                "starts": [r.K0 for r in results],
            }
        if self.measure_dimension:
            dims = scaling_dimension(
                large0, small0, transform, self.levels - 1, fractions=self.fractions, q=self.q
            )
            out["scaling_dimension"] = [
                {
                    "level": n,
                    "fraction": x,
                    "Delta": _finite(dims.Delta[(n, x)]),
                    "Delta_err": _finite(dims.Delta_err[(n, x)]),
                }
                for n in range(self.levels)
                for x in self.fractions
            ]
        if self.flow:
            out["flow"] = [self._flow(transform, samples[x][0], self.K * (1 + x)) for x in self.flow_starts]
        return out

    def _flow(self, transform: Transform, spins: torch.Tensor, K0: float) -> dict[str, Any]:
        """Couplings :data:`FLOW_TERMS` fitted to every level ``1..levels`` of ``spins`` drawn at ``K0``."""
        current = spins[: self.flow_samples]
        levels = []
        for n in range(1, self.levels + 1):
            current = transform(current)
            fit = fit_couplings(current, FLOW_TERMS)
            levels.append(
                {"level": n, "converged": fit.converged}
                | {t: fit.values[t] for t in FLOW_TERMS}
                | {f"{t}_err": fit.errors[t] for t in FLOW_TERMS}
            )
        return {"K0": K0, "levels": levels}

    def measure(self, pl_module: lightning.LightningModule) -> dict[str, Any]:
        """Generate (or load) the datasets, measure the model's map and the reference; the summary dict."""
        b = self.check_model(pl_module)
        model = require(pl_module, HasBlockSpinMap, "RGMeasurement")
        device = pl_module.device
        samples: dict[float, tuple[torch.Tensor, torch.Tensor | None]] = {}
        datasets = []
        offsets = (
            {0.0} | set(self.starts if self.matching else ()) | set(self.flow_starts if self.flow else ())
        )
        for index, x in enumerate(sorted(offsets)):
            K0 = self.K * (1 + x)
            large, id_large = self._dataset(self.L, K0, 2 * index, device)
            small, id_small = None, None
            if (self.matching and x in self.starts) or (self.measure_dimension and x == 0.0):
                small, id_small = self._dataset(self.L // b, K0, 2 * index + 1, device)
            samples[x] = (large, small)
            datasets.append({"K": K0, "large": id_large, "small": id_small})
        was_training = pl_module.training
        pl_module.eval()
        try:
            with torch.no_grad():
                learned = model.block_spin_map(
                    mode=self.mode, generator=torch.Generator(device=device).manual_seed(self.seed)
                )
                results: dict[str, Any] = {"learned": self._measure_map(learned, samples)}
                coins = torch.Generator(device=device).manual_seed(self.seed)
                rules: dict[str, Transform] = {
                    "majority": lambda s: majority_2d(s, b, generator=coins),
                    "plurality": lambda s: plurality_2d(s, b, int(self.q or 2), generator=coins),
                }
                if self.reference in rules:
                    results[self.reference] = self._measure_map(rules[self.reference], samples)
        finally:
            pl_module.train(was_training)
        results["exact"] = exact_values(self.q)
        results["setup"] = {
            "b": b,
            "q": self.q,
            "L": self.L,
            "L_small": self.L // b,
            "n": self.n,
            "levels": self.levels,
            "K": self.K,
            "method": self.method,
            "mode": self.mode,
            "datasets": datasets,
        }
        return results

    def on_fit_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        self.results = self.measure(pl_module)
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        step = trainer.global_step
        for tag, value in self.hparam_metrics().items():
            writer.add_scalar(tag, value, step)
        run = run_title(trainer)
        writer.add_figure("rg/exponents", exponents_figure(self.results, run), step)
        if self.flow:
            writer.add_figure("rg/flow", flow_figure([self.results], run), step)

    def summary_metrics(self) -> dict[str, Any]:
        """The measurements (module docstring), or ``{}`` before the end of training."""
        return dict(self.results)

    def hparam_metrics(self) -> dict[str, float]:
        """The exponents as TensorBoard tags, the learned map next to the reference rule (``<map>`` is
        ``learned``, ``majority`` or ``plurality``): MCRG ``rg/y_t/level{n}/<map>`` and
        ``rg/y_h/level{n}/<map>`` per level, the combined two-lattice matching
        ``rg/matching/{K_c,nu,y_h}/<map>`` and the scaling dimension of the coarse variable
        ``rg/Delta/level{n}/<map>`` (at the largest distance measured) where measured. Undefined values are
        left out; the exact values (:func:`exact_values`, constants) are in the summary. Logged at the end of
        fit."""
        names = [name for name in MAPS if name in self.results]
        out: dict[str, float] = {}
        levels = sorted({row["level"] for n in names for row in self.results[n]["mcrg"]["levels"]})
        for level in levels:
            for key in ("y_t", "y_h"):
                for name in names:
                    row = next(r for r in self.results[name]["mcrg"]["levels"] if r["level"] == level)
                    if row.get(key) is not None:
                        out[f"rg/{key}/level{level}/{name}"] = float(row[key])
        for key in ("K_c", "nu", "y_h"):
            for name in names:
                value = self.results[name].get("matching", {}).get(key)
                if value is not None:
                    out[f"rg/matching/{key}/{name}"] = float(value)
        for name in names:
            rows = self.results[name].get("scaling_dimension") or []
            widest = max((row["fraction"] for row in rows), default=None)
            for row in rows:
                if row["fraction"] == widest and row["Delta"] is not None:
                    out[f"rg/Delta/level{row['level']}/{name}"] = float(row["Delta"])
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"results": self.results}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.results = dict(state_dict.get("results", {}))


def exponents_figure(results: dict[str, Any], run: str = "") -> Figure:
    """y_t and y_h per level (MCRG: filled; matching: hollow) for every measured map, the exact values of
    ``results["exact"]`` (Ising's without it) dashed; legends under the axes, ``run`` (the run shown) under
    the title."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.8), dpi=120, layout="constrained")
    axes = fig.subplots(1, 2)
    names = [name for name in MAPS if name in results]
    exact = results.get("exact") or EXACT
    for index, name in enumerate(names):
        colour = f"C{index}"
        mcrg = results[name]["mcrg"]["levels"]
        matching = [r for r in results[name].get("matching", {}).get("levels", []) if r["operator"] == "nn"]
        for ax, key in zip(axes, ("y_t", "y_h"), strict=True):
            for source, offset, marker, face, method in (
                (mcrg, -0.15, "o", colour, "MCRG at K"),
                (matching, -0.05, "s", "none", "matching"),
            ):
                rows = [r for r in source if r[key] is not None]
                if not rows:  # e.g. no matching (Potts maps): no empty legend entry
                    continue
                ax.errorbar(
                    [r["level"] + offset + 0.2 * index for r in rows],
                    [r[key] for r in rows],
                    yerr=[r[f"{key}_err"] or 0.0 for r in rows],
                    fmt=marker,
                    mfc=face,
                    color=colour,
                    capsize=3,
                    label=f"{name}: {method}",
                )
    for ax, key in zip(axes, ("y_t", "y_h"), strict=True):
        if exact.get(key) is not None:
            value = Fraction(exact[key]).limit_denominator(60)
            ax.axhline(exact[key], color="k", ls="--", lw=1, label=f"exact {key} = {value}")
        ax.set_xlabel("level n")
        levels = sorted({r["level"] for name in names for r in results[name]["mcrg"]["levels"]})
        if levels:  # a tick per level, a little room either side (one level gave ticks at 0.85 ... 1.05)
            ax.set_xlim(levels[0] - 0.5, levels[-1] + 0.5)
            ax.set_xticks(levels)
        ax.set_ylabel(key)
        legend_below(ax)
    maps = " and ".join(_TITLES[name] for name in names) or "maps"
    fig.suptitle(wrap_title(f"RG exponents of the {maps}\n{run}".strip(), 9.5), fontsize=9)
    return fig


_TITLES = {"learned": "learned map", "majority": "majority rule", "plurality": "plurality rule"}


def flow_figure(runs: Sequence[dict[str, Any]], run: str = "") -> Figure:
    """The fitted flow in the (K, K2) plane from every start of every run's results, per map (learned:
    solid circles, majority rule: dashed squares); levels whose fit did not converge are left out; the
    legend to the right of the axes, ``run`` (the run shown) under the title."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.8), dpi=120, layout="constrained")
    ax = fig.subplots()
    for results in runs:
        for name, style in (("learned", "o-"), ("majority", "s--")):
            for index, flow in enumerate(results.get(name, {}).get("flow", [])):
                rows = [r for r in flow["levels"] if r["converged"]]
                K = [flow["K0"], *(r["K"] for r in rows)]
                K2 = [0.0, *(r["K2"] for r in rows)]
                label = f"{name}, K0 = {flow['K0']:.4f}" if results is runs[0] else None
                ax.plot(K, K2, style, color=f"C{index}", ms=4, label=label)
    ax.plot([EXACT["K_c"]], [0.0], "k*", ms=12, label="K_c (original lattice)")
    ax.set_xlabel("K (nearest neighbour)")
    ax.set_ylabel("K2 (next-nearest neighbour)")
    ax.set_title(wrap_title(f"coupling flow over levels\n{run}".strip(), 5.5), fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return fig


__all__ = [
    "EXACT",
    "FLOW_TERMS",
    "MAPS",
    "POTTS_EXACT",
    "RGMeasurement",
    "exact_values",
    "exponents_figure",
    "flow_figure",
]
