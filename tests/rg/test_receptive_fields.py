"""Receptive-field geometry: locality, rms radius and window side of fields on periodic lattices."""

from __future__ import annotations

import torch

from rgnet.rg.receptive_fields import box_window, field_centres, lattice_side, locality, rms_radius


def test_lattice_side_and_box_window_of_mehta_schwab_layers():
    assert lattice_side(1600) == 40 and lattice_side(1) == 1 and lattice_side(1599) is None
    # block sides 2, 4, 8 for 400, 100, 25 units on 40 x 40; the window is factor block sides, within [1, L]
    assert [box_window(40, n, 2.0) for n in (400, 100, 25)] == [4, 8, 16]
    assert box_window(40, 1, 2.0) == 40 and box_window(40, 1600, 0.1) == 1


def test_locality_of_point_uniform_and_block_fields():
    L = 8
    fields = torch.zeros(3, L * L)
    fields[0, 9] = 1.0  # a single site
    fields[1] = 1.0  # uniform
    block = torch.zeros(L, L)
    block[[7, 7, 0, 0], [7, 0, 7, 0]] = 1.0  # a 2x2 block across the periodic corner
    fields[2] = block.reshape(-1)
    torch.testing.assert_close(locality(fields, L, 2), torch.tensor([1.0, 4 / 64, 1.0]))


def test_rms_radius_of_hand_built_fields():
    L = 8
    fields = torch.zeros(5, L, L)
    fields[0, 3, 5] = -2.0  # a single site: radius 0
    fields[1, [7, 7, 0, 0], [7, 0, 7, 0]] = 1.0  # 2x2 block across the periodic corner: sqrt(1/4 + 1/4)
    fields[2] = 1.0  # uniform: (L^2 - 1) / 12 per axis
    fields[3, 1:4, 6] = 1.0  # a 3x1 bar: only the rows' axis contributes, 2/3
    fields[4, 2, 2], fields[4, 2, 6] = 1.0, 1.0  # two sites L/2 apart: 2 from the midpoint either way round
    expected = torch.tensor([0.0, 0.5**0.5, ((L * L - 1) / 6) ** 0.5, (2 / 3) ** 0.5, 2.0])
    torch.testing.assert_close(rms_radius(fields.reshape(5, -1), L), expected)
    # invariant under translations (periodic) and the sign and scale of the weights
    shifted = -3.0 * fields.roll((3, 5), dims=(1, 2))
    torch.testing.assert_close(rms_radius(shifted.reshape(5, -1), L), expected)
    # the radius grows with the side of a uniform b x b block as sqrt((b^2 - 1) / 6)
    blocks = torch.zeros(3, L, L)
    for i, b in enumerate((2, 4, 6)):
        blocks[i, :b, :b] = 1.0
    torch.testing.assert_close(
        rms_radius(blocks.reshape(3, -1), L), torch.tensor([((b * b - 1) / 6) ** 0.5 for b in (2, 4, 6)])
    )


def test_field_centres_are_periodic():
    fields = torch.zeros(3, 8, 8)
    fields[0, 0:2, 0:2] = 1.0  # 2 x 2 block: centre on the midpoint
    fields[1, 3, 5] = -2.0  # one site, sign irrelevant
    fields[2, [7, 0], 4] = 1.0  # straddles the periodic boundary of the rows
    centres = field_centres(fields.reshape(3, -1), 8)
    assert centres.tolist() == [[0.5, 0.5], [3.0, 5.0], [7.5, 4.0]]
