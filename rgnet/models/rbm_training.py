"""A one-call CD training harness for :class:`~rgnet.models.rbm.RBM` (notebooks, tests, benchmarks), and the
whole-batch data loader it and the RBM-stack tests use.

:func:`train_rbm` composes a Lightning ``Trainer`` around an RBM: data-started visible biases and persistent
chains, an optional linear learning-rate decay (the RBM's ``final_lr``, a
:class:`torch.optim.lr_scheduler.LinearLR`) and optional Polyak averaging of the last epochs (Lightning's
:class:`~lightning.pytorch.callbacks.WeightAveraging`, a :class:`torch.optim.swa_utils.AveragedModel`).
"""

from __future__ import annotations

from typing import Any

import lightning
import torch
from lightning.pytorch.callbacks import RichProgressBar, WeightAveraging

from rgnet._checks import check_bool, check_int
from rgnet.models.rbm import RBM, check_configurations


class _Batches(torch.utils.data.Dataset):
    """Indexable by a list of row indices: returns the whole batch at once (no per-item collation)."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, indices: list[int]) -> torch.Tensor:
        return self.data[indices]


def batch_loader(data: torch.Tensor, batch_size: int, shuffle: bool) -> torch.utils.data.DataLoader:
    """A DataLoader of whole-batch slices of ``data`` (rows), shuffled or in order."""
    sampler = torch.utils.data.RandomSampler(data) if shuffle else torch.utils.data.SequentialSampler(data)
    batches = torch.utils.data.BatchSampler(sampler, batch_size=batch_size, drop_last=False)
    return torch.utils.data.DataLoader(_Batches(data), sampler=batches, batch_size=None)


class _AverageFromStep(WeightAveraging):
    """Equal-weight average of the parameters over every optimizer step from ``first_step`` (0-based) on,
    copied into the model when training ends. The average is a running mean in the parameters' dtype, kept on
    ``device``; buffers (the persistent chains) are not averaged: they stay current."""

    def __init__(self, first_step: int, device: torch.device) -> None:
        super().__init__(device=device, use_buffers=False)
        self.first_step = first_step

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return step_idx is not None and step_idx >= self.first_step


def train_rbm(
    data: torch.Tensor,
    n_hidden: int,
    *,
    epochs: int = 20,
    batch_size: int = 100,
    seed: int | None = 0,
    progress: bool = True,
    average_epochs: int = 0,
    **opts: Any,
) -> RBM:
    """Train an :class:`RBM` with ``n_hidden`` hidden units on configurations ``data`` (n, n_visible).

    ``data``: +-1 configurations (or {0,1} with ``inputs="binary"``), any numeric dtype, CPU or GPU.
    ``opts`` are :class:`RBM` options (``k``, ``persistent``, ``lr``, ``final_lr``, ``momentum``,
    ``final_momentum``, ``momentum_switch_epoch``, ``l1``, ...); defaults are CD-1, lr 0.01 (constant),
    momentum 0.5 (constant). ``final_lr``: the learning rate decays linearly
    per epoch from ``lr`` (first epoch) to ``final_lr`` (last of the ``epochs``). The visible biases start at
    the data's log-odds (Hinton's guide); PCD's persistent chains start at randomly drawn training
    configurations (chains started at random mix slowly into an ordered phase); no validation or log Z is
    computed. ``average_epochs``: the returned parameters (W, b, c) are the average over every update of the
    last this many epochs (Polyak averaging, which removes most of the stochastic-gradient noise; 0: the last
    iterate). ``seed`` seeds torch's global RNG (None: leave it alone); ``progress`` shows a rich progress
    bar. All arguments are checked before training starts.
    """
    epochs = check_int(epochs, "epochs", minimum=1)
    average_epochs = check_int(average_epochs, "average_epochs", minimum=0, maximum=epochs)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    check_bool(progress, "progress")
    if seed is not None:
        lightning.seed_everything(check_int(seed, "seed", minimum=0, maximum=2**32 - 1), verbose=False)
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data must be a torch.Tensor of shape (n, n_visible), got {type(data).__name__}")
    if data.dim() != 2:
        raise ValueError(f"data must have shape (n, n_visible), got {tuple(data.shape)}")
    model = RBM(data.shape[1], n_hidden, log_z_every=0, **opts)
    data = check_configurations(data, model.n_visible, model.inputs)
    with torch.no_grad():
        mean = model.to_units(data).mean(0)
        if model.units == "spin":
            model.b.copy_(torch.atanh(mean.clamp(-0.99, 0.99)))
        else:
            model.b.copy_(torch.logit(mean.clamp(0.01, 0.99)))
        if model.persistent:
            rows = torch.randint(0, data.shape[0], (model.n_chains,), device=data.device)
            model.chains.copy_(model.to_units(data[rows]).to(model.chains.device))
    accelerator = "gpu" if data.is_cuda else "cpu"
    loader = batch_loader(data.cpu() if accelerator == "cpu" else data, batch_size, True)
    callbacks: list[lightning.Callback] = []
    if average_epochs:
        first_step = (epochs - average_epochs) * len(loader)  # one optimizer step per batch
        callbacks.append(_AverageFromStep(first_step, torch.device("cuda" if data.is_cuda else "cpu")))
    if progress:
        callbacks.append(RichProgressBar())
    trainer = lightning.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        callbacks=callbacks,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(model, train_dataloaders=loader)
    return model
