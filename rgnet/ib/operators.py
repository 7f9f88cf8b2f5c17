"""Operators of a block of spins or Potts colours and what a code of the block has in common with them.

A block is ``rows x cols`` sites in row-major order, ``block_shape = (rows, cols, periodic)`` with
``periodic``: its columns wrap around (a ring of the cylinder or torus). Ising blocks ``v`` are float
``(batch, rows*cols)`` of +-1; q-state Potts blocks (``colours = q``) are one-hot, float ``(batch,
q*rows*cols)`` in colour-major order (``v.reshape(batch, q, rows*cols)[:, a, i] = delta(s_i, a)``). The
templates are the lowest operators of each symmetry sector: the order parameter (odd under Z2, the
(q-1)-dimensional standard irrep of S_q) -- the block magnetization ``sum_i v_i``, or the colour counts
``n_a = sum_i delta(s_i, a)`` -- and the nearest-neighbour bond sum (invariant: the energy)
``sum_<ij> v_i v_j`` or ``sum_<ij> delta(s_i, s_j)``. :func:`code_operator_overlaps` measures a code
``mu(v)`` against them:

* ``overlap_magnetization``: multiple correlation ``R`` of a code component with the order parameter (max
  over components): ``|corr(mu, sum_i v_i)|`` for Ising, ``sqrt`` of the share of the component's variance
  that is linear in the colour counts for Potts;
* ``overlap_energy``: ``|corr(mu, bond sum)|`` over the block's bonds (:func:`block_bonds`);
* ``z2_odd_fraction`` (Ising) or ``sq_noninvariant_fraction`` (Potts): share of the code's variance that is
  not invariant under the symmetry, ``Var(mu - P mu) / (Var(mu - P mu) + Var(P mu))`` with ``P`` the average
  over the group (the global flip, or the q! colour permutations: :func:`symmetrized_code`); 1 = odd (a
  linear Ising filter always), 0 = invariant;
* Ising, codes that are not Z2-even: ``filter_sign_purity``, ``|sum_i W_i| / sum_i |W_i|`` of the (first)
  filter (1 = single-sign filter), and ``filter_boundary_ratio``, ``|mean W|`` on the block sites nearest E
  over ``|mean W|`` on those farthest from it (> 1: boundary-weighted, as RSMI reports at K_c;
  :func:`filter_boundary_ratio`). A one-hot filter is defined only up to a constant per site, so Potts codes
  have neither.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable

import torch

from rgnet.contracts import EncodesBlocks, require

BlockShape = tuple[int, int, bool]
#: Largest q whose q! colour permutations an S_q average enumerates (5! = 120 encoder calls per batch).
MAX_PERMUTED_COLOURS = 5


@functools.cache
def colour_permutations(q: int) -> torch.Tensor:
    """All ``q!`` permutations of the colours 0..q-1, int64 ``(q!, q)`` on the CPU, the identity first (made
    once per q: the S_q-invariant encoder averages over them in every forward pass; do not modify)."""
    if not 2 <= q <= MAX_PERMUTED_COLOURS:
        raise ValueError(
            f"q={q}: averaging over the q! colour permutations needs 2 <= q <= {MAX_PERMUTED_COLOURS} "
            f"({MAX_PERMUTED_COLOURS}! = {math.factorial(MAX_PERMUTED_COLOURS)} encoder calls per batch)"
        )
    return torch.tensor(list(itertools.permutations(range(q))), dtype=torch.int64)


def one_hot_blocks(colours: torch.Tensor, q: int) -> torch.Tensor:
    """Colours ``(n, sites)`` (any integer dtype, values 0..q-1) as one-hot float32 ``(n, q * sites)`` in
    colour-major order."""
    return (
        torch.nn.functional.one_hot(colours.long(), q).permute(0, 2, 1).reshape(colours.shape[0], -1).float()
    )


def check_one_hot(x: torch.Tensor, q: int, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``x`` (batch, q*sites) is one-hot over ``q`` colours at
    every site in colour-major order (entries 0 or 1, one 1 per site)."""
    if x.shape[-1] % q:
        raise ValueError(f"{name} has {x.shape[-1]} features, not a multiple of q={q} (one-hot: q per site)")
    if not (((x == 0) | (x == 1)).all() and (x.reshape(x.shape[0], q, -1).sum(dim=1) == 1).all()):
        raise ValueError(f"{name} is not one-hot over q={q} colours at every site (colour-major)")


def permute_colours(v: torch.Tensor, q: int, permutation: torch.Tensor) -> torch.Tensor:
    """One-hot blocks ``v`` ``(batch, q*sites)`` with colour ``a`` renamed ``permutation[a]`` (same shape)."""
    channels = v.reshape(v.shape[0], q, -1)
    inverse = torch.argsort(permutation.to(v.device))
    return channels[:, inverse, :].reshape(v.shape)


def symmetrized_code(
    code: Callable[[torch.Tensor], torch.Tensor], v: torch.Tensor, colours: int | None
) -> torch.Tensor:
    """The group average ``P mu`` of a code ``mu = code(v)``, ``(batch, dim_h)``: ``(mu(v) + mu(-v)) / 2``
    for +-1 blocks (``colours`` None), the mean of ``mu`` over the q! colour permutations of one-hot ones."""
    if colours is None:
        return 0.5 * (code(v) + code(-v))
    permutations = colour_permutations(colours)
    return torch.stack([code(permute_colours(v, colours, p)) for p in permutations]).mean(dim=0)


def block_bonds(block_shape: BlockShape) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-neighbour pairs ``(i, j)`` (int64 site indices, row-major) of a block ``(rows, cols,
    periodic)``; ``periodic``: the columns wrap around, when there are more than 2."""
    rows, cols, periodic = block_shape
    site = torch.arange(rows * cols).reshape(rows, cols)
    pairs = [(site[1:, :], site[:-1, :]), (site[:, 1:], site[:, :-1])]
    if periodic and cols > 2:
        pairs.append((site[:, :1], site[:, -1:]))
    return torch.cat([a.reshape(-1) for a, _ in pairs]), torch.cat([b.reshape(-1) for _, b in pairs])


def block_bond_sum(v: torch.Tensor, block_shape: BlockShape, colours: int | None = None) -> torch.Tensor:
    """Nearest-neighbour bond sum ``(batch,)`` of blocks ``v`` of ``block_shape``: ``sum_<ij> v_i v_j`` of
    +-1 blocks ``(batch, rows*cols)``, or ``sum_<ij> delta(s_i, s_j)`` of one-hot blocks ``(batch,
    colours*rows*cols)``."""
    i, j = block_bonds(block_shape)
    channels = v.reshape(v.shape[0], colours or 1, -1)
    return (channels[:, :, i] * channels[:, :, j]).sum(dim=(1, 2))


def order_parameter(v: torch.Tensor, colours: int | None = None) -> torch.Tensor:
    """The block's order parameter, ``(batch, 1)``: the magnetization ``sum_i v_i`` of +-1 blocks, or
    ``(batch, q)``: the colour counts ``n_a`` of one-hot blocks (they sum to the block size, so their
    centred span is the (q-1)-dimensional order parameter)."""
    if colours is None:
        return v.sum(dim=1, keepdim=True)
    return v.reshape(v.shape[0], colours, -1).sum(dim=2)


def multiple_correlation(code: torch.Tensor, templates: torch.Tensor) -> float:
    """Largest multiple correlation ``R`` over the components of ``code`` ``(batch, dim_h)`` with the span of
    ``templates`` ``(batch, k)``: ``R^2`` is the share of the component's variance that a linear function of
    the templates explains (``|Pearson correlation|`` for one template; 0 for a constant code)."""
    code = (code - code.mean(dim=0)).double()
    templates = (templates - templates.mean(dim=0)).double()
    fitted = templates @ torch.linalg.lstsq(templates, code, driver="gelsd").solution
    explained = fitted.pow(2).sum(dim=0) / torch.clamp(code.pow(2).sum(dim=0), min=1e-300)
    return float(torch.clamp(explained, 0.0, 1.0).sqrt().max())


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
    (+-1 ``(batch, rows*cols)``, or one-hot ``(batch, q*rows*cols)`` when ``encoder.colours = q``) with the
    operator templates (see the module docstring); the filter metrics only for Ising codes that are not
    Z2-even."""
    require(encoder, EncodesBlocks, "code_operator_overlaps")
    colours = encoder.colours
    with torch.no_grad():
        mu = encoder(v)
        invariant = symmetrized_code(encoder, v, colours)
    broken = (mu - invariant).var(dim=0).sum()
    kept = invariant.var(dim=0).sum()
    out = {
        "overlap_magnetization": multiple_correlation(mu, order_parameter(v, colours)),
        "overlap_energy": multiple_correlation(mu, block_bond_sum(v, block_shape, colours)[:, None]),
        "z2_odd_fraction" if colours is None else "sq_noninvariant_fraction": float(
            broken / torch.clamp(broken + kept, min=1e-30)
        ),
    }
    if encoder.symmetric or colours is not None:
        return out
    w = encoder.filters()[0].cpu()
    out["filter_sign_purity"] = filter_sign_purity(w)
    ratio = filter_boundary_ratio(w, block_shape)
    if ratio is not None:
        out["filter_boundary_ratio"] = ratio
    return out


__all__ = [
    "MAX_PERMUTED_COLOURS",
    "BlockShape",
    "block_bond_sum",
    "block_bonds",
    "code_operator_overlaps",
    "check_one_hot",
    "colour_permutations",
    "one_hot_blocks",
    "filter_boundary_ratio",
    "filter_sign_purity",
    "multiple_correlation",
    "order_parameter",
    "permute_colours",
    "symmetrized_code",
]
