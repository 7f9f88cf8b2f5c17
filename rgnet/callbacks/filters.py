"""TensorBoard figures of a model's block filters (the RSMI filter), every few epochs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lightning

from rgnet._checks import check_int
from rgnet.callbacks._tensorboard import image_grid_figure, run_title, tensorboard_writer
from rgnet.contracts import HasBlockFilters, require

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class BlockFilterImages(lightning.Callback):
    """Log ``pl_module.filters()`` (:class:`rgnet.contracts.HasBlockFilters`: float ``(n, b, b)``) as one
    figure ``filters/block`` every ``every_n_epochs`` epochs: a ``b x b`` panel per hidden variable, all on
    one colour scale (blue < 0 < red, with its colour bar; small filters carry their values), titled with the
    epoch and the run (:func:`rgnet.callbacks._tensorboard.run_title`)."""

    def __init__(self, every_n_epochs: int = 1) -> None:
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", minimum=1)

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        require(pl_module, HasBlockFilters, "BlockFilterImages")

    def figure(self, pl_module: lightning.LightningModule, epochs: int, run: str = "") -> Figure:
        """The filters after ``epochs`` epochs."""
        filters = require(pl_module, HasBlockFilters, "BlockFilterImages").filters().detach().float().cpu()
        size = f"{filters.shape[1]} x {filters.shape[2]}"
        title = f"block filter of each hidden variable ({size}), epoch {epochs}"
        return image_grid_figure(
            filters,
            title=f"{title}\n{run}".strip(),
            columns=filters.shape[0],
            column_labels=[f"variable {i + 1}" for i in range(filters.shape[0])],
        )

    def on_train_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        figure = self.figure(pl_module, trainer.current_epoch + 1, run_title(trainer))
        writer.add_figure("filters/block", figure, trainer.global_step)


__all__ = ["BlockFilterImages"]
