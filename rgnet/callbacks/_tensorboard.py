"""How every callback reaches TensorBoard: the trainer's writer on rank zero; signed weights as images."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lightning
import torch
from lightning.pytorch.loggers import TensorBoardLogger

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter


def tensorboard_writer(trainer: lightning.Trainer) -> SummaryWriter | None:
    """The SummaryWriter of the trainer's (first) TensorBoard logger on global rank zero; None on other ranks
    or when the trainer does not log to TensorBoard."""
    if not trainer.is_global_zero:
        return None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def signed_images(weights: torch.Tensor) -> torch.Tensor:
    """Weights ``(n, ...)`` as grey levels in [0, 1], each of the ``n`` scaled by its own max ``|w|``: 0.5 is
    zero, 1 (white) its largest positive weight, 0 (black) its most negative one. Same shape and dtype."""
    scale = weights.reshape(weights.shape[0], -1).abs().amax(dim=1).clamp_min(1e-12)
    return 0.5 + 0.5 * weights / scale.reshape(-1, *[1] * (weights.dim() - 1))
