"""Operators of a block of spins and what a code of the block has in common with them.

A block is ``rows x cols`` sites in row-major order, ``block_shape = (rows, cols, periodic)`` with
``periodic``: its columns wrap around (a ring of the cylinder or torus). Blocks ``v`` are float ``(batch,
rows*cols)`` of +-1. The templates are the lowest operators of each Z2 sector: the block magnetization
``sum_i v_i`` (odd) and the nearest-neighbour bond sum ``sum_<ij> v_i v_j`` (even).
:func:`code_operator_overlaps` measures a code ``mu(v)`` against them:

* ``overlap_magnetization``: ``|corr(mu(v), sum_i v_i)|`` (max over code components);
* ``overlap_energy``: ``|corr(mu(v), sum_<ij> v_i v_j)|`` over the block's bonds (:func:`block_bonds`);
* ``z2_odd_fraction``: share of the code's variance that is odd under ``v -> -v``
  (``Var(mu(v) - mu(-v)) / (Var(mu(v) - mu(-v)) + Var(mu(v) + mu(-v)))``; 1 = odd, 0 = even); a linear
  filter is odd by construction (1 always), so this is informative for nonlinear codes;
* ``filter_sign_purity``: ``|sum_i W_i| / sum_i |W_i|`` of the (first) filter (1 = single-sign filter);
* ``filter_boundary_ratio``: ``|mean W|`` on the block sites nearest E over ``|mean W|`` on those farthest
  from it (> 1: boundary-weighted, as RSMI reports at K_c; :func:`filter_boundary_ratio`).

The two filter metrics describe odd codes and are left out for Z2-even codes, whose linear filter vanishes.
"""

from __future__ import annotations

import torch

from rgnet.contracts import EncodesBlocks, require

BlockShape = tuple[int, int, bool]


def block_bonds(block_shape: BlockShape) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-neighbour pairs ``(i, j)`` (int64 site indices, row-major) of a block ``(rows, cols,
    periodic)``; ``periodic``: the columns wrap around, when there are more than 2."""
    rows, cols, periodic = block_shape
    site = torch.arange(rows * cols).reshape(rows, cols)
    pairs = [(site[1:, :], site[:-1, :]), (site[:, 1:], site[:, :-1])]
    if periodic and cols > 2:
        pairs.append((site[:, :1], site[:, -1:]))
    return torch.cat([a.reshape(-1) for a, _ in pairs]), torch.cat([b.reshape(-1) for _, b in pairs])


def block_bond_sum(v: torch.Tensor, block_shape: BlockShape) -> torch.Tensor:
    """Nearest-neighbour bond sum ``(batch,)`` of blocks ``v`` ``(batch, rows*cols)`` of ``block_shape``."""
    i, j = block_bonds(block_shape)
    return (v[:, i] * v[:, j]).sum(dim=1)


def abs_correlation(code: torch.Tensor, template: torch.Tensor) -> float:
    """Largest ``|Pearson correlation|`` of a code component ``code`` ``(batch, dim_h)`` with a template
    ``(batch,)`` over the batch (0 for a constant code or template)."""
    code = code - code.mean(dim=0)
    template = template - template.mean()
    denom = code.norm(dim=0) * template.norm()
    corr = (code * template[:, None]).sum(dim=0) / torch.clamp(denom, min=1e-12)
    return float(corr.abs().max())


def filter_sign_purity(w: torch.Tensor) -> float:
    """``|sum_i w_i| / sum_i |w_i|`` of a filter ``w`` ``(dim_v,)``: 1 for a single-sign filter, 0 when its
    positive and negative weights cancel."""
    return float(w.sum().abs() / torch.clamp(w.abs().sum(), min=1e-30))


def filter_boundary_ratio(w: torch.Tensor, block_shape: BlockShape) -> float | None:
    """``|mean W|`` nearest E over ``|mean W|`` farthest from E for a filter ``w`` ``(rows*cols,)`` of a block
    shaped ``block_shape``: slab blocks (periodic, >= 2 rows), last row (facing E) over first row; square
    shell blocks (open, side >= 3), outer ring over interior. ``None`` where the block has no inside."""
    rows, cols, periodic = block_shape
    x = w.reshape(rows, cols)
    if periodic and rows >= 2:  # slab: V's last row faces E
        near, far = x[-1], x[0]
    elif not periodic and rows >= 3 and cols >= 3:  # shell: E surrounds the block
        inner = torch.zeros(rows, cols, dtype=torch.bool)
        inner[1:-1, 1:-1] = True
        near, far = x[~inner], x[inner]
    else:
        return None
    return float(near.mean().abs() / torch.clamp(far.mean().abs(), min=1e-30))


def code_operator_overlaps(
    encoder: EncodesBlocks, v: torch.Tensor, block_shape: BlockShape
) -> dict[str, float]:
    """Overlaps of the code ``mu(v)`` of ``encoder`` (:class:`rgnet.contracts.EncodesBlocks`) on blocks ``v``
    ``(batch, rows*cols)`` with the operator templates (see the module docstring); the filter metrics only for
    codes that are not Z2-even."""
    require(encoder, EncodesBlocks, "code_operator_overlaps")
    with torch.no_grad():
        mu, mu_flip = encoder(v), encoder(-v)
    odd = (mu - mu_flip).var(dim=0).sum()
    even = (mu + mu_flip).var(dim=0).sum()
    out = {
        "overlap_magnetization": abs_correlation(mu, v.sum(dim=1)),
        "overlap_energy": abs_correlation(mu, block_bond_sum(v, block_shape)),
        "z2_odd_fraction": float(odd / torch.clamp(odd + even, min=1e-30)),
    }
    if encoder.z2_even:
        return out
    w = encoder.filters()[0].cpu()
    out["filter_sign_purity"] = filter_sign_purity(w)
    ratio = filter_boundary_ratio(w, block_shape)
    if ratio is not None:
        out["filter_boundary_ratio"] = ratio
    return out


__all__ = [
    "BlockShape",
    "abs_correlation",
    "block_bond_sum",
    "block_bonds",
    "code_operator_overlaps",
    "filter_boundary_ratio",
    "filter_sign_purity",
]
