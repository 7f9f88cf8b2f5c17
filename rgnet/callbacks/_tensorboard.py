"""How every callback reaches TensorBoard: the trainer's writer on rank zero; series overlaid on one chart
(custom-scalars layout); signed weights as images; the run's HParams session (settings and the canonical tags
of its final physics)."""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from weakref import WeakKeyDictionary

import lightning
import torch
from lightning.pytorch.loggers import TensorBoardLogger

if TYPE_CHECKING:
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


def signed_images(weights: torch.Tensor) -> torch.Tensor:
    """Weights ``(n, ...)`` as grey levels in [0, 1], each of the ``n`` scaled by its own max ``|w|``: 0.5 is
    zero, 1 (white) its largest positive weight, 0 (black) its most negative one. Same shape and dtype."""
    scale = weights.reshape(weights.shape[0], -1).abs().amax(dim=1).clamp_min(1e-12)
    return 0.5 + 0.5 * weights / scale.reshape(-1, *[1] * (weights.dim() - 1))


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
