"""Exact discrete IB solver: first transition vs the SVD of the normalised joint, scans, bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rgnet.ib.discrete import (
    critical_beta_spectral,
    ib_scan,
    linear_growth,
    locate_first_transition,
    maximal_correlation,
    normalized_joint,
    solve_ib,
)


def _random_joint(seed: int, shape: tuple[int, int] = (12, 15)) -> np.ndarray:
    return np.random.default_rng(seed).random(shape) ** 3 + 1e-3


def test_normalized_joint_top_singular_value_is_one() -> None:
    s = np.linalg.svd(normalized_joint(_random_joint(0)), compute_uv=False)
    assert s[0] == pytest.approx(1.0, abs=1e-12) and 0 < s[1] < 1


def test_binary_symmetric_channel_closed_form() -> None:
    # X uniform bit, Y = X flipped with probability q: rho_m = 1 - 2q, beta_c = 1 / (1 - 2q)^2
    q = 0.2
    joint = 0.5 * np.array([[1 - q, q], [q, 1 - q]])
    assert maximal_correlation(joint) == pytest.approx(1 - 2 * q, rel=1e-12)
    beta_c, _ = locate_first_transition(joint)
    assert beta_c == pytest.approx(1 / (1 - 2 * q) ** 2, rel=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_linear_growth_is_beta_sigma2_squared(seed: int) -> None:
    joint = _random_joint(seed)
    sigma2 = maximal_correlation(joint) ** 2
    for beta in (0.7, 3.0):
        mu, delta = linear_growth(joint, beta, n_clusters=3, seed=seed)
        assert mu == pytest.approx(beta * sigma2, rel=1e-7)
        assert delta.shape == (12, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solver_locates_first_transition(seed: int) -> None:
    joint = _random_joint(seed)
    result = solve_ib(joint, betas=np.geomspace(1.0, 200.0, 50))
    predicted = critical_beta_spectral(joint)
    assert result.beta_c == pytest.approx(predicted, rel=1e-6)
    assert result.beta_c_spectral == pytest.approx(predicted, rel=1e-12)
    grid = result.forward.betas
    # the forward scan leaves the trivial encoder at the first grid point past beta_c (or the next one)
    k = int(np.searchsorted(grid, predicted))
    assert grid[k] <= result.beta_c_scan <= grid[min(k + 1, grid.size - 1)]
    assert np.all(result.forward.info_y[grid < predicted] < 1e-7)
    # backward scan: never trivial where the forward one is not (hysteresis can only extend the branch)
    assert result.beta_c_backward <= result.beta_c_scan


def test_information_bounds_along_the_curve() -> None:
    joint = _random_joint(3)
    p = joint / joint.sum()
    i_xy = float((p * np.log(p / np.outer(p.sum(1), p.sum(0)))).sum())
    result = solve_ib(joint, betas=np.geomspace(1.0, 1e3, 40), n_clusters=4)
    for scan in (result.forward, result.backward):
        assert np.all(scan.info_y <= scan.info_x + 1e-12)  # data processing, H - X - Y
        assert np.all(scan.info_y <= i_xy + 1e-12)
        assert np.all(scan.info_x <= math.log(4) + 1e-12)
        np.testing.assert_allclose(scan.encoders.sum(axis=2), 1.0, atol=1e-12)
    assert result.forward.converged.all()
    # at large beta the curve approaches its ceiling and is (weakly) increasing
    assert np.all(np.diff(result.forward.info_y) > -1e-9)


def test_independent_variables_have_no_transition() -> None:
    joint = np.outer([0.2, 0.3, 0.5], [0.6, 0.4])
    assert critical_beta_spectral(joint) == math.inf
    result = solve_ib(joint, betas=[1.0, 10.0, 100.0])
    assert result.beta_c == math.inf and result.beta_c_scan == math.inf
    assert np.all(result.forward.info_y < 1e-12)


def test_scan_is_seeded() -> None:
    joint = _random_joint(4)
    a = ib_scan(joint, [2.0, 5.0, 20.0], seed=3)
    b = ib_scan(joint, [2.0, 5.0, 20.0], seed=3)
    np.testing.assert_array_equal(a.encoders, b.encoders)


def test_bad_input() -> None:
    joint = _random_joint(0)
    with pytest.raises(ValueError, match="betas"):
        ib_scan(joint, [1.0, -2.0])
    with pytest.raises(ValueError, match="betas"):
        solve_ib(joint, betas=[1.0, math.nan])
    with pytest.raises(ValueError, match="beta"):
        linear_growth(joint, -1.0)
    bad = joint.copy()
    bad[0, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        solve_ib(bad)
    bad = joint.copy()
    bad[2] = 0.0
    with pytest.raises(ValueError, match="zero"):
        solve_ib(bad)
    with pytest.raises(ValueError, match="non-negative"):
        solve_ib(-joint)
    with pytest.raises(ValueError, match="2D"):
        solve_ib(joint[0])
    with pytest.raises(ValueError, match="n_clusters"):
        ib_scan(joint, [1.0], n_clusters=1)
    with pytest.raises(ValueError, match="init"):
        ib_scan(joint, [1.0], init=np.ones((3, 2)))


def test_gaussian_code_informations_exact_cases() -> None:
    from scipy.integrate import quad

    from rgnet.ib import gaussian_code_informations

    # X = Y uniform binary, code +-a: both informations are the binary-input Gaussian channel's, by quadrature
    a = 1.3

    def mixture(y: float) -> float:
        return 0.5 * (math.exp(-0.5 * (y - a) ** 2) + math.exp(-0.5 * (y + a) ** 2)) / math.sqrt(2 * math.pi)

    expected = quad(lambda y: -mixture(y) * math.log(mixture(y)), -30, 30)[0] - 0.5 * math.log(
        2 * math.pi * math.e
    )
    i_x, i_y = gaussian_code_informations([a, -a], np.eye(2) / 2)
    assert i_x == pytest.approx(expected, rel=1e-6) and i_y == pytest.approx(expected, rel=1e-6)
    # Y independent of X: nothing about Y; a constant code: nothing at all
    i_x, i_y = gaussian_code_informations([0.0, 1.0, 3.0], np.outer([0.2, 0.3, 0.5], [0.6, 0.4]))
    assert i_x > 0.3 and i_y == pytest.approx(0.0, abs=1e-9)
    assert gaussian_code_informations([2.0, 2.0], np.eye(2) / 2) == pytest.approx((0.0, 0.0), abs=1e-9)
    with pytest.raises(ValueError, match="code"):
        gaussian_code_informations([1.0], np.eye(2) / 2)
    with pytest.raises(ValueError, match="step"):
        gaussian_code_informations([1.0, 0.0], np.eye(2) / 2, step=0.5)


def test_weak_gaussian_code_switches_on_at_the_exact_ib_transition() -> None:
    """A VIB-style Gaussian channel along the leading mode: I(H;V)/I(H;E) -> the exact beta_c as the code
    weakens, so with exact informations the VIB's first transition is the exact IB's."""
    from rgnet.ib import gaussian_code_informations, ising_cylinder_ib
    from rgnet.ib.cylinder import cylinder_boundary_joint
    from rgnet.ising.exact import K_CRITICAL

    joint = cylinder_boundary_joint(6, K_CRITICAL, 1)
    mode = ising_cylinder_ib(6, K_CRITICAL, 1, 1, 1, betas=np.array([1.0])).predicted_direction
    p = joint.sum(axis=1)
    mode = (mode - p @ mode) / math.sqrt(p @ (mode - p @ mode) ** 2)
    i_x, i_y = gaussian_code_informations(0.03 * mode, joint)
    assert i_x == pytest.approx(0.03**2 / 2, rel=1e-3)
    assert i_x / i_y == pytest.approx(critical_beta_spectral(joint), rel=1e-3)
