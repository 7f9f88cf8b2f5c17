"""Variational lower bounds on mutual information from a critic ``f(x, y)`` (torch).

Given a batch of ``B`` joint samples ``(x_i, y_i)`` and the score matrix ``S[i, j] = f(x_i, y_j)`` (diagonal:
joint pairs; off-diagonal: pairs from the product of marginals):

* InfoNCE (van den Oord et al. 2018; Poole et al. 2019):
  ``I >= mean_i [S_ii - logsumexp_j S_ij] + ln B`` (never exceeds ``ln B``; low variance);
* NWJ / f-GAN KL (Nguyen, Wainwright & Jordan 2010):
  ``I >= mean_i S_ii - e^{-1} mean_{i != j} exp(S_ij)`` (tight at ``f = 1 + ln p(y|x)/p(y)``; no ``ln B`` cap,
  higher variance).

Both return nats. Critics map float inputs ``(B, d_x)``, ``(B, d_y)`` to scores ``(B, B)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rgnet._checks import check_bool, check_int


def _check_scores(scores: torch.Tensor) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    if scores.dim() != 2 or scores.shape[0] != scores.shape[1] or scores.shape[0] < 2:
        raise ValueError(f"scores must be a square (B, B) matrix with B >= 2, got {tuple(scores.shape)}")
    return scores


def infonce_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE bound (scalar tensor, nats) from the ``(B, B)`` score matrix; differentiable."""
    scores = _check_scores(scores)
    n = scores.shape[0]
    return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(n)


def nwj_lower_bound(scores: torch.Tensor) -> torch.Tensor:
    """NWJ bound (scalar tensor, nats) from the ``(B, B)`` score matrix; differentiable."""
    scores = _check_scores(scores)
    n = scores.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=scores.device)
    return scores.diagonal().mean() - torch.exp(scores[off] - 1.0).mean()


def _mlp(d_in: int, hidden: int, d_out: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


class SeparableCritic(nn.Module):
    """``f(x, y) = g(x) . h(y)`` with MLPs ``g, h: R^d -> R^embed`` (scores for all pairs in one matmul).

    ``even_y=True`` restricts the critic to functions even in ``y``, ``h(y) -> (h(y) + h(-y)) / 2``: no loss
    for a code ``x`` that is itself a Z2-even function of data whose joint law is flip symmetric (such a code
    is independent of the sign of ``y`` given ``|y|``'s orbit), and the odd part of ``y``, pure noise for such
    a code, no longer drowns the even features the critic has to find.
    """

    def __init__(
        self, dim_x: int, dim_y: int, hidden: int = 64, embed: int = 16, layers: int = 2, even_y: bool = False
    ) -> None:
        super().__init__()
        dim_x = check_int(dim_x, "dim_x", minimum=1)
        dim_y = check_int(dim_y, "dim_y", minimum=1)
        hidden = check_int(hidden, "hidden", minimum=1)
        embed = check_int(embed, "embed", minimum=1)
        layers = check_int(layers, "layers", minimum=0)
        self.even_y = check_bool(even_y, "even_y")
        self.g = _mlp(dim_x, hidden, embed, layers)
        self.h = _mlp(dim_y, hidden, embed, layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, B)``: ``S[i, j] = f(x_i, y_j)`` for ``x (B, dim_x)``, ``y (B, dim_y)``."""
        hy = 0.5 * (self.h(y) + self.h(-y)) if self.even_y else self.h(y)
        return self.g(x) @ hy.T


class ConcatCritic(nn.Module):
    """``f(x, y) = MLP([x, y])`` evaluated on all ``B^2`` pairs (more expressive, ``O(B^2)`` cost)."""

    def __init__(self, dim_x: int, dim_y: int, hidden: int = 64, layers: int = 2) -> None:
        super().__init__()
        dim_x = check_int(dim_x, "dim_x", minimum=1)
        dim_y = check_int(dim_y, "dim_y", minimum=1)
        self.net = _mlp(
            dim_x + dim_y, check_int(hidden, "hidden", minimum=1), 1, check_int(layers, "layers", minimum=1)
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scores ``(B, B)``: ``S[i, j] = f(x_i, y_j)``."""
        n = x.shape[0]
        pairs = torch.cat([x[:, None, :].expand(n, n, -1), y[None, :, :].expand(n, n, -1)], dim=-1)
        return self.net(pairs).squeeze(-1)


BOUNDS = {"infonce": infonce_lower_bound, "nwj": nwj_lower_bound}


def mi_lower_bound(name: str, scores: torch.Tensor) -> torch.Tensor:
    """Dispatch to one of :data:`BOUNDS` by name (``"infonce"`` or ``"nwj"``)."""
    if name not in BOUNDS:
        raise ValueError(f"bound must be one of {sorted(BOUNDS)}, got {name!r}")
    return BOUNDS[name](scores)


__all__ = [
    "BOUNDS",
    "ConcatCritic",
    "SeparableCritic",
    "infonce_lower_bound",
    "mi_lower_bound",
    "nwj_lower_bound",
]
