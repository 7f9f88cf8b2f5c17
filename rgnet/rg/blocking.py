"""Block-spin transforms on configurations: majority rule (random tie-break) and decimation, 1D and 2D, and
the plurality rule for q-state Potts colours.

Ising inputs are +-1 spins, ``(batch, N)`` chains or ``(batch, L, L)`` lattices (any integer or float dtype,
any device); outputs have the same dtype and device, shape ``(batch, N // b)`` or ``(batch, L // b, L // b)``.
Block ``J`` of a chain holds sites ``b J .. b J + b - 1``; block ``(I, J)`` of a lattice holds the ``b x b``
sites starting at ``(b I, b J)``. Periodic boundaries are preserved because ``b`` must divide the size.
Potts inputs are integer colours ``0..q-1`` ``(batch, L, L)`` (see :mod:`rgnet.potts`).
"""

from __future__ import annotations

import torch

from rgnet._checks import check_int
from rgnet.potts.observables import check_potts_spins


def _check_spins(spins: object, ndim: int, b: object) -> tuple[torch.Tensor, int]:
    if not isinstance(spins, torch.Tensor):
        raise TypeError(f"spins must be a torch.Tensor, got {type(spins).__name__}")
    shape = "(batch, N)" if ndim == 2 else "(batch, L, L)"
    if spins.dim() != ndim or (ndim == 3 and spins.shape[1] != spins.shape[2]):
        raise ValueError(f"spins must have shape {shape}, got {tuple(spins.shape)}")
    if spins.dtype == torch.bool or spins.is_complex():
        raise TypeError(f"spins must be an integer or float tensor of +-1, got {spins.dtype}")
    if spins.numel() and not bool(((spins == 1) | (spins == -1)).all()):
        raise ValueError("spins must contain only +1 and -1")
    b = check_int(b, "b", minimum=1)
    size = spins.shape[-1]
    if size % b:
        raise ValueError(f"b={b} must divide the linear size {size}")
    return spins, b


def sign_with_coin(
    sums: torch.Tensor, generator: torch.Generator | None = None, seed: int | None = None
) -> torch.Tensor:
    """int8 ``sign(sums)`` (any shape, real dtype) with zeros replaced by independent fair +-1 coins: one is
    drawn per element of ``sums`` from ``generator`` (or a CPU generator seeded with ``seed``, default 0),
    tie or not, so the random stream depends only on the shape. The majority rule's tie-break."""
    if generator is None:
        generator = torch.Generator().manual_seed(
            check_int(seed, "seed", minimum=0) if seed is not None else 0
        )
    coin = torch.randint(0, 2, sums.shape, generator=generator, dtype=torch.int8, device=generator.device)
    coin = (2 * coin - 1).to(sums.device)
    out = torch.sign(sums).to(torch.int8)
    return torch.where(out == 0, coin, out)


def majority_1d(
    spins: torch.Tensor, b: int, *, generator: torch.Generator | None = None, seed: int | None = None
) -> torch.Tensor:
    """Majority rule on blocks of ``b`` consecutive sites; ties (even ``b``) broken by a fair coin from
    ``generator`` (or a CPU generator seeded with ``seed``, default 0). ``(batch, N) -> (batch, N // b)``."""
    spins, b = _check_spins(spins, 2, b)
    sums = spins.to(torch.int32).reshape(spins.shape[0], -1, b).sum(dim=-1)
    return sign_with_coin(sums, generator, seed).to(spins.dtype)


def majority_2d(
    spins: torch.Tensor, b: int, *, generator: torch.Generator | None = None, seed: int | None = None
) -> torch.Tensor:
    """Majority rule on ``b x b`` blocks; ties broken by a fair coin (see :func:`majority_1d`).
    ``(batch, L, L) -> (batch, L // b, L // b)``."""
    spins, b = _check_spins(spins, 3, b)
    n, L = spins.shape[0], spins.shape[1]
    blocks = spins.to(torch.int32).reshape(n, L // b, b, L // b, b)
    return sign_with_coin(blocks.sum(dim=(2, 4)), generator, seed).to(spins.dtype)


def plurality_2d(
    colours: torch.Tensor,
    b: int,
    q: int,
    *,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> torch.Tensor:
    """Plurality rule for Potts colours on ``b x b`` blocks: each block takes its most frequent colour, a tie
    going to one of the tied colours uniformly at random. ``(batch, L, L) -> (batch, L // b, L // b)``,
    colours ``0..q-1`` in, same dtype out.

    One uniform number per block and colour is drawn from ``generator`` (or a CPU generator seeded with
    ``seed``, default 0), tie or not, so the random stream depends only on the shape. For ``q = 2`` this is
    the majority rule with a fair coin (colour ``c`` <-> spin ``1 - 2c``).
    """
    q = check_int(q, "q", minimum=2, maximum=127)
    colours = check_potts_spins(colours, q, "colours")
    if colours.shape[1] != colours.shape[2]:
        raise ValueError(f"colours must have shape (batch, L, L), got {tuple(colours.shape)}")
    b = check_int(b, "b", minimum=1)
    n, L = colours.shape[0], colours.shape[1]
    if L % b:
        raise ValueError(f"b={b} must divide the linear size {L}")
    if generator is None:
        generator = torch.Generator().manual_seed(
            check_int(seed, "seed", minimum=0) if seed is not None else 0
        )
    one_hot = torch.nn.functional.one_hot(colours.long(), q).to(torch.float32)  # (n, L, L, q)
    counts = one_hot.reshape(n, L // b, b, L // b, b, q).sum(dim=(2, 4))
    # counts are integers, so a uniform number in [0, 1) breaks only ties, and breaks them uniformly
    jitter = torch.rand(counts.shape, generator=generator, device=generator.device).to(counts.device)
    return (counts + jitter).argmax(dim=-1).to(colours.dtype)


def decimate_spins_1d(spins: torch.Tensor, b: int, offset: int = 0) -> torch.Tensor:
    """Keep sites ``offset, offset + b, ...`` of each chain: ``(batch, N) -> (batch, N // b)``.

    Samples of the periodic chain at ``K`` become samples of the periodic chain at ``tanh K' = tanh(K)^b``.
    """
    spins, b = _check_spins(spins, 2, b)
    offset = check_int(offset, "offset", minimum=0, maximum=b - 1)
    return spins[:, offset::b].contiguous()


def decimate_spins_2d(spins: torch.Tensor, b: int) -> torch.Tensor:
    """Keep the sites ``(b I, b J)``: ``(batch, L, L) -> (batch, L // b, L // b)``."""
    spins, b = _check_spins(spins, 3, b)
    return spins[:, ::b, ::b].contiguous()


__all__ = [
    "decimate_spins_1d",
    "decimate_spins_2d",
    "majority_1d",
    "majority_2d",
    "plurality_2d",
    "sign_with_coin",
]
