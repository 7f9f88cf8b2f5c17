"""Fit the couplings of an Ising Hamiltonian to spin configurations, with error bars.

Model (periodic boundaries, each interaction counted once):

    H = -K sum_<ij> s_i s_j - h sum_i s_i - K2 sum_<<ij>> s_i s_j - Kp sum_plaquettes s_i s_j s_k s_l

with ``<ij>`` nearest neighbours, ``<<ij>>`` next-nearest neighbours (distance 2 along a chain; the
diagonals of the square lattice) and ``Kp`` the four-spin term of the elementary squares (2D only). Term
names: ``"K", "h", "K2", "Kp"`` (:data:`TERMS`).

Methods:
- ``"pseudo"`` (any dimension): maximum pseudo-likelihood (Besag), i.e. logistic regression of each spin on
  its neighbourhood, ``p(s_i | rest) = exp(s_i F_i) / 2 cosh F_i`` with ``F_i = sum_t theta_t phi_t,i``.
  The objective is concave; it is maximized by Newton's method. It is consistent, and since the sites of one
  configuration are dependent, its asymptotic covariance is the sandwich (Godambe) form
  ``H^-1 J H^-1`` with ``H`` the Hessian and ``J`` the sum over configurations of the outer products of
  their scores (configurations are taken to be independent).
- ``"exact"`` (1D chains, terms ``K`` and optionally ``h``): the maximum-likelihood fit through the exact
  partition function of the periodic chain (transfer matrix, :func:`rgnet.ising.exact.chain_log_partition`);
  errors from the inverse Fisher information. Absent terms are fixed at 0.

Optionally ``bootstrap`` resamples configurations (with replacement) and reports the standard deviation
of the refitted estimates as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from rgnet._checks import check_choice, check_int
from rgnet.ising.exact import chain_log_partition

TERMS = ("K", "h", "K2", "Kp")
METHODS = ("pseudo", "exact")
_MAX_NEWTON = 100
_DIVERGED = 30.0  # |coupling| beyond which the data are (nearly) separable and the fit diverges


@dataclass(frozen=True)
class CouplingFit:
    """Fitted couplings: ``values[term]`` and asymptotic standard errors ``errors[term]``.

    ``covariance`` is float64 ``(len(terms), len(terms))`` in the order of ``terms``; ``bootstrap_errors``
    is None unless bootstrap resampling was asked for. ``converged`` is False when the optimizer did not
    converge (typically perfectly ordered data, where the estimate diverges; values are then capped).
    """

    terms: tuple[str, ...]
    values: dict[str, float]
    errors: dict[str, float]
    covariance: np.ndarray
    method: str
    n_samples: int
    lattice_shape: tuple[int, ...]
    converged: bool
    bootstrap_errors: dict[str, float] | None = field(default=None)

    def __getitem__(self, term: str) -> float:
        return self.values[term]

    def as_dict(self) -> dict:
        """JSON-serializable summary (floats and lists)."""
        out = {
            "method": self.method,
            "n_samples": self.n_samples,
            "lattice_shape": list(self.lattice_shape),
            "converged": self.converged,
            "values": {k: float(v) for k, v in self.values.items()},
            "errors": {k: float(v) for k, v in self.errors.items()},
        }
        if self.bootstrap_errors is not None:
            out["bootstrap_errors"] = {k: float(v) for k, v in self.bootstrap_errors.items()}
        return out


def _check_spins(spins: object) -> torch.Tensor:
    if not isinstance(spins, torch.Tensor):
        raise TypeError(f"spins must be a torch.Tensor, got {type(spins).__name__}")
    if spins.dim() not in (2, 3) or (spins.dim() == 3 and spins.shape[1] != spins.shape[2]):
        raise ValueError(
            f"spins must be (batch, N) chains or (batch, L, L) lattices, got shape {tuple(spins.shape)}"
        )
    if spins.shape[0] < 2:
        raise ValueError(f"spins must hold at least 2 configurations, got {spins.shape[0]}")
    if spins.dtype == torch.bool or spins.is_complex():
        raise TypeError(f"spins must be an integer or float tensor of +-1, got {spins.dtype}")
    if not bool(((spins == 1) | (spins == -1)).all()):
        raise ValueError("spins must contain only +1 and -1 (non-spin data cannot be fitted)")
    return spins.detach().to("cpu", torch.float64)


def _check_terms(terms: object, ndim: int, size: int) -> tuple[str, ...]:
    if isinstance(terms, str):
        terms = (terms,)
    try:
        terms = tuple(terms)  # type: ignore[arg-type]
    except TypeError as err:
        raise TypeError(f"terms must be a sequence of term names from {TERMS}, got {terms!r}") from err
    if not terms:
        raise ValueError(f"terms must name at least one of {TERMS}")
    for t in terms:
        check_choice(t, "terms", TERMS)
    if len(set(terms)) != len(terms):
        raise ValueError(f"terms must not repeat, got {terms}")
    if ndim == 1 and "Kp" in terms:
        raise ValueError("terms: the plaquette term 'Kp' exists only for 2D lattices (batch, L, L)")
    # A periodic chain of 2 spins is the ring with a double bond (the convention of Tr T^2 and of decimating a
    # ring of 4); next-nearest neighbours need 5 sites and 2D lattices 3 to be distinct.
    minimum = (5 if "K2" in terms else 2) if ndim == 1 else 3
    if size < minimum:
        raise ValueError(f"terms {terms} need a linear size >= {minimum} (distinct neighbours), got {size}")
    return terms


def _local_fields(s: torch.Tensor, terms: tuple[str, ...]) -> torch.Tensor:
    """phi[n, site, t]: derivative of term t's sum with respect to s_site, float64 (n, sites, T)."""
    feats = []
    if s.dim() == 2:
        for t in terms:
            if t == "K":
                feats.append(torch.roll(s, 1, 1) + torch.roll(s, -1, 1))
            elif t == "K2":
                feats.append(torch.roll(s, 2, 1) + torch.roll(s, -2, 1))
            else:
                feats.append(torch.ones_like(s))
    else:

        def r(x: torch.Tensor, di: int, dj: int) -> torch.Tensor:
            return torch.roll(x, (di, dj), (1, 2))

        for t in terms:
            if t == "K":
                feats.append(r(s, 1, 0) + r(s, -1, 0) + r(s, 0, 1) + r(s, 0, -1))
            elif t == "K2":
                feats.append(r(s, 1, 1) + r(s, -1, -1) + r(s, 1, -1) + r(s, -1, 1))
            elif t == "Kp":
                # plaquettes with corner (i, j) at each of their four corners: product of the other three
                total = torch.zeros_like(s)
                for di in (1, -1):
                    for dj in (1, -1):
                        total = total + r(s, -di, 0) * r(s, 0, -dj) * r(s, -di, -dj)
                feats.append(total)
            else:
                feats.append(torch.ones_like(s))
    n = s.shape[0]
    return torch.stack([f.reshape(n, -1) for f in feats], dim=-1)


def _pseudo_newton(s: torch.Tensor, phi: torch.Tensor) -> tuple[np.ndarray, np.ndarray, bool]:
    """Maximize sum log p(s_i | rest); returns (theta, sandwich covariance, converged).

    Runs in numpy (single-threaded elementwise work: fast also on a busy machine).
    """
    n, sites, T = phi.shape
    X = phi.reshape(n * sites, T).numpy()
    y = s.reshape(n * sites).numpy()
    theta = np.zeros(T)

    def objective(F: np.ndarray) -> float:
        return float((y * F - np.logaddexp(F, -F)).sum())

    F = X @ theta
    value = objective(F)
    converged = False
    for _ in range(_MAX_NEWTON):
        tanh_f = np.tanh(F)
        grad = X.T @ (y - tanh_f)
        hess = (X * (1.0 - tanh_f**2)[:, None]).T @ X
        try:
            step = np.linalg.solve(hess + 1e-12 * np.eye(T), grad)
        except np.linalg.LinAlgError:
            break
        scale = 1.0
        while True:
            candidate = theta + scale * step
            F_cand = X @ candidate
            cand_value = objective(F_cand)
            if cand_value >= value - 1e-12 or scale < 1e-6:
                break
            scale *= 0.5
        theta, F, value = candidate, F_cand, cand_value
        if np.abs(step).max() * scale < 1e-10:
            converged = True
            break
        if np.abs(theta).max() > _DIVERGED:
            break
    tanh_f = np.tanh(F)
    hess = (X * (1.0 - tanh_f**2)[:, None]).T @ X
    scores = (X * (y - tanh_f)[:, None]).reshape(n, sites, T).sum(axis=1)  # per configuration
    meat = scores.T @ scores
    try:
        h_inv = np.linalg.inv(hess)
        cov = h_inv @ meat @ h_inv
    except np.linalg.LinAlgError:
        cov = np.full((T, T), math.inf)
    return theta, cov, converged


def _exact_chain_stats(s: torch.Tensor) -> tuple[float, float]:
    """Mean bond sum and mean magnetization sum per configuration of periodic chains."""
    bonds = (s * torch.roll(s, -1, 1)).sum(dim=1).mean()
    return float(bonds), float(s.sum(dim=1).mean())


def _exact_newton(
    s: torch.Tensor, terms: tuple[str, ...], start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Maximum likelihood of the periodic chain with parameters ``terms`` (K, optionally h)."""
    N, n = s.shape[1], s.shape[0]
    bonds, magnet = _exact_chain_stats(s)
    observed = np.array([bonds if t == "K" else magnet for t in terms])
    T = len(terms)

    def log_z(theta: np.ndarray) -> float:
        params = dict(zip(terms, theta, strict=True))
        return chain_log_partition(N, float(params.get("K", 0.0)), float(params.get("h", 0.0)), True)

    def derivatives(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        eps = 1e-4
        grad = np.empty(T)
        hess = np.empty((T, T))
        f0 = log_z(theta)
        for a in range(T):
            ea = np.eye(T)[a] * eps
            fp, fm = log_z(theta + ea), log_z(theta - ea)
            grad[a] = (fp - fm) / (2 * eps)
            hess[a, a] = (fp - 2 * f0 + fm) / eps**2
            for c in range(a):
                ec = np.eye(T)[c] * eps
                hess[a, c] = hess[c, a] = (
                    log_z(theta + ea + ec)
                    - log_z(theta + ea - ec)
                    - log_z(theta - ea + ec)
                    + log_z(theta - ea - ec)
                ) / (4 * eps**2)
        return grad, hess

    theta = np.clip(start, -_DIVERGED, _DIVERGED).astype(float)
    converged = False
    for _ in range(_MAX_NEWTON):
        grad, hess = derivatives(theta)
        try:
            step = np.linalg.solve(hess, observed - grad)
        except np.linalg.LinAlgError:  # flat likelihood (e.g. perfectly ordered chains): no finite maximum
            break
        # damp steps so that theta stays where the chain's cumulants are resolved
        step = np.clip(step, -0.5, 0.5)
        theta = theta + step
        if np.abs(step).max() < 1e-9:
            converged = True
            break
        if np.abs(theta).max() > _DIVERGED:
            break
    if not converged:  # no finite maximum: the estimate is a bound, its error unknown
        return theta, np.diag(np.full(T, np.inf)), False
    _, hess = derivatives(theta)
    return theta, np.linalg.inv(n * hess), converged


def _fit_once(s: torch.Tensor, terms: tuple[str, ...], method: str) -> tuple[np.ndarray, np.ndarray, bool]:
    theta, cov, converged = _pseudo_newton(s, _local_fields(s, terms))
    if method == "exact":
        theta, cov, converged = _exact_newton(s, terms, theta)
    return theta, cov, converged


def fit_couplings(
    spins: torch.Tensor,
    terms: tuple[str, ...] | list[str] = ("K", "h"),
    *,
    method: str = "pseudo",
    bootstrap: int = 0,
    seed: int = 0,
) -> CouplingFit:
    """Fit Ising couplings to configurations.

    Args:
        spins: +-1 configurations (any dtype/device), ``(batch, N)`` periodic chains or ``(batch, L, L)``
            periodic square lattices; configurations are assumed independent.
        terms: names from :data:`TERMS` (default nearest-neighbour ``K`` and field ``h``); terms left out are
            fixed at 0.
        method: ``"pseudo"`` (maximum pseudo-likelihood, sandwich errors) or ``"exact"`` (1D, terms among
            ``K, h``: exact maximum likelihood through the transfer matrix, inverse-Fisher errors).
        bootstrap: number of bootstrap resamples of the configurations (0: none).
        seed: seed of the bootstrap resampling.

    Returns:
        :class:`CouplingFit` with values and errors per term.
    """
    s = _check_spins(spins)
    ndim = s.dim() - 1
    terms = _check_terms(terms, ndim, s.shape[-1])
    method = check_choice(method, "method", METHODS)
    if method == "exact" and (ndim != 1 or "K" not in terms or not set(terms) <= {"K", "h"}):
        raise ValueError(
            "method='exact' fits periodic chains (batch, N) with terms ('K',) or ('K', 'h'); "
            f"got terms={terms} on spins of shape {tuple(s.shape)}"
        )
    bootstrap = check_int(bootstrap, "bootstrap", minimum=0)
    seed = check_int(seed, "seed", minimum=0)

    theta, cov, converged = _fit_once(s, terms, method)
    errors = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    boot_errors = None
    if bootstrap:
        gen = torch.Generator().manual_seed(seed)
        draws = []
        for _ in range(bootstrap):
            idx = torch.randint(0, s.shape[0], (s.shape[0],), generator=gen)
            draws.append(_fit_once(s[idx], terms, method)[0])
        spread = np.std(np.array(draws), axis=0, ddof=1) if bootstrap > 1 else np.full(len(terms), math.nan)
        boot_errors = dict(zip(terms, map(float, spread), strict=True))
    return CouplingFit(
        terms=terms,
        values=dict(zip(terms, map(float, theta), strict=True)),
        errors=dict(zip(terms, map(float, errors), strict=True)),
        covariance=cov,
        method=method,
        n_samples=int(s.shape[0]),
        lattice_shape=tuple(int(d) for d in s.shape[1:]),
        converged=converged,
        bootstrap_errors=boot_errors,
    )


__all__ = ["METHODS", "TERMS", "CouplingFit", "fit_couplings"]
