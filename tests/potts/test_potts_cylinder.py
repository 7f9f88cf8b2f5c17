"""Potts cylinder transfer matrix by S_q sector (vs Ising, torus enumeration, CFT) and the exact IB."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rgnet.ib.cylinder import scaling_dimension
from rgnet.ib.discrete import normalized_joint
from rgnet.ising.exact import cylinder_ring_states, cylinder_spectrum, cylinder_transfer_matrix
from rgnet.potts import (
    MAX_POTTS_CYLINDER_STATES,
    potts_boundary_joint,
    potts_colour_orbits,
    potts_critical_coupling,
    potts_cylinder_dimensions,
    potts_cylinder_ib,
    potts_cylinder_spectrum,
    potts_cylinder_transfer_matrix,
    potts_log_partition,
    potts_predicted_beta_c,
    potts_ring_index,
    potts_ring_states,
)

K3 = potts_critical_coupling(3)
_BETAS = np.geomspace(1.0, 200.0, 40)


def _log_trace_power(T: np.ndarray, M: int) -> float:
    values = np.linalg.eigvalsh(T)
    top = np.abs(values).max()
    return float(M * math.log(top) + math.log(np.sum((values / top) ** M)))


@pytest.mark.parametrize("L, K", [(2, 0.3), (3, 0.7), (5, -0.4), (6, potts_critical_coupling(2))])
def test_q2_is_ising_with_half_coupling(L: int, K: float) -> None:
    np.testing.assert_array_equal(potts_ring_states(L, 2).astype(np.int8) * 2 - 1, cylinder_ring_states(L))
    T = potts_cylinder_transfer_matrix(L, 2, K)
    np.testing.assert_allclose(T, math.exp(K * L) * cylinder_transfer_matrix(L, K / 2), rtol=1e-13)
    for potts, ising in (("all", "all"), ("trivial", "even"), ("spin", "odd")):
        dim = 2**L if potts == "all" else 2 ** (L - 1)
        values, vectors = potts_cylinder_spectrum(L, 2, K, n_eig=dim, sector=potts)
        reference, _ = cylinder_spectrum(L, K / 2, n_eig=dim, sector=ising)
        np.testing.assert_allclose(values, math.exp(K * L) * reference, rtol=1e-12)
        np.testing.assert_allclose(T @ vectors, vectors * values, atol=1e-11 * abs(values[0]))
    # S_2 orbits are the flip pairs {i, 2**L - 1 - i}
    labels = potts_colour_orbits(L, 2)
    np.testing.assert_array_equal(labels, labels[::-1])
    np.testing.assert_array_equal(labels[: 2 ** (L - 1)], np.arange(2 ** (L - 1)))


@pytest.mark.parametrize(
    "L, M, q, K", [(3, 4, 3, 0.8), (2, 5, 3, -0.3), (4, 3, 3, K3), (2, 4, 4, 0.5), (3, 3, 5, 1.1)]
)
def test_trace_is_the_torus_partition_function(L: int, M: int, q: int, K: float) -> None:
    T = potts_cylinder_transfer_matrix(L, q, K)
    assert T.shape == (q**L, q**L) and T.dtype == np.float64
    np.testing.assert_array_equal(T, T.T)
    assert _log_trace_power(T, M) == pytest.approx(potts_log_partition(L, M, q, K), rel=1e-13)


def test_ring_states_and_index() -> None:
    s = potts_ring_states(3, 3)
    assert s.shape == (27, 3) and s.dtype == np.int8
    np.testing.assert_array_equal(s[5], [2, 1, 0])  # 5 = 2 + 1 * 3
    np.testing.assert_array_equal(potts_ring_index(s, 3), np.arange(27))


def _stirling_partitions(L: int, q: int) -> int:
    """Number of set partitions of L sites into at most q blocks (= number of S_q orbits of colourings)."""
    row = [1] + [0] * q  # S(0, k)
    for _ in range(L):
        row = [0] + [k * row[k] + row[k - 1] for k in range(1, q + 1)]
    return sum(row)


@pytest.mark.parametrize("L, q", [(5, 3), (4, 4)])
def test_sectors_split_the_spectrum_and_spin_level_is_degenerate(L: int, q: int) -> None:
    K = potts_critical_coupling(q)
    T = potts_cylinder_transfer_matrix(L, q, K)
    full = np.sort(np.linalg.eigvalsh(T))[::-1]
    labels = potts_colour_orbits(L, q)
    n_trivial = _stirling_partitions(L, q)
    assert labels.max() + 1 == n_trivial
    trivial, v_trivial = potts_cylinder_spectrum(L, q, K, n_eig=n_trivial, sector="trivial")
    spin, v_spin = potts_cylinder_spectrum(L, q, K, n_eig=3, sector="spin")
    np.testing.assert_allclose(T @ v_spin, v_spin * spin, atol=1e-10 * full[0])
    np.testing.assert_allclose(v_spin.T @ v_spin, np.eye(3), atol=1e-12)
    # trivial eigenvectors are constant on colour-permutation orbits and are eigenvalues of T
    for k in range(3):
        v = v_trivial[:, k]
        np.testing.assert_allclose(v, (np.bincount(labels, v) / np.bincount(labels))[labels], atol=1e-12)
    assert np.all(np.min(np.abs(full[None, :] - trivial[:, None]), axis=1) < 1e-9 * full[0])
    # the top of the full spectrum: lambda_0 (trivial), the spin level (q-1)-fold, then both sectors merge
    assert full[0] == pytest.approx(trivial[0], rel=1e-12)
    np.testing.assert_allclose(full[1:q], spin[0], rtol=1e-12)
    assert full[q] < spin[0] * (1 - 1e-6)
    merged = np.sort(np.concatenate([trivial[:3], np.repeat(spin[:2], q - 1)]))[::-1]
    np.testing.assert_allclose(full[: 2 + q], merged[: 2 + q], rtol=1e-11)


def test_q3_critical_dimensions_approach_potts_cft() -> None:
    Ls = np.arange(3, 9)
    x = np.array([potts_cylinder_dimensions(int(L), 3, K3) for L in Ls])
    sigma, eps = x[:, 0], x[:, 1]
    # x_sigma decreases monotonically towards 2/15 (0.1460 at L = 3, 0.1360 at L = 8)
    assert np.all(np.diff(sigma) < 0) and 0 < sigma[-1] - 2 / 15 < 0.003
    # x_epsilon peaks at L = 4 (0.860) and then decreases (0.8485 at L = 8): large corrections
    assert np.all(np.diff(eps[1:]) < 0) and 0 < eps[-1] - 0.8 < 0.05
    # finite-size fits on L = 6, 7, 8: x + a/L^2 + b/L^4 for the spin (0.13423), x + a L^(-4/5) + b/L^2
    # for the energy (0.79942; L^(-4/5) = L^(2 - x) from the irrelevant S_3-invariant operator x = 14/5)
    L = Ls[3:].astype(float)
    fit_sigma = np.linalg.solve(np.stack([np.ones(3), L**-2, L**-4], 1), sigma[3:])[0]
    fit_eps = np.linalg.solve(np.stack([np.ones(3), L**-0.8, L**-2], 1), eps[3:])[0]
    assert abs(fit_sigma - 2 / 15) < 0.0015 and abs(fit_eps - 0.8) < 0.002
    # negative controls: off criticality the apparent dimension grows with L; q = 2 gives Ising's 1/8 and 1
    massive = [potts_cylinder_dimensions(L, 3, 0.9 * K3)[0] for L in (4, 8)]
    assert massive[1] > 1.5 * massive[0] and massive[1] > 2.5 * 2 / 15
    ising = potts_cylinder_dimensions(8, 2, potts_critical_coupling(2))
    assert abs(ising[0] - 0.125) < 0.001 and abs(ising[1] - 1.0) < 0.015
    assert abs(ising[0] - 2 / 15) > 0.007 and abs(ising[1] - 0.8) > 0.15


def test_boundary_joint_is_the_long_torus_limit() -> None:
    L, q, K, s = 2, 3, 0.6, 2
    T = potts_cylinder_transfer_matrix(L, q, K)
    Tn = T / np.abs(np.linalg.eigvalsh(T)).max()
    mp = np.linalg.matrix_power
    M = 400
    long = mp(Tn, s) * mp(Tn, M - s).T / np.trace(mp(Tn, M))
    np.testing.assert_allclose(potts_boundary_joint(L, q, K, s), long, rtol=1e-10)
    merged = potts_boundary_joint(L, q, K, s, invariant=True)
    labels = potts_colour_orbits(L, q)
    assert merged.shape == (2, 9)
    np.testing.assert_allclose(merged, np.stack([long[labels == k].sum(0) for k in range(2)]), rtol=1e-10)


@pytest.mark.parametrize("L, separation", [(3, 1), (4, 2), (5, 1)])
@pytest.mark.parametrize("invariant", [False, True])
def test_located_beta_c_matches_spectrum(L: int, separation: int, invariant: bool) -> None:
    result = potts_cylinder_ib(L, 3, K3, separation, invariant=invariant, betas=_BETAS)
    assert result.beta_c == pytest.approx(result.beta_c_predicted, rel=1e-6)
    assert result.beta_c_predicted == pytest.approx(result.ib.beta_c_spectral, rel=1e-10)
    # Delta from the IB transition is the gap dimension of the spin level (energy level if invariant)
    x_sigma, x_eps = potts_cylinder_dimensions(L, 3, K3)
    assert result.scaling_dimension == pytest.approx(x_eps if invariant else x_sigma, rel=1e-6)
    assert result.ring_marginal.sum() == pytest.approx(1.0)


def test_first_code_is_two_dimensional_for_q3() -> None:
    L = 4
    joint = potts_boundary_joint(L, 3, K3, 1)
    sigma = np.linalg.svd(normalized_joint(joint), compute_uv=False)
    assert sigma[1] == pytest.approx(sigma[2], rel=1e-12) and sigma[3] < 0.5 * sigma[2]  # the 2-dim irrep
    result = potts_cylinder_ib(L, 3, K3, 1, n_clusters=3, betas=_BETAS)
    grid = result.ib.forward.betas
    k = int(np.searchsorted(grid, result.beta_c)) + 1  # first scan point above the transition
    assert grid[k] < 1.0 / sigma[3] ** 2  # still below the next (non-degenerate) level's transition
    p_a = result.ring_marginal
    enc = result.ib.forward.encoders[k]
    p_h = p_a @ enc
    code = np.sqrt(p_a)[:, None] * (enc / p_h - 1.0) * np.sqrt(p_h)[None, :]
    s = np.linalg.svd(code, compute_uv=False)
    assert s[0] > 0.5 and s[1] == pytest.approx(s[0], rel=1e-6) and s[2] < 1e-10
    # negative control: the S_3-invariant joint has a simple first level (no degeneracy)
    s_inv = np.linalg.svd(
        normalized_joint(potts_boundary_joint(L, 3, K3, 1, invariant=True)), compute_uv=False
    )
    assert s_inv[2] < 0.5 * s_inv[1]


def test_ib_dimensions_grow_towards_spin_and_energy() -> None:
    Ls = (3, 5, 7)
    spin = [scaling_dimension(potts_predicted_beta_c(L, 3, K3, 2), L, 2) for L in Ls]
    energy = [scaling_dimension(potts_predicted_beta_c(L, 3, K3, 2, invariant=True), L, 2) for L in Ls]
    np.testing.assert_allclose(spin, [potts_cylinder_dimensions(L, 3, K3)[0] for L in Ls], rtol=1e-10)
    assert np.all(np.diff(np.abs(np.array(spin) - 2 / 15)) < 0) and abs(spin[-1] - 2 / 15) < 0.004
    assert abs(energy[-1] - 0.8) < 0.06 and energy[-1] < energy[0]


def test_invariant_ib_at_L6_finds_the_predicted_transition() -> None:
    """(Speed is a benchmark matter: ~0.5 s here, L = 7 ~3 s invariant / 80 s all encoders, on 2 cores.)"""
    result = potts_cylinder_ib(6, 3, K3, 1, invariant=True, betas=_BETAS)
    assert result.beta_c == pytest.approx(result.beta_c_predicted, rel=1e-6)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="MAX_POTTS_CYLINDER_STATES"):
        potts_cylinder_transfer_matrix(9, 3, K3)
    with pytest.raises(ValueError, match=f"{MAX_POTTS_CYLINDER_STATES}"):
        potts_cylinder_spectrum(7, 4, 0.5)
    with pytest.raises(ValueError, match="q must be >= 2"):
        potts_cylinder_transfer_matrix(4, 1, 0.5)
    with pytest.raises(TypeError, match="q must be an integer"):
        potts_cylinder_transfer_matrix(4, 2.5, 0.5)
    with pytest.raises(ValueError, match="L must be >= 2"):
        potts_cylinder_transfer_matrix(1, 3, 0.5)
    with pytest.raises(TypeError, match="L must be an integer"):
        potts_ring_states(3.0, 3)
    with pytest.raises(ValueError, match="K must be finite"):
        potts_cylinder_spectrum(4, 3, math.nan)
    with pytest.raises(TypeError, match="K must be a real"):
        potts_cylinder_transfer_matrix(4, 3, "0.5")
    with pytest.raises(ValueError, match="overflow"):
        potts_cylinder_transfer_matrix(4, 3, 100.0)
    with pytest.raises(ValueError, match="sector"):
        potts_cylinder_spectrum(4, 3, 0.5, sector="odd")
    with pytest.raises(ValueError, match="n_eig"):
        potts_cylinder_spectrum(3, 3, 0.5, n_eig=10, sector="trivial")  # 5 orbits
    with pytest.raises(ValueError, match="colours 0..2"):
        potts_ring_index(np.array([[0, 3, 1]]), 3)
    with pytest.raises(TypeError, match="integer colours"):
        potts_ring_index(np.array([[0.0, 1.0, 1.0]]), 3)
    with pytest.raises(ValueError, match="shape"):
        potts_ring_index(np.array([0, 1, 1]), 3)
    with pytest.raises(ValueError, match="separation"):
        potts_boundary_joint(4, 3, K3, 0)
    with pytest.raises(TypeError, match="invariant"):
        potts_predicted_beta_c(4, 3, K3, 1, invariant=1)
    with pytest.raises(ValueError, match="betas"):
        potts_cylinder_ib(3, 3, K3, 1, betas=[-1.0, 2.0])


def _enumerated_ring_pair(L: int, M: int, q: int, K: float, separation: int) -> np.ndarray:
    """P(row 0, row separation) of the L x M Potts torus by summing Boltzmann weights over all q**(L M)
    configurations (rows of L sites, both directions periodic), indexed as potts_ring_states."""
    n = L * M
    codes = np.arange(q**n, dtype=np.int64)
    spins = (codes[:, None] // q ** np.arange(n, dtype=np.int64) % q).reshape(-1, M, L)
    bonds = (spins == np.roll(spins, 1, axis=1)).sum((1, 2)) + (spins == np.roll(spins, 1, axis=2)).sum(
        (1, 2)
    )
    weights = np.exp(K * (bonds - bonds.max()))
    a = (spins[:, 0] * q ** np.arange(L)).sum(1)
    b = (spins[:, separation] * q ** np.arange(L)).sum(1)
    joint = np.zeros((q**L, q**L))
    np.add.at(joint, (a, b), weights)
    return joint / joint.sum()


@pytest.mark.parametrize("L, M, q, K, separation", [(3, 3, 3, K3, 1), (2, 5, 3, 0.7, 2), (3, 4, 2, -0.5, 1)])
def test_torus_ring_pair_is_the_enumerated_torus(L: int, M: int, q: int, K: float, separation: int) -> None:
    exact = _enumerated_ring_pair(L, M, q, K, separation)
    np.testing.assert_allclose(potts_boundary_joint(L, q, K, separation, rows=M), exact, rtol=1e-11)
    labels = potts_colour_orbits(L, q)
    merged = potts_boundary_joint(L, q, K, separation, invariant=True, rows=M)
    np.testing.assert_allclose(merged, np.stack([exact[labels == k].sum(0) for k in range(labels.max() + 1)]))
    # power check: the infinite cylinder's ring pair is a different law (E sees V only one way round)
    assert np.abs(potts_boundary_joint(L, q, K, separation) - exact).max() > 1e3 * 1e-11 * exact.max()


def test_torus_beta_c_tends_to_the_cylinder_and_is_lower_on_a_short_torus() -> None:
    L, s = 5, 2
    short = {}
    for invariant in (False, True):
        cylinder = potts_predicted_beta_c(L, 3, K3, s, invariant=invariant)
        assert potts_predicted_beta_c(L, 3, K3, s, invariant, rows=300) == pytest.approx(cylinder, rel=1e-9)
        short[invariant] = potts_predicted_beta_c(L, 3, K3, s, invariant, rows=L)
        assert short[invariant] < 0.9 * cylinder  # the wrap correlates V and E more
    assert short[True] > 5 * short[False]  # on the torus too the invariant codes (the energy) come much later
    # q = 2 is the Ising torus at half the coupling
    from rgnet.ib.cylinder import predicted_beta_c

    K2 = potts_critical_coupling(2)
    assert potts_predicted_beta_c(6, 2, K2, 2, rows=8) == pytest.approx(
        predicted_beta_c(6, K2 / 2, 2, rows=8)
    )
    assert potts_predicted_beta_c(6, 2, K2, 2, True, rows=8) == pytest.approx(
        predicted_beta_c(6, K2 / 2, 2, z2_even=True, rows=8)
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rows": 2, "separation": 2}, r"rows must be >= 3"),
        ({"rows": 0.5}, r"rows must be an integer"),
        ({"L": 8, "rows": 8}, r"6561 ring states exceed .*MAX_FULL_JOINT_STATES = 4096"),
    ],
)
def test_torus_rows_are_checked(kwargs: dict, message: str) -> None:
    args = {"L": 4, "q": 3, "K": K3, "separation": 1, **kwargs}
    with pytest.raises((TypeError, ValueError), match=message):
        potts_boundary_joint(**args)
