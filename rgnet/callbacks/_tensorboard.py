"""How every callback reaches TensorBoard: the trainer's writer on rank zero; series overlaid on one chart
(custom-scalars layout); signed weights as images."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
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
