"""Exact real-space RG recursions of the 1D Ising chain (decimation), fixed points, stability and flows.

Chain weight ``exp(K sum_i s_i s_{i+1} + h sum_i s_i)`` (K = J/kT, dimensionless field h). Decimation by
``b`` keeps every ``b``-th spin and sums out the ``b - 1`` spins between consecutive kept spins exactly:
with the symmetric transfer matrix ``T[a, c] = exp(K a c + h (a + c) / 2)`` the renormalized matrix is
``T^b`` and it is again of Ising form,

    (T^b)[a, c] = exp(g + K' a c + h' (a + c) / 2),

which defines ``K'``, ``h'`` and the constant ``g`` (free energy per renormalized bond, i.e. per kept spin).
At ``h = 0`` this is the classic ``tanh K' = tanh(K)^b``. Everything is computed in log space (float64),
so large ``K`` and ``b`` do not overflow.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from rgnet._checks import check_int, check_real


class Decimation(NamedTuple):
    """Result of one decimation step: renormalized coupling ``K``, field ``h`` and constant ``g`` per kept
    spin (``ln`` of the Boltzmann-weight prefactor)."""

    K: float
    h: float
    g: float


class FixedPoint(NamedTuple):
    """A fixed point of the ``h = 0`` decimation map in the variable ``t = tanh K``.

    ``eigenvalue`` is ``dt'/dt`` at the fixed point (``t' = t^b``); ``stable`` is ``|eigenvalue| < 1``.
    """

    K: float
    t: float
    eigenvalue: float
    stable: bool


def _log_transfer(K: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """log T[a, c] with index 0 = spin +1, 1 = spin -1; float64 (2, 2), differentiable in K and h."""
    s = torch.tensor([1.0, -1.0], dtype=torch.float64)
    return K * s[:, None] * s[None, :] + 0.5 * h * (s[:, None] + s[None, :])


def _log_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(exp(a) @ exp(b)) for (2, 2) log matrices."""
    return torch.logsumexp(a[:, :, None] + b[None, :, :], dim=1)


def _log_power(log_t: torch.Tensor, b: int) -> torch.Tensor:
    """log(T^b) by repeated squaring in log space."""
    result = None
    base = log_t
    while b:
        if b & 1:
            result = base if result is None else _log_matmul(result, base)
        b >>= 1
        if b:
            base = _log_matmul(base, base)
    return result


def _decimate_tensor(
    K: torch.Tensor, h: torch.Tensor, b: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lp = _log_power(_log_transfer(K, h), b)
    pp, mm, pm = lp[0, 0], lp[1, 1], 0.5 * (lp[0, 1] + lp[1, 0])
    K_new = 0.25 * (pp + mm - 2.0 * pm)
    h_new = 0.5 * (pp - mm)
    g = 0.25 * (pp + mm + 2.0 * pm)
    return K_new, h_new, g


def _check_b(b: object) -> int:
    return check_int(b, "b", minimum=1)


def _decimate_zero_field(K: float, b: int) -> Decimation:
    """Closed form at h = 0: (T^b)[a, c] = 2^(b-1) cosh(K)^b (1 + x a c) with x = tanh(K)^b, written with
    log1p/expm1 so that x -> 0 and x -> 1 keep full relative precision."""
    if K == 0.0:
        return Decimation(0.0, 0.0, (b - 1) * math.log(2.0))
    a = abs(K)
    if a < 1.0:
        log_t = math.log(math.tanh(a))
    else:
        log_t = math.log1p(-2.0 / (math.exp(2.0 * a) + 1.0)) if a < 350.0 else 0.0
    u = b * log_t  # ln |x| <= 0
    sign = -1.0 if (K < 0 and b % 2 == 1) else 1.0
    if u == 0.0:
        return Decimation(sign * math.inf, 0.0, math.inf)
    x = math.exp(u)
    K_new = math.atanh(x) if x < 0.5 else 0.5 * (math.log1p(x) - math.log(-math.expm1(u)))
    log_cosh = a + math.log1p(math.exp(-2.0 * a)) - math.log(2.0)
    g = (b - 1) * math.log(2.0) + b * log_cosh + 0.5 * (math.log(-math.expm1(u)) + math.log1p(math.exp(u)))
    return Decimation(sign * K_new, 0.0, g)


def decimate_1d(K: float, b: int = 2, h: float = 0.0) -> Decimation:
    """One exact decimation step of the 1D chain by ``b`` (keep every ``b``-th spin).

    Args:
        K: nearest-neighbour coupling (any finite real; ``K < 0`` is antiferromagnetic).
        b: rescaling factor, an integer >= 1 (``b = 1`` is the identity map with ``g = 0``).
        h: field (any finite real).

    Returns:
        ``Decimation(K', h', g)``: at ``h = 0``, ``tanh K' = tanh(K)^b`` and ``h' = 0``.
    """
    K = check_real(K, "K")
    h = check_real(h, "h")
    b = _check_b(b)
    if h == 0.0:
        return _decimate_zero_field(K, b)
    K_new, h_new, g = _decimate_tensor(
        torch.tensor(K, dtype=torch.float64), torch.tensor(h, dtype=torch.float64), b
    )
    return Decimation(float(K_new), float(h_new), float(g))


def decimation_jacobian(K: float, h: float = 0.0, b: int = 2) -> np.ndarray:
    """Jacobian ``d(K', h') / d(K, h)`` of the decimation map at ``(K, h)``; float64 (2, 2), rows (K', h').

    Computed by automatic differentiation of the exact log-space map. Its eigenvalues are the linearized
    RG eigenvalues at a fixed point (see :func:`stability_1d`).
    """
    K = check_real(K, "K")
    h = check_real(h, "h")
    b = _check_b(b)

    def kh(x: torch.Tensor) -> torch.Tensor:
        K_new, h_new, _ = _decimate_tensor(x[0], x[1], b)
        return torch.stack([K_new, h_new])

    jac = torch.autograd.functional.jacobian(kh, torch.tensor([K, h], dtype=torch.float64))
    return jac.numpy()


def stability_1d(K: float, h: float = 0.0, b: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (sorted by modulus, descending) and eigenvectors (columns) of :func:`decimation_jacobian`.

    At the high-temperature fixed line ``K = 0`` (any h) the eigenvalues are ``0`` (K direction: irrelevant,
    stable) and ``1`` (h direction: marginal, every field is a fixed point).
    """
    jac = decimation_jacobian(K, h, b)
    values, vectors = np.linalg.eig(jac)
    order = np.argsort(-np.abs(values))
    return values[order].real, vectors[:, order].real


def fixed_points_1d(b: int = 2) -> list[FixedPoint]:
    """Fixed points of the ``h = 0`` map ``t' = t^b`` (``t = tanh K``) for ``b >= 2`` and their stability.

    ``K* = 0`` (``t = 0``, eigenvalue 0: stable, the disordered fixed point every finite K flows to) and
    ``K* = inf`` (``t = 1``, eigenvalue ``b``: unstable, the zero-temperature ordered fixed point). In the
    variable K itself the infinite fixed point has ``dK'/dK -> 1``; the variable t makes its instability
    explicit (``1 - t`` grows by the factor ``b``).
    """
    b = check_int(b, "b", minimum=2)
    return [FixedPoint(0.0, 0.0, 0.0, True), FixedPoint(math.inf, 1.0, float(b), False)]


def flow_1d(K0: float, steps: int, b: int = 2, h0: float = 0.0) -> dict[str, np.ndarray]:
    """RG trajectory under repeated decimation by ``b``: ``{"K": (steps+1,), "h": (steps+1,), "g":
    (steps,)}`` float64 arrays, entry ``l`` after ``l`` steps (entry 0 is the input ``K0, h0``).

    At ``h0 = 0``: ``K_l = atanh(tanh(K0)^(b^l))``, ``xi_l = xi_0 / b^l`` (lattice units of level ``l``).
    """
    K0 = check_real(K0, "K0")
    h0 = check_real(h0, "h0")
    steps = check_int(steps, "steps", minimum=0)
    b = _check_b(b)
    Ks, hs, gs = [K0], [h0], []
    for _ in range(steps):
        step = decimate_1d(Ks[-1], b, hs[-1])
        Ks.append(step.K)
        hs.append(step.h)
        gs.append(step.g)
    return {"K": np.array(Ks), "h": np.array(hs), "g": np.array(gs)}


def correlation_length_1d(K: float, h: float = 0.0) -> float:
    """Correlation length of the infinite chain in lattice units, ``xi = 1 / ln(lambda_+ / |lambda_-|)``.

    At ``h = 0`` this is ``xi = -1 / ln tanh|K|`` (``0`` at ``K = 0``, ``inf`` as ``|K| -> inf``).
    """
    K = check_real(K, "K")
    h = check_real(h, "h")
    if K == 0.0:
        return 0.0
    if h == 0.0:
        t = math.tanh(abs(K))
        return math.inf if t == 1.0 else -1.0 / math.log(t)
    # lambda_pm = e^K cosh h +- sqrt(e^{2K} sinh^2 h + e^{-2K})
    a = math.exp(K) * math.cosh(h)
    root = math.sqrt(math.exp(2 * K) * math.sinh(h) ** 2 + math.exp(-2 * K))
    ratio = abs(a - root) / (a + root)
    return -1.0 / math.log(ratio)


def coupling_from_correlation_length(xi: float) -> float:
    """Inverse of :func:`correlation_length_1d` at ``h = 0`` for ``K >= 0``: ``K = atanh(exp(-1/xi))``."""
    xi = check_real(xi, "xi", minimum=0.0)
    return 0.0 if xi == 0.0 else math.atanh(math.exp(-1.0 / xi))


def exact_decimation_sequence(K0: float, levels: int, b: int = 2) -> np.ndarray:
    """``K_l = atanh(tanh(K0)^(b^l))`` for ``l = 0..levels`` (``h = 0``), float64 ``(levels + 1,)``."""
    return flow_1d(K0, levels, b)["K"]


__all__ = [
    "Decimation",
    "FixedPoint",
    "correlation_length_1d",
    "coupling_from_correlation_length",
    "decimate_1d",
    "decimation_jacobian",
    "exact_decimation_sequence",
    "fixed_points_1d",
    "flow_1d",
    "stability_1d",
]
