"""Fixtures shared by the RBM test modules (test_rbm, test_rbm_stack, test_rbm_training)."""

from __future__ import annotations

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
