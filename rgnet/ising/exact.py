"""Exact results for the Ising model, used as ground truth by the tests and the reports.

Conventions (see DESIGN.md): couplings are dimensionless, ``K = J/kT`` and field ``h``; the Boltzmann weight
is ``exp(K sum_<ij> s_i s_j + h sum_i s_i)`` with each nearest-neighbour bond counted once and periodic
boundaries unless stated. On a periodic direction of length 2 both bonds between the two sites are counted
(torus convention, as in Kaufman and as in :func:`rgnet.ising.lattice.bond_sum`). Energies are per site in
units of J, ``e = -(1/N) <sum_<ij> s_i s_j>``; the specific heat per site is ``C = K^2 N var(e)``.

Contents:

* finite ``L x M`` torus at ``h = 0``: Kaufman's exact ``ln Z`` (B. Kaufman, Phys. Rev. 76, 1232 (1949); see
  also A. E. Ferdinand and M. E. Fisher, Phys. Rev. 185, 832 (1969)), with energy and specific heat from
  float64 autograd through it;
* infinite square lattice (Onsager, Yang): free energy, energy, specific heat, spontaneous magnetization;
* 1D chain of ``N`` spins, periodic or open, in a field: transfer-matrix ``ln Z``, correlations and
  magnetization;
* enumeration of all configurations of tiny systems and their exact Boltzmann probabilities;
* infinite cylinder of circumference L: ring-to-ring transfer matrix (with field) and its leading eigenpairs,
  overall or per Z2 sector.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.integrate
import scipy.special
import torch

from rgnet._checks import check_choice, check_int, check_real
from rgnet.ising.lattice import bond_sum

#: Critical coupling of the square lattice, K_c = ln(1 + sqrt 2) / 2.
K_CRITICAL = 0.5 * math.log(1.0 + math.sqrt(2.0))

#: Largest number of sites that may be enumerated (2**24 configurations).
MAX_ENUMERATION_SITES = 24

_LOG2 = math.log(2.0)
_CHUNK = 1 << 16  # configurations generated per block when enumerating


# ----------------------------------------------------------------------------------------------------------
# Finite torus at h = 0 (Kaufman 1949)
# ----------------------------------------------------------------------------------------------------------


def _check_torus(L: object, M: object, K: object) -> tuple[int, int, float]:
    L = check_int(L, "L", minimum=2)
    M = check_int(M, "M", minimum=2)
    K = check_real(K, "K")
    if K < 0.0 and (L % 2 or M % 2):
        raise ValueError(
            f"K < 0 (antiferromagnet) is supported only when L and M are both even (then Z(K) = Z(-K)); "
            f"got L={L}, M={M}, K={K}: odd sizes frustrate the antiferromagnet and Kaufman's formula "
            "does not apply"
        )
    return L, M, K


def _kaufman_log_z(L: int, M: int, K: torch.Tensor) -> torch.Tensor:
    """Kaufman's ``ln Z`` of the ``L x M`` torus for a float64 scalar tensor ``K > 0`` (differentiable).

    Z = 1/2 (2 sinh 2K)^(LM/2) [Z1 + Z2 + Z3 + Z4] with Z1, Z2 = prod_{k odd} 2 cosh, 2 sinh (M g_k / 2) and
    Z3, Z4 = prod_{k even} 2 cosh, 2 sinh (M g_k / 2), k in [0, 2L),
    cosh g_k = cosh 2K coth 2K - cos(pi k / L) and g_0 = 2K + ln tanh K (negative below K_c, so Z4 changes
    sign there). The prefactor is absorbed into each mode,
    (2 sinh 2K)^(M/2) 2 cosh(M g/2) = lam^(M/2) (1 + exp(-M g)) with lam = 2 sinh(2K) exp(g),
    and for k = 0 into (e^{2K} - 1)^M +- (1 + e^{-2K})^M, so no huge terms cancel at small K, nothing
    overflows at large K and no term is a log of something that vanishes at K_c (the sign change of Z4 sits
    in a difference e^{M log a} - e^{M log b}). The four terms are combined by a signed log-sum-exp. Above
    K_c the modes are written with u = e^{-2K}, below with s = sinh 2K.
    """
    k = torch.arange(2 * L, dtype=torch.float64, device=K.device)
    half_angle_sin2 = torch.sin(math.pi * k / (2 * L)) ** 2  # (1 - cos(pi k / L)) / 2
    odd = half_angle_sin2[1::2]
    even = half_angle_sin2[2::2]  # k = 2, 4, ..., 2L - 2 (k = 0 is treated separately)

    if K.item() > K_CRITICAL:  # sinh 2K > 1: work with u = e^{-2K} so that nothing overflows for large K
        u = torch.exp(-2.0 * K)

        def modes(sn2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """(log lam_k, gamma_k) for the modes with sin^2(pi k / 2L) = sn2 > 0."""
            a = (1.0 - 2.0 * u - u**2) ** 2 / (2.0 * (1.0 - u**2)) + 2.0 * u * sn2  # u (cosh gamma - 1)
            gamma = 2.0 * K + torch.log(a + u + torch.sqrt(a) * torch.sqrt(a + 2.0 * u))
            return 2.0 * K + torch.log1p(-(u**2)) + gamma, gamma

    else:
        s = torch.sinh(2.0 * K)

        def modes(sn2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """(log lam_k, gamma_k) for the modes with sin^2(pi k / 2L) = sn2 > 0."""
            d = (1.0 - s) * ((1.0 - s) / s) + 2.0 * sn2  # cosh(gamma) - 1 > 0, no cancellation
            gamma = torch.log1p(d + torch.sqrt(d) * torch.sqrt(d + 2.0))
            q_minus = (1.0 - s) ** 2 + 2.0 * s * sn2  # s (cosh gamma - 1)
            q_plus = 1.0 + s**2 + 2.0 * s * sn2  # s (cosh gamma + 1)
            return _LOG2 + torch.log(q_minus + s + torch.sqrt(q_minus * q_plus)), gamma

    log_lam_odd, gamma_odd = modes(odd)
    base_odd = 0.5 * M * log_lam_odd.sum()
    x_odd = torch.exp(-M * gamma_odd)
    l1 = base_odd + torch.log1p(x_odd).sum()
    l2 = base_odd + torch.log1p(-x_odd).sum()

    log_lam_even, gamma_even = modes(even)
    base_even = 0.5 * M * log_lam_even.sum()
    x_even = torch.exp(-M * gamma_even)
    p_plus, p_minus = torch.log1p(x_even).sum(), torch.log1p(-x_even).sum()
    # k = 0 mode: (e^{2K} - 1)^M +- (1 + e^{-2K})^M = exp(m) (ea +- eb)
    log_a = M * (2.0 * K + torch.log(-torch.expm1(-2.0 * K)))
    log_b = M * torch.log1p(torch.exp(-2.0 * K))
    m = torch.maximum(log_a, log_b)
    ea, eb = torch.exp(log_a - m), torch.exp(log_b - m)
    l3 = base_even + p_plus + m
    l4 = base_even + p_minus + m

    lmax = torch.maximum(torch.maximum(l1, l2), torch.maximum(l3, l4)).detach()
    total = (
        torch.exp(l1 - lmax)
        + torch.exp(l2 - lmax)
        + torch.exp(l3 - lmax) * (ea + eb)
        + torch.exp(l4 - lmax) * (ea - eb)
    )
    return lmax + torch.log(total) - _LOG2


#: Below this |K| the torus energy and specific heat use their leading high-temperature terms (exact to
#: relative O(K)), where autograd through Kaufman's formula would over/underflow.
_K_TINY = 1e-30
#: Below this |K| the torus energy is integrated from the second derivative (Gauss-Legendre, _GAUSS_NODES
#: nodes; the integrand is analytic within |K| ~ 0.4 of the origin, so the rule is exact to rounding).
_K_SMALL = 0.05
_GAUSS_NODES = 8


def _bond_variance_per_site(L: int, M: int) -> float:
    """var(sum_<ij> s_i s_j) / (LM) at K = 0: 1 per axis, 2 per axis of length 2 (pairs counted twice)."""
    return float((2 if L == 2 else 1) + (2 if M == 2 else 1))


def _torus_derivatives(L: int, M: int, K: float, order: int) -> list[float]:
    """[ln Z, d lnZ/dK, ..., d^order lnZ/dK^order] by float64 autograd; K != 0, validated by the caller.

    ln Z is even in K (K < 0 only for even sizes), so the graph is built at |K| and the n-th derivative
    picks up sign(K)^n.
    """
    k_t = torch.tensor(abs(K), dtype=torch.float64, requires_grad=True)
    out = _kaufman_log_z(L, M, k_t)
    values = [out]
    for _ in range(order):
        (out,) = torch.autograd.grad(out, k_t, create_graph=True)
        values.append(out)
    sign = math.copysign(1.0, K)
    return [sign**n * float(v.detach()) for n, v in enumerate(values)]


def log_partition_torus(L: int, M: int, K: float) -> float:
    """Exact ``ln Z`` of the ``L x M`` periodic square lattice at ``h = 0`` (Kaufman 1949).

    ``Z = sum over the 2^(LM) configurations of exp(K sum_<ij> s_i s_j)``, bonds counted as in
    :func:`rgnet.ising.lattice.bond_sum` (for a side of length 2 both bonds of a pair count). Valid for all
    ``L, M >= 2`` (odd or even) and any finite ``K >= 0``; ``K < 0`` is accepted when ``L`` and ``M`` are both
    even (bipartite torus, ``Z(-K) = Z(K)``). Stable for large lattices (e.g. 512 x 512) and near ``K_c``.
    """
    L, M, K = _check_torus(L, M, K)
    if K == 0.0:
        return L * M * _LOG2
    return _torus_derivatives(L, M, K, 0)[0]


def energy_torus(L: int, M: int, K: float) -> float:
    """Exact mean energy per site ``e = -(1/LM) d lnZ/dK`` of the ``L x M`` torus at ``h = 0`` (units of J).

    Same domain as :func:`log_partition_torus`. Float64 autograd through Kaufman's formula; for ``|K| < 0.05``
    the derivative is integrated from the second derivative instead, so the relative accuracy stays ~1e-14
    down to ``K -> 0`` (where ``e ~ -2K``).
    """
    L, M, K = _check_torus(L, M, K)
    if abs(K) < _K_TINY:
        return -K * _bond_variance_per_site(L, M)
    if abs(K) < _K_SMALL:
        # d lnZ/dK = int_0^K d^2 lnZ/dx^2 dx (it vanishes at K = 0): the first derivative of Kaufman's mode
        # sum is O(K) made of O(1) terms that cancel, while the second derivative carries no cancellation
        nodes, weights = np.polynomial.legendre.leggauss(_GAUSS_NODES)
        xs = 0.5 * K * (1.0 + nodes)
        first = (
            0.5
            * K
            * sum(w * _torus_derivatives(L, M, float(x), 2)[2] for x, w in zip(xs, weights, strict=True))
        )
    else:
        first = _torus_derivatives(L, M, K, 1)[1]
    return -first / (L * M)


def specific_heat_torus(L: int, M: int, K: float) -> float:
    """Exact specific heat per site ``C = K^2/(LM) d^2 lnZ/dK^2`` of the ``L x M`` torus at ``h = 0``.

    Same domain as :func:`log_partition_torus`; float64 autograd. The absolute accuracy is ~1e-14; for large
    ``K``, where ``C ~ e^{-8K}``, the relative accuracy degrades like ~1e-16 e^{8K} (~1e-9 at K = 2).
    """
    L, M, K = _check_torus(L, M, K)
    if abs(K) < _K_TINY:
        return K * K * _bond_variance_per_site(L, M)
    return K * K * _torus_derivatives(L, M, K, 2)[2] / (L * M)


# ----------------------------------------------------------------------------------------------------------
# Infinite square lattice (Onsager 1944, Yang 1952)
# ----------------------------------------------------------------------------------------------------------


def torus_observables(L: int, K: float, h: float = 0.0) -> dict[str, float | None]:
    """Exact ``energy`` and ``specific_heat`` per site of the L x L torus where known (h = 0, Kaufman), else
    None for each (a field, or K < 0 on an odd torus, which is frustrated)."""
    if h != 0.0:
        return {"energy": None, "specific_heat": None}
    try:
        return {"energy": energy_torus(L, L, K), "specific_heat": specific_heat_torus(L, L, K)}
    except ValueError:  # K < 0 on an odd torus: frustrated, no Kaufman formula
        return {"energy": None, "specific_heat": None}


def _elliptic_modulus_sq(K: float) -> float:
    """kappa^2 with kappa = 2 sinh(2K) / cosh(2K)^2 (in [0, 1], 1 only at |K| = K_c)."""
    x = math.exp(-2.0 * abs(K))  # 1 / cosh(2K) = 2 x / (1 + x^2), free of overflow
    return min(1.0, (4.0 * math.tanh(2.0 * K) * x / (1.0 + x * x)) ** 2)


def onsager_magnetization(K: float) -> float:
    """Spontaneous magnetization per site of the infinite square lattice, ``(1 - sinh(2K)^-4)^(1/8)``.

    Zero for ``K <= K_c`` (including any ``K < 0``: the antiferromagnet has no uniform magnetization; its
    staggered magnetization is ``onsager_magnetization(-K)``).
    """
    K = check_real(K, "K")
    if K <= K_CRITICAL:
        return 0.0
    # sinh(2K)^-4 = 16 e^{-8K} / (1 - e^{-4K})^4, free of overflow for large K
    x = 16.0 * math.exp(-8.0 * K) / (-math.expm1(-4.0 * K)) ** 4
    return (1.0 - x) ** 0.125 if x < 1.0 else 0.0


def onsager_free_energy(K: float) -> float:
    """``ln Z / N`` of the infinite square lattice at ``h = 0`` (Onsager), by quadrature.

    ln Z / N = ln(2 cosh 2K) + (1/pi) int_0^{pi/2} ln[(1 + sqrt(1 - kappa^2 sin^2 t)) / 2] dt,
    kappa = 2 sinh 2K / cosh^2 2K. Even in K.
    """
    K = abs(check_real(K, "K"))
    m = _elliptic_modulus_sq(K)
    log_2cosh = 2.0 * K + math.log1p(math.exp(-4.0 * K))

    def integrand(t: float) -> float:
        return math.log(0.5 * (1.0 + math.sqrt(max(0.0, 1.0 - m * math.sin(t) ** 2))))

    value, _ = scipy.integrate.quad(integrand, 0.0, 0.5 * math.pi, epsabs=1e-15, epsrel=1e-13, limit=200)
    return log_2cosh + value / math.pi


def onsager_energy(K: float) -> float:
    """Energy per site of the infinite lattice (units of J), ``e = -d(ln Z/N)/dK``:

    e = -coth(2K) [1 + (2/pi) (2 tanh^2(2K) - 1) K1(kappa)], K1 the complete elliptic integral of the first
    kind; ``e(K_c) = -sqrt(2)``. Odd in K. Relative accuracy ~1e-16 / K^2 for small ``|K|`` (cancellation).
    """
    K = check_real(K, "K")
    if K == 0.0:
        return 0.0
    m = _elliptic_modulus_sq(K)
    t2 = math.tanh(2.0 * K) ** 2
    bracket = 1.0 if m >= 1.0 else 1.0 + (2.0 / math.pi) * (2.0 * t2 - 1.0) * float(scipy.special.ellipk(m))
    return -bracket / math.tanh(2.0 * K)


def onsager_specific_heat(K: float) -> float:
    """Specific heat per site of the infinite lattice, ``C = K^2 d^2(ln Z/N)/dK^2`` (inf at ``|K| = K_c``):

    C = (4/pi) (K coth 2K)^2 {K1 - E1 - (1 - tanh^2 2K) [pi/2 + (2 tanh^2 2K - 1) K1]},
    K1, E1 the complete elliptic integrals of modulus kappa. Even in K. The terms cancel at large ``|K|``
    (C ~ e^{-8K}), leaving a relative accuracy ~1e-16 e^{8K}.
    """
    K = abs(check_real(K, "K"))
    if K == 0.0:
        return 0.0
    m = _elliptic_modulus_sq(K)
    if m >= 1.0:
        return math.inf
    k1, e1 = float(scipy.special.ellipk(m)), float(scipy.special.ellipe(m))
    t2 = math.tanh(2.0 * K) ** 2
    pref = (4.0 / math.pi) * (K / math.tanh(2.0 * K)) ** 2
    return pref * (k1 - e1 - (1.0 - t2) * (0.5 * math.pi + (2.0 * t2 - 1.0) * k1))


# ----------------------------------------------------------------------------------------------------------
# 1D chain (transfer matrix)
# ----------------------------------------------------------------------------------------------------------


def chain_transfer_matrix(K: float, h: float) -> np.ndarray:
    """Symmetric transfer matrix ``T[a, b] = exp(K s_a s_b + h (s_a + s_b) / 2)``, shape (2, 2) float64.

    Index 0 is ``s = +1`` and index 1 is ``s = -1``; ``Z_periodic = Tr T^N``.
    """
    K = check_real(K, "K")
    h = check_real(h, "h")
    s = np.array([1.0, -1.0])
    return np.exp(K * s[:, None] * s[None, :] + 0.5 * h * (s[:, None] + s[None, :]))


def _log_cosh(x: float) -> float:
    x = abs(x)
    return x + math.log1p(math.exp(-2.0 * x)) - _LOG2


def _log_abs_sinh(x: float) -> float:
    """ln |sinh x| for x != 0."""
    x = abs(x)
    return x + math.log(-math.expm1(-2.0 * x)) - _LOG2


class _Chain:
    """Spectral data of the transfer matrix, free of overflow: ``T = lam_+ (u+ u+^T + rho u- u-^T)``.

    ``u+ = (cos phi, sin phi)``, ``u- = (-sin phi, cos phi)``; ``c2, s2 = cos 2phi, sin 2phi`` are the entries
    of the spin operator diag(1, -1) in the eigenbasis, ``[[c2, -s2], [-s2, -c2]]``; ``rho = lam_- / lam_+``.
    """

    def __init__(self, K: float, h: float) -> None:
        if h == 0.0:
            self.log_lam = _LOG2 + _log_cosh(K)
            self.c2, self.s2 = 0.0, 1.0
        else:
            log_sinh_h = _log_abs_sinh(h)
            # lam_+ = e^K cosh h + sqrt(e^{2K} sinh^2 h + e^{-2K})
            root = 0.5 * float(np.logaddexp(2.0 * K + 2.0 * log_sinh_h, -2.0 * K))
            self.log_lam = float(np.logaddexp(K + _log_cosh(h), root))
            # tan 2phi = e^{-2K} / sinh h = sign(h) e^g
            g = -2.0 * K - log_sinh_h
            if g > 0.0:
                self.c2 = math.copysign(math.exp(-g) / math.sqrt(1.0 + math.exp(-2.0 * g)), h)
                self.s2 = 1.0 / math.sqrt(1.0 + math.exp(-2.0 * g))
            else:
                self.c2 = math.copysign(1.0 / math.sqrt(1.0 + math.exp(2.0 * g)), h)
                self.s2 = math.exp(g) / math.sqrt(1.0 + math.exp(2.0 * g))
        # rho = det T / lam_+^2 = 2 sinh(2K) / lam_+^2, |rho| < 1
        if K == 0.0:
            self.rho = 0.0
        else:
            self.rho = math.copysign(math.exp(_LOG2 + _log_abs_sinh(2.0 * K) - 2.0 * self.log_lam), K)
        if self.c2 >= 0.0:
            cos_phi = math.sqrt(0.5 * (1.0 + self.c2))
            sin_phi = self.s2 / (2.0 * cos_phi)
        else:
            sin_phi = math.sqrt(0.5 * (1.0 - self.c2))
            cos_phi = self.s2 / (2.0 * sin_phi)
        # boundary vector (e^{h/2}, e^{-h/2}) scaled by e^{-|h|/2}, in the eigenbasis
        v = np.array([math.exp(0.5 * (h - abs(h))), math.exp(0.5 * (-h - abs(h)))])
        self.w = np.array([cos_phi * v[0] + sin_phi * v[1], -sin_phi * v[0] + cos_phi * v[1]])
        self.spin = np.array([[self.c2, -self.s2], [-self.s2, -self.c2]])

    def power(self, n: np.ndarray) -> np.ndarray:
        """(T / lam_+)^n in the eigenbasis, shape n.shape + (2, 2)."""
        out = np.zeros(np.shape(n) + (2, 2))
        out[..., 0, 0] = 1.0
        out[..., 1, 1] = np.power(self.rho, n)
        return out

    def open_norm(self, N: int) -> float:
        """w^T (T/lam_+)^(N-1) w, the scaled open-chain partition function."""
        return float(self.w[0] ** 2 + self.rho ** (N - 1) * self.w[1] ** 2)


def _check_chain(N: object, K: object, h: object) -> tuple[int, float, float]:
    return check_int(N, "N", minimum=1), check_real(K, "K"), check_real(h, "h")


def _check_periodic(periodic: object) -> bool:
    if not isinstance(periodic, (bool, np.bool_)):
        raise TypeError(f"periodic must be True or False, got {periodic!r}")
    return bool(periodic)


def _site_array(value: object, name: str, low: int, high: int) -> tuple[np.ndarray, bool]:
    """``value`` (int or array-like of ints) as an int64 array checked to lie in [low, high], and whether
    ``value`` was a single int."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    scalar = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer or an array of integers, got {value!r}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < low or arr.max() > high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got values in [{arr.min()}, {arr.max()}]")
    return arr, scalar


def _result(arr: np.ndarray, scalar: bool) -> float | np.ndarray:
    return float(arr) if scalar else arr


def chain_log_partition(N: int, K: float, h: float = 0.0, periodic: bool = True) -> float:
    """Exact ``ln Z`` of a chain of ``N`` spins, ``Z = sum exp(K sum_i s_i s_{i+1} + h sum_i s_i)``.

    ``periodic=True``: ``N`` bonds including ``(N-1, 0)``, ``Z = Tr T^N`` (so ``N = 2`` counts the pair twice
    and ``N = 1`` has the self-bond ``s_0 s_0``); ``periodic=False``: ``N - 1`` bonds, free ends.
    """
    N, K, h = _check_chain(N, K, h)
    periodic = _check_periodic(periodic)
    chain = _Chain(K, h)
    if periodic:
        return N * chain.log_lam + math.log1p(chain.rho**N)
    return abs(h) + (N - 1) * chain.log_lam + math.log(chain.open_norm(N))


def chain_correlation(
    N: int, K: float, r: int | np.ndarray, h: float = 0.0, periodic: bool = True
) -> float | np.ndarray:
    """Exact ``<s_0 s_r>`` (not connected) of a chain of ``N`` spins; ``r`` an int or an array of ints.

    ``periodic=True``: ``0 <= r <= N - 1``, translation invariant. ``periodic=False``: correlation of the end
    spin 0 with spin ``r`` of the open chain (see :func:`chain_correlation_open` for any pair).
    Returns a float for an int ``r``, else a float64 array of ``r``'s shape.
    """
    N, K, h = _check_chain(N, K, h)
    periodic = _check_periodic(periodic)
    if not periodic:
        return chain_correlation_open(N, K, 0, r, h)
    r_arr, scalar = _site_array(r, "r", 0, N - 1)
    chain = _Chain(K, h)
    rho_n = chain.rho**N
    decay = (np.power(chain.rho, r_arr) + np.power(chain.rho, N - r_arr)) / (1.0 + rho_n)
    value = chain.c2**2 + chain.s2**2 * decay
    return _result(value, scalar)


def chain_correlation_open(
    N: int, K: float, i: int | np.ndarray, j: int | np.ndarray, h: float = 0.0
) -> float | np.ndarray:
    """Exact ``<s_i s_j>`` (not connected) of the open chain of ``N`` spins with free ends.

    ``i`` and ``j`` are ints or arrays of ints in ``[0, N-1]`` (broadcast together). Returns a float when both
    are ints, else a float64 array of the broadcast shape.
    """
    N, K, h = _check_chain(N, K, h)
    i_arr, i_scalar = _site_array(i, "i", 0, N - 1)
    j_arr, j_scalar = _site_array(j, "j", 0, N - 1)
    i_arr, j_arr = np.broadcast_arrays(i_arr, j_arr)
    lo, hi = np.minimum(i_arr, j_arr), np.maximum(i_arr, j_arr)
    chain = _Chain(K, h)
    ops = chain.power(lo) @ chain.spin @ chain.power(hi - lo) @ chain.spin @ chain.power(N - 1 - hi)
    value = np.einsum("a,...ab,b->...", chain.w, ops, chain.w) / chain.open_norm(N)
    return _result(value, i_scalar and j_scalar)


def chain_magnetization(N: int, K: float, h: float, periodic: bool = True) -> float:
    """Exact magnetization per site ``(1/N) sum_i <s_i>`` of a chain of ``N`` spins in field ``h``.

    For the periodic chain every ``<s_i>`` is equal; for the open chain this is the average over the sites.
    """
    N, K, h = _check_chain(N, K, h)
    periodic = _check_periodic(periodic)
    chain = _Chain(K, h)
    if periodic:
        return chain.c2 * (1.0 - chain.rho**N) / (1.0 + chain.rho**N)
    sites = np.arange(N)
    ops = chain.power(sites) @ chain.spin @ chain.power(N - 1 - sites)
    per_site = np.einsum("a,...ab,b->...", chain.w, ops, chain.w) / chain.open_norm(N)
    return float(per_site.mean())


# ----------------------------------------------------------------------------------------------------------
# Enumeration of tiny systems
# ----------------------------------------------------------------------------------------------------------


def _check_shape(shape: object) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list)) or len(shape) == 0:
        raise TypeError(f"shape must be a non-empty tuple of ints, got {shape!r}")
    dims = tuple(check_int(d, f"shape[{k}]", minimum=1) for k, d in enumerate(shape))
    n = math.prod(dims)
    if n > MAX_ENUMERATION_SITES:
        raise ValueError(
            f"shape={dims} has {n} sites; enumeration is limited to <= {MAX_ENUMERATION_SITES} sites "
            f"(2**{MAX_ENUMERATION_SITES} configurations)"
        )
    return dims


def _configuration_block(n_sites: int, start: int, stop: int) -> torch.Tensor:
    """Configurations ``start..stop-1`` as int8 ``(stop - start, n_sites)``: site k is +1 iff bit k is 1."""
    idx = torch.arange(start, stop, dtype=torch.int64)
    bits = (idx[:, None] >> torch.arange(n_sites, dtype=torch.int64)) & 1
    return (2 * bits - 1).to(torch.int8)


def enumerate_configurations(shape: tuple[int, ...]) -> torch.Tensor:
    """All ``2**n`` configurations of ``n = prod(shape) <= 24`` spins, int8 ``(2**n, *shape)`` on the CPU.

    Row ``i`` is the configuration whose site ``k`` (row-major order) is ``+1`` if bit ``k`` of ``i`` is 1 and
    ``-1`` otherwise; :func:`configuration_index` is the inverse map.
    """
    dims = _check_shape(shape)
    n = math.prod(dims)
    out = torch.empty((1 << n, n), dtype=torch.int8)
    for start in range(0, 1 << n, _CHUNK):
        stop = min(start + _CHUNK, 1 << n)
        out[start:stop] = _configuration_block(n, start, stop)
    return out.reshape((1 << n,) + dims)


def configuration_index(spins: torch.Tensor) -> torch.Tensor:
    """Row of :func:`enumerate_configurations` for each configuration of a batch.

    ``spins``: ``(batch, *shape)`` of +-1 (any dtype, any device), ``prod(shape) <= 62``.
    Returns int64 ``(batch,)`` on the same device.
    """
    if not isinstance(spins, torch.Tensor):
        raise TypeError(f"spins must be a torch.Tensor, got {type(spins).__name__}")
    if spins.dim() < 2:
        raise ValueError(
            f"spins must have shape (batch, *shape) with at least 2 dimensions, got {tuple(spins.shape)}"
        )
    flat = spins.reshape(spins.shape[0], -1)
    n = flat.shape[1]
    if n > 62:
        raise ValueError(f"spins has {n} sites per configuration; indices fit int64 only for <= 62 sites")
    if flat.numel() and not bool(((flat == 1) | (flat == -1)).all()):
        raise ValueError("spins must contain only +1 and -1")
    weights = torch.ones(n, dtype=torch.int64, device=spins.device) << torch.arange(
        n, dtype=torch.int64, device=spins.device
    )
    return ((flat > 0).to(torch.int64) * weights).sum(dim=1)


def _probabilities(log_weights: list[torch.Tensor]) -> torch.Tensor:
    log_w = torch.cat(log_weights)
    return torch.softmax(log_w, dim=0)


def boltzmann_probabilities_2d(L: int, M: int, K: float, h: float = 0.0) -> torch.Tensor:
    """Exact Boltzmann probabilities of all ``L x M`` torus configurations, float64 ``(2**(L*M),)``, CPU.

    Entry ``i`` belongs to row ``i`` of ``enumerate_configurations((L, M))``; weights
    ``exp(K bond_sum + h sum s)`` with :func:`rgnet.ising.lattice.bond_sum` (torus, double bond for a side of
    2). ``L, M >= 2`` and ``L * M <= 24``; any finite ``K`` and ``h``.
    """
    L = check_int(L, "L", minimum=2)
    M = check_int(M, "M", minimum=2)
    K = check_real(K, "K")
    h = check_real(h, "h")
    dims = _check_shape((L, M))
    n = L * M
    chunks = []
    for start in range(0, 1 << n, _CHUNK):
        block = _configuration_block(n, start, min(start + _CHUNK, 1 << n)).reshape((-1,) + dims)
        magnet = block.to(torch.int64).sum(dim=(1, 2))
        chunks.append(K * bond_sum(block).to(torch.float64) + h * magnet.to(torch.float64))
    return _probabilities(chunks)


def boltzmann_probabilities_1d(N: int, K: float, h: float = 0.0, periodic: bool = True) -> torch.Tensor:
    """Exact Boltzmann probabilities of all configurations of a chain of ``N <= 24`` spins, float64 (2**N,).

    Entry ``i`` belongs to row ``i`` of ``enumerate_configurations((N,))``; weights
    ``exp(K sum_i s_i s_{i+1} + h sum_i s_i)`` with the bonds of :func:`chain_log_partition` (periodic: ``N``
    bonds including ``(N-1, 0)``; open: ``N - 1`` bonds).
    """
    N, K, h = _check_chain(N, K, h)
    periodic = _check_periodic(periodic)
    _check_shape((N,))
    chunks = []
    for start in range(0, 1 << N, _CHUNK):
        s = _configuration_block(N, start, min(start + _CHUNK, 1 << N)).to(torch.int64)
        bonds = (s * torch.roll(s, -1, dims=1)).sum(dim=1) if periodic else (s[:, :-1] * s[:, 1:]).sum(dim=1)
        chunks.append(K * bonds.to(torch.float64) + h * s.sum(dim=1).to(torch.float64))
    return _probabilities(chunks)


# ----------------------------------------------------------------------------------------------------------
# Infinite cylinder: ring-to-ring transfer matrix
# ----------------------------------------------------------------------------------------------------------

#: Largest circumference whose transfer matrix is built densely (4096 x 4096 float64, 128 MiB).
MAX_CYLINDER_DENSE = 12
#: Largest circumference for the matrix-free leading eigenpairs (vectors of 2**20 float64).
MAX_CYLINDER_CIRCUMFERENCE = 20
_CYLINDER_SECTORS = ("all", "even", "odd")
_CYLINDER_DENSE_EIGH = 8  # above this circumference Lanczos beats a dense eigh of the whole spectrum


def _check_cylinder(L: object, K: object, h: object, maximum: int) -> tuple[int, float, float]:
    L = check_int(L, "L", minimum=2, maximum=maximum)
    K = check_real(K, "K")
    h = check_real(h, "h")
    if 2.0 * L * abs(K) + L * abs(h) > 600.0:
        raise ValueError(
            f"|K| = {abs(K)} and |h| = {abs(h)} at L = {L} overflow float64 transfer-matrix entries; "
            "need 2 L |K| + L |h| <= 600"
        )
    return L, K, h


def cylinder_ring_states(L: int) -> np.ndarray:
    """All ``2**L`` states of one ring of the cylinder, int8 ``(2**L, L)`` of +-1.

    Row ``i`` has ``s_k = +1`` iff bit ``k`` of ``i`` is 1 (as :func:`enumerate_configurations`); the global
    spin flip of state ``i`` is state ``2**L - 1 - i``.
    """
    L = check_int(L, "L", minimum=1, maximum=MAX_CYLINDER_CIRCUMFERENCE)
    return _configuration_block(L, 0, 1 << L).numpy()


def _ring_log_weight(L: int, K: float, h: float) -> np.ndarray:
    """``K R(a) + h M(a)`` for every ring state ``a``, float64 ``(2**L,)``;
    R is the periodic bond sum of the ring."""
    s = cylinder_ring_states(L).astype(np.float64)
    ring = (s * np.roll(s, -1, axis=1)).sum(axis=1)
    return K * ring + h * s.sum(axis=1)


def cylinder_transfer_matrix(L: int, K: float, h: float = 0.0) -> np.ndarray:
    """Symmetric ring-to-ring transfer matrix of the square-lattice Ising model on a cylinder of
    circumference L.

    ``T[a, b] = exp(w(a)/2 + K sum_k a_k b_k + w(b)/2)`` with ``w(a) = K sum_k a_k a_{k+1} + h sum_k a_k``
    (ring bonds periodic; for ``L = 2`` both bonds of the pair are counted, torus convention), so that the
    ``L x M`` torus has ``Z = Tr T^M``. Rings are indexed as :func:`cylinder_ring_states`.
    Returns float64 ``(2**L, 2**L)``; ``2 <= L <= MAX_CYLINDER_DENSE``.
    """
    L, K, h = _check_cylinder(L, K, h, MAX_CYLINDER_DENSE)
    s = cylinder_ring_states(L).astype(np.float64)
    half_w = 0.5 * _ring_log_weight(L, K, h)
    exponent = half_w[:, None] + K * (s @ s.T) + half_w[None, :]
    return np.exp(0.5 * (exponent + exponent.T))  # symmetric to the last bit


def _apply_cylinder_transfer(x: np.ndarray, L: int, K: float, sqrt_d: np.ndarray) -> np.ndarray:
    """``T @ x`` without forming T: ``T = D^(1/2) (b kron ... kron b) D^(1/2)`` with ``b = exp(K s s')``."""
    b = np.array([[math.exp(K), math.exp(-K)], [math.exp(-K), math.exp(K)]])
    y = (sqrt_d * x).reshape((2,) * L)
    for axis in range(L):
        y = np.moveaxis(np.tensordot(b, y, axes=([1], [axis])), 0, axis)
    return sqrt_d * y.reshape(-1)


def cylinder_spectrum(
    L: int, K: float, h: float = 0.0, n_eig: int = 4, sector: str = "all"
) -> tuple[np.ndarray, np.ndarray]:
    """Leading eigenpairs of :func:`cylinder_transfer_matrix`, ordered by decreasing ``|lambda|``.

    ``sector``: ``"all"``, or at ``h = 0`` the Z2 sector ``"even"`` (``psi(-a) = psi(a)``) or ``"odd"``
    (``psi(-a) = -psi(a)``). Dense ``eigh`` for ``L <= 8``, matrix-free Lanczos up to
    ``MAX_CYLINDER_CIRCUMFERENCE``. Returns eigenvalues float64 ``(n_eig,)`` and orthonormal eigenvectors
    float64 ``(2**L, n_eig)`` (columns, on the full ring space, the leading one chosen positive).
    """
    L, K, h = _check_cylinder(L, K, h, MAX_CYLINDER_CIRCUMFERENCE)
    sector = check_choice(sector, "sector", _CYLINDER_SECTORS)
    if sector != "all" and h != 0.0:
        raise ValueError(f"sector={sector!r} needs h = 0 (the field breaks the Z2 symmetry), got h={h}")
    dim = 1 << L if sector == "all" else 1 << (L - 1)
    n_eig = check_int(n_eig, "n_eig", minimum=1, maximum=dim)
    sign = -1.0 if sector == "odd" else 1.0

    def embed(x: np.ndarray) -> np.ndarray:
        # sector vector on the lower half of the ring indices -> full vector (flip(i) = 2**L - 1 - i)
        return x if sector == "all" else np.concatenate([x, sign * x[::-1]], axis=0)

    if L <= _CYLINDER_DENSE_EIGH:
        T = cylinder_transfer_matrix(L, K, h)
        if sector != "all":
            half = dim
            T = T[:half, :half] + sign * T[:half, half:][:, ::-1]
        values, vectors = np.linalg.eigh(T)
    else:
        import scipy.sparse.linalg

        sqrt_d = np.exp(0.5 * _ring_log_weight(L, K, h))

        def matvec(x: np.ndarray) -> np.ndarray:
            return _apply_cylinder_transfer(embed(np.ravel(x)), L, K, sqrt_d)[:dim]

        op = scipy.sparse.linalg.LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)
        values, vectors = scipy.sparse.linalg.eigsh(op, k=n_eig, which="LM", tol=1e-13)
    order = np.argsort(-np.abs(values), kind="stable")[:n_eig]
    values = values[order]
    vectors = embed(vectors[:, order])
    vectors = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    if vectors[:, 0].sum() < 0:
        vectors[:, 0] = -vectors[:, 0]
    return values, vectors
