"""Aggregate the ``summary.json`` files of a sweep into a table and the standard figures.

A sweep directory holds one run directory per job (``rgnet-train -m ...``), each with a ``summary.json``
(see :mod:`rgnet.runs.summary`). :func:`make_report` reads them all, finds the settings that vary between
runs, and writes ``report/report.csv`` (one row per run: status, varying settings, scalar metrics) and PNG
figures: every scalar metric against each varying numeric setting (e.g. locality per layer against
``data.K``), plus the figures an experiment registers in :data:`FIGURES` (e.g. coupling flows in the
(K, h) plane).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rgnet.files import atomic_write_bytes
from rgnet.tables import format_table

log = logging.getLogger(__name__)

#: Config keys that never identify a run in a report (where it ran, how it was logged).
IGNORED_SETTINGS = re.compile(
    r"^(paths|output_dir|hydra|logger|callbacks|trainer\.(?!max_epochs)|debug|resume|test|optimized_metric|"
    r"checkpoint_every_n_steps|data\.(progress|num_workers|cache_dir|pin_memory))"
)
#: At most this many metric-vs-setting figures (the rest are in the CSV).
MAX_GENERIC_FIGURES = 40


@dataclass
class Run:
    """One run of a sweep: its directory, status, flattened config and flattened metrics."""

    name: str
    status: str
    settings: dict[str, Any]
    metrics: dict[str, Any]
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict, repr=False)

    def scalar_metrics(self) -> dict[str, float]:
        return {
            key: float(value)
            for key, value in self.metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mapping -> ``{"a.b": leaf}``; lists stay leaves."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def load_runs(sweep_dir: str | os.PathLike[str]) -> list[Run]:
    """Every run below ``sweep_dir`` (any depth) that has a ``summary.json``, sorted by directory name.

    Unreadable summaries become runs with status ``unreadable``. Raises FileNotFoundError when the
    directory does not exist or holds no summary at all.
    """
    root = Path(sweep_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"sweep directory not found: {root}")
    runs = []
    for path in sorted(root.rglob("summary.json")):
        if "report" in path.relative_to(root).parts[:-1]:
            continue
        name = str(path.parent.relative_to(root)) if path.parent != root else path.parent.name
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            runs.append(Run(name, "unreadable", {}, {}, error=str(err)))
            continue
        settings = {
            key: value
            for key, value in flatten(summary.get("config") or {}).items()
            if not IGNORED_SETTINGS.match(key) and not key.endswith("_target_")
        }
        runs.append(
            Run(
                name=name,
                status=str(summary.get("status", "unknown")),
                settings=settings,
                metrics=flatten(summary.get("metrics") or {}),
                error=summary.get("error"),
                summary=summary,
            )
        )
    if not runs:
        raise FileNotFoundError(
            f"no summary.json below {root}: is it a sweep or run directory of rgnet-train?"
        )
    return runs


def varying_settings(runs: Sequence[Run]) -> list[str]:
    """Config keys whose values differ between runs (sorted)."""
    keys = sorted({key for run in runs for key in run.settings})
    varying = []
    for key in keys:
        values = {json.dumps(run.settings.get(key), sort_keys=True, default=str) for run in runs}
        if len(values) > 1:
            varying.append(key)
    return varying


def table(runs: Sequence[Run]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: run, status, varying settings, then every scalar metric (blank where absent)."""
    settings = varying_settings(runs)
    metrics = sorted({key for run in runs for key in run.scalar_metrics()})
    header = ["run", "status", *settings, *metrics]
    rows = []
    for run in runs:
        scalars = run.scalar_metrics()
        rows.append(
            [
                run.name,
                run.status,
                *(run.settings.get(k, "") for k in settings),
                *(scalars.get(k, "") for k in metrics),
            ]
        )
    return header, rows


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    return atomic_write_bytes(path, lambda handle: handle.write(data))


def save_figure(figure: Any, path: Path) -> Path:
    """Write a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    data = buffer.getvalue()
    return atomic_write_bytes(path, lambda handle: handle.write(data))


def is_finite_number(value: Any) -> bool:
    """A finite int or float (not a bool): what TensorBoard and the report figures can plot."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_figures(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """One PNG per (scalar metric, varying numeric setting): the metric against the setting, one line per
    combination of the other varying settings. Metrics equal in every run (exact values, the setup) and the
    ``seed`` as an axis (replicates: the experiment figures average over them) are left to the CSV."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finished = [run for run in runs if run.status == "finished"]
    settings = varying_settings(finished)
    numeric = [
        key
        for key in settings
        if key != "seed" and all(is_finite_number(run.settings.get(key)) for run in finished)
    ]
    metrics = sorted(
        key
        for key in {key for run in finished for key in run.scalar_metrics()}
        if len({run.scalar_metrics().get(key) for run in finished}) > 1
    )
    written: list[Path] = []
    for x_key in numeric:
        others = [key for key in settings if key != x_key]
        for metric in metrics:
            if len(written) >= MAX_GENERIC_FIGURES:
                log.info("more than %d metric figures; the rest are in the CSV", MAX_GENERIC_FIGURES)
                return written
            groups: dict[str, list[tuple[float, float]]] = {}
            for run in finished:
                value = run.scalar_metrics().get(metric)
                if value is None or not math.isfinite(value):
                    continue
                label = ", ".join(f"{k}={run.settings.get(k)}" for k in others) or metric
                groups.setdefault(label, []).append((float(run.settings[x_key]), value))
            if not any(len(points) > 1 for points in groups.values()):
                continue
            figure, axes = plt.subplots(figsize=(5, 3.5))
            for label, points in sorted(groups.items()):
                xs, ys = zip(*sorted(points), strict=True)
                axes.plot(xs, ys, "o-", label=label)
            axes.set_xlabel(x_key)
            axes.set_ylabel(metric)
            if len(groups) > 1:
                axes.legend(fontsize="small")
            safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", f"{metric}__vs__{x_key}")
            written.append(save_figure(figure, out_dir / f"{safe}.png"))
    return written


def export_tensorboard_images(log_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the latest image of every TensorBoard image tag under ``log_dir`` (filters, reconstructions,
    figures) to ``out_dir/<tag>.png`` (``/`` in tags becomes ``__``), so a run's figures can be looked at
    without TensorBoard. Returns the written paths (none when nothing was logged)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not Path(log_dir).is_dir():
        return []
    events = EventAccumulator(str(log_dir), size_guidance={"images": 1})
    events.Reload()
    written = []
    for tag in sorted(events.Tags().get("images", [])):
        image = events.Images(tag)[-1].encoded_image_string
        name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", tag.replace("/", "__"))
        written.append(
            atomic_write_bytes(Path(out_dir) / f"{name}.png", lambda handle, data=image: handle.write(data))
        )
    return written


def make_report(
    sweep_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Write ``report.csv`` and the figures for the sweep in ``sweep_dir`` (default ``<sweep_dir>/report``).

    Returns ``{"runs", "failed", "csv", "figures", "text"}`` (``text`` is the printed table).
    """
    runs = load_runs(sweep_dir)
    out = Path(out_dir) if out_dir is not None else Path(sweep_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    header, rows = table(runs)
    csv_path = _write_csv(out / "report.csv", header, rows)
    figures = metric_figures(runs, out)
    for task in sorted({str(run.summary.get("task_name")) for run in runs}):
        if task in FIGURES:
            figures += FIGURES[task]([run for run in runs if run.summary.get("task_name") == task], out)
    figures += rg_measurement_figures(runs, out)
    failed = [run for run in runs if run.status != "finished"]
    lines = [format_table(header, rows, max_columns=8, numbers_right=False)]
    lines += [f"FAILED {run.name}: {run.error}" for run in failed]
    lines.append(
        f"{len(runs) - len(failed)} of {len(runs)} runs finished; wrote {csv_path} and {len(figures)} figures"
    )
    return {"runs": runs, "failed": failed, "csv": csv_path, "figures": figures, "text": "\n".join(lines)}


def coupling_flow_figure(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """coupling_flow_1d: every finished run's fitted layer couplings (K_l, h_l) with error bars in the (K, h)
    plane, joined in layer order from the data's (K0, h0), next to the exact decimation flow from the same
    start (dashed) and the stable fixed point K* = 0. A run's line stops before its first layer whose fit
    diverged (perfectly ordered output: no finite maximum likelihood)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flows = []
    for run in runs:
        flow = (run.summary.get("metrics") or {}).get("coupling_trajectories", {}).get("coupling_flow")
        if run.status == "finished" and flow and flow.get("layers"):
            flows.append((run.name, flow))
    if not flows:
        return []
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for index, (name, flow) in enumerate(flows):
        colour = f"C{index % 10}"
        every_layer = flow["layers"]
        layers = every_layer
        diverged = [i for i, layer in enumerate(every_layer) if not layer.get("converged", True)]
        if diverged:  # a diverged fit (perfectly ordered output) has no finite (K, h)
            name = f"{name} (fits diverged from layer {diverged[0] + 1})"
            layers = every_layer[: diverged[0]]
        K = [flow["K0"], *(layer["K"] for layer in layers)]
        h = [flow["h0"], *(layer.get("h", 0.0) for layer in layers)]
        K_err = [0.0, *(layer["K_err"] for layer in layers)]
        h_err = [0.0, *(layer.get("h_err", 0.0) for layer in layers)]
        axes.errorbar(K, h, xerr=K_err, yerr=h_err, fmt="o-", color=colour, ms=4, label=name)
        K_exact = [flow["K0"], *(layer["K_exact"] for layer in every_layer)]
        h_exact = [flow["h0"], *(layer.get("h_exact", 0.0) for layer in every_layer)]
        axes.plot(K_exact, h_exact, "x--", color=colour, alpha=0.6)
    axes.plot([0.0], [0.0], "k*", ms=12, label="K* = 0 (stable)")
    axes.set_xlabel("K (fitted: o, exact decimation: x)")
    axes.set_ylabel("h")
    axes.set_title("coupling flows of the layers' outputs")
    axes.legend(fontsize="small")
    return [save_figure(figure, out_dir / "coupling_flows_K_h.png")]


#: I(V;H) (nats) above which an ib_relevance run counts as having switched its code on.
IB_CODE_ON_NATS = 0.02


def ib_relevance_figure(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """ib_relevance(_cylinder): over the finished runs of a beta sweep, I(H;V) and I(H;E) (last validation
    values, nats; with hollow markers the exact informations of the learned code where the data's law is
    known) against beta, and the code's overlaps with the block magnetization and bond energy against
    beta; one colour per combination of the other varying settings. The exact ``beta_c_exact`` of the runs'
    geometry is a solid vertical line where known (for symmetric codes, the symmetric sector's
    ``beta_c_exact_symmetric``: Z2-even for Ising, S_q-invariant for Potts); the VIB's own transition
    (midpoint between the largest beta whose code stayed off, I(V;H) < ``IB_CODE_ON_NATS``, and the smallest
    beta above it whose code is on) a dotted one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finished = [run for run in runs if run.status == "finished"]
    others = [key for key in varying_settings(finished) if key != "model.beta"]
    groups: dict[str, list[dict[str, float]]] = {}
    for run in finished:
        ib = (run.summary.get("metrics") or {}).get("ib_relevance") or {}
        last, beta = ib.get("last") or {}, ib.get("beta", run.settings.get("model.beta"))
        if not is_finite_number(beta) or not is_finite_number(last.get("i_vh")):
            continue
        point = {"beta": float(beta), **{k: float(v) for k, v in last.items() if is_finite_number(v)}}
        exact_key = "beta_c_exact_symmetric" if "beta_over_beta_c_exact_symmetric" in ib else "beta_c_exact"
        if is_finite_number(ib.get(exact_key)):
            point["beta_c_exact"] = float(ib[exact_key])
            point["symmetric"] = float(exact_key == "beta_c_exact_symmetric")
        label = ", ".join(f"{k}={run.settings.get(k)}" for k in others)
        groups.setdefault(label, []).append(point)
    if not groups:
        return []
    figure, (info_axes, overlap_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for index, (label, points) in enumerate(sorted(groups.items())):
        points.sort(key=lambda point: point["beta"])
        colour = f"C{index % 10}"
        betas = [point["beta"] for point in points]
        prefix = f"{label}: " if label else ""
        info_axes.plot(betas, [p["i_vh"] for p in points], "o-", color=colour, label=f"{prefix}I(H;V)")
        if all("i_he" in p for p in points):
            info_axes.plot(betas, [p["i_he"] for p in points], "s--", color=colour, label=f"{prefix}I(H;E)")
        for key, marker, name in (("i_vh_exact", "o", "I(H;V)"), ("i_he_exact", "s", "I(H;E)")):
            if all(key in p for p in points):
                info_axes.plot(
                    betas,
                    [p[key] for p in points],
                    marker,
                    color=colour,
                    mfc="none",
                    ms=9,
                    label=f"{prefix}{name} of the code, exact",
                )
        for key, marker in (("overlap_magnetization", "o-"), ("overlap_energy", "x:")):
            if all(key in p for p in points):
                name = key.removeprefix("overlap_")
                overlap_axes.plot(
                    betas, [p[key] for p in points], marker, color=colour, label=f"{prefix}{name}"
                )
        exact = {(p["beta_c_exact"], p["symmetric"]) for p in points if "beta_c_exact" in p}
        for value, symmetric in sorted(exact):
            sector = " (symmetric sector)" if symmetric else ""
            info_axes.axvline(value, color=colour, lw=1.5, label=f"exact beta_c{sector} = {value:.4g}")
            overlap_axes.axvline(value, color=colour, lw=1.5)
        on = [p["i_vh"] >= IB_CODE_ON_NATS for p in points]
        switch = [k for k in range(1, len(points)) if on[k] and not on[k - 1] and all(on[k:])]
        if switch:
            vib_beta_c = 0.5 * (betas[switch[0] - 1] + betas[switch[0]])
            info_axes.axvline(vib_beta_c, color=colour, ls=":", label=f"VIB switches on ~ {vib_beta_c:.3g}")
    info_axes.set_xlabel("beta")
    info_axes.set_ylabel("nats (validation bounds)")
    info_axes.set_title("information curve")
    overlap_axes.set_xlabel("beta")
    overlap_axes.set_ylabel("|corr(code, operator)|")
    overlap_axes.set_ylim(-0.02, 1.02)
    overlap_axes.set_title("operator overlaps of the code")
    for axes in (info_axes, overlap_axes):
        axes.legend(fontsize="x-small")
    task = str(finished[0].summary.get("task_name", "ib_relevance"))
    return [save_figure(figure, out_dir / f"{task}_information_curve.png")]


def mehta_schwab_figure(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """mehta_schwab: over the finished runs of a temperature sweep, locality per layer (trained: solid, the
    block-spin control on structureless data: dashed) and block radius per layer (rms radius of the effective
    fields, lattice spacings; control dashed) against ``data.K``, one colour per layer, K_c marked. Runs that
    differ in other settings are averaged per K (the CSV keeps them apart)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rgnet.ising import K_CRITICAL

    series: dict[tuple[str, str, str], dict[float, list[float]]] = {}
    for run in runs:
        K = run.settings.get("data.K")
        if run.status != "finished" or not is_finite_number(K):
            continue
        metrics = run.summary.get("metrics") or {}
        block = metrics.get("block_spin") or {}
        sources = {
            ("locality", "trained"): block.get("locality_trained") or metrics.get("locality"),
            ("locality", "control"): block.get("locality_control"),
            ("radius", "trained"): block.get("block_radius_trained") or metrics.get("block_radius"),
            ("radius", "control"): block.get("block_radius_control"),
        }
        for (quantity, kind), per_layer in sources.items():
            for layer, value in (per_layer or {}).items():
                if is_finite_number(value):
                    series.setdefault((quantity, kind, layer), {}).setdefault(float(K), []).append(
                        float(value)
                    )
    if not series:
        return []
    figure, panels = plt.subplots(1, 2, figsize=(11, 4))
    layers = sorted({layer for _, _, layer in series}, key=lambda name: (len(name), name))
    for (quantity, kind, layer), points in sorted(series.items()):
        axes = panels[0] if quantity == "locality" else panels[1]
        Ks = sorted(points)
        values = [sum(points[K]) / len(points[K]) for K in Ks]
        colour = f"C{layers.index(layer) % 10}"
        style = "o-" if kind == "trained" else "x--"
        axes.plot(Ks, values, style, color=colour, label=f"{layer} ({kind})")
    ylabels = ("locality (share of w^2 in window)", "block radius (lattice spacings)")
    for axes, ylabel in zip(panels, ylabels, strict=True):
        axes.axvline(K_CRITICAL, color="k", lw=1, ls=":", label=f"K_c = {K_CRITICAL:.4f}")
        axes.set_xlabel("data.K")
        axes.set_ylabel(ylabel)
        axes.legend(fontsize="x-small")
    panels[0].set_title("localization of the receptive fields")
    panels[1].set_title("receptive-field size")
    return [save_figure(figure, out_dir / "mehta_schwab_locality_block_size_vs_K.png")]


def _seed_mean(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[float | None, float | None]:
    """Mean and standard error of ``key`` over runs (one run: its own error, ``key + "_err"``)."""
    values = [float(r[key]) for r in rows if is_finite_number(r.get(key))]
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], next((r.get(f"{key}_err") for r in rows if is_finite_number(r.get(key))), None)
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean, spread / math.sqrt(len(values))


def _seed_averaged(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """RGMeasurement results of several runs (seeds) as one results dict: per map, level (and matched
    operator), the mean and standard error over the runs of each exponent."""
    from rgnet.callbacks.rg_measurement import MAPS

    averaged: dict[str, Any] = {"exact": results[0].get("exact")} if results else {}
    for name in MAPS:
        per_run = [r[name] for r in results if name in r]
        if not per_run:
            continue
        averaged[name] = {"mcrg": {"levels": []}, "matching": {"levels": []}}
        for section, match in (("mcrg", ("level",)), ("matching", ("level", "operator"))):
            keys = sorted(
                {
                    tuple(row[k] for k in match)
                    for run in per_run
                    for row in run.get(section, {}).get("levels", [])
                }
            )
            for key in keys:
                rows = [
                    row
                    for run in per_run
                    for row in run.get(section, {}).get("levels", [])
                    if tuple(row[k] for k in match) == key
                ]
                entry: dict[str, Any] = dict(zip(match, key, strict=True))
                for quantity in ("y_t", "y_h"):
                    entry[quantity], entry[f"{quantity}_err"] = _seed_mean(rows, quantity)
                averaged[name][section]["levels"].append(entry)
    return averaged


def rg_measurement_figures(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """Any experiment with ``callbacks.rg_measurement``: y_t and y_h per level for the learned map and
    majority (Ising) or plurality (Potts) rule (MCRG and matching; mean +- standard error over the finished
    runs, e.g. seeds; one run: its jackknife errors), exact values marked; and every run's coupling flow in
    the (K, K2) plane."""
    import matplotlib

    matplotlib.use("Agg")

    from rgnet.callbacks.rg_measurement import exponents_figure, flow_figure

    results = [
        run.summary["metrics"]["rg_measurement"]
        for run in runs
        if run.status == "finished" and (run.summary.get("metrics") or {}).get("rg_measurement")
    ]
    if not results:
        return []
    exponents = exponents_figure(_seed_averaged(results))
    exponents.suptitle(f"RG exponents per level ({len(results)} runs: mean +- standard error)")
    written = [save_figure(exponents, out_dir / "rg_exponents_per_level.png")]
    if any(r.get("learned", {}).get("flow") for r in results):
        written.append(save_figure(flow_figure(results), out_dir / "rg_flow_K_K2.png"))
    return written


#: Figures an experiment adds to its report: task name -> function(runs, out_dir) -> written PNG paths.
FIGURES: dict[str, Callable[[Sequence[Run], Path], list[Path]]] = {
    "coupling_flow_1d": coupling_flow_figure,
    "mehta_schwab": mehta_schwab_figure,
    "ib_relevance": ib_relevance_figure,
    "ib_relevance_cylinder": ib_relevance_figure,
    "ib_relevance_cylinder_even": ib_relevance_figure,
}
