"""Potts observables: limiting configurations, the q = 2 Ising map, batching, argument errors."""

from __future__ import annotations

import math

import pytest
import torch

from rgnet.ising.observables import energy_per_site, magnetization_per_site
from rgnet.potts import (
    colour_fractions,
    potts_energy,
    potts_magnetization,
    potts_order_parameter,
    satisfied_bonds,
)


def test_ordered_and_antiferro_states() -> None:
    ordered = torch.full((2, 4, 6), 2, dtype=torch.int8)
    assert torch.equal(potts_energy(ordered, 3), torch.full((2,), -2.0, dtype=torch.float64))
    assert torch.equal(potts_magnetization(ordered, 3), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(potts_order_parameter(ordered, 3).abs(), torch.ones(2, dtype=torch.float64))
    checker = ((torch.arange(4)[:, None] + torch.arange(6)[None, :]) % 2).to(torch.int8)[None]
    assert float(potts_energy(checker)) == 0.0 and float(potts_magnetization(checker, 2)) == 0.0
    stripes = (torch.arange(6) % 3).to(torch.int8).expand(4, 6)[None]  # three colours in equal shares
    assert float(potts_magnetization(stripes, 3)) == pytest.approx(0.0, abs=1e-15)
    assert float(potts_order_parameter(stripes, 3).abs()) == pytest.approx(0.0, abs=1e-15)
    assert float(potts_energy(stripes)) == -1.0  # only the vertical bonds are satisfied


def test_side_two_counts_both_bonds() -> None:
    """Torus convention: on a side of length 2 the pair is joined by two bonds."""
    spins = torch.zeros((1, 2, 3), dtype=torch.int8)
    assert int(satisfied_bonds(spins)) == 12


def test_q2_is_ising() -> None:
    """delta = (1 + sigma sigma') / 2 with sigma = 1 - 2 s: e_P = (e_I - 2) / 2, m_P = |m_I|, M = m_I."""
    gen = torch.Generator().manual_seed(0)
    spins = torch.randint(0, 2, (50, 5, 7), generator=gen, dtype=torch.int8)
    sigma = (1 - 2 * spins).to(torch.int8)
    assert torch.allclose(potts_energy(spins, 2), (energy_per_site(sigma).double() - 2) / 2, atol=1e-12)
    m_ising = magnetization_per_site(sigma).double()
    assert torch.allclose(potts_magnetization(spins, 2), m_ising.abs(), atol=1e-12)
    assert torch.allclose(potts_order_parameter(spins, 2).real, m_ising, atol=1e-12)


def test_fractions_and_order_parameter_of_a_batch() -> None:
    gen = torch.Generator().manual_seed(1)
    spins = torch.randint(0, 4, (30, 6, 6), generator=gen, dtype=torch.int8)
    fractions = colour_fractions(spins, 4)
    assert fractions.shape == (30, 4) and torch.allclose(
        fractions.sum(1), torch.ones(30, dtype=torch.float64)
    )
    m = potts_magnetization(spins, 4)
    assert ((m >= 0) & (m <= 1)).all()
    angles = spins.double() * (2 * math.pi / 4)
    vector = torch.complex(angles.cos(), angles.sin()).mean(dim=(1, 2))
    assert torch.allclose(potts_order_parameter(spins, 4), vector, atol=1e-12)


@pytest.mark.parametrize(
    ("spins", "q", "error", "match"),
    [
        (torch.full((1, 3, 3), 3, dtype=torch.int8), 3, ValueError, r"colours 0..2 \(q=3\)"),
        (torch.full((1, 3, 3), -1, dtype=torch.int8), 3, ValueError, r"colours 0..2"),
        (torch.zeros((1, 3, 3)), 3, TypeError, "integer tensor"),
        (torch.zeros((3, 3), dtype=torch.int8), 3, ValueError, r"shape \(batch, L, M\)"),
        ([[0, 1]], 3, TypeError, "torch.Tensor"),
        (torch.zeros((1, 3, 3), dtype=torch.int8), 1, ValueError, "q must be >= 2"),
        (torch.zeros((1, 3, 3), dtype=torch.int8), 2.5, TypeError, "q must be an integer"),
    ],
)
@pytest.mark.parametrize("observable", [potts_energy, potts_magnetization, potts_order_parameter])
def test_bad_input(observable, spins: object, q: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        observable(spins, q)


def test_energy_without_q_rejects_negative_colours() -> None:
    with pytest.raises(ValueError, match="non-negative colours"):
        potts_energy(torch.full((1, 3, 3), -2, dtype=torch.int8))
