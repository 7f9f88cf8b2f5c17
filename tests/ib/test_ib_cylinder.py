"""IB relevance on the infinite Ising cylinder: solver's first transition vs the transfer-matrix spectrum."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from rgnet.ib.cylinder import (
    cylinder_boundary_joint,
    cylinder_joint,
    flip_orbit_joint,
    ib_scaling_dimension,
    ising_cylinder_ib,
    predicted_beta_c,
    sample_boundary_pairs,
    scaling_dimension,
)
from rgnet.ib.discrete import solve_ib
from rgnet.ising.exact import (
    K_CRITICAL,
    cylinder_ring_states,
    cylinder_transfer_matrix,
    enumerate_configurations,
)
from rgnet.ising.lattice import bond_sum

_BETAS = np.geomspace(1.0, 200.0, 40)


@pytest.mark.parametrize(
    "L, K, h, separation, z2_even",
    [
        (4, K_CRITICAL, 0.0, 1, False),
        (4, K_CRITICAL, 0.0, 3, False),
        (5, 0.35, 0.0, 2, False),
        (4, 0.6, 0.0, 1, False),
        (4, K_CRITICAL, 0.2, 2, False),
        (4, K_CRITICAL, 0.0, 1, True),
        (6, K_CRITICAL, 0.0, 2, True),
    ],
)
def test_located_beta_c_matches_spectrum(L: int, K: float, h: float, separation: int, z2_even: bool) -> None:
    result = ising_cylinder_ib(L, K, 1, 2, separation, h=h, z2_even=z2_even, betas=_BETAS)
    assert result.beta_c == pytest.approx(result.beta_c_predicted, rel=1e-3)
    assert result.beta_c == pytest.approx(result.beta_c_predicted, rel=1e-6)  # in fact far tighter
    assert result.beta_c_predicted == pytest.approx(predicted_beta_c(L, K, separation, h, z2_even), rel=1e-12)
    assert result.beta_c_predicted == pytest.approx(result.ib.beta_c_spectral, rel=1e-8)
    # the forward scan leaves the trivial encoder right after beta_c, with the predicted operator
    grid = result.betas
    k = int(np.searchsorted(grid, result.beta_c))
    if k < grid.size:
        assert grid[k] <= result.ib.beta_c_scan <= grid[min(k + 1, grid.size - 1)]
    assert result.direction_overlap() > 1 - 1e-6


def test_full_joint_reduces_to_boundary_rings() -> None:
    L, K, h = 3, 0.4, 0.1
    full = cylinder_joint(L, K, block_slices=2, env_slices=2, separation=2, h=h)
    assert full.shape == (2**6, 2**6) and full.sum() == pytest.approx(1.0)
    # marginal of (V's last ring, E's first ring) is the boundary joint
    ring_pair = full.reshape(2**L, 2**L, 2**L, 2**L).sum(axis=(1, 2))  # axes (v_1, v_0, e_1, e_0)
    np.testing.assert_allclose(ring_pair, cylinder_boundary_joint(L, K, 2, h), rtol=1e-12)
    # V's first ring and E's last ring are 4 spacings apart
    far_pair = full.reshape(2**L, 2**L, 2**L, 2**L).sum(axis=(0, 3))
    np.testing.assert_allclose(far_pair, cylinder_boundary_joint(L, K, 4, h), rtol=1e-12)
    # Markov reduction: the IB of the full (V, E) has the same first transition and information curve
    betas = np.geomspace(1.0, 100.0, 25)
    from_full = solve_ib(full, betas=betas)
    from_rings = solve_ib(cylinder_boundary_joint(L, K, 2, h), betas=betas)
    assert from_full.beta_c == pytest.approx(from_rings.beta_c, rel=1e-6)
    np.testing.assert_allclose(from_full.backward.info_y, from_rings.backward.info_y, atol=1e-6)


def test_boundary_joint_is_the_long_torus_limit_and_matches_enumeration() -> None:
    L, K, h, s = 3, 0.35, -0.2, 2
    T = cylinder_transfer_matrix(L, K, h)
    # finite L x M torus, rings 0 and s: P(a, b) = T^s(a, b) T^(M-s)(b, a) / Tr T^M, checked by enumeration
    M = 5
    spins = enumerate_configurations((M, L))
    w = torch.softmax(K * bond_sum(spins).to(torch.float64) + h * spins.to(torch.float64).sum(dim=(1, 2)), 0)
    weights = 1 << torch.arange(L)
    a = ((spins[:, 0] > 0).to(torch.int64) * weights).sum(1)
    b = ((spins[:, s] > 0).to(torch.int64) * weights).sum(1)
    enumerated = torch.zeros(2**L, 2**L, dtype=torch.float64).index_put_((a, b), w, accumulate=True).numpy()
    mp = np.linalg.matrix_power
    finite = mp(T, s) * mp(T, M - s).T / np.trace(mp(T, M))
    np.testing.assert_allclose(enumerated, finite, rtol=1e-10)
    # infinite cylinder = long-torus limit (T rescaled by its top eigenvalue to avoid overflow)
    Tn = T / np.abs(np.linalg.eigvalsh(T)).max()
    M = 400
    long = mp(Tn, s) * mp(Tn, M - s).T / np.trace(mp(Tn, M))
    np.testing.assert_allclose(cylinder_boundary_joint(L, K, s, h), long, rtol=1e-10)


def test_z2_even_moves_the_transition_to_the_energy_operator() -> None:
    odd = [scaling_dimension(predicted_beta_c(L, K_CRITICAL, 2), L, 2) for L in (4, 6, 8)]
    even = [scaling_dimension(predicted_beta_c(L, K_CRITICAL, 2, z2_even=True), L, 2) for L in (4, 6, 8)]
    assert np.all(np.diff(np.abs(np.array(odd) - 0.125)) < 0) and abs(odd[-1] - 0.125) < 0.01
    assert np.all(np.diff(np.abs(np.array(even) - 1.0)) < 0) and abs(even[-1] - 1.0) < 0.02
    # Delta from the solver's located transition, for two separations (beta_c ~ exp(4 pi Delta L_B / L))
    results = [
        ising_cylinder_ib(6, K_CRITICAL, 1, 1, lb, z2_even=z, betas=_BETAS)
        for lb in (1, 2)
        for z in (False, True)
    ]
    deltas = [r.scaling_dimension for r in results]
    assert deltas[0] == pytest.approx(deltas[2], rel=1e-6) and deltas[0] == pytest.approx(0.1266, abs=2e-3)
    assert deltas[1] == pytest.approx(deltas[3], rel=1e-6) and deltas[1] == pytest.approx(0.978, abs=0.01)


def test_first_mode_is_magnetization_like_and_encoder_follows_it() -> None:
    result = ising_cylinder_ib(6, K_CRITICAL, 1, 1, 2, betas=np.geomspace(1.0, 10.0, 30))
    p = result.ring_marginal
    m = cylinder_ring_states(6).sum(axis=1).astype(np.float64)
    g = result.predicted_direction
    np.testing.assert_allclose(g, -g[::-1], atol=1e-10)  # Z2-odd
    assert abs((p * g * m).sum()) / math.sqrt((p * m * m).sum()) > 0.99
    k = int(np.searchsorted(result.betas, result.beta_c)) + 1  # just above the transition
    f = result.ib.forward.encoders[k][:, 0]
    f = f - (p * f).sum()
    assert abs((p * f * g).sum()) / math.sqrt((p * f * f).sum()) > 0.99
    # encode(): full blocks, only the ring facing E matters; Z2-even encoder is flip invariant
    blocks = np.random.default_rng(0).choice(np.array([-1, 1], dtype=np.int8), size=(5, 1, 6))
    probs = result.encode(blocks, k)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    even = ising_cylinder_ib(4, K_CRITICAL, 2, 1, 1, z2_even=True, betas=_BETAS)
    blocks = np.random.default_rng(1).choice(np.array([-1, 1], dtype=np.int8), size=(5, 2, 4))
    np.testing.assert_allclose(even.encode(blocks), even.encode(-blocks))


def test_flip_orbit_joint() -> None:
    joint = cylinder_boundary_joint(3, 0.3, 1)
    merged = flip_orbit_joint(joint)
    assert merged.shape == (4, 8)
    np.testing.assert_allclose(merged[1], joint[1] + joint[6])


def test_full_scan_at_L8_takes_seconds() -> None:
    start = time.perf_counter()
    result = ising_cylinder_ib(8, K_CRITICAL, 2, 2, 2)
    elapsed = time.perf_counter() - start
    assert result.beta_c == pytest.approx(result.beta_c_predicted, rel=1e-3)
    assert elapsed < 30.0  # ~4 s on a loaded 2-core CPU


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="separation"):
        ising_cylinder_ib(4, K_CRITICAL, 1, 1, 0)
    with pytest.raises(ValueError, match="circumference"):
        ising_cylinder_ib(1, K_CRITICAL, 1, 1, 1)
    with pytest.raises(ValueError, match="block_slices"):
        ising_cylinder_ib(4, K_CRITICAL, 0, 1, 1)
    with pytest.raises(ValueError, match="env_slices"):
        ising_cylinder_ib(4, K_CRITICAL, 1, 0, 1)
    with pytest.raises(ValueError, match="h = 0"):
        ising_cylinder_ib(4, K_CRITICAL, 1, 1, 1, h=0.1, z2_even=True)
    with pytest.raises(ValueError, match="betas"):
        ising_cylinder_ib(4, K_CRITICAL, 1, 1, 1, betas=[-1.0, 2.0])
    with pytest.raises(ValueError, match="block_slices"):
        cylinder_joint(6, K_CRITICAL, 3, 1, 1)
    with pytest.raises(ValueError, match="K"):
        cylinder_boundary_joint(4, math.inf, 1)
    result = ising_cylinder_ib(4, K_CRITICAL, 1, 1, 1, betas=[1.0, 2.0])
    with pytest.raises(ValueError, match="blocks"):
        result.encode(np.ones((3, 2, 4)))
    with pytest.raises(ValueError, match="only"):
        result.encode(np.zeros((3, 1, 4)))


def test_scaling_dimensions_extrapolate_to_ising_cft() -> None:
    spin = ib_scaling_dimension((4, 6, 8), K_CRITICAL, (1, 2))
    energy = ib_scaling_dimension((4, 6, 8), K_CRITICAL, (1, 2), z2_even=True)
    assert spin.beta_c.shape == (3, 2)
    assert abs(spin.delta_extrapolated - 0.125) < 0.003 and abs(energy.delta_extrapolated - 1.0) < 0.01
    assert np.all(np.diff(spin.delta) < 0) and np.all(np.diff(energy.delta) > 0)
    # negative control: off criticality the apparent dimension grows with L (finite correlation length)
    massive = ib_scaling_dimension((4, 8), 0.3, (1, 2))
    assert massive.delta[1] > 1.5 * massive.delta[0]
    with pytest.raises(ValueError, match="separations"):
        ib_scaling_dimension((4,), K_CRITICAL, (1,))


def test_sample_boundary_pairs_follow_the_joint() -> None:
    L, K, s, n = 3, 0.4, 2, 100000
    a, b = sample_boundary_pairs(L, K, s, n, h=0.1, seed=3)
    assert a.shape == (n, L) and a.dtype == np.int8
    weights = 1 << np.arange(L)
    ia, ib = ((a > 0) * weights).sum(1), ((b > 0) * weights).sum(1)
    counts = np.zeros((8, 8))
    np.add.at(counts, (ia, ib), 1)
    expected = n * cylinder_boundary_joint(L, K, s, h=0.1)
    z = (counts - expected) / np.sqrt(expected)
    assert np.abs(z).max() < 5.0
    # power check: the same counts are far from the joint at another separation
    other = n * cylinder_boundary_joint(L, K, 1, h=0.1)
    assert np.abs((counts - other) / np.sqrt(other)).max() > 5.0
