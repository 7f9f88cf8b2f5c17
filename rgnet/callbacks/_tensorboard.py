"""How every callback reaches TensorBoard: the trainer's writer on rank zero; series overlaid on one chart
(custom-scalars layout); weights and spins as figures with one colour scale, a colour bar and the run they
show; the run's HParams session (settings and the canonical tags
of its final physics)."""

from __future__ import annotations

import json
import math
import os
import re
import textwrap
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from weakref import WeakKeyDictionary

import lightning
import torch
from lightning.pytorch.loggers import TensorBoardLogger

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch.utils.tensorboard import SummaryWriter

#: The custom-scalars layout declared so far on each writer: category -> chart title -> tag regex.
_LAYOUTS: WeakKeyDictionary[SummaryWriter, dict[str, dict[str, str]]] = WeakKeyDictionary()


def tensorboard_writer(trainer: lightning.Trainer) -> SummaryWriter | None:
    """The SummaryWriter of the trainer's (first) TensorBoard logger on global rank zero; None on other ranks
    or when the trainer does not log to TensorBoard."""
    if not trainer.is_global_zero:
        return None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def add_series(writer: SummaryWriter, chart: str, series: Mapping[str, float], step: int) -> None:
    """Each series of one chart as its own scalar tag ``<chart>/<name>`` in the run's own event file (unlike
    ``add_scalars``, which makes one TensorBoard run per series); :func:`overlay_charts` draws them
    together."""
    for name, value in series.items():
        writer.add_scalar(f"{chart}/{name}", value, step)


def overlay_charts(writer: SummaryWriter, category: str, charts: Mapping[str, str]) -> None:
    """Declare custom-scalars charts of ``category`` (chart title -> tag prefix ``chart`` of
    :func:`add_series`): each overlays every series under its prefix. The writer's whole layout so far is
    (re)written when it changes, so several callbacks share one layout and a repeated call writes nothing."""
    layout = _LAYOUTS.setdefault(writer, {})
    wanted = {title: f"^{re.escape(prefix)}/" for title, prefix in charts.items()}
    if all(layout.get(category, {}).get(title) == regex for title, regex in wanted.items()):
        return
    layout.setdefault(category, {}).update(wanted)
    writer.add_custom_scalars(
        {
            cat: {title: ["Multiline", [regex]] for title, regex in cats.items()}
            for cat, cats in layout.items()
        }
    )


@runtime_checkable
class ReportsHParamMetrics(Protocol):
    """A callback whose final physics goes to TensorBoard's HParams (rgnet-train collects it)."""

    def hparam_metrics(self) -> dict[str, float | bool]:
        """The final values as ``{tag: value}``, the most telling first; every tag is one the callback has
        logged as a scalar with that value as its last point, so HParams shows the value of the canonical
        tag rather than a copy. Verdicts are bools (logged as 0/1); empty before anything was measured."""
        ...


#: Suffix of the event file that holds a run's HParams session (rewritten at the end of each rgnet-train
#: call: TensorBoard keeps the first session-start record of a run it reads, so a resumed run replaces it).
HPARAMS_FILE_SUFFIX = ".hparams"
#: HParams session status of a run's summary status.
SESSION_STATUS = {"finished": "STATUS_SUCCESS", "interrupted": "STATUS_RUNNING", "failed": "STATUS_FAILURE"}


def hparam_value(value: Any) -> float | str | bool:
    """A setting as an HParams value: numbers and bools as they are, lists and None as their JSON text."""
    if isinstance(value, (bool, str)) or (isinstance(value, (int, float)) and math.isfinite(value)):
        return value
    return json.dumps(value, default=str)


def write_hparams(
    log_dir: str | os.PathLike[str],
    params: Mapping[str, Any],
    metrics: Sequence[str],
    *,
    differs: Collection[str] = (),
    status: str = "finished",
    start_time: float | None = None,
) -> Path:
    """Write the HParams session of the run logged in ``log_dir``: its settings ``params`` (name -> value,
    :func:`hparam_value`) and the scalar tags ``metrics`` whose last values HParams shows (in this order:
    TensorBoard displays the first five by default). ``differs``: the settings that vary between runs (this
    run's command-line overrides): TensorBoard sorts them first and displays the first five. ``status``: the
    run's summary status (:data:`SESSION_STATUS`).

    The session goes to its own event file in ``log_dir`` (``*`` :data:`HPARAMS_FILE_SUFFIX`), replacing the
    one an earlier segment of the run wrote, so the run stays one TensorBoard run and HParams shows the
    latest session (epochs, settings). Returns the file written."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
    from torch.utils.tensorboard.writer import FileWriter

    values = {name: hparam_value(value) for name, value in params.items()}
    start = plugin_data_pb2.SessionStartInfo(start_time_secs=start_time or time.time())
    infos = []
    for name, value in values.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value, kind = value, "DATA_TYPE_BOOL"
        elif isinstance(value, str):
            start.hparams[name].string_value, kind = value, "DATA_TYPE_STRING"
        else:
            start.hparams[name].number_value, kind = float(value), "DATA_TYPE_FLOAT64"
        info = api_pb2.HParamInfo(name=name, type=api_pb2.DataType.Value(kind), differs=name in differs)
        infos.append(info)
    experiment = api_pb2.Experiment(
        hparam_infos=infos, metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=t)) for t in metrics]
    )
    end = plugin_data_pb2.SessionEndInfo(
        status=api_pb2.Status.Value(SESSION_STATUS.get(status, "STATUS_UNKNOWN")), end_time_secs=time.time()
    )
    records = (
        (metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)),
        (metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start)),
        (metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)),
    )
    log_dir = Path(log_dir)
    earlier = sorted(log_dir.glob(f"events.out.tfevents.*{HPARAMS_FILE_SUFFIX}"))
    writer = FileWriter(str(log_dir), filename_suffix=HPARAMS_FILE_SUFFIX)
    for tag, data in records:
        data.version = metadata.PLUGIN_DATA_VERSION
        summary = Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])
        writer.add_summary(summary)
    writer.close()
    (path,) = set(log_dir.glob(f"events.out.tfevents.*{HPARAMS_FILE_SUFFIX}")) - set(earlier)
    for old in earlier:
        old.unlink(missing_ok=True)
    return path


def scalar_tags(log_dir: str | os.PathLike[str]) -> dict[str, int]:
    """Every scalar tag in the event files of ``log_dir`` (one TensorBoard run) with the last step it was
    logged at; empty when there are none. Reads the records' tags only (a run's histograms and images are
    skipped unparsed as far as protobuf allows); a truncated last record (a killed run) ends its file."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event

    tags: dict[str, int] = {}
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for record in RawEventFileLoader(str(path)).Load():
            event = Event.FromString(record)
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    tags[value.tag] = max(event.step, tags.get(value.tag, event.step))
    return tags


# ------------------------------------------------------------------------------------------- figures
def run_title(trainer: lightning.Trainer) -> str:
    """Which run a figure shows: the task and the run's directory name (its command-line settings) when it
    logs into an rgnet run directory (``<task>/<run>/tensorboard``), the data's ``K`` and ``h`` when the data
    module has them (:class:`rgnet.contracts.HasCouplings`) and the seed Lightning was given."""
    from rgnet.contracts import HasCouplings

    parts = []
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            log_dir = Path(logger.log_dir)
            if log_dir.name == "tensorboard":
                parts.append(f"{log_dir.parent.parent.name}: {log_dir.parent.name}")
            break
    settings = []
    datamodule = getattr(trainer, "datamodule", None)
    if isinstance(datamodule, HasCouplings):
        settings += [f"K={datamodule.K:.6g}", f"h={datamodule.h:.6g}"]
    if os.environ.get("PL_GLOBAL_SEED") is not None:
        settings.append(f"seed={os.environ['PL_GLOBAL_SEED']}")
    if settings:
        parts.append(", ".join(settings))
    return "\n".join(parts)


def wrap_title(text: str, width_inches: float, fontsize: float = 9) -> str:
    """``text`` wrapped to fit ``width_inches`` at ``fontsize`` points (a run name breaks at its commas)."""
    chars = max(30, int(width_inches * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(re.sub(r",(?=\S)", ", ", line), chars) for line in text.splitlines())


def tile(images: Any, columns: int, gap: int = 1) -> Any:
    """Images ``(n, H, W)`` (numpy) as one array of ``columns`` tiles per row, NaN between tiles."""
    import numpy as np

    n, H, W = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * (H + gap) - gap, columns * (W + gap) - gap), np.nan)
    for i in range(n):
        r, c = divmod(i, columns)
        grid[r * (H + gap) : r * (H + gap) + H, c * (W + gap) : c * (W + gap) + W] = images[i]
    return grid


def image_grid_figure(
    images: Any,
    *,
    title: str,
    columns: int | None = None,
    signed: bool = True,
    colorbar_label: str = "weight",
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    annotate: bool | None = None,
) -> Figure:
    """Images ``(n, H, W)`` (tensor or array) as one matplotlib figure with one colour scale and its colour
    bar: ``signed`` (weights) on a diverging map symmetric about 0 (white) up to the largest ``|w|`` of all
    the images, else (spins) grey from -1 (black) to +1 (white). ``row_labels`` / ``column_labels`` name the
    rows and columns of tiles; small images (at most 64 values each and 16 images) carry their values.
    The figure is at least 6 x 4 inches (720 x 480 pixels at TensorBoard's 120 dpi)."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    data = np.asarray(images.detach().float().cpu() if isinstance(images, torch.Tensor) else images, float)
    if data.ndim == 2:
        data = data[None]
    n, H, W = data.shape
    columns = columns or max(1, math.ceil(math.sqrt(n * H / W)))
    grid = tile(data, columns)
    if signed:
        limit = float(np.nanmax(np.abs(data))) or 1.0
        cmap, vmin, vmax = matplotlib.colormaps["RdBu_r"], -limit, limit
    else:
        cmap, vmin, vmax = matplotlib.colormaps["gray"], -1.0, 1.0
    cmap = cmap.with_extremes(bad="0.8" if signed else "#9ecae1")  # gaps: no colour of the data's scale
    rows = -(-n // columns)
    if annotate is None:
        annotate = H * W <= 64 and n <= 16
    # inches per value: small grids (annotated) get big cells, lattices of many tiles small ones
    cell = min(1.5, max(0.35, 6.0 / grid.shape[1])) if annotate else min(0.6, max(0.05, 8.0 / grid.shape[1]))
    width = min(14.0, max(6.0, grid.shape[1] * cell + 2.2))
    height = min(14.0, max(3.5, grid.shape[0] * cell + 1.8))
    figure = Figure(figsize=(width, height), dpi=120, layout="constrained")
    axes = figure.subplots()
    shown = axes.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    image_height = grid.shape[0] * cell / max(height - 1.8, 0.1)  # of the axes' height, roughly
    colorbar = figure.colorbar(shown, ax=axes, shrink=min(0.9, max(0.35, image_height)))
    colorbar.set_label(colorbar_label)
    axes.set_xticks([c * (W + 1) + (W - 1) / 2 for c in range(min(columns, n))])
    axes.set_xticklabels(column_labels or ["" for _ in range(min(columns, n))])
    axes.set_yticks([r * (H + 1) + (H - 1) / 2 for r in range(rows)])
    axes.set_yticklabels(row_labels or ["" for _ in range(rows)])
    axes.tick_params(length=0)
    if annotate:
        fontsize = min(11.0, max(6.0, 14 * cell))
        for i in range(n):
            r, c = divmod(i, columns)
            for y in range(H):
                for x in range(W):
                    value = data[i, y, x]
                    colour = "white" if abs(value) > 0.6 * max(abs(vmin), abs(vmax)) else "black"
                    axes.text(
                        c * (W + 1) + x,
                        r * (H + 1) + y,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=fontsize,
                        color=colour,
                    )
    figure.suptitle(wrap_title(title, width - 0.5), fontsize=9)
    return figure


def legend_below(axes: Any, columns: int = 2, **options: Any) -> None:
    """The legend of ``axes`` under it, outside the data (the figure needs ``layout="constrained"``)."""
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        options = {"fontsize": 7, "frameon": False, **options}
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=columns, **options)
