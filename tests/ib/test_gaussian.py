"""Closed-form Gaussian IB (Chechik et al. 2005) vs its defining properties and an explicit optimisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize

from rgnet.ib.gaussian import gaussian_ib, gaussian_mutual_information


def _model(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y = W X + noise with correlated X: covariances (4x4, 3x3, 4x3)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((3, 4))
    sx = np.eye(4) + 0.3 * np.ones((4, 4))
    return sx, w @ sx @ w.T + np.eye(3), sx @ w.T


def test_eigen_structure_and_critical_betas() -> None:
    sx, sy, sxy = _model()
    g = gaussian_ib(sx, sy, sxy)
    m = (sx - sxy @ np.linalg.solve(sy, sxy.T)) @ np.linalg.inv(sx)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(m).real), g.eigenvalues, atol=1e-10)
    np.testing.assert_allclose(g.directions @ m, g.eigenvalues[:, None] * g.directions, atol=1e-10)  # left
    np.testing.assert_allclose(np.linalg.norm(g.directions, axis=1), 1.0)
    assert np.all(np.diff(g.eigenvalues) >= 0)
    np.testing.assert_allclose(g.critical_betas[:3], 1.0 / (1.0 - g.eigenvalues[:3]))
    assert g.critical_betas[3] == math.inf  # Y is 3-dimensional: one direction of X is irrelevant


def test_information_curve_closed_form_and_transitions() -> None:
    sx, sy, sxy = _model()
    g = gaussian_ib(sx, sy, sxy)
    lam = g.eigenvalues
    b1 = g.first_critical_beta
    assert g.informations(0.999 * b1) == (0.0, 0.0)
    assert g.informations(1.001 * b1)[0] > 0
    for beta in (1.3, 2.0, 10.0):
        active = beta > g.critical_betas
        i_tx = 0.5 * np.sum(np.log((beta - 1) * (1 - lam[active]) / lam[active]))
        i_ty = i_tx - 0.5 * np.sum(np.log(beta * (1 - lam[active])))
        assert g.informations(beta) == pytest.approx((i_tx, i_ty), rel=1e-10)
    # I(T;Y) saturates at I(X;Y)
    assert g.informations(1e8)[1] == pytest.approx(gaussian_mutual_information(sx, sy, sxy), rel=1e-6)


def test_closed_form_encoder_is_optimal_for_a_scalar_code() -> None:
    sx, sy, sxy = _model(1)
    g = gaussian_ib(sx, sy, sxy)
    beta = 0.5 * (g.critical_betas[0] + g.critical_betas[1])  # only the first direction is on
    sxy_cond = g.cov_x_given_y

    def lagrangian(a: np.ndarray) -> float:
        i_tx = 0.5 * math.log(a @ sx @ a + 1)
        return i_tx - beta * (i_tx - 0.5 * math.log(a @ sxy_cond @ a + 1))

    best = min(
        (
            scipy.optimize.minimize(lagrangian, x0, method="BFGS")
            for x0 in np.random.default_rng(0).normal(size=(5, 4))
        ),
        key=lambda r: r.fun,
    )
    a_star = g.encoder(beta)[0]
    assert lagrangian(a_star) == pytest.approx(best.fun, abs=1e-8)
    cos = abs(best.x @ a_star) / (np.linalg.norm(best.x) * np.linalg.norm(a_star))
    assert cos > 1 - 1e-6


def test_bad_input() -> None:
    sx, sy, sxy = _model()
    with pytest.raises(ValueError, match="cov_xy"):
        gaussian_ib(sx, sy, sxy.T)
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_ib(sx, sy, 10 * sxy)
    with pytest.raises(ValueError, match="NaN"):
        gaussian_ib(sx * math.nan, sy, sxy)
    with pytest.raises(ValueError, match="symmetric"):
        gaussian_ib(sx + np.triu(np.ones((4, 4)), 1), sy, sxy)
    with pytest.raises(ValueError, match="beta"):
        gaussian_ib(sx, sy, sxy).encoder(-1.0)
