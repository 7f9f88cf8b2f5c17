"""A one-parameter LightningModule for testing rgnet-train's mechanics (resume, sweeps, DDP) quickly.

It learns the mean |magnetization| of its batches by least squares. The environment variable
``TOY_STEP_DELAY`` (seconds) slows each step so that a test can interrupt a run without changing the run's
config (and so its directory); ``TOY_IGNORE_USR2=1`` ignores SIGUSR2 while it fits (submitit's handler never
runs), as a process busy in native code (a numba sampling kernel) cannot act on it before the time limit.
"""

from __future__ import annotations

import os
import signal
import time

import lightning
import torch


class ToyModel(lightning.LightningModule):
    """Fits m_hat to the per-configuration magnetization of float32 +-1 batches (batch, n_sites)."""

    def __init__(self, n_sites: int, lr: float = 0.1) -> None:
        super().__init__()
        if n_sites < 1:
            raise ValueError(f"n_sites must be >= 1, got {n_sites}")
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        self.save_hyperparameters()
        self.m_hat = torch.nn.Parameter(torch.zeros(()))

    def _loss(self, batch: torch.Tensor) -> torch.Tensor:
        return ((batch.mean(dim=1).abs() - self.m_hat) ** 2).mean()

    def on_fit_start(self) -> None:
        if os.environ.get("TOY_IGNORE_USR2") == "1":
            signal.signal(signal.SIGUSR2, signal.SIG_IGN)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        time.sleep(float(os.environ.get("TOY_STEP_DELAY", "0")))
        loss = self._loss(batch)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/loss", self._loss(batch))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    def summary_metrics(self) -> dict[str, float]:
        return {"m_hat": float(self.m_hat.detach())}
