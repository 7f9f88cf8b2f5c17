"""Fixtures shared by the model test modules (the RBM modules; test_rsmi and test_rsmi_potts)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import lightning
import pytest
import torch


class Momenta(lightning.Callback):
    """Records ``(epoch, momentum)`` after every optimizer step: of optimizer ``optimizer``, or (None) of the
    active layer's of an RBMStack."""

    def __init__(self, optimizer: int | None = None) -> None:
        self.optimizer = optimizer
        self.steps: list[tuple[int, float]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        index = pl_module.active_layer if self.optimizer is None else self.optimizer
        self.steps.append((trainer.current_epoch, trainer.optimizers[index].param_groups[0]["momentum"]))


@pytest.fixture
def momenta_callback() -> type[Momenta]:
    """The :class:`Momenta` callback class."""
    return Momenta


@pytest.fixture
def spin_data() -> Callable[..., torch.Tensor]:
    """``spin_data(n, n_visible, seed=0)``: independent uniform +-1 configurations, float32 (n, n_visible)."""

    def make(n: int, n_visible: int, seed: int = 0) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.randint(0, 2, (n, n_visible), generator=gen).float() * 2 - 1

    return make


def _fit_quietly(
    model: lightning.LightningModule,
    datamodule: lightning.LightningDataModule,
    epochs: int,
    seed: int | None = None,
) -> lightning.LightningModule:
    if seed is not None:
        lightning.seed_everything(seed, verbose=False)
    trainer = lightning.Trainer(
        max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*autocorrelation.*")
        trainer.fit(model, datamodule=datamodule)
    return model


@pytest.fixture
def fit_quietly() -> Callable[..., lightning.LightningModule]:
    """``fit(model, datamodule, epochs, seed=None)``: Lightning training (seeded first if ``seed`` is given)
    without logger, checkpoints, progress bar or sanity check (autocorrelation warnings of small datasets
    silenced); returns the model."""
    return _fit_quietly
