"""TensorBoard histograms of every parameter of a model (weights, biases), every few epochs."""

from __future__ import annotations

import lightning

from rgnet._checks import check_int
from rgnet.callbacks._tensorboard import tensorboard_writer


class ParameterHistograms(lightning.Callback):
    """Log a histogram of each named parameter of the LightningModule every ``every_n_epochs`` epochs.

    Tags are ``parameters/<name>`` at the current global step; nothing is logged without a TensorBoard logger
    or on ranks other than zero.
    """

    def __init__(self, every_n_epochs: int = 1) -> None:
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", minimum=1)

    def on_train_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        for name, parameter in pl_module.named_parameters():
            writer.add_histogram(f"parameters/{name}", parameter.detach().float().cpu(), trainer.global_step)
