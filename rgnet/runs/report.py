"""Aggregate the ``summary.json`` files of a sweep into tables and the standard figures.

A sweep directory holds one run directory per job (``rgnet-train -m ...``), each with a ``summary.json``
(see :mod:`rgnet.runs.summary`). :func:`make_report` reads them all, finds the settings that vary between
runs, and groups the runs that differ only in their seeds (:data:`REPLICATE_SETTINGS`): replicates. Runs whose
text-valued outcomes differ (:func:`outcome_keys`, e.g. the rule an RSMI map learned: plurality or minority)
are never averaged together: the outcome joins the settings of their group. It writes into ``<sweep>/report/``

- ``report.csv``: one row per run (status, varying settings, scalar metrics), as before replicates;
- ``replicates.csv``: one row per group: its settings, how many runs it has and how many finished (only
  those are averaged), their seeds, and per numeric metric the mean, standard error and count, per boolean
  metric (a verdict) the fraction true and count;
- ``report.md``: the printed table of the groups (mean ± standard error) as markdown, with the runs left out;
- PNG figures: every numeric metric against each varying numeric setting (e.g. locality per layer against
  ``data.K``; the mean over the seeds with its standard error as error bar), plus the figures an experiment
  registers in :data:`FIGURES` (e.g. coupling flows in the (K, h) plane).
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
from typing import TYPE_CHECKING, Any

from rgnet._logging import quiet_loggers
from rgnet.files import atomic_write_bytes
from rgnet.tables import format_table

if TYPE_CHECKING:
    from matplotlib.axes import Axes

log = logging.getLogger(__name__)

#: Config keys that never identify a run in a report (where it ran, how it was logged).
IGNORED_SETTINGS = re.compile(
    r"^(paths|output_dir|hydra|logger|callbacks|trainer\.(?!max_epochs)|debug|resume|test|optimized_metric|"
    r"checkpoint_every_n_steps|data\.(progress|num_workers|cache_dir|pin_memory))"
)
#: Metric columns of the printed table (after the settings; the rest are in report.md and the CSVs).
PRINTED_METRICS = 6
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


def distinguishing_settings(settings: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[str]:
    """The ``keys`` (in order) that a legend needs for runs or groups of these ``settings``: each kept key
    tells apart settings that the keys kept before it do not (a setting that changes in lockstep with an
    earlier one, e.g. ``model.lr`` with ``model.encoder``, adds nothing and is left out)."""
    kept: list[str] = []

    def classes(names: Sequence[str]) -> int:
        return len({json.dumps([values.get(k) for k in names], default=str) for values in settings})

    for key in keys:
        if classes([*kept, key]) > classes(kept):
            kept.append(key)
    return kept


def legend_label(settings: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``tail=value`` of each key (``model.encoder`` -> ``encoder=pairs``), joined by commas."""
    return ", ".join(f"{key.rsplit('.', 1)[-1]}={settings.get(key)}" for key in keys)


def is_finite_number(value: Any) -> bool:
    """A finite int or float (not a bool): what TensorBoard and the report figures can plot."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: Settings that name a replicate (a seed) rather than another experiment: runs that differ only in these
#: are one group, averaged in the report (``seed``, ``data.seed``, ``data.split_seed``, ...).
REPLICATE_SETTINGS = re.compile(r"(^|[._])seed$")


def is_replicate_setting(key: str) -> bool:
    """Whether the config key ``key`` names a replicate (a seed) rather than a setting of the experiment."""
    return REPLICATE_SETTINGS.search(key) is not None


@dataclass(frozen=True)
class Stat:
    """One metric over the finished runs of a replicate group: ``mean`` and its standard error ``sem``
    (sample standard deviation / sqrt(count); None for a single value) of ``count`` finite values. For a
    boolean metric (a verdict) ``mean`` is the fraction of runs where it is true and ``sem`` is None."""

    mean: float
    sem: float | None
    count: int
    boolean: bool = False


def mean_sem(values: Sequence[float]) -> Stat:
    """Mean, standard error of the mean (None for one value) and count of ``values`` (not empty)."""
    if not values:
        raise ValueError("mean_sem: values must not be empty")
    count = len(values)
    mean = math.fsum(values) / count
    if count == 1:
        return Stat(mean, None, 1)
    variance = math.fsum((value - mean) ** 2 for value in values) / (count - 1)
    return Stat(mean, math.sqrt(variance / count), count)


@dataclass
class Group:
    """Runs that differ only in their replicate settings (seeds): ``settings`` are the values of the sweep's
    other varying settings, ``stats`` every metric over the finished runs (failed or unfinished runs are
    counted in ``runs`` but never averaged in)."""

    settings: dict[str, Any]
    runs: list[Run]
    stats: dict[str, Stat] = field(default_factory=dict)

    @property
    def finished(self) -> list[Run]:
        return [run for run in self.runs if run.status == "finished"]

    @property
    def label(self) -> str:
        return ", ".join(f"{key}={value}" for key, value in self.settings.items()) or "all runs"

    def replicates(self, keys: Sequence[str]) -> str:
        """The replicate values of the finished runs, e.g. ``seed=0,1,2`` (empty without ``keys``)."""
        return "; ".join(
            f"{key}=" + ",".join(str(run.settings.get(key)) for run in self.finished) for key in keys
        )


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers by value before everything else by its JSON text."""
    if is_finite_number(value):
        return (0, float(value))
    return (1, json.dumps(value, sort_keys=True, default=str))


def outcome_keys(runs: Sequence[Run]) -> list[str]:
    """Text-valued metrics whose value differs between the finished runs (sorted): categorical outcomes of a
    run, such as the rule an RSMI map learned, which a mean over seeds must not mix."""
    values: dict[str, set[str]] = {}
    for run in runs:
        if run.status == "finished":
            for key, value in run.metrics.items():
                if isinstance(value, str):
                    values.setdefault(key, set()).add(value)
    return sorted(key for key, seen in values.items() if len(seen) > 1)


def group_replicates(runs: Sequence[Run]) -> tuple[list[Group], list[str], list[str]]:
    """The runs with a readable summary, grouped by every varying setting except the replicate ones, and by
    the :func:`outcome_keys` of the finished runs.

    Returns ``(groups, settings, replicate_keys)``: the groups sorted by their settings, the varying
    settings (then the outcomes) that tell groups apart and the varying replicate settings (seeds) averaged
    over. Every numeric metric of a group is the :func:`mean_sem` of its finite values in the group's
    finished runs, every boolean metric the fraction true (:class:`Stat`). Unreadable summaries belong to no
    group; an unfinished run has no outcome (None).
    """
    readable = [run for run in runs if run.status != "unreadable"]
    varying = varying_settings(readable)
    outcomes = outcome_keys(readable)
    settings = [key for key in varying if not is_replicate_setting(key)] + outcomes
    replicate_keys = [key for key in varying if is_replicate_setting(key)]
    by_key: dict[str, Group] = {}
    for run in readable:
        values = {key: run.settings.get(key) for key in settings if key not in outcomes}
        values |= {key: run.metrics.get(key) if run.status == "finished" else None for key in outcomes}
        key = json.dumps(values, sort_keys=True, default=str)
        by_key.setdefault(key, Group(values, [])).runs.append(run)
    groups = sorted(by_key.values(), key=lambda group: [_sort_key(v) for v in group.settings.values()])
    kinds: dict[str, set[type]] = {}  # {bool}: a verdict; with float: a number (its booleans left out)
    for run in (run for group in groups for run in group.finished):
        for name, value in run.metrics.items():
            if isinstance(value, bool) or is_finite_number(value):
                kinds.setdefault(name, set()).add(bool if isinstance(value, bool) else float)
    for group in groups:
        values_of: dict[str, list[float]] = {}
        for run in group.finished:
            for name, value in run.metrics.items():
                verdict = kinds.get(name) == {bool}
                if (verdict and isinstance(value, bool)) or (not verdict and is_finite_number(value)):
                    values_of.setdefault(name, []).append(float(value))
        for name, values in values_of.items():
            if kinds[name] == {bool}:
                group.stats[name] = Stat(sum(values) / len(values), None, len(values), boolean=True)
            else:
                group.stats[name] = mean_sem(values)
    return groups, settings, replicate_keys


def format_stat(stat: Stat | None, finished: int) -> str:
    """A table cell: ``mean ± sem`` (the error to two significant digits, the mean to the same decimal),
    a single run's value alone, a verdict as ``true/count true``; `` (n=count)`` where fewer than the
    group's ``finished`` runs had the metric. Empty for no value."""
    if stat is None:
        return ""
    if stat.boolean:
        return f"{round(stat.mean * stat.count)}/{stat.count} true"
    if stat.sem is None or not math.isfinite(stat.sem):
        text = f"{stat.mean:.6g}"
    elif stat.sem == 0:  # identical replicates
        text = f"{stat.mean:.6g} ± 0"
    else:
        decimals = min(12, max(0, 1 - math.floor(math.log10(stat.sem))))
        text = f"{stat.mean:.{decimals}f} ± {stat.sem:.{decimals}f}"
    return text if stat.count == finished else f"{text} (n={stat.count})"


def group_metrics(groups: Sequence[Group]) -> list[str]:
    """Every metric name with a value in some group (sorted)."""
    return sorted({name for group in groups for name in group.stats})


#: Metrics that are settings or constants rather than results, wherever they sit in a summary (names with
#: ``.`` or ``/``): exact values and a measurement's setup, ln 2 and ln q (what a variable can carry at most),
#: the inputs' couplings ``K0`` and ``h0``, ``K* = 0``, epochs and steps, the model's beta and temperature
#: tau, its layer sizes, the layer in training.
CONSTANT_METRICS = re.compile(
    r"(^|[./])(exact|setup)([./]|$)"
    r"|(^|[./])(ln2|ln_q|K0|h0|fixed_point_K|epoch|epochs|step|global_step|beta|tau|layer|layer_sizes)$"
    r"|(^|[./])(beta_c_exact|beta_over_beta_c_exact)(_symmetric)?$"  # an IB run's exact references
)
#: Metrics logged while training (the curves of Lightning's ``self.log``): after the physics in tables.
TRAINING_METRICS = re.compile(r"^(train|val|test)[/_]")


def metric_rank(name: str, *, verdict: bool = False) -> int:
    """Where a metric goes in the printed table and in TensorBoard's HParams: 0 a verdict (a boolean), 1 the
    physics, 2 what training logged (``train/``, ``val/``, ``test/``), 3 settings and constants
    (:data:`CONSTANT_METRICS`)."""
    if CONSTANT_METRICS.search(name):
        return 3
    if verdict:
        return 0
    return 2 if TRAINING_METRICS.match(name) else 1


#: The index of a per-layer (level, depth, ...) metric in its name.
_INDEX = re.compile(r"(?:layer|level|depth|variable|item)\d+")


def same_quantity(name_a: str, a: Sequence[float | None], name_b: str, b: Sequence[float | None]) -> bool:
    """Whether metrics ``name_a`` and ``name_b`` with the values ``a`` and ``b`` (one per run or group) are
    one quantity under two names (``locality.layer1`` of the model and ``block_spin.locality_trained.layer1``
    of a callback, ``train_i_vh`` and ``train/i_vh``): the same layer or level index (or none and the same
    last word) and equal values to a relative 1e-6 (float32 copies of a float64 value) wherever either has
    one, at least one of them not a whole number (0, 1 and counts agree by chance)."""
    index_a, index_b = _INDEX.findall(name_a), _INDEX.findall(name_b)
    if index_a != index_b or (
        not index_a and re.split(r"[./_]", name_a)[-1] != re.split(r"[./_]", name_b)[-1]
    ):
        return False
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None or y is not None]
    if not pairs or any(x is None or y is None for x, y in pairs):
        return False
    if all(float(x).is_integer() for x, _ in pairs):
        return False
    return all(math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-12) for x, y in pairs)


def table_metrics(groups: Sequence[Group], optimized: str | None = None) -> list[str]:
    """The metric columns of the printed table, the physics first: the experiment's ``optimized`` metric,
    verdicts, physics, training curves, then settings and constants (:func:`metric_rank`); within each,
    metrics that differ between groups before those that do not, then by name. A metric whose means equal
    an earlier column's in every group (:func:`same_quantity`: the model's copy of a callback's measurement)
    is left out; ``replicates.csv`` keeps every metric."""
    names = group_metrics(groups)

    def means(name: str) -> list[float | None]:
        return [group.stats[name].mean if name in group.stats else None for group in groups]

    def key(name: str) -> tuple[int, int, str]:
        verdict = any(group.stats[name].boolean for group in groups if name in group.stats)
        rank = -1 if name == optimized else metric_rank(name, verdict=verdict)
        return (rank, 0 if len(set(means(name))) > 1 else 1, name)

    kept: list[str] = []
    for name in sorted(names, key=key):
        if not any(same_quantity(name, means(name), other, means(other)) for other in kept):
            kept.append(name)
    return kept


def replicates_table(
    groups: Sequence[Group], settings: Sequence[str], replicate_keys: Sequence[str]
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of ``replicates.csv``: the group's settings, ``runs`` (all), ``finished`` (averaged),
    ``replicates`` (the finished runs' seeds), then per numeric metric ``<metric>.mean``, ``.sem`` (blank for
    one run) and ``.count``, per boolean metric ``<metric>.fraction_true`` and ``.count``."""
    metrics = group_metrics(groups)
    boolean = {name for group in groups for name, stat in group.stats.items() if stat.boolean}
    header = [*settings, "runs", "finished", "replicates"]
    for name in metrics:
        suffixes = ("fraction_true", "count") if name in boolean else ("mean", "sem", "count")
        header += [f"{name}.{suffix}" for suffix in suffixes]
    rows = []
    for group in groups:
        row = [*(group.settings[key] for key in settings), len(group.runs), len(group.finished)]
        row.append(group.replicates(replicate_keys))
        for name in metrics:
            stat = group.stats.get(name)
            if stat is None:
                row += [""] * (2 if name in boolean else 3)
            elif stat.boolean:
                row += [stat.mean, stat.count]
            else:
                row += [stat.mean, "" if stat.sem is None else stat.sem, stat.count]
        rows.append(row)
    return header, rows


def summary_table(
    groups: Sequence[Group], settings: Sequence[str], optimized: str | None = None
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the printed and markdown table: settings, ``finished`` (``k of n``), then one
    :func:`format_stat` cell per metric, the physics first (:func:`table_metrics`; ``optimized``: the
    experiment's ``optimized_metric``, first of all)."""
    metrics = table_metrics(groups, optimized)
    header = [*settings, "finished", *metrics]
    rows = []
    for group in groups:
        done = len(group.finished)
        rows.append(
            [
                *(str(group.settings[key]) for key in settings),
                f"{done} of {len(group.runs)}",
                *(format_stat(group.stats.get(name), done) for name in metrics),
            ]
        )
    return header, rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table (``|`` in cells escaped)."""

    def line(cells: Sequence[Any]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *(line(row) for row in rows)])


def unfinished_notes(groups: Sequence[Group], replicate_keys: Sequence[str]) -> list[str]:
    """One line per group of several runs some of which did not finish: how many finished and which were
    left out (a group of one run is in the FAILED lines)."""
    noun = "seeds" if replicate_keys else "runs"
    notes = []
    for group in groups:
        left_out = [run for run in group.runs if run.status != "finished"]
        if left_out and len(group.runs) > 1:
            names = ", ".join(f"{run.name} ({run.status})" for run in left_out)
            notes.append(
                f"{group.label}: {len(group.finished)} of {len(group.runs)} {noun} finished; "
                f"not averaged: {names}"
            )
    return notes


def metric_figures(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """One PNG per (numeric metric, varying numeric setting): the metric against the setting, one line per
    combination of the other varying settings. Runs that differ only in their seeds (:func:`group_replicates`)
    are one point: the mean over the finished runs with its standard error as error bar (none for a single
    run). Metrics equal in every run (exact values, the setup), boolean verdicts and the seeds as an axis
    are left to the tables."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rgnet.callbacks._tensorboard import legend_below

    finished = [run for run in runs if run.status == "finished"]
    groups, settings, replicate_keys = group_replicates(finished)
    numeric = [key for key in settings if all(is_finite_number(group.settings[key]) for group in groups)]
    metrics = sorted(
        key
        for key in {key for run in finished for key in run.scalar_metrics()}
        if len({run.scalar_metrics().get(key) for run in finished}) > 1
    )
    written: list[Path] = []
    for x_key in numeric:
        others = distinguishing_settings(
            [group.settings for group in groups], [key for key in settings if key != x_key]
        )
        for metric in metrics:
            if len(written) >= MAX_GENERIC_FIGURES:
                log.info("more than %d metric figures; the rest are in the CSV", MAX_GENERIC_FIGURES)
                return written
            lines: dict[str, list[tuple[float, Stat]]] = {}
            for group in groups:
                stat = group.stats.get(metric)
                if stat is None:
                    continue
                label = legend_label(group.settings, others) or metric
                lines.setdefault(label, []).append((float(group.settings[x_key]), stat))
            if not any(len(points) > 1 for points in lines.values()):
                continue
            figure, axes = plt.subplots(figsize=(5, 3.5))
            counts = sorted({stat.count for points in lines.values() for _, stat in points})
            for label, points in lines.items():  # in the groups' (numeric) order
                points.sort(key=lambda point: point[0])
                xs = [x for x, _ in points]
                means = [stat.mean for _, stat in points]
                errors = [math.nan if stat.sem is None else stat.sem for _, stat in points]
                yerr = None if all(math.isnan(e) for e in errors) else errors
                axes.errorbar(xs, means, yerr=yerr, fmt="o-", capsize=3, label=label)
            axes.set_xlabel(x_key)
            axes.set_ylabel(metric)
            if counts[-1] > 1:
                n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
                over = "/".join(replicate_keys) or "runs"
                axes.set_title(f"mean ± standard error over {over} (n = {n} per point)", fontsize="small")
            if len(lines) > 1:
                legend_below(axes, columns=1, fontsize="x-small", frameon=True)
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
    with quiet_loggers("tensorboard"):  # it says "Directory watcher advancing ..." per event file
        events.Reload()
    written = []
    for tag in sorted(events.Tags().get("images", [])):
        image = events.Images(tag)[-1].encoded_image_string
        name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", tag.replace("/", "__"))
        written.append(
            atomic_write_bytes(Path(out_dir) / f"{name}.png", lambda handle, data=image: handle.write(data))
        )
    return written


def replicates_caption(groups: Sequence[Group], replicate_keys: Sequence[str]) -> str:
    """What the cells of the groups' table are: how many groups, over which seeds they average."""
    plural = "s" if len(groups) != 1 else ""
    if not any(len(group.finished) > 1 for group in groups):
        return f"{len(groups)} setting{plural}, at most one finished run each: its values"
    over = f" over {'/'.join(replicate_keys)}" if replicate_keys else " over the runs"
    return (
        f"{len(groups)} setting{plural}; mean ± standard error{over}, finished runs only (a single run: its "
        "value; (n=k): only k runs have the metric; verdicts: runs true/runs)"
    )


def make_report(
    sweep_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Write the tables and figures of the sweep in ``sweep_dir`` to ``out_dir`` (default
    ``<sweep_dir>/report``): ``report.csv`` (one row per run, :func:`table`), ``replicates.csv`` (one row
    per group of runs that differ only in their seeds, :func:`replicates_table`), ``report.md`` (the printed
    table of the groups as markdown, with the runs left out) and the PNG figures.

    Returns ``{"runs", "failed", "groups", "csv", "replicates_csv", "markdown", "figures", "text"}``
    (``text`` is the printed report: the table of the groups, mean ± standard error, and the failures).
    """
    runs = load_runs(sweep_dir)
    out = Path(out_dir) if out_dir is not None else Path(sweep_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    header, rows = table(runs)
    csv_path = _write_csv(out / "report.csv", header, rows)
    groups, settings, replicate_keys = group_replicates(runs)
    replicates_path = _write_csv(out / "replicates.csv", *replicates_table(groups, settings, replicate_keys))
    figures = metric_figures(runs, out)
    for task in sorted({str(run.summary.get("task_name")) for run in runs}):
        if task in FIGURES:
            figures += FIGURES[task]([run for run in runs if run.summary.get("task_name") == task], out)
    figures += rg_measurement_figures(runs, out)
    failed = [run for run in runs if run.status != "finished"]
    optimized = {(run.summary.get("config") or {}).get("optimized_metric") for run in runs} - {None}
    optimized_metric = optimized.pop() if len(optimized) == 1 else None
    summary_header, summary_rows = summary_table(groups, settings, optimized_metric)
    caption = replicates_caption(groups, replicate_keys)
    notes = unfinished_notes(groups, replicate_keys)
    notes += [f"FAILED {run.name}: {run.error}" for run in failed]
    finished_line = f"{len(runs) - len(failed)} of {len(runs)} runs finished"
    markdown = "\n\n".join(
        [
            f"# Report of {sweep_dir}",
            f"{finished_line}. {caption}.",
            markdown_table(summary_header, summary_rows),
            *(["\n".join(f"- {note}" for note in notes)] if notes else []),
        ]
    )
    markdown_path = atomic_write_bytes(
        out / "report.md", lambda handle: handle.write(f"{markdown}\n".encode())
    )
    # the printed table: the settings that tell groups apart (lockstep ones in report.md), then the metrics
    shown = distinguishing_settings([group.settings for group in groups], settings)
    columns = [i for i, name in enumerate(summary_header) if i >= len(settings) or name in shown]
    printed_header = [summary_header[i] for i in columns]
    printed_rows = [[row[i] for i in columns] for row in summary_rows]
    lines = [caption]
    if len(shown) < len(settings):
        lockstep = [key for key in settings if key not in shown]
        lines.append(
            f"(not shown: {', '.join(lockstep)}, which change with the settings shown; see report.md)"
        )
    lines.append(
        format_table(
            printed_header, printed_rows, max_columns=len(shown) + 1 + PRINTED_METRICS, numbers_right=False
        )
    )
    lines += notes
    lines.append(
        f"{finished_line}; wrote {csv_path} (per run), {replicates_path.name}, {markdown_path.name} and "
        f"{len(figures)} figure{'' if len(figures) == 1 else 's'}"
    )
    return {
        "runs": runs,
        "failed": failed,
        "groups": groups,
        "csv": csv_path,
        "replicates_csv": replicates_path,
        "markdown": markdown_path,
        "figures": figures,
        "text": "\n".join(lines),
    }


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


def _average_points(points: Sequence[Mapping[str, float]], x: str) -> list[dict[str, float]]:
    """Points (dicts of numbers) with the same ``x`` (replicates) as one, sorted by ``x``: every key that all
    of them have is their mean, ``<key>_err`` its standard error where there are several."""
    by_x: dict[float, list[Mapping[str, float]]] = {}
    for point in points:
        by_x.setdefault(point[x], []).append(point)
    averaged = []
    for value in sorted(by_x):
        same = by_x[value]
        point: dict[str, float] = {x: value}
        for key in sorted(set.intersection(*(set(p) for p in same)) - {x}):
            stat = mean_sem([p[key] for p in same])
            point[key] = stat.mean
            if stat.sem is not None:
                point[f"{key}_err"] = stat.sem
        averaged.append(point)
    return averaged


def ib_relevance_figure(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """ib_relevance(_cylinder): over the finished runs of a beta sweep, I(H;V) and I(H;E) (last validation
    values, nats; with hollow markers the exact informations of the learned code where the data's law is
    known) against beta, and the code's overlaps with the block magnetization and bond energy against
    beta; one colour per combination of the other varying settings. The exact ``beta_c_exact`` of the runs'
    geometry is a solid vertical line where known (for symmetric codes, the symmetric sector's
    ``beta_c_exact_symmetric``: Z2-even for Ising, S_q-invariant for Potts); the VIB's own transition
    (midpoint between the largest beta whose code stayed off, I(V;H) < ``IB_CODE_ON_NATS``, and the smallest
    beta above it whose code is on) a dotted one. Runs that differ only in their seeds are one point per beta:
    the mean with its standard error as error bar (the transition from the mean I(V;H))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rgnet.callbacks._tensorboard import legend_below

    finished = [run for run in runs if run.status == "finished"]
    others = distinguishing_settings(
        [run.settings for run in finished],
        [key for key in varying_settings(finished) if key != "model.beta" and not is_replicate_setting(key)],
    )
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
        groups.setdefault(legend_label(run.settings, others), []).append(point)
    if not groups:
        return []
    figure, (info_axes, overlap_axes) = plt.subplots(1, 2, figsize=(12, 4.5))
    replicated = False
    for index, (label, seeds) in enumerate(sorted(groups.items())):
        points = _average_points(seeds, "beta")
        replicated = replicated or len(points) < len(seeds)
        colour = f"C{index % 10}"
        betas = [point["beta"] for point in points]
        prefix = f"{label}: " if label else ""

        def errors(key: str, points: list[dict[str, float]] = points) -> list[float] | None:
            values = [p.get(f"{key}_err", math.nan) for p in points]
            return None if all(math.isnan(v) for v in values) else values

        def curve(axes: Axes, key: str, fmt: str, name: str, points=points, style=(colour, prefix)) -> None:
            """``key`` of every point against beta, with its error bars, if every point has it."""
            if all(key in p for p in points):
                x, y = [p["beta"] for p in points], [p[key] for p in points]
                axes.errorbar(
                    x, y, yerr=errors(key), fmt=fmt, color=style[0], capsize=3, label=style[1] + name
                )

        for key, fmt, name in (("i_vh", "o-", "I(H;V)"), ("i_he", "s--", "I(H;E)")):
            curve(info_axes, key, fmt, name)
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
            curve(overlap_axes, key, marker, key.removeprefix("overlap_"))
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
    info_axes.set_title("information curve" + (" (mean ± standard error over seeds)" if replicated else ""))
    overlap_axes.set_xlabel("beta")
    overlap_axes.set_ylabel("|corr(code, operator)|")
    overlap_axes.set_ylim(-0.02, 1.02)
    overlap_axes.set_title("operator overlaps of the code")
    for axes in (info_axes, overlap_axes):
        legend_below(axes, columns=1, fontsize="x-small", frameon=True)
    task = str(finished[0].summary.get("task_name", "ib_relevance"))
    figure.suptitle(f"{task}: {len(finished)} runs")
    return [save_figure(figure, out_dir / f"{task}_information_curve.png")]


def mehta_schwab_figure(runs: Sequence[Run], out_dir: Path) -> list[Path]:
    """mehta_schwab: over the finished runs of a temperature sweep, locality per layer (trained: solid, the
    block-spin control on structureless data: dashed) and block radius per layer (rms radius of the effective
    fields, lattice spacings; control dashed) against ``data.K``, one colour per layer, K_c marked. Runs that
    differ in other settings (seeds) are averaged per K: mean with its standard error as error bar (the CSVs
    keep them apart)."""
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
        stats = [mean_sem(points[K]) for K in Ks]
        errors = [math.nan if stat.sem is None else stat.sem for stat in stats]
        colour = f"C{layers.index(layer) % 10}"
        style = "o-" if kind == "trained" else "x--"
        axes.errorbar(
            Ks,
            [stat.mean for stat in stats],
            yerr=None if all(math.isnan(e) for e in errors) else errors,
            fmt=style,
            color=colour,
            capsize=3,
            label=f"{layer} ({kind})",
        )
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
    stat = mean_sem(values)
    return stat.mean, stat.sem


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

    finished = [
        run
        for run in runs
        if run.status == "finished" and (run.summary.get("metrics") or {}).get("rg_measurement")
    ]
    if not finished:
        return []
    outcomes = outcome_keys(finished)
    by_outcome: dict[str, list[Run]] = {}
    for run in finished:  # runs that learned different rules are averaged apart
        label = ", ".join(f"{key.rsplit('.', 1)[-1]}={run.metrics.get(key)}" for key in outcomes)
        by_outcome.setdefault(label, []).append(run)
    written = []
    for label, group in sorted(by_outcome.items()):
        results = [run.summary["metrics"]["rg_measurement"] for run in group]
        exponents = exponents_figure(_seed_averaged(results))
        which = f"{len(results)} run{'' if len(results) == 1 else 's'}" + (f", {label}" if label else "")
        exponents.suptitle(f"RG exponents per level ({which}: mean +- standard error)")
        suffix = "" if not label else "__" + re.sub(r"[^A-Za-z0-9=]+", "_", label)
        written.append(save_figure(exponents, out_dir / f"rg_exponents_per_level{suffix}.png"))
    results = [run.summary["metrics"]["rg_measurement"] for run in finished]
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
    "ib_relevance_potts": ib_relevance_figure,
    "ib_relevance_potts_invariant": ib_relevance_figure,
    "ib_relevance_potts_torus": ib_relevance_figure,
}
