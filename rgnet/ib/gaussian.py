"""Gaussian information bottleneck (Chechik, Globerson, Tishby & Weiss, JMLR 6, 165 (2005)).

For jointly Gaussian ``X`` (dim ``n_x``) and ``Y`` (dim ``n_y``), the optimal encoder is linear,
``T = A X + xi`` with ``xi ~ N(0, I)``. Let ``lambda_1 <= lambda_2 <= ...`` be the eigenvalues of
``M = Sigma_{x|y} Sigma_x^{-1}`` (all in ``[0, 1]``; ``1 - lambda_i`` are the squared canonical correlations)
and ``v_i`` its left eigenvectors (``v_i^T M = lambda_i v_i^T``). Then

    A(beta) = diag(alpha_1, ..., alpha_n_x) V^T,  alpha_i = sqrt((beta (1 - lambda_i) - 1) / (lambda_i r_i))
                                                  for beta > beta_i^c, else 0,

with ``r_i = v_i^T Sigma_x v_i`` and critical betas ``beta_i^c = 1 / (1 - lambda_i)``: the first transition is
at ``1 / (1 - lambda_1)`` and switches on the direction ``v_1``. Informations (nats) follow from Gaussian
entropies: ``I(T;X) = 1/2 ln det(A Sigma_x A^T + I)`` and
``I(T;Y) = I(T;X) - 1/2 ln det(A Sigma_{x|y} A^T + I)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from rgnet._checks import check_real


def _as_matrix(value: object, name: str) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.atleast_2d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a matrix, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    return arr


def _check_covariances(
    cov_x: object, cov_y: object, cov_xy: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sx, sy, sxy = _as_matrix(cov_x, "cov_x"), _as_matrix(cov_y, "cov_y"), _as_matrix(cov_xy, "cov_xy")
    for name, s in (("cov_x", sx), ("cov_y", sy)):
        if s.shape[0] != s.shape[1] or not np.allclose(s, s.T, rtol=1e-10, atol=1e-12):
            raise ValueError(f"{name} must be a symmetric square matrix, got shape {s.shape}")
    if sxy.shape != (sx.shape[0], sy.shape[0]):
        raise ValueError(f"cov_xy must have shape {(sx.shape[0], sy.shape[0])}, got {sxy.shape}")
    joint = np.block([[sx, sxy], [sxy.T, sy]])
    if np.linalg.eigvalsh(0.5 * (joint + joint.T)).min() <= 0:
        raise ValueError(
            "the joint covariance [[cov_x, cov_xy], [cov_xy^T, cov_y]] must be positive definite"
        )
    return 0.5 * (sx + sx.T), 0.5 * (sy + sy.T), sxy


def gaussian_mutual_information(cov_x: object, cov_y: object, cov_xy: object) -> float:
    """``I(X;Y) = 1/2 ln(det Sigma_x det Sigma_y / det Sigma)`` in nats for jointly Gaussian X, Y."""
    sx, sy, sxy = _check_covariances(cov_x, cov_y, cov_xy)
    joint = np.block([[sx, sxy], [sxy.T, sy]])
    return 0.5 * (np.linalg.slogdet(sx)[1] + np.linalg.slogdet(sy)[1] - np.linalg.slogdet(joint)[1])


@dataclass(frozen=True)
class GaussianIB:
    """Closed-form Gaussian IB. ``eigenvalues`` ascending ``(n_x,)`` of ``Sigma_{x|y} Sigma_x^{-1}``;
    ``directions`` its left eigenvectors as rows ``(n_x, n_x)`` (unit Euclidean norm); ``critical_betas``
    ``1 / (1 - lambda_i)`` (inf where ``lambda_i = 1``); ``cov_x``, ``cov_x_given_y`` float64."""

    eigenvalues: np.ndarray
    directions: np.ndarray
    critical_betas: np.ndarray
    cov_x: np.ndarray
    cov_x_given_y: np.ndarray

    @property
    def first_critical_beta(self) -> float:
        return float(self.critical_betas[0])

    def encoder(self, beta: float) -> np.ndarray:
        """Optimal projection ``A(beta)``, float64 ``(n_x, n_x)`` (zero rows below their critical beta)."""
        beta = check_real(beta, "beta", minimum=0.0)
        lam = self.eigenvalues
        r = np.einsum("ij,jk,ik->i", self.directions, self.cov_x, self.directions)
        gain = beta * (1.0 - lam) - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = np.where(gain > 0, np.sqrt(np.maximum(gain, 0.0) / (lam * r)), 0.0)
        return alpha[:, None] * self.directions

    def informations(self, beta: float) -> tuple[float, float]:
        """``(I(T;X), I(T;Y))`` in nats of the optimal encoder at ``beta``."""
        a = self.encoder(beta)
        eye = np.eye(a.shape[0])
        i_tx = 0.5 * np.linalg.slogdet(a @ self.cov_x @ a.T + eye)[1]
        i_tx_given_y = 0.5 * np.linalg.slogdet(a @ self.cov_x_given_y @ a.T + eye)[1]
        return float(i_tx), float(i_tx - i_tx_given_y)


def gaussian_ib(cov_x: object, cov_y: object, cov_xy: object) -> GaussianIB:
    """Closed-form Gaussian IB of jointly Gaussian X, Y with covariances ``Sigma_x (n_x, n_x)``,
    ``Sigma_y (n_y, n_y)`` and ``Sigma_xy = Cov(X, Y) (n_x, n_y)`` (joint covariance positive definite)."""
    sx, sy, sxy = _check_covariances(cov_x, cov_y, cov_xy)
    sx_given_y = sx - sxy @ np.linalg.solve(sy, sxy.T)
    sx_given_y = 0.5 * (sx_given_y + sx_given_y.T)
    # left eigenvectors of Sigma_{x|y} Sigma_x^{-1}: Sigma_{x|y} v = lambda Sigma_x v (generalised, symmetric)
    lam, vecs = scipy.linalg.eigh(sx_given_y, sx)
    lam = np.clip(lam, 0.0, 1.0)
    lam[lam > 1.0 - 1e-12] = 1.0  # round-off of directions of X that carry no information about Y
    directions = (vecs / np.linalg.norm(vecs, axis=0, keepdims=True)).T
    with np.errstate(divide="ignore"):
        betas = np.where(lam < 1.0, 1.0 / np.maximum(1.0 - lam, 1e-300), math.inf)
    return GaussianIB(lam, directions, betas, sx, sx_given_y)


__all__ = ["GaussianIB", "gaussian_ib", "gaussian_mutual_information"]
