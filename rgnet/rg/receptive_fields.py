"""Receptive-field geometry of units on an ``L x L`` periodic lattice: locality, size and centre of a field.

A receptive field is a real weight vector over the lattice sites, ``fields`` of shape ``(units, L*L)`` (any
float dtype, row-major sites, any device). Every measure uses the squared weights ``w^2`` (sign- and
scale-invariant) and periodic distances; lengths are in lattice spacings. Used for the effective fields of
RBM stacks (Mehta & Schwab 2014: ``r_l = r_{l-1} W_l``), but nothing here depends on the model.
"""

from __future__ import annotations

import math

import torch


def lattice_side(n_sites: int) -> int | None:
    """``L`` if ``n_sites = L * L``, else None."""
    side = math.isqrt(n_sites)
    return side if side * side == n_sites else None


def box_window(L: int, n_units: int, factor: float) -> int:
    """Window side for locality of a layer of ``n_units`` on an ``L x L`` lattice: ``factor`` block sides.

    The block side ``L / sqrt(n_units)`` is the area per unit (2 for 1600 -> 400, 4 for 100, 8 for 25).
    """
    return max(1, min(L, round(factor * L / math.sqrt(n_units))))


@torch.no_grad()
def locality(fields: torch.Tensor, L: int, window: int) -> torch.Tensor:
    """Share of each receptive field's squared weight inside the best-placed ``window x window`` box.

    ``fields``: (units, L*L) (row-major sites); distances are periodic. Returns float32 (units,) in
    ``[window^2 / L^2, 1]``: ``window^2 / L^2`` for a uniform field, 1 for a field confined to the window.
    The box is centred where it captures the most weight (the field's centre).
    """
    w2 = fields.reshape(-1, 1, L, L).float() ** 2
    padded = torch.nn.functional.pad(w2, (0, window - 1, 0, window - 1), mode="circular")
    boxes = torch.nn.functional.avg_pool2d(padded, window, stride=1) * (window * window)
    total = w2.sum(dim=(1, 2, 3)).clamp_min(torch.finfo(torch.float32).tiny)
    return boxes.amax(dim=(1, 2, 3)) / total


@torch.no_grad()
def _periodic_moments(fields: torch.Tensor, L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per field and axis (row, column): the centre ``c`` minimizing ``sum_x p(x) |x - c|^2`` over the lattice
    sites and the midpoints between them (periodic distances, ``p = w^2 / sum w^2`` marginalized on the axis),
    and that minimum. Returns float64 ``(units, 2)`` centres (in ``[0, L)``) and ``(units, 2)`` minima."""
    w2 = fields.reshape(-1, L, L).double() ** 2
    total = w2.sum(dim=(1, 2)).clamp_min(torch.finfo(torch.float64).tiny)
    candidates = torch.arange(2 * L, dtype=torch.float64, device=fields.device) / 2  # sites and midpoints
    x = torch.arange(L, dtype=torch.float64, device=fields.device)
    d = (x[None, :] - candidates[:, None]).remainder(L)
    d2 = torch.minimum(d, L - d) ** 2  # (2L candidates, L positions): periodic squared distance
    centres, minima = [], []
    for axis in (2, 1):  # marginal of the rows' index (sum over columns), then of the columns' index
        marginal = w2.sum(dim=axis) / total[:, None]  # (units, L)
        value, index = (marginal @ d2.t()).min(dim=1)
        centres.append(candidates[index])
        minima.append(value)
    return torch.stack(centres, dim=1), torch.stack(minima, dim=1)


def rms_radius(fields: torch.Tensor, L: int) -> torch.Tensor:
    """Receptive-field size: rms distance of each field's squared-weight distribution from its centre.

    ``fields``: (units, L*L) (row-major sites). With ``p = w^2 / sum w^2`` and periodic distances,
    ``radius^2 = min_c sum_x p(x) |x - c|^2`` over centres ``c`` on the lattice sites and the midpoints
    between them (the minimization separates into the two axes). Returns float32 (units,) in lattice
    spacings: 0 for a single site, ``sqrt(1/2)`` for a 2 x 2 block, ``sqrt(b^2 - 1) / sqrt(6)`` for a
    uniform b x b block (``b = L``: a uniform field). All-zero fields give 0.
    """
    return torch.sqrt(_periodic_moments(fields, L)[1].sum(dim=1)).float()


def field_centres(fields: torch.Tensor, L: int) -> torch.Tensor:
    """Periodic centre (row, column) of each field's squared weight (the ``c`` of :func:`rms_radius`).

    ``fields``: (units, L*L) (row-major sites). Returns float32 (units, 2) in lattice units, on sites or
    midpoints in ``[0, L)``: ``(0.5, 0.5)`` for the 2 x 2 block of sites (0..1, 0..1).
    """
    return _periodic_moments(fields, L)[0].float()
