"""IB relevance on the 2D Ising model on an infinite cylinder (Gordon, Banerjee, Koch-Janusz & Ringel,
PRL 126, 240601 (2021), arXiv:2012.01447).

Geometry. Rings of ``L = circumference`` spins (periodic), stacked along the infinite axis. The block V is
``block_slices`` consecutive rings ``v_1..v_nb``, the environment E is ``env_slices`` consecutive rings
``e_1..e_ne`` further along the axis, and ``separation`` = L_B is the number of lattice spacings between
``v_nb`` and ``e_1`` (1 = adjacent rings, i.e. ``L_B - 1`` buffer rings in between). With the symmetric
transfer matrix ``T`` (:func:`rgnet.ising.exact.cylinder_transfer_matrix`), its leading eigenvalue
``lambda_0`` and normalised eigenvector ``psi_0``:

    P(V, E) = psi_0(v_1) prod_i T(v_i, v_i+1)/lambda_0 * (T/lambda_0)^L_B (v_nb, e_1)
              * prod_j T(e_j, e_j+1)/lambda_0 * psi_0(e_ne).

Reduction. V -> v_nb -> e_1 -> E is a Markov chain, so every encoder of V is matched (same I(H;E), no larger
I(H;V)) by an encoder of the boundary ring ``a = v_nb``, and ``I(H;E) = I(H;b)`` with ``b = e_1``: the exact
IB of (V, E) is the IB of the ring pair ``P(a, b) = psi_0(a) (T/lambda_0)^L_B (a, b) psi_0(b)``, whatever
``block_slices`` and ``env_slices`` (the tests check this against the full joint on small cylinders).
Then ``Q = P(a,b)/sqrt(P(a)P(b)) = (T/lambda_0)^L_B``, whose singular values are ``|lambda_k/lambda_0|^L_B``:
the first IB transition is at ``beta_c = 1/sigma_2^2 = (lambda_0/|lambda_1|)^(2 L_B)``, ``lambda_1`` the
second eigenvalue of T in modulus over all sectors (at h = 0 and criticality the Z2-odd spin state). At
criticality ``ln(lambda_0/lambda_k) ~ 2 pi Delta_k / L`` (isotropic square lattice), so
``beta_c ~ exp(4 pi Delta L_B / L)`` with ``Delta = 1/8``.

Z2-even encoders (``z2_even=True``, h = 0): the encoder may only depend on V up to a global spin flip
(equivalently, Z2-symmetrised data fed to a flip-invariant encoder); V is replaced by its flip orbit and
only even eigenfunctions survive on the V side, so ``beta_c = (lambda_0/lambda_1^even)^(2 L_B)`` with the
leading even excitation (the energy operator, Delta -> 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rgnet._checks import check_int, check_real
from rgnet.ib.discrete import IBResult, critical_beta_spectral, solve_ib
from rgnet.ising.exact import (
    MAX_CYLINDER_CIRCUMFERENCE,
    MAX_CYLINDER_DENSE,
    cylinder_ring_states,
    cylinder_spectrum,
    cylinder_transfer_matrix,
)

#: Largest number of states of V or E for which :func:`cylinder_joint` builds the full joint law.
MAX_FULL_JOINT_STATES = 1 << 12


def check_cylinder_geometry(
    circumference: object, K: object, h: object, separation: object, maximum: int = MAX_CYLINDER_DENSE
) -> tuple[int, float, float, int]:
    """Validated ``(L, K, h, separation)`` of a cylinder of circumference ``2 <= L <= maximum`` (ring spins),
    couplings ``K, h`` (finite reals) and a ring separation ``>= 1`` lattice spacings."""
    L = check_int(circumference, "circumference", minimum=2, maximum=maximum)
    K = check_real(K, "K")
    h = check_real(h, "h")
    separation = check_int(separation, "separation", minimum=1)
    return L, K, h, separation


def _leading(L: int, K: float, h: float) -> tuple[float, np.ndarray]:
    values, vectors = cylinder_spectrum(L, K, h, n_eig=1)
    return float(values[0]), np.abs(vectors[:, 0])


def _propagator(T: np.ndarray, lam0: float, steps: int) -> np.ndarray:
    """``(T / lambda_0)^steps`` (float64, entries O(1))."""
    return np.linalg.matrix_power(T / lam0, steps)


def flip_orbit_joint(joint: np.ndarray) -> np.ndarray:
    """Merge each ring state ``a`` (row) with its global flip ``2**L - 1 - a``: rows ``0..2**(L-1) - 1`` of
    the
    result are the orbits, labelled by their representative ``a < 2**(L-1)``. ``(2**L, n) -> (2**(L-1), n)``.
    """
    n = joint.shape[0]
    if n < 2 or n & (n - 1):
        raise ValueError(f"joint must have 2**L rows (ring states), got {n}")
    return joint[: n // 2] + joint[n // 2 :][::-1]


def cylinder_boundary_joint(
    circumference: int,
    K: float,
    separation: int,
    h: float = 0.0,
    z2_even: bool = False,
    rows: int | None = None,
) -> np.ndarray:
    """Exact joint law ``P(a, b)`` of two rings ``separation`` spacings apart on the infinite cylinder, or
    with ``rows`` on the ``circumference x rows`` torus (:func:`ring_pair_joint`).

    float64 ``(2**L, 2**L)`` indexed by :func:`rgnet.ising.exact.cylinder_ring_states`; with ``z2_even`` the
    rows are flip orbits (:func:`flip_orbit_joint`), shape ``(2**(L-1), 2**L)``; needs ``h = 0``.
    """
    L, K, h, separation = check_cylinder_geometry(circumference, K, h, separation)
    z2_even = _check_z2(z2_even, h)
    rows = check_torus_rows(rows, separation, 1 << L)
    lam0, psi0 = _leading(L, K, h)
    joint = ring_pair_joint(cylinder_transfer_matrix(L, K, h), lam0, psi0, separation, rows)
    return flip_orbit_joint(joint) if z2_even else joint


def ring_pair_joint(
    transfer: np.ndarray, lam0: float, psi0: np.ndarray, separation: int, rows: int | None = None
) -> np.ndarray:
    """Joint law (normalised) of two rings ``s = separation`` spacings apart, for any symmetric ring transfer
    matrix ``T`` (Ising or Potts, float64 ``(n, n)``) with leading eigenvalue ``lam0`` and non-negative unit
    eigenvector ``psi0`` ``(n,)``; float64 ``(n, n)``. On the infinite cylinder (``rows`` None)
    ``P(a, b) = psi_0(a) (T/lambda_0)^s (a, b) psi_0(b)``; on the torus of ``rows`` rings, where the rings see
    each other both ways round, ``P(a, b) ~ (T/lambda_0)^s (a, b) (T/lambda_0)^(rows - s) (b, a)``, which
    tends to the cylinder's as ``rows`` grows (``rows`` checked by :func:`check_torus_rows`)."""
    if rows is None:
        joint = psi0[:, None] * _propagator(transfer, lam0, separation) * psi0[None, :]
    else:
        joint = _propagator(transfer, lam0, separation) * _propagator(transfer, lam0, rows - separation).T
    return joint / joint.sum()


def check_torus_rows(rows: object, separation: int, n_states: int) -> int | None:
    """Validated torus length ``rows`` (None: the infinite cylinder): more rings than ``separation`` (E must
    not coincide with V), and at most ``MAX_FULL_JOINT_STATES`` ring states (the torus joint is dense)."""
    if rows is None:
        return None
    rows = check_int(rows, "rows", minimum=separation + 1)
    if n_states > MAX_FULL_JOINT_STATES:
        raise ValueError(
            f"rows={rows}: the torus ring-pair joint is dense, {n_states} ring states exceed its limit "
            f"MAX_FULL_JOINT_STATES = {MAX_FULL_JOINT_STATES} (rows=None gives the infinite cylinder)"
        )
    return rows


def _check_z2(z2_even: object, h: float) -> bool:
    if not isinstance(z2_even, (bool, np.bool_)):
        raise TypeError(f"z2_even must be a bool, got {z2_even!r}")
    if z2_even and h != 0.0:
        raise ValueError(f"z2_even=True needs h = 0 (the field breaks the Z2 symmetry), got h={h}")
    return bool(z2_even)


def cylinder_joint(
    circumference: int, K: float, block_slices: int, env_slices: int, separation: int, h: float = 0.0
) -> np.ndarray:
    """Exact joint law ``P(V, E)`` of slab V (``block_slices`` rings) and slab E (``env_slices`` rings).

    float64 ``(2**(L nb), 2**(L ne))``. The state index of V (and of E) is that of
    :func:`rgnet.ising.exact.enumerate_configurations` on the ``(slices, L)`` array whose row ``i`` is ring
    ``i``;
    V's last row and E's first row face each other, ``separation`` spacings apart. Both sides are limited to
    ``MAX_FULL_JOINT_STATES`` states (use :func:`cylinder_boundary_joint` for the IB, which is equivalent).
    """
    L, K, h, separation = check_cylinder_geometry(circumference, K, h, separation)
    nb = check_int(block_slices, "block_slices", minimum=1)
    ne = check_int(env_slices, "env_slices", minimum=1)
    for name, n in (("block_slices", nb), ("env_slices", ne)):
        if L * n > MAX_FULL_JOINT_STATES.bit_length() - 1:
            raise ValueError(
                f"{name}={n} at circumference {L} gives 2**{L * n} states; the full joint is limited to "
                f"{MAX_FULL_JOINT_STATES} states per side (use cylinder_boundary_joint for the IB)"
            )
    T = cylinder_transfer_matrix(L, K, h)
    lam0, psi0 = _leading(L, K, h)
    n_ring = 1 << L
    v_weight = _slab_weight(T / lam0, psi0, nb)
    # E's first ring faces V and its free end is its last ring: the V weight with the rings in reverse order
    e_weight = np.transpose(_slab_weight(T / lam0, psi0, ne).reshape((n_ring,) * ne), tuple(range(ne))[::-1])
    a_of_v = np.arange(n_ring**nb) >> (L * (nb - 1))
    b_of_e = np.arange(n_ring**ne) & (n_ring - 1)
    middle = _propagator(T, lam0, separation)
    joint = v_weight[:, None] * middle[a_of_v][:, b_of_e] * e_weight.reshape(-1)[None, :]
    return joint / joint.sum()


def _slab_weight(step: np.ndarray, psi0: np.ndarray, n: int) -> np.ndarray:
    """``psi_0(r_0) prod_i step(r_i, r_i+1)`` over the ``2**(L n)`` slab states.

    Flat index ``sum_i r_i 2**(L i)``.
    """
    w = psi0  # axis: r_0
    for _ in range(n - 1):
        # w[r_i, rest] -> w[r_i+1, r_i, rest]: the new ring is the most significant index
        w = (step.T[:, :, None] * w.reshape(step.shape[0], -1)[None, :, :]).reshape(step.shape[0], -1)
    return w.reshape(-1)


def predicted_beta_c(
    circumference: int,
    K: float,
    separation: int,
    h: float = 0.0,
    z2_even: bool = False,
    rows: int | None = None,
) -> float:
    """Spectral prediction ``(lambda_0 / |lambda_1|)^(2 separation)`` (overall, or in the even sector).

    Only needs the two leading eigenvalues, so ``circumference`` may go up to
    ``MAX_CYLINDER_CIRCUMFERENCE`` (matrix-free Lanczos above 8; about a second at 16). With ``rows``: the
    first transition ``1 / sigma_2^2`` of the ``circumference x rows`` torus's ring pair
    (:func:`rgnet.ib.discrete.critical_beta_spectral` of its dense joint, ``circumference <= 12``).
    """
    L, K, h, separation = check_cylinder_geometry(circumference, K, h, separation, MAX_CYLINDER_CIRCUMFERENCE)
    z2_even = _check_z2(z2_even, h)
    if rows is not None:
        return critical_beta_spectral(cylinder_boundary_joint(L, K, separation, h, z2_even, rows))
    values, _ = cylinder_spectrum(L, K, h, n_eig=2, sector="even" if z2_even else "all")
    return float((abs(values[0]) / abs(values[1])) ** (2 * separation))


def scaling_dimension(beta_c: float, circumference: int, separation: int) -> float:
    """``Delta = L ln(beta_c) / (4 pi L_B)`` from ``beta_c ~ exp(4 pi Delta L_B / L)``."""
    beta_c = check_real(beta_c, "beta_c", minimum=1.0)
    L = check_int(circumference, "circumference", minimum=1)
    separation = check_int(separation, "separation", minimum=1)
    return L * math.log(beta_c) / (4.0 * math.pi * separation)


@dataclass(frozen=True)
class CylinderIBResult:
    """Exact IB of the cylinder problem. ``ib``: the solver's :class:`rgnet.ib.discrete.IBResult` on the
    boundary-ring joint (encoders indexed by ring state, or flip orbit when ``z2_even``); ``betas``,
    ``info_v``, ``info_e``: the forward information curve (nats); ``beta_c`` located by the solver,
    ``beta_c_predicted`` from the transfer-matrix spectrum; ``predicted_direction``: ``psi_1/psi_0`` on the
    encoded ring states (unit ``P(a)``-norm), the operator the encoder switches on at ``beta_c``;
    ``ring_marginal``: ``P(a)`` of the encoded ring states (float64)."""

    circumference: int
    K: float
    h: float
    block_slices: int
    env_slices: int
    separation: int
    z2_even: bool
    ib: IBResult
    beta_c: float
    beta_c_predicted: float
    predicted_direction: np.ndarray
    ring_marginal: np.ndarray

    @property
    def betas(self) -> np.ndarray:
        return self.ib.forward.betas

    @property
    def info_v(self) -> np.ndarray:
        return self.ib.forward.info_x

    @property
    def info_e(self) -> np.ndarray:
        return self.ib.forward.info_y

    @property
    def scaling_dimension(self) -> float:
        """Delta from the located ``beta_c`` (see :func:`scaling_dimension`)."""
        return scaling_dimension(self.beta_c, self.circumference, self.separation)

    def direction_overlap(self) -> float:
        """``|cos|`` between the solver's unstable mode and :attr:`predicted_direction` in ``P(a)`` norm."""
        p_a = self.ring_marginal
        f, g = self.ib.direction, self.predicted_direction
        return float(abs((p_a * f * g).sum()) / math.sqrt((p_a * f * f).sum() * (p_a * g * g).sum()))

    def encode(self, blocks: np.ndarray, beta_index: int = -1) -> np.ndarray:
        """``P(h|V)`` for block configurations ``(batch, block_slices, L)`` of +-1 (last row faces E) at the
        forward scan's ``beta_index``; float64 ``(batch, n_clusters)``."""
        blocks = np.asarray(blocks)
        if blocks.ndim != 3 or blocks.shape[1:] != (self.block_slices, self.circumference):
            raise ValueError(
                f"blocks must have shape (batch, {self.block_slices}, {self.circumference}), "
                f"got {blocks.shape}"
            )
        if not np.all(np.isin(blocks, (-1, 1))):
            raise ValueError("blocks must contain only +1 and -1")
        bits = (blocks[:, -1, :] > 0).astype(np.int64)
        a = (bits << np.arange(self.circumference)).sum(axis=1)
        if self.z2_even:
            half = 1 << (self.circumference - 1)
            a = np.where(a < half, a, (1 << self.circumference) - 1 - a)
        return self.ib.forward.encoders[beta_index][a]


def ising_cylinder_ib(
    circumference: int,
    K: float,
    block_slices: int,
    env_slices: int,
    separation: int,
    h: float = 0.0,
    z2_even: bool = False,
    **solver_opts: object,
) -> CylinderIBResult:
    """Exact IB of block V against environment E on the infinite cylinder (see the module docstring).

    ``circumference`` 2..12 (seconds up to L = 8); ``block_slices, env_slices >= 1`` rings;
    ``separation >= 1``
    lattice spacings between V's last ring and E's first; ``solver_opts`` go to
    :func:`rgnet.ib.discrete.solve_ib` (``betas``, ``n_clusters``, ``noise``, ``tol``, ``max_iter``,
    ``info_tol``, ``seed``).
    """
    L, K, h, separation = check_cylinder_geometry(circumference, K, h, separation)
    nb = check_int(block_slices, "block_slices", minimum=1)
    ne = check_int(env_slices, "env_slices", minimum=1)
    z2_even = _check_z2(z2_even, h)
    joint = cylinder_boundary_joint(L, K, separation, h, z2_even)
    result = solve_ib(joint, **solver_opts)
    sector = "even" if z2_even else "all"
    values, vectors = cylinder_spectrum(L, K, h, n_eig=2, sector=sector)
    predicted = float((abs(values[0]) / abs(values[1])) ** (2 * separation))
    ratio = vectors[:, 1] / vectors[:, 0]
    if z2_even:
        ratio = ratio[: 1 << (L - 1)]
    p_a = joint.sum(axis=1)
    ratio = ratio / math.sqrt((p_a * ratio * ratio).sum())
    return CylinderIBResult(
        L, K, h, nb, ne, separation, z2_even, result, result.beta_c, predicted, ratio, p_a
    )


@dataclass(frozen=True)
class ScalingDimensionEstimate:
    """Scaling dimension from IB transitions. ``beta_c`` float64 ``(n_L, n_sep)`` located by the solver
    (:func:`rgnet.ib.discrete.locate_first_transition`) for each circumference and separation; ``delta``
    ``(n_L,)``: ``L * slope / (4 pi)`` with ``slope`` the least-squares slope of ``ln beta_c``
    against ``L_B``;
    ``delta_extrapolated``: ``Delta_inf`` of the fit ``Delta(L) = Delta_inf + c / L^2`` (CFT corrections)."""

    circumferences: np.ndarray
    separations: np.ndarray
    beta_c: np.ndarray
    delta: np.ndarray
    delta_extrapolated: float


def ib_scaling_dimension(
    circumferences: tuple[int, ...] | list[int],
    K: float,
    separations: tuple[int, ...] | list[int] = (1, 2, 3),
    z2_even: bool = False,
) -> ScalingDimensionEstimate:
    """``Delta`` of the operator switched on at the first IB transition: ``beta_c ~ exp(4 pi Delta L_B / L)``.

    At ``K = K_c`` this converges to 1/8 (spin), or to 1 (energy) with ``z2_even``. Needs at least two
    separations, and two circumferences for the extrapolation (else ``delta_extrapolated`` is ``delta[0]``).
    """
    from rgnet.ib.discrete import locate_first_transition

    Ls = [check_int(L, "circumferences[]", minimum=2, maximum=MAX_CYLINDER_DENSE) for L in circumferences]
    seps = [check_int(s, "separations[]", minimum=1) for s in separations]
    if len(Ls) < 1 or len(set(seps)) < 2:
        raise ValueError("give at least one circumference and two distinct separations")
    K = check_real(K, "K")
    beta_c = np.empty((len(Ls), len(seps)))
    for i, L in enumerate(Ls):
        for j, s in enumerate(seps):
            beta_c[i, j] = locate_first_transition(cylinder_boundary_joint(L, K, s, z2_even=z2_even))[0]
    if not np.all(np.isfinite(beta_c)):
        raise ValueError("no IB transition found for some (circumference, separation): V and E independent?")
    slopes = np.polyfit(np.array(seps, dtype=float), np.log(beta_c).T, 1)[0]
    delta = np.array(Ls) * slopes / (4.0 * math.pi)
    if len(set(Ls)) >= 2:
        design = np.stack([np.ones(len(Ls)), 1.0 / np.array(Ls, dtype=float) ** 2], axis=1)
        extrapolated = float(np.linalg.lstsq(design, delta, rcond=None)[0][0])
    else:
        extrapolated = float(delta[0])
    return ScalingDimensionEstimate(np.array(Ls), np.array(seps), beta_c, delta, extrapolated)


def sample_boundary_pairs(
    circumference: int, K: float, separation: int, n: int, h: float = 0.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Exact i.i.d. samples of the ring pair ``(a, b)`` of :func:`cylinder_boundary_joint` (the infinite
    cylinder, no Monte Carlo): int8 +-1 arrays ``(n, L)`` each, ring sites in order."""
    joint = cylinder_boundary_joint(circumference, K, separation, h)
    rows, cols = draw_from_joint(joint, n, seed)
    states = cylinder_ring_states(circumference)
    return states[rows], states[cols]


def draw_from_joint(joint: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` i.i.d. index pairs ``(a, b)`` from a joint law ``P(a, b)`` float64 ``(A, B)`` (summing to 1),
    seeded: int64 arrays ``(n,)`` of row and column indices."""
    n = check_int(n, "n", minimum=1)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    flat = rng.choice(joint.size, size=n, p=joint.reshape(-1))
    return flat // joint.shape[1], flat % joint.shape[1]
