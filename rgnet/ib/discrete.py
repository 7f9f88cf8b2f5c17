"""Exact information bottleneck (IB) of a discrete joint law ``P(X, Y)``.

The IB (Tishby, Pereira & Bialek 1999) looks for a stochastic encoder ``P(h|x)`` minimising
``I(H;X) - beta I(H;Y)``; its stationary points satisfy the self-consistent equations

    P(h|x) = P(h) exp(-beta KL[P(y|x) || P(y|h)]) / Z(x, beta),
    P(h) = sum_x P(x) P(h|x),     P(y|h) = sum_x P(y|x) P(h|x) P(x) / P(h),

iterated here to a fixed point (float64 numpy, log domain), annealed in ``beta`` upwards (forward scan, a
small seeded perturbation added at every step so the trivial encoder ``P(h|x) = P(h)`` can break) and
downwards (backward scan, started from the forward scan's last encoder, no perturbation), so hysteresis of
a discontinuous transition shows up as a difference between the two.

First transition. Linearising the map around the trivial encoder, a perturbation
``P(h|x) = P(h) (1 + eps f(x) g(h))`` with ``E_x f = E_h g = 0`` is mapped to ``beta (M f)(x) g(h)`` with
``M f = E[E[f(X)|Y] | X]``, whose eigenvalues are the squared singular values ``sigma_k^2`` of
``Q = P(x, y) / sqrt(P(x) P(y))`` (``sigma_1 = 1`` belongs to the constant, excluded). The trivial encoder
is therefore stable for ``beta sigma_2^2 < 1``: the first transition is at ``beta_c = 1 / sigma_2^2``
(``1/rho_m^2`` with the Hirschfeld-Gebelein-Renyi maximal correlation ``rho_m = sigma_2``). The solver
locates it without the SVD: it measures the growth factor ``mu(beta)`` of an infinitesimal perturbation
under its own update (power iteration of the map's central-difference Jacobian at the trivial encoder) and
root-finds ``mu(beta) = 1``; :func:`critical_beta_spectral` gives the SVD value for comparison.

Informations are in nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize

from rgnet._checks import check_int, check_real

_TINY = 1e-300
#: Critical betas above this are reported as ``inf`` (no transition: X and Y independent to round-off).
BETA_C_MAX = 1e12


def check_joint(joint: object, name: str = "joint") -> np.ndarray:
    """Validate a joint law: a 2D array of finite non-negative numbers with a positive sum and no all-zero
    row or column (states of zero probability must be removed). Returns it normalised, float64 ``(n_x, n_y)``.
    """
    if hasattr(joint, "detach"):  # torch tensor
        joint = joint.detach().cpu().numpy()
    arr = np.asarray(joint, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a 2D array P(x, y), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    total = arr.sum()
    if total <= 0:
        raise ValueError(f"{name} must have a positive sum")
    arr = arr / total
    if np.any(arr.sum(axis=1) <= 0) or np.any(arr.sum(axis=0) <= 0):
        raise ValueError(f"{name} has an all-zero row or column; drop states of zero probability")
    return arr


def normalized_joint(joint: object) -> np.ndarray:
    """``Q[x, y] = P(x, y) / sqrt(P(x) P(y))``, float64 ``(n_x, n_y)``; its top singular value is 1."""
    p = check_joint(joint)
    return p / np.sqrt(np.outer(p.sum(axis=1), p.sum(axis=0)))


def maximal_correlation(joint: object) -> float:
    """Second singular value ``sigma_2`` of :func:`normalized_joint` (0 when X or Y has a single state)."""
    s = np.linalg.svd(normalized_joint(joint), compute_uv=False)
    return float(s[1]) if s.size > 1 else 0.0


def critical_beta_spectral(joint: object) -> float:
    """First IB critical ``beta_c = 1 / sigma_2^2`` from the SVD of :func:`normalized_joint`.

    ``inf`` when ``beta_c`` would exceed ``BETA_C_MAX`` (sigma_2 at the float64 round-off level: X and Y
    independent), the same cut-off as :func:`locate_first_transition`.
    """
    sigma = maximal_correlation(joint)
    return math.inf if sigma**2 * BETA_C_MAX <= 1.0 else 1.0 / sigma**2


class _Problem:
    """Precomputed pieces of the IB equations for one joint law."""

    def __init__(self, joint: np.ndarray) -> None:
        self.p_x = joint.sum(axis=1)
        self.p_y = joint.sum(axis=0)
        self.p_y_x = joint / self.p_x[:, None]
        with np.errstate(divide="ignore"):
            log_pyx = np.where(self.p_y_x > 0, np.log(np.maximum(self.p_y_x, _TINY)), 0.0)
        self.neg_entropy = (self.p_y_x * log_pyx).sum(axis=1)  # sum_y p(y|x) log p(y|x), (n_x,)

    def marginal(self, enc: np.ndarray) -> np.ndarray:
        return self.p_x @ enc

    def step(self, enc: np.ndarray, beta: float) -> np.ndarray:
        """One self-consistent update of the encoder ``(n_x, n_h)``."""
        p_h = self.marginal(enc)
        p_hy = (enc * self.p_x[:, None]).T @ self.p_y_x  # (n_h, n_y)
        log_py_h = np.log(np.maximum(p_hy, _TINY)) - np.log(np.maximum(p_h, _TINY))[:, None]
        kl = self.neg_entropy[:, None] - self.p_y_x @ log_py_h.T  # (n_x, n_h)
        logits = np.log(np.maximum(p_h, _TINY))[None, :] - beta * kl
        logits -= logits.max(axis=1, keepdims=True)
        enc = np.exp(logits)
        return enc / enc.sum(axis=1, keepdims=True)

    def informations(self, enc: np.ndarray) -> tuple[float, float]:
        """``(I(H;X), I(H;Y))`` in nats."""
        p_h = self.marginal(enc)
        ratio = np.maximum(enc, _TINY) / np.maximum(p_h, _TINY)[None, :]
        i_hx = float((self.p_x[:, None] * enc * np.log(ratio)).sum())
        p_hy = (enc * self.p_x[:, None]).T @ self.p_y_x
        denom = np.maximum(np.outer(p_h, self.p_y), _TINY)
        i_hy = float((p_hy * np.log(np.maximum(p_hy, _TINY) / denom)).sum())
        return max(i_hx, 0.0), max(i_hy, 0.0)


@dataclass(frozen=True)
class IBScan:
    """One annealed scan. ``betas`` float64 ``(n_beta,)`` in scan order; ``info_x``/``info_y`` I(H;X), I(H;Y)
    in nats ``(n_beta,)``; ``encoders`` P(h|x) float64 ``(n_beta, n_x, n_h)``; ``n_iter`` iterations used and
    ``converged`` flags ``(n_beta,)``."""

    betas: np.ndarray
    info_x: np.ndarray
    info_y: np.ndarray
    encoders: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray

    def first_nontrivial_beta(self, info_tol: float) -> float:
        """Smallest ``beta`` of the scan with ``I(H;Y) > info_tol`` (inf if none)."""
        hits = self.betas[self.info_y > info_tol]
        return float(hits.min()) if hits.size else math.inf


def _check_betas(betas: object) -> np.ndarray:
    arr = np.asarray(betas, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError("betas must contain at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValueError("betas must be finite")
    if np.any(arr < 0):
        raise ValueError(f"betas must be >= 0 (the IB trade-off parameter), got min {arr.min()}")
    return arr


def _iterate(
    problem: _Problem, enc: np.ndarray, beta: float, tol: float, max_iter: int
) -> tuple[np.ndarray, int, bool]:
    for it in range(1, max_iter + 1):
        new = problem.step(enc, beta)
        change = float(np.abs(new - enc).max())
        enc = new
        if change < tol:
            return enc, it, True
    return enc, max_iter, False


def _perturb(enc: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    out = enc * (1.0 + noise * rng.uniform(-1.0, 1.0, size=enc.shape))
    return out / out.sum(axis=1, keepdims=True)


def ib_scan(
    joint: object,
    betas: object,
    n_clusters: int = 2,
    init: np.ndarray | None = None,
    noise: float = 1e-3,
    tol: float = 1e-9,
    max_iter: int = 3000,
    seed: int = 0,
) -> IBScan:
    """Annealed self-consistent IB over ``betas`` in the given order (ascending = forward scan).

    Each beta starts from the previous fixed point (``init``, or the uniform encoder for the first) times
    ``1 + noise * U(-1, 1)`` (``noise = 0`` for a plain continuation) and iterates until the encoder changes
    by less than ``tol`` (max abs) or ``max_iter`` updates. ``joint``: ``(n_x, n_y)`` non-negative.
    """
    p = check_joint(joint)
    b = _check_betas(betas)
    n_clusters = check_int(n_clusters, "n_clusters", minimum=2)
    noise = check_real(noise, "noise", minimum=0.0, maximum=0.5)
    tol = check_real(tol, "tol", minimum=0.0)
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    problem = _Problem(p)
    n_x = p.shape[0]
    if init is None:
        enc = np.full((n_x, n_clusters), 1.0 / n_clusters)
    else:
        enc = np.asarray(init, dtype=np.float64)
        if enc.shape != (n_x, n_clusters) or not np.all(np.isfinite(enc)) or np.any(enc < 0):
            raise ValueError(f"init must be a non-negative encoder of shape {(n_x, n_clusters)}")
        enc = enc / enc.sum(axis=1, keepdims=True)
    encoders = np.empty((b.size, n_x, n_clusters))
    info = np.empty((b.size, 2))
    n_iter = np.empty(b.size, dtype=np.int64)
    converged = np.empty(b.size, dtype=bool)
    for k, beta in enumerate(b):
        if noise > 0:
            enc = _perturb(enc, noise, rng)
        enc, n_iter[k], converged[k] = _iterate(problem, enc, float(beta), tol, max_iter)
        encoders[k] = enc
        info[k] = problem.informations(enc)
    return IBScan(b, info[:, 0], info[:, 1], encoders, n_iter, converged)


def _weighted_norm(delta: np.ndarray, w: np.ndarray) -> float:
    return float(np.sqrt((w * delta * delta).sum()))


def linear_growth(
    joint: object,
    beta: float,
    n_clusters: int = 2,
    eps: float = 1e-5,
    rtol: float = 1e-9,
    max_iter: int = 5000,
    seed: int = 0,
    start: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Growth factor per IB update of an infinitesimal perturbation of the trivial encoder, and its mode.

    The perturbation ``P(h|x) = P(h) (1 + eps delta(x, h))`` (uniform ``P(h)``, ``delta`` centred in x and h)
    is pushed through :meth:`_Problem.step` at ``+eps`` and ``-eps`` (central difference, O(eps^2) error);
    power iteration with Rayleigh quotients in the ``P(x) P(h)`` inner product gives the dominant growth
    factor ``mu`` (``= beta sigma_2^2`` analytically) and ``delta`` float64 ``(n_x, n_clusters)``.
    """
    p = check_joint(joint)
    beta = check_real(beta, "beta", minimum=0.0)
    n_clusters = check_int(n_clusters, "n_clusters", minimum=2)
    problem = _Problem(p)
    p_h = np.full(n_clusters, 1.0 / n_clusters)
    w = problem.p_x[:, None] * p_h[None, :]

    def centre(delta: np.ndarray) -> np.ndarray:
        delta = delta - (problem.p_x @ delta)[None, :]
        return delta - (delta @ p_h)[:, None]

    def response(delta: np.ndarray, sign: float) -> np.ndarray:
        new = problem.step(p_h[None, :] * (1.0 + sign * eps * delta), beta)
        return new / problem.marginal(new)[None, :] - 1.0

    rng = np.random.default_rng(seed)
    delta = centre(
        rng.standard_normal((p.shape[0], n_clusters)) if start is None else np.array(start, dtype=float)
    )
    delta /= _weighted_norm(delta, w)
    mu = math.nan
    for _ in range(max_iter):
        image = centre((response(delta, 1.0) - response(delta, -1.0)) / (2.0 * eps))
        mu_new = float((w * delta * image).sum())
        norm = _weighted_norm(image, w)
        if norm == 0.0:
            return 0.0, delta
        delta = image / norm
        if abs(mu_new - mu) <= rtol * abs(mu_new):
            return mu_new, delta
        mu = mu_new
    return mu, delta


def locate_first_transition(
    joint: object,
    bracket: tuple[float, float] | None = None,
    n_clusters: int = 2,
    rtol: float = 1e-8,
    seed: int = 0,
    beta_max: float = BETA_C_MAX,
) -> tuple[float, np.ndarray]:
    """``beta_c`` where the trivial encoder loses stability, ``mu(beta_c) = 1`` (:func:`linear_growth`).

    ``bracket``: optional ``(beta_lo, beta_hi)`` guess (e.g. from an annealed scan); it is widened by factors
    of 2 until it brackets the root, up to ``beta_max`` (then ``inf`` is returned). Returns ``beta_c`` and the
    unstable mode ``delta(x, h)`` at ``beta_c``, float64 ``(n_x, n_clusters)``.
    """
    p = check_joint(joint)
    lo, hi = (1.0, 2.0) if bracket is None else (float(bracket[0]), float(bracket[1]))
    lo = max(lo, 1e-12)
    hi = max(hi, lo * 1.0001)
    cache: dict[float, tuple[float, np.ndarray]] = {}
    last = [None]

    def log_mu(beta: float) -> float:
        if beta not in cache:
            cache[beta] = linear_growth(p, beta, n_clusters=n_clusters, seed=seed, start=last[0])
            last[0] = cache[beta][1]
        return math.log(max(cache[beta][0], _TINY))

    while log_mu(lo) > 0 and lo > 1e-12:
        lo /= 2.0
    while log_mu(hi) < 0:
        if hi > beta_max:
            return math.inf, cache[hi][1]
        hi *= 2.0
    beta_c = scipy.optimize.brentq(log_mu, lo, hi, rtol=rtol, xtol=1e-14)
    log_mu(beta_c)
    return float(beta_c), cache[beta_c][1]


@dataclass(frozen=True)
class IBResult:
    """Exact IB of a joint law: forward and backward annealed scans, the located first transition ``beta_c``
    (stability of the trivial encoder under the solver's map), the grid estimates from the scans
    (first nontrivial beta forward, last nontrivial beta backward) and the SVD value ``beta_c_spectral``.
    ``direction``: the unstable mode's x-profile ``f(x)`` at ``beta_c`` (float64 ``(n_x,)``, unit
    ``P(x)``-norm): just above ``beta_c`` the encoder is ``P(h|x) ~ P(h) (1 + eps f(x) g(h))``."""

    forward: IBScan
    backward: IBScan
    beta_c: float
    beta_c_scan: float
    beta_c_backward: float
    beta_c_spectral: float
    direction: np.ndarray


def default_betas(beta_max: float = 100.0, n_beta: int = 60) -> np.ndarray:
    """Geometric grid from 1 to ``beta_max`` (below beta = 1 the IB optimum is always trivial)."""
    beta_max = check_real(beta_max, "beta_max", minimum=1.0)
    n_beta = check_int(n_beta, "n_beta", minimum=2)
    return np.geomspace(1.0, beta_max, n_beta)


def solve_ib(
    joint: object,
    betas: object | None = None,
    n_clusters: int = 2,
    noise: float = 1e-3,
    tol: float = 1e-9,
    max_iter: int = 3000,
    info_tol: float = 1e-7,
    seed: int = 0,
) -> IBResult:
    """Full exact IB of ``joint``: forward scan over ascending ``betas`` (default :func:`default_betas`),
    backward scan from its last encoder, and the located first transition.

    ``info_tol``: I(H;Y) (nats) above which a scan point counts as nontrivial.
    """
    p = check_joint(joint)
    grid = np.sort(_check_betas(default_betas() if betas is None else betas))
    info_tol = check_real(info_tol, "info_tol", minimum=0.0)
    forward = ib_scan(p, grid, n_clusters, noise=noise, tol=tol, max_iter=max_iter, seed=seed)
    backward = ib_scan(
        p, grid[::-1], n_clusters, init=forward.encoders[-1], noise=0.0, tol=tol, max_iter=max_iter, seed=seed
    )
    beta_scan = forward.first_nontrivial_beta(info_tol)
    beta_back = backward.first_nontrivial_beta(info_tol)
    if math.isfinite(beta_scan):
        k = int(np.searchsorted(grid, beta_scan))
        bracket = (float(grid[max(k - 1, 0)]), beta_scan)
    else:
        bracket = (float(grid[-1]), 2.0 * float(grid[-1]))
    beta_c, delta = locate_first_transition(p, bracket=bracket, n_clusters=n_clusters, seed=seed)
    f = delta[:, 0] / max(_weighted_norm(delta[:, 0], p.sum(axis=1)), _TINY)
    return IBResult(forward, backward, beta_c, beta_scan, beta_back, critical_beta_spectral(p), f)


def gaussian_code_informations(code: object, joint: object, step: float = 0.02) -> tuple[float, float]:
    """Exact ``(I(H;X), I(H;Y))`` in nats of the Gaussian channel ``H = code(X) + N(0, 1)`` for a joint law
    ``P(X, Y)`` (``(n_x, n_y)``) and a scalar code ``code`` (``(n_x,)``, the code of every state of X).

    This is what a VIB encoder with unit noise and a one-dimensional code optimizes (:mod:`rgnet.models.vib`);
    its bounds are compared with these values. The entropies of the Gaussian mixtures ``p(h)`` and
    ``p(h | y)`` are integrated on a grid of spacing ``step`` (trapezoid, 8 noise widths beyond the codes).
    For a weak code the informations approach ``Var(code)/2`` and ``Var(E[code | Y])/2``, whose smallest ratio
    over codes is the exact first IB transition :func:`critical_beta_spectral`.
    """
    p = check_joint(joint)
    mu = np.asarray(code, dtype=np.float64).reshape(-1)
    if mu.shape[0] != p.shape[0] or not np.all(np.isfinite(mu)):
        raise ValueError(
            f"code must be {p.shape[0]} finite values (one per state of X), got shape {mu.shape}"
        )
    step = check_real(step, "step", minimum=0.0)
    if not 0.0 < step <= 0.1:
        raise ValueError(f"step must be in (0, 0.1] noise widths, got {step}")
    h = np.arange(mu.min() - 8.0, mu.max() + 8.0 + step, step)
    kernel = np.exp(-0.5 * (h[None, :] - mu[:, None]) ** 2) / math.sqrt(2.0 * math.pi)  # (n_x, grid)

    def entropy(weights: np.ndarray) -> np.ndarray:  # weights (k, n_x), rows summing to 1 -> (k,)
        density = weights @ kernel
        return -np.trapezoid(density * np.log(np.maximum(density, 1e-300)), h, axis=1)

    p_x, p_y = p.sum(axis=1), p.sum(axis=0)
    h_code = float(entropy(p_x[None, :])[0])
    keep = p_y > 0
    h_given_y = float(p_y[keep] @ entropy((p[:, keep] / p_y[keep]).T))
    h_noise = 0.5 * math.log(2.0 * math.pi * math.e)
    return max(h_code - h_noise, 0.0), max(h_code - h_given_y, 0.0)


__all__ = [
    "IBResult",
    "IBScan",
    "check_joint",
    "critical_beta_spectral",
    "default_betas",
    "gaussian_code_informations",
    "ib_scan",
    "linear_growth",
    "locate_first_transition",
    "maximal_correlation",
    "normalized_joint",
    "solve_ib",
]
