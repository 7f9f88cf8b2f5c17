"""Variational information bottleneck (VIB) encoder of a block V against its environment E.

Code: ``H = mu(V) + xi`` with ``xi ~ N(0, I_{dim_h})`` (fixed unit noise, the Gaussian-IB normal form of
Chechik et al. 2005) and ``mu`` a linear filter or a small MLP. Bounds, per batch of pairs ``(v, e)``:

* ``I(V;H) <= 1/2 ln det(Cov_batch(mu(V)) + I)``: with unit noise ``I(V;H) = h(H) - h(xi)`` and the
  Gaussian of the same covariance maximises ``h(H)``; exact for Gaussian V and a linear filter;
* ``I(H;E) >=`` InfoNCE or NWJ bound of a separable critic ``f(h, e)`` (:mod:`rgnet.ib.estimators`).

Loss ``I(V;H) bound - beta * I(H;E) bound`` (minimised over encoder and critic together: the critic only
enters through ``-beta I(H;E)``, so it maximises the bound). Batches: ``(v, e)`` float32 ``(B, dim_v)``,
``(B, dim_e)`` (e.g. :class:`rgnet.data.ve_pairs.VEPairsDataModule`).
"""

from __future__ import annotations

import math
from typing import Any

import lightning
import torch
from torch import nn

from rgnet._checks import check_choice, check_int, check_real
from rgnet.ib.estimators import BOUNDS, SeparableCritic, mi_lower_bound

ENCODERS = ("linear", "mlp")


def gaussian_code_information(mu: torch.Tensor) -> torch.Tensor:
    """``1/2 ln det(Cov(mu) + I)`` (nats) of codes ``mu`` (B, dim_h): bounds I(V;H), H = mu + N(0, I)."""
    centred = mu - mu.mean(dim=0, keepdim=True)
    cov = centred.T @ centred / max(mu.shape[0] - 1, 1)
    eye = torch.eye(mu.shape[1], dtype=mu.dtype, device=mu.device)
    return 0.5 * torch.logdet(cov + eye)


class VIBEncoder(lightning.LightningModule):
    """VIB encoder LightningModule (see the module docstring).

    Args:
        dim_v, dim_e: sizes of the flattened block and environment.
        dim_h: code dimension.
        beta: IB trade-off, ``>= 0``.
        encoder: ``"linear"`` (filter ``W (dim_h, dim_v)`` + bias) or ``"mlp"`` (one hidden tanh layer).
        hidden: width of the MLP encoder.
        bound: ``"infonce"`` or ``"nwj"`` lower bound on I(H;E).
        critic_hidden, critic_embed: separable critic MLP width and embedding size.
        lr: Adam learning rate of the encoder.
        critic_lr: Adam learning rate of the critic (default ``3 lr``): the critic must track the encoder,
            otherwise a shrinking code starves it of signal and the encoder collapses to the trivial one.
        init_std: standard deviation of the initial (last-layer) encoder weights; a code that starts
            informative relaxes onto the IB solution from above instead of creeping out of the trivial one.
    """

    def __init__(
        self,
        dim_v: int,
        dim_e: int,
        dim_h: int = 1,
        beta: float = 1.0,
        encoder: str = "linear",
        hidden: int = 32,
        bound: str = "infonce",
        critic_hidden: int = 64,
        critic_embed: int = 16,
        lr: float = 1e-2,
        critic_lr: float | None = None,
        init_std: float = 1.0,
    ) -> None:
        super().__init__()
        dim_v = check_int(dim_v, "dim_v", minimum=1)
        dim_e = check_int(dim_e, "dim_e", minimum=1)
        dim_h = check_int(dim_h, "dim_h", minimum=1)
        beta = check_real(beta, "beta", minimum=0.0)
        encoder = check_choice(encoder, "encoder", ENCODERS)
        hidden = check_int(hidden, "hidden", minimum=1)
        bound = check_choice(bound, "bound", tuple(BOUNDS))
        for name, value in (("lr", lr), ("critic_lr", 3.0 * lr if critic_lr is None else critic_lr)):
            if check_real(value, name, minimum=0.0) == 0.0:
                raise ValueError(f"{name} must be > 0")
        self.save_hyperparameters()
        if encoder == "linear":
            self.encoder = nn.Linear(dim_v, dim_h)
        else:
            self.encoder = nn.Sequential(nn.Linear(dim_v, hidden), nn.Tanh(), nn.Linear(hidden, dim_h))
        init_std = check_real(init_std, "init_std", minimum=0.0)
        nn.init.normal_(self.encoder[-1].weight if encoder == "mlp" else self.encoder.weight, std=init_std)
        self.critic = SeparableCritic(dim_h, dim_e, hidden=critic_hidden, embed=critic_embed)
        self._last: dict[str, float] = {}

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Mean code ``mu(v)``, (B, dim_h)."""
        return self.encoder(v)

    def information_terms(self, v: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(I(V;H) upper bound, I(H;E) lower bound)`` in nats on one batch (differentiable)."""
        if not (torch.isfinite(v).all() and torch.isfinite(e).all()):
            raise ValueError("batch contains NaN or infinite values")
        mu = self(v)
        h = mu + torch.randn_like(mu)
        return gaussian_code_information(mu), mi_lower_bound(self.hparams.bound, self.critic(h, e))

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        v, e = batch
        i_vh, i_he = self.information_terms(v, e)
        loss = i_vh - self.hparams.beta * i_he
        self.log_dict(
            {f"{stage}/loss": loss, f"{stage}/i_vh": i_vh, f"{stage}/i_he": i_he},
            prog_bar=stage == "train",
            batch_size=v.shape[0],
        )
        self._last.update({f"{stage}_i_vh": float(i_vh.detach()), f"{stage}_i_he": float(i_he.detach())})
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        critic_lr = self.hparams.critic_lr or 3.0 * self.hparams.lr
        return torch.optim.Adam(
            [
                {"params": self.encoder.parameters(), "lr": self.hparams.lr},
                {"params": self.critic.parameters(), "lr": critic_lr},
            ]
        )

    def filters(self) -> torch.Tensor:
        """Linear encoder: the filter ``W`` (dim_h, dim_v); MLP: its input gradient at v = 0 (same shape)."""
        if self.hparams.encoder == "linear":
            return self.encoder.weight.detach().clone()
        v0 = torch.zeros(1, self.hparams.dim_v, device=self.device, requires_grad=True)
        return torch.autograd.functional.jacobian(lambda x: self.encoder(x)[0], v0).reshape(
            self.hparams.dim_h, -1
        )

    def summary_metrics(self) -> dict[str, Any]:
        """beta, last informations (nats) and the filters (lists), JSON-serialisable."""
        out: dict[str, Any] = {"beta": float(self.hparams.beta)}
        out.update({k: v for k, v in self._last.items() if math.isfinite(v)})
        out["filters"] = self.filters().cpu().tolist()
        return out


__all__ = ["ENCODERS", "VIBEncoder", "gaussian_code_information"]
