"""Observables of q-state Potts configurations, batched torch (any device).

Spins are integer tensors (int8 by convention) of colours 0..q-1, shape (batch, L, M), periodic in both
directions; each nearest-neighbour bond is counted once (on a side of length 2 both bonds of a pair count, the
torus convention of rgnet.ising). H = -K sum_<ij> delta(s_i, s_j), so the energy per site is
e = -(1/N) sum_<ij> delta(s_i, s_j), in units of J (e in [-2, 0] on the square lattice).
"""

from __future__ import annotations

import math

import torch

from rgnet._checks import check_int


def check_potts_spins(spins: object, q: int | None = None, name: str = "spins") -> torch.Tensor:
    """Return ``spins`` if it is an integer tensor (batch, L, M) of colours 0..q-1 (>= 0 if q is None)."""
    if not isinstance(spins, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(spins).__name__}")
    if spins.is_floating_point() or spins.is_complex() or spins.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor (int8 colours 0..q-1), got dtype {spins.dtype}")
    if spins.dim() != 3:
        raise ValueError(f"{name} must have shape (batch, L, M), got {tuple(spins.shape)}")
    if spins.numel():
        low, high = int(spins.min()), int(spins.max())
        top = math.inf if q is None else q - 1
        if low < 0 or high > top:
            allowed = "non-negative colours" if q is None else f"colours 0..{q - 1} (q={q})"
            raise ValueError(f"{name} must hold {allowed}, got values in [{low}, {high}]")
    return spins


def satisfied_bonds(spins: torch.Tensor) -> torch.Tensor:
    """Number of bonds with equal colours, sum_<ij> delta(s_i, s_j), int64 (batch,), each bond once."""
    spins = check_potts_spins(spins)
    right = (spins == spins.roll(-1, dims=2)).sum(dim=(1, 2))
    down = (spins == spins.roll(-1, dims=1)).sum(dim=(1, 2))
    return (right + down).to(torch.int64)


def potts_energy(spins: torch.Tensor, q: int | None = None) -> torch.Tensor:
    """Energy per site e = -(1/N) sum_<ij> delta(s_i, s_j), float64 (batch,) (units of J, N = L*M).

    ``q``, when given, also checks that the colours are in 0..q-1.
    """
    spins = check_potts_spins(spins, None if q is None else check_int(q, "q", minimum=2))
    return -satisfied_bonds(spins).to(torch.float64) / max(1, spins.shape[1] * spins.shape[2])


def colour_fractions(spins: torch.Tensor, q: int) -> torch.Tensor:
    """Fraction of sites of each colour, float64 (batch, q)."""
    q = check_int(q, "q", minimum=2)
    spins = check_potts_spins(spins, q)
    counts = torch.nn.functional.one_hot(spins.reshape(spins.shape[0], -1).long(), q).sum(dim=1)
    return counts.to(torch.float64) / max(1, spins.shape[1] * spins.shape[2])


def potts_magnetization(spins: torch.Tensor, q: int) -> torch.Tensor:
    """Order parameter m = (q max_a rho_a - 1) / (q - 1), float64 (batch,), rho_a the fraction of colour a.

    m = 1 in an ordered (one-colour) state and m -> 0 in the disordered phase of a large lattice (but m >= 0
    always: its finite-size mean at K = 0 is positive). For q = 2 it is |m_Ising|.
    """
    q = check_int(q, "q", minimum=2)
    return (q * colour_fractions(spins, q).amax(dim=1) - 1.0) / (q - 1)


def potts_order_parameter(spins: torch.Tensor, q: int) -> torch.Tensor:
    """Complex order parameter M = (1/N) sum_i exp(2 pi i s_i / q), complex128 (batch,).

    |M| in [0, 1]; its phase tells which colour dominates. For q = 2, M = (1/N) sum_i (-1)^{s_i} is real: the
    Ising magnetization with colour 0 as spin +1 and colour 1 as spin -1.
    """
    fractions = colour_fractions(spins, q)
    angles = torch.arange(q, dtype=torch.float64, device=fractions.device) * (2.0 * math.pi / q)
    return fractions.to(torch.complex128) @ torch.polar(torch.ones_like(angles), angles)


__all__ = [
    "check_potts_spins",
    "colour_fractions",
    "potts_energy",
    "potts_magnetization",
    "potts_order_parameter",
    "satisfied_bonds",
]
