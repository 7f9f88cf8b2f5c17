"""Square-lattice geometry with periodic boundaries.

Spins are ``int8`` tensors of +-1 with shape ``(batch, L, L)``; all functions act on the last two
dimensions and work on any device.
"""

from __future__ import annotations

import torch


def neighbour_sum(spins: torch.Tensor) -> torch.Tensor:
    """Sum of the four nearest neighbours of every site (periodic); same shape, dtype int8 in [-4, 4]."""
    return (
        torch.roll(spins, 1, -1)
        + torch.roll(spins, -1, -1)
        + torch.roll(spins, 1, -2)
        + torch.roll(spins, -1, -2)
    )


def bond_sum(spins: torch.Tensor) -> torch.Tensor:
    """Sum over nearest-neighbour bonds of s_i s_j, each bond counted once; shape ``spins.shape[:-2]``, int64.

    For ``L = 2`` the two bonds between a pair of sites along an axis are both counted (torus convention,
    as in Kaufman's partition function).
    """
    s = spins.to(torch.int32)
    right = s * torch.roll(s, -1, -1)
    down = s * torch.roll(s, -1, -2)
    return (right + down).sum(dim=(-2, -1)).to(torch.int64)


def checkerboard_mask(L: int, parity: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean ``(L, L)`` mask of the sites with ``(row + col) % 2 == parity``."""
    idx = torch.arange(L, device=device)
    return ((idx[:, None] + idx[None, :]) % 2) == parity


def random_spins(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Independent uniform +-1 spins of ``shape``, int8."""
    bits = torch.randint(0, 2, shape, generator=generator, device=device, dtype=torch.int8)
    return bits * 2 - 1
