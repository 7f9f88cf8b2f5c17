"""The Potts plurality rule: the most frequent colour of each block, ties broken uniformly among the tied
colours (chi-square against the exact split, with a power check), seeded, and the Ising majority rule at
q = 2."""

from __future__ import annotations

import pytest
import torch

from rgnet.rg import majority_2d, plurality_2d


def random_colours(shape: tuple[int, ...], q: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, q, shape, generator=generator).to(torch.int8)


def test_a_clear_plurality_wins_on_every_block():
    colours = torch.tensor([[[2, 2, 0, 1], [2, 1, 1, 1], [0, 0, 2, 2], [0, 1, 2, 0]]], dtype=torch.int8)
    out = plurality_2d(colours, 2, 3)
    assert out.dtype == torch.int8 and out.tolist() == [[[2, 1], [0, 2]]]


def tie_counts(out: torch.Tensor, q: int) -> torch.Tensor:
    return torch.bincount(out.flatten().long(), minlength=q).double()


def chi_square_uniform(counts: torch.Tensor, support: list[int]) -> float:
    """Chi-square of ``counts`` against a uniform split over ``support`` (zero expected elsewhere)."""
    expected = counts.sum() / len(support)
    return float(sum((counts[c] - expected) ** 2 / expected for c in support))


def test_ties_go_to_each_tied_colour_uniformly():
    """A 2-2 tie of colours 0 and 2 (q = 3) and a four-way tie (q = 4) on 20000 blocks: only tied colours
    come out, in a uniform split (chi-square below its 4-sigma point), and a tie rule that always takes the
    lowest colour is rejected by the same statistic."""
    two_way = torch.tensor([[0, 2], [2, 0]], dtype=torch.int8).repeat(1, 100, 100)  # 10^4 blocks
    counts = tie_counts(plurality_2d(two_way, 2, 3, seed=1), 3)
    assert counts[1] == 0 and chi_square_uniform(counts, [0, 2]) < 1 + 4 * 2**0.5  # 1 degree of freedom
    four_way = torch.tensor([[0, 1], [2, 3]], dtype=torch.int8).repeat(1, 100, 100)
    counts = tie_counts(plurality_2d(four_way, 2, 4, seed=2), 4)
    assert chi_square_uniform(counts, [0, 1, 2, 3]) < 3 + 4 * 6**0.5  # 3 degrees of freedom
    lowest_wins = torch.zeros(4)
    lowest_wins[0] = counts.sum()
    assert chi_square_uniform(lowest_wins, [0, 1, 2, 3]) > 3 + 4 * 6**0.5


def test_seeded_and_generator_driven():
    colours = random_colours((50, 8, 8), 3, seed=3)
    assert torch.equal(plurality_2d(colours, 2, 3, seed=4), plurality_2d(colours, 2, 3, seed=4))
    assert not torch.equal(plurality_2d(colours, 2, 3, seed=4), plurality_2d(colours, 2, 3, seed=5))
    generator = torch.Generator().manual_seed(4)
    assert torch.equal(plurality_2d(colours, 2, 3, generator=generator), plurality_2d(colours, 2, 3, seed=4))


def test_q2_odd_blocks_are_the_ising_majority_rule():
    """Colour c <-> spin 1 - 2c: with no ties possible (3 x 3 blocks) plurality and majority agree site by
    site."""
    colours = random_colours((40, 9, 9), 2, seed=6)
    spins = (1 - 2 * colours).to(torch.int8)
    assert torch.equal((1 - 2 * plurality_2d(colours, 3, 2)).to(torch.int8), majority_2d(spins, 3))


@pytest.mark.parametrize(
    ("colours", "b", "q", "exc", "match"),
    [
        (random_colours((2, 4, 4), 3), 2, 1, ValueError, "q must be >= 2"),
        (random_colours((2, 4, 4), 4), 2, 3, ValueError, r"colours 0\.\.2 \(q=3\)"),
        (random_colours((2, 4, 4), 3).float(), 2, 3, TypeError, "integer tensor"),
        (random_colours((2, 4, 6), 3), 2, 3, ValueError, r"\(batch, L, L\)"),
        (random_colours((2, 6, 6), 3), 4, 3, ValueError, "b=4 must divide the linear size 6"),
        (random_colours((2, 4, 4), 3), 0, 3, ValueError, "b must be >= 1"),
    ],
)
def test_bad_input(colours, b, q, exc, match):
    with pytest.raises(exc, match=match):
        plurality_2d(colours, b, q)
