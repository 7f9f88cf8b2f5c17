"""TensorBoard images of a model's block filters (the RSMI filter), every few epochs."""

from __future__ import annotations

import lightning
import torch

from rgnet._checks import check_int
from rgnet.callbacks._tensorboard import signed_images, tensorboard_writer
from rgnet.contracts import HasBlockFilters, require


class BlockFilterImages(lightning.Callback):
    """Log ``pl_module.filters()`` (:class:`rgnet.contracts.HasBlockFilters`: float ``(n, b, b)``) as ``n``
    grey-level images ``filters/block`` every ``every_n_epochs`` epochs: grey = 0, white = the filter's
    largest positive weight, black its most negative one (:func:`rgnet.callbacks._tensorboard.signed_images`),
    each weight drawn as a ``scale x scale`` square so that a 2 x 2 filter is visible."""

    def __init__(self, every_n_epochs: int = 1, scale: int = 16) -> None:
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", minimum=1)
        self.scale = check_int(scale, "scale", minimum=1)

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        require(pl_module, HasBlockFilters, "BlockFilterImages")

    def images(self, pl_module: lightning.LightningModule) -> torch.Tensor:
        """float32 ``(n, 1, b * scale, b * scale)`` in [0, 1]."""
        filters = require(pl_module, HasBlockFilters, "BlockFilterImages").filters().detach().float().cpu()
        grey = signed_images(filters)[:, None]
        return grey.repeat_interleave(self.scale, dim=2).repeat_interleave(self.scale, dim=3)

    def on_train_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        writer.add_images("filters/block", self.images(pl_module), trainer.global_step)


__all__ = ["BlockFilterImages"]
