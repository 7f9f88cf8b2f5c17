"""Monte Carlo RG of the q-state Potts model (rgnet.rg.mcrg with q=): Potts operators against direct counts,
q = 2 identical to the Ising MCRG to machine precision, the plurality rule at K_c giving y_t = 6/5 and
y_h = 28/15 for q = 3 (and 1, 15/8 for q = 2 from the Potts sampler), off-critical data as the power check,
and bad input."""

from __future__ import annotations

import pytest
import torch

import rgnet.ising as ising
from rgnet import potts
from rgnet.rg import majority_2d, plurality_2d
from rgnet.rg.mcrg import POTTS_SHAPES, mcrg_exponents, operator_sums

Y_T_Q3, Y_H_Q3 = 6.0 / 5.0, 28.0 / 15.0
Y_T_ISING, Y_H_ISING = 1.0, 15.0 / 8.0


def random_colours(shape: tuple[int, ...], q: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, q, shape, generator=generator).to(torch.int8)


def test_potts_operators_against_direct_counts():
    """Thermal nn = satisfied bonds; spin magnetization of colour c = N_c - N / q (q rows per configuration);
    thermal plaquette = plaquettes of one colour, counted by hand."""
    colours = random_colours((5, 6, 6), 3, seed=1)
    thermal = operator_sums(colours, {k: POTTS_SHAPES[k] for k in ("nn", "plaquette")}, q=3, sector="even")
    assert thermal.shape == (5, 2) and thermal.dtype == torch.float64
    assert torch.equal(thermal[:, 0], potts.satisfied_bonds(colours).double())
    right, down = colours.roll(-1, dims=2), colours.roll(-1, dims=1)
    one_colour = (colours == right) & (colours == down) & (colours == down.roll(-1, dims=2))
    assert torch.equal(thermal[:, 1], one_colour.sum(dim=(1, 2)).double())
    spin = operator_sums(colours, {"magnetization": POTTS_SHAPES["magnetization"]}, q=3, sector="odd")
    expected = 36 * potts.colour_fractions(colours, 3) - 12  # (batch, q)
    assert spin.shape == (15, 1) and torch.allclose(spin[:, 0], expected.reshape(-1), atol=1e-12)


def test_q2_potts_mcrg_is_the_ising_mcrg_to_machine_precision():
    """Colour c = (1 - s) / 2 spans the Ising operators in both sectors, and pooling the two colours is the
    Ising estimate on the configurations and their flips: same exponents and errors (3 x 3 majority = q = 2
    plurality, no ties)."""
    spins = ising.sample_2d(L=27, K=ising.K_CRITICAL, n=1000, method="swendsen_wang", seed=3)
    colours = ((1 - spins) // 2).to(torch.int8)
    with_flips = torch.stack([spins, -spins], dim=1).reshape(-1, 27, 27)
    as_ising = mcrg_exponents(with_flips, lambda s: majority_2d(s, 3), levels=1)
    as_potts = mcrg_exponents(colours, lambda c: plurality_2d(c, 3, 2), levels=1, q=2)
    for table in ("y_t", "y_t_err", "y_h", "y_h_err"):
        ising_values, potts_values = getattr(as_ising, table), getattr(as_potts, table)
        assert ising_values.keys() == potts_values.keys()
        for key, value in ising_values.items():
            assert potts_values[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (table, key)


def plurality_exponents(q: int, K: float, n: int) -> dict[int, tuple[float, float, float, float]]:
    """(y_t, y_t_err, y_h, y_h_err) at truncation k = 3, by level 1..4, of b = 2 plurality (random tie-break)
    on n Swendsen-Wang configurations of the 64 x 64 torus."""
    colours = potts.sample_potts_2d(L=64, K=K, n=n, q=q, method="swendsen_wang", seed=1)
    generator = torch.Generator().manual_seed(5)
    result = mcrg_exponents(colours, lambda c: plurality_2d(c, 2, q, generator=generator), levels=4, q=q)
    assert result.sides == (64, 32, 16, 8, 4)
    keys = ("y_t", "y_t_err", "y_h", "y_h_err")
    return {n: tuple(getattr(result, key)[(n, 3)] for key in keys) for n in range(1, 5)}


@pytest.fixture(scope="module")
def critical_q3():
    return plurality_exponents(3, potts.potts_critical_coupling(3), 10000)


def test_plurality_rule_gives_the_q3_potts_exponents(critical_q3):
    """10^4 configurations at K_c = ln(1 + sqrt 3): y_h within 0.004 of 28/15 at levels 2-4 (and more than
    0.005 from Ising's 15/8: another universality class), y_t rising with the level to within 0.03 of 6/5 at
    levels 3 and 4 (its corrections to scaling are larger than Ising's)."""
    for n in (2, 3, 4):
        y_t, y_t_err, y_h, y_h_err = critical_q3[n]
        assert abs(y_h - Y_H_Q3) < 0.004 and abs(y_h - Y_H_ISING) > 0.005 and 0 < y_h_err < 0.002, (n, y_h)
        assert 0 < y_t_err < 0.02
    for n in (3, 4):
        assert abs(critical_q3[n][0] - Y_T_Q3) < 0.03, (n, critical_q3[n])
    assert critical_q3[1][0] < critical_q3[3][0]


def test_q2_control_gives_the_ising_exponents():
    """The Potts sampler at q = 2, K_c = ln(1 + sqrt 2) = 2 K_c(Ising): the Ising exponents, to the accuracy
    of the Ising majority-rule test (y_t within 0.02 of 1, y_h within 0.005 of 15/8 at levels 2 and 3)."""
    exponents = plurality_exponents(2, potts.potts_critical_coupling(2), 10000)
    for n in (2, 3):
        y_t, _, y_h, _ = exponents[n]
        assert abs(y_t - Y_T_ISING) < 0.02 and abs(y_h - Y_H_ISING) < 0.005, (n, exponents[n])


def test_power_check_off_critical_data_fail():
    """At 0.95 K_c the flow runs to the disordered fixed point: the level-2 and level-3 exponents miss the
    q = 3 criteria."""
    exponents = plurality_exponents(3, 0.95 * potts.potts_critical_coupling(3), 4000)
    for n in (2, 3):
        y_t, _, y_h, _ = exponents[n]
        assert not (abs(y_t - Y_T_Q3) < 0.03 or abs(y_h - Y_H_Q3) < 0.004), (n, exponents[n])


def halve(colours: torch.Tensor) -> torch.Tensor:
    return plurality_2d(colours, 2, 3)


@pytest.mark.parametrize(
    ("spins", "transform", "options", "exc", "match"),
    [
        (random_colours((100, 16, 16), 3), halve, {"q": 1}, ValueError, "q must be >= 2"),
        (random_colours((100, 16, 16), 4), halve, {"q": 3}, ValueError, r"colours 0\.\.2 \(q=3\)"),
        (random_colours((100, 16, 16), 2) * 2 - 1, halve, {"q": 3}, ValueError, r"got values in \[-1, 1\]"),
        (random_colours((100, 16, 16), 3), halve, {"q": 3, "even": ["magnetization"]}, ValueError, "even"),
        (random_colours((100, 16, 16), 3), halve, {"q": 3, "odd": ["ring"]}, ValueError, "odd"),
        (
            random_colours((100, 16, 16), 3),
            lambda c: majority_2d((1 - 2 * (c > 0)).to(torch.int8), 2),
            {"q": 3},
            ValueError,
            r"transform \(at level 1\) must hold colours 0\.\.2",
        ),
        (random_colours((100, 16, 16), 3).float(), halve, {"q": 3}, TypeError, "integer tensor"),
    ],
)
def test_bad_input_is_named_before_any_work(spins, transform, options, exc, match):
    with pytest.raises(exc, match=match):
        mcrg_exponents(spins, transform, 2, **options)


def test_q2_pair_spin_operators_coincide_with_the_magnetization():
    """For q = 2 a pair's spin operator is the magnetization: the singular correlation matrix is reported."""
    colours = random_colours((200, 16, 16), 2, seed=2)
    with pytest.raises(ValueError, match="singular"):
        mcrg_exponents(colours, lambda c: plurality_2d(c, 2, 2), 2, q=2, odd=["magnetization", "nn"])
