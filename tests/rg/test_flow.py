"""Measured RG flows (rgnet.rg.flow): exact-decimation and majority-rule references, lattice placement, the
verdicts and their negative controls, on hand-made rows and on exactly coarse-grained configurations."""

from __future__ import annotations

import math

import pytest
import torch

from rgnet.ising import sample_1d, sample_2d
from rgnet.rg import (
    assign_to_lattice,
    check_block_spin_flow,
    check_exact_flow,
    correlation_length_1d,
    decimate_spins_1d,
    fit_flow,
    fit_lattice_layers,
    flow_fit_method,
    flow_verdict,
    lattice_sides,
    majority_2d,
)

L, SIDES, K = 12, (6, 3), 0.4


@pytest.fixture(scope="module")
def lattice_spins() -> torch.Tensor:
    """(1000, L, L) int8 +-1 Wolff samples of the 12 x 12 torus at K = 0.4 (tau_int ~ 1 sweep: thinning 4)."""
    return sample_2d(L, K, 1000, method="wolff", seed=1, chains=8, burn_in=100, thinning=4)


def block_centres(side: int) -> torch.Tensor:
    """(side^2, 2) row-major centres (row, column) of the blocks of an L x L lattice cut into side x side."""
    b = L // side
    centre = b * torch.arange(side, dtype=torch.float32) + (b - 1) / 2
    return torch.cartesian_prod(centre, centre)


def majority_layers(spins: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """Iterated majority rule of ``spins`` (n, L, L) down to each side in SIDES, flattened (n, side^2)."""
    generator, outputs, x = torch.Generator().manual_seed(seed), [], spins
    for side in SIDES:
        x = majority_2d(x, x.shape[-1] // side, generator=generator)
        outputs.append(x.reshape(x.shape[0], -1).float())
    return outputs


def _rows(K_fit, K_exact, err=0.01):
    """Hand-made layer rows (xi consistent with K) for check_exact_flow."""
    return [
        {
            "layer": l + 1,
            "K": k,
            "K_err": err,
            "K_exact": ke,
            "xi": correlation_length_1d(k),
            "xi_exact": correlation_length_1d(ke),
            "xi_err": 0.05,
            "pull_K": (k - ke) / err,
        }
        for l, (k, ke) in enumerate(zip(K_fit, K_exact, strict=True))
    ]


def test_deepest_layer_is_judged_against_its_exact_value_and_the_fixed_point_separately():
    exact = [1.6536, 1.3077, 0.9638, 0.6277]  # K0 = 2: four halvings do not reach K* = 0
    verdict = check_exact_flow(_rows(exact, exact))
    assert verdict["passed"] and not verdict["deepest_at_fixed_point"]
    off = check_exact_flow(_rows([*exact[:3], 0.5], exact))
    assert not off["passed"] and "deepest layer 4" in off["failures"][0]
    near_zero = [0.6625, 0.3501, 0.1137, 0.0128]  # K0 = 1
    assert check_exact_flow(_rows([*near_zero[:3], 0.004], near_zero))["deepest_at_fixed_point"]


def test_a_layer_whose_fit_did_not_converge_fails_the_flow_check():
    exact = [0.6625, 0.3501, 0.1137, 0.0128]
    rows = _rows(exact, exact)
    rows[3]["converged"], rows[3]["K_err"] = False, float("inf")
    verdict = check_exact_flow(rows)
    assert not verdict["passed"] and "did not converge" in verdict["failures"][0]


def test_verdict_of_a_chain_flow():
    exact = [0.6625, 0.3501, 0.1137, 0.0128]  # K0 = 1
    verdict = flow_verdict(_rows([*exact[:3], 0.004], exact))
    assert verdict["geometry"] == "chain" and verdict["reference"] == "exact decimation"
    assert verdict["follows_exact_flow"] and verdict["deepest_at_fixed_point"] and not verdict["failures"]
    assert verdict["chi2_vs_exact_flow"] == pytest.approx(((0.004 - 0.0128) / 0.01) ** 2)
    assert verdict["distance_to_fixed_point"] == pytest.approx(0.004)
    assert verdict["distance_to_fixed_point_sigma"] == pytest.approx(0.4)
    assert not flow_verdict(_rows([0.5, *exact[1:]], exact))["follows_exact_flow"]
    with pytest.raises(ValueError, match="at least one layer"):
        flow_verdict([])


def test_fit_flow_sorts_chain_units_by_their_positions():
    """Exact decimation by 2 per layer with every layer's units scrambled: sorted by their positions, the
    flow follows exact decimation; in storage order (no positions), the chains have no coupling left."""
    spins = sample_1d(32, 1.0, 1500, seed=3)
    gen = torch.Generator().manual_seed(0)
    outputs, positions, y = [], [], spins
    for l in range(1, 5):
        y = decimate_spins_1d(y, 2)
        perm = torch.randperm(y.shape[1], generator=gen)
        outputs.append(y[:, perm])
        positions.append((2**l * perm).float())
    rows = fit_flow(outputs, positions, spins, 1.0)
    assert [r["size"] for r in rows] == [16, 8, 4, 2] and [r["spacing"] for r in rows] == [2, 4, 8, 16]
    assert check_exact_flow(rows)["passed"]
    assert not check_exact_flow(fit_flow(outputs, None, spins, 1.0))["passed"]


def test_assign_to_lattice_recovers_a_scrambled_placement():
    side = 24
    b = side // 6
    centre = b * torch.arange(6.0) + (b - 1) / 2
    sites = torch.cartesian_prod(centre, centre)
    perm = torch.randperm(36, generator=torch.Generator().manual_seed(0))
    jitter = 0.3 * torch.rand(36, 2, generator=torch.Generator().manual_seed(1))
    order, error = assign_to_lattice((sites[perm] + jitter).remainder(side), side)
    assert torch.equal(perm[order], torch.arange(36))  # site k gets the unit that sits on it
    assert 0 < error < 0.3 * math.sqrt(2) / b
    with pytest.raises(ValueError, match="shape"):
        assign_to_lattice(torch.zeros(35, 2), side)
    with pytest.raises(ValueError, match="divide"):
        assign_to_lattice(torch.zeros(25, 2), side)


def test_majority_layers_follow_the_block_spin_flow_and_placement_matters(lattice_spins):
    """Majority-rule layers at their blocks' centres follow the majority-rule flow (with other tie-breaks);
    power of the check: the same units, placed at random positions, have no coupling left."""
    outputs = majority_layers(lattice_spins, seed=5)
    centres = [block_centres(side) for side in SIDES]
    rows = fit_flow(outputs, centres, lattice_spins, K)
    assert [r["side"] for r in rows] == list(SIDES) and all(r["placement_error"] == 0.0 for r in rows)
    verdict = flow_verdict(rows)
    assert verdict["geometry"] == "lattice" and verdict["follows_block_spin_flow"], verdict["failures"]
    assert all(r["K_majority"] > 10 * r["K_majority_err"] for r in rows)  # a non-trivial flow
    gen = torch.Generator().manual_seed(2)
    scrambled = [p[torch.randperm(p.shape[0], generator=gen)] for p in centres]
    assert not check_block_spin_flow(fit_lattice_layers(outputs, scrambled, lattice_spins))["passed"]


def test_layers_that_are_no_nested_square_lattices_and_exact_fits_on_lattices_are_refused():
    assert lattice_sides([144, 36, 9], 24) == [12, 6, 3]
    with pytest.raises(ValueError, match="layer 1 has 100 units.*dividing the side 24"):
        lattice_sides([100], 24)
    with pytest.raises(ValueError, match="layer 2 has 4 units"):  # 2 x 2 has no distinct neighbours
        lattice_sides([144, 4])
    with pytest.raises(ValueError, match="layer 2 has 25 units"):  # 5 does not divide 12
        lattice_sides([144, 25])
    assert (
        flow_fit_method("auto", lattice=False) == "exact"
        and flow_fit_method("auto", lattice=True) == "pseudo"
    )
    assert flow_fit_method("pseudo", lattice=False) == "pseudo"
    with pytest.raises(ValueError, match="method='exact' fits chains"):
        flow_fit_method("exact", lattice=True)
    with pytest.raises(ValueError, match="method must be one of"):
        flow_fit_method("ml", lattice=False)
