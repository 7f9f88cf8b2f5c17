"""Block operators (bonds, bond sums) and the overlaps of a code with them (rgnet.ib.operators)."""

from __future__ import annotations

import pytest
import torch

from rgnet.ib import block_bond_sum, code_operator_overlaps, filter_boundary_ratio, permute_colours
from rgnet.ib.operators import one_hot_blocks
from rgnet.models.vib import VIBEncoder


def test_block_bond_sum() -> None:
    v = torch.tensor([[1.0, 1.0, -1.0, 1.0, 1.0, 1.0]])  # 2 x 3 block
    # open: rows (1*1 + 1*-1) + (1*1 + 1*1) = 2, columns 1*1 + 1*1 + -1*1 = 1
    assert float(block_bond_sum(v, (2, 3, False))[0]) == 3.0
    # periodic columns add (1*-1) + (1*1) = 0
    assert float(block_bond_sum(v, (2, 3, True))[0]) == 3.0
    assert float(block_bond_sum(torch.ones(1, 6), (2, 3, True))[0]) == 3 + 6


def test_operator_overlaps_of_hand_set_filters() -> None:
    gen = torch.Generator().manual_seed(0)
    v = (torch.randint(0, 2, (500, 4), generator=gen) * 2 - 1).float()
    model = VIBEncoder(4, 4)
    with torch.no_grad():
        model.encoder.weight.fill_(1.0)  # block magnetization
    odd = code_operator_overlaps(model, v, (2, 2, False))
    assert odd["overlap_magnetization"] == pytest.approx(1.0) and odd["z2_odd_fraction"] == pytest.approx(1.0)
    assert odd["filter_sign_purity"] == pytest.approx(1.0) and odd["overlap_energy"] < 0.2
    assert "filter_boundary_ratio" not in odd  # a 2 x 2 block has no inside
    with torch.no_grad():
        model.encoder.weight.copy_(torch.tensor([[1.0, -1.0, 1.0, -1.0]]))
    assert code_operator_overlaps(model, v, (2, 2, False))["filter_sign_purity"] == pytest.approx(0.0)


def test_filter_boundary_ratio() -> None:
    slab = torch.tensor([1.0, 1.0, 1.0, 3.0, 3.0, 3.0])  # 2 rows of 3: the last row faces E
    assert filter_boundary_ratio(slab, (2, 3, True)) == pytest.approx(3.0)
    shell = torch.full((3, 3), 2.0)
    shell[1, 1] = 0.5
    assert filter_boundary_ratio(shell.reshape(-1), (3, 3, False)) == pytest.approx(4.0)
    assert filter_boundary_ratio(slab[:3], (1, 3, True)) is None


def test_overlaps_need_a_block_encoder() -> None:
    """A plain callable has no filters and no symmetry flag: the error names what it lacks."""
    missing = r"EncodesBlocks.*Linear has no colours, filters, quadratic_kernel, symmetric"
    with pytest.raises(TypeError, match=missing):
        code_operator_overlaps(torch.nn.Linear(4, 1), torch.ones(3, 4), (2, 2, False))


def _potts_blocks(n: int, q: int, sites: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    colours = torch.randint(0, q, (n, sites), generator=torch.Generator().manual_seed(seed))
    return colours, one_hot_blocks(colours, q)


def test_potts_bond_sum_counts_equal_neighbours() -> None:
    colours, v = _potts_blocks(200, 3, 6)
    grid = colours.reshape(-1, 2, 3)
    expected = (grid[:, 1:] == grid[:, :-1]).sum((1, 2)) + (grid[:, :, 1:] == grid[:, :, :-1]).sum((1, 2))
    assert torch.equal(block_bond_sum(v, (2, 3, False), colours=3), expected.float())


def test_permuting_colours_renames_them() -> None:
    colours, v = _potts_blocks(50, 3, 4)
    permutation = torch.tensor([2, 0, 1])
    assert torch.equal(permute_colours(v, 3, permutation), one_hot_blocks(permutation[colours], 3))


def test_potts_overlaps_of_hand_set_codes() -> None:
    """A linear code on one colour count is all order parameter (R = 1) and not S_q invariant; an invariant
    code (the bond count) is all energy and invariant; a power check: the order-parameter code has no energy
    overlap, the energy code no order-parameter overlap."""
    _, v = _potts_blocks(2000, 3, 4)
    counts = VIBEncoder(12, 12, q=3)
    with torch.no_grad():
        counts.encoder.weight.copy_(torch.tensor([[1.0] * 4 + [0.0] * 8]))  # n_0
    odd = code_operator_overlaps(counts, v, (2, 2, False))
    assert odd["overlap_magnetization"] == pytest.approx(1.0) and odd["overlap_energy"] < 0.1
    assert odd["sq_noninvariant_fraction"] == pytest.approx(1.0) and "filter_sign_purity" not in odd

    class BondCount(VIBEncoder):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return block_bond_sum(x, (2, 2, False), colours=3)[:, None]

    energy = code_operator_overlaps(BondCount(12, 12, q=3), v, (2, 2, False))
    assert energy["overlap_energy"] == pytest.approx(1.0) and energy["overlap_magnetization"] < 0.1
    assert energy["sq_noninvariant_fraction"] == pytest.approx(0.0, abs=1e-12)
