"""The q-state Potts model on an infinite cylinder: ring-to-ring transfer matrix, its spectrum by S_q
sector, CFT scaling dimensions from the gaps, and the exact IB of two rings (the Potts sibling of
:func:`rgnet.ising.exact.cylinder_transfer_matrix` and :mod:`rgnet.ib.cylinder`).

Ring states. A ring has ``L`` sites (periodic) with int8 colours ``0..q-1``; state ``i`` has colour
``s_k = (i // q**k) % q`` on site ``k`` (the base-q digits of ``i``, site 0 least significant, as in
:func:`rgnet.potts.exact.potts_enumeration`). For ``q = 2`` colour ``c`` is the Ising spin ``2 c - 1`` and
the order is that of :func:`rgnet.ising.exact.cylinder_ring_states`.

Transfer matrix. ``T[a, b] = exp(K (R(a)/2 + sum_k delta(a_k, b_k) + R(b)/2))`` with ``R`` the periodic ring
bond count (for ``L = 2`` both bonds of the pair count, torus convention), so the ``L x M`` torus has
``Z = Tr T^M``. For ``q = 2``, ``delta = (1 + s s')/2`` gives ``T_Potts(K) = exp(K L) T_Ising(K/2)``.

Sectors (method). Colour permutations ``g in S_q`` act on ring states and commute with T. The S_q-invariant
(``"trivial"``) sector is spanned by the normalised indicators of the S_q orbits of ring states. The
``"spin"`` sector is the standard (q-1)-dimensional irrep: by Frobenius reciprocity the vectors invariant
under the stabiliser S_(q-1) of colour 0 contain exactly the trivial and the standard irrep, once per
occurrence, so the spin sector is the orthogonal complement of the trivial sector inside the span of the
S_(q-1)-orbit indicators (each standard level appears there once; in the full spectrum it is
(q-1)-fold degenerate). For ``q = 2`` these are the Z2-even and Z2-odd sectors. ``T`` restricted to a sector
is ``B^T T B`` with ``B`` an orthonormal basis of the sector.

Scaling dimensions. At ``K_c`` on the isotropic square lattice ``ln(lambda_0 / lambda_k) ~ 2 pi x_k / L``:
the spin level gives ``x_sigma`` (2/15 for q = 3, 1/8 for q = 2) and the leading S_q-invariant excitation
``x_epsilon`` (4/5 for q = 3, 1 for q = 2).

IB. By the Markov reduction of :mod:`rgnet.ib.cylinder` the exact IB of a block against an environment is
that of the ring pair ``P(a, b) = psi_0(a) (T/lambda_0)^L_B (a, b) psi_0(b)``, whose first transition is
``beta_c = (lambda_0/|lambda_1|)^(2 L_B)`` (``lambda_1`` the second level of the whole spectrum: the spin
level at K_c) and ``Delta = L ln(beta_c) / (4 pi L_B)`` (:func:`rgnet.ib.cylinder.scaling_dimension`).
With S_q-invariant encoders (``invariant=True``: the encoder only sees the colour-permutation orbit of the
ring, rows of the joint merged by orbit) only trivial-sector levels survive and the transition moves to the
energy level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from rgnet._checks import check_bool, check_choice, check_int, check_real
from rgnet.ib.cylinder import check_torus_rows, ring_pair_joint, scaling_dimension
from rgnet.ib.discrete import IBResult, critical_beta_spectral, solve_ib

#: Largest number of ring states q**L (3**8; the dense transfer matrix is 6561 x 6561 float64, 344 MB).
MAX_POTTS_CYLINDER_STATES = 3**8
POTTS_CYLINDER_SECTORS = ("all", "trivial", "spin")
_DENSE_EIGH = 1500  # above this dimension Lanczos (on the dense matrix) replaces a full eigh


def _check_ring(L: object, q: object) -> tuple[int, int]:
    q = check_int(q, "q", minimum=2)
    L = check_int(L, "L", minimum=2)
    if L * math.log(q) > math.log(MAX_POTTS_CYLINDER_STATES) + 1e-9:
        raise ValueError(
            f"L={L}, q={q}: q**L = {q}**{L} ring states exceed the limit "
            f"MAX_POTTS_CYLINDER_STATES = {MAX_POTTS_CYLINDER_STATES}"
        )
    return L, q


def _check_coupling(L: int, K: object) -> float:
    K = check_real(K, "K")
    if 2.0 * L * abs(K) > 600.0:
        raise ValueError(
            f"|K| = {abs(K)} at L = {L} overflows float64 transfer-matrix entries; need 2 L |K| <= 600"
        )
    return K


def potts_ring_states(L: int, q: int) -> np.ndarray:
    """All ``q**L`` ring states, int8 ``(q**L, L)``: row ``i`` has colour ``(i // q**k) % q`` on site k."""
    L, q = _check_ring(L, q)
    idx = np.arange(q**L, dtype=np.int64)
    return (idx[:, None] // q ** np.arange(L, dtype=np.int64) % q).astype(np.int8)


def potts_ring_index(rings: object, q: int) -> np.ndarray:
    """Index (as :func:`potts_ring_states`) of ring configurations ``(batch, L)`` of integer colours
    ``0..q-1``; int64 ``(batch,)``."""
    q = check_int(q, "q", minimum=2)
    arr = np.asarray(rings)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"rings must have shape (batch, L), got {arr.shape}")
    _check_ring(arr.shape[1], q)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"rings must hold integer colours 0..{q - 1}, got dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= q:
        raise ValueError(f"rings must hold colours 0..{q - 1}, got values in [{arr.min()}, {arr.max()}]")
    return (arr.astype(np.int64) * q ** np.arange(arr.shape[1], dtype=np.int64)).sum(axis=1)


def _orbit_labels(L: int, q: int, permuted: np.ndarray) -> np.ndarray:
    """Orbit label of every ring state under all permutations of the colours ``permuted`` (the others are
    fixed): labels ``0..n-1`` numbered by the smallest state of each orbit, int64 ``(q**L,)``.

    Canonical form: the permuted colours are renamed in the order of their first appearance along the ring.
    """
    states = potts_ring_states(L, q).astype(np.int64)
    present = states[:, :, None] == permuted[None, None, :]  # (n, L, p)
    first = np.where(present.any(axis=1), present.argmax(axis=1), L)  # first site of each colour, (n, p)
    order = np.argsort(first, axis=1, kind="stable")  # j-th appearing permuted colour: permuted[order[j]]
    rename = np.tile(np.arange(q), (states.shape[0], 1))
    np.put_along_axis(rename, permuted[order], np.broadcast_to(permuted, order.shape), axis=1)
    canonical = np.take_along_axis(rename, states, axis=1)
    index = (canonical * q ** np.arange(L, dtype=np.int64)).sum(axis=1)
    _, first_state, inverse = np.unique(index, return_index=True, return_inverse=True)
    rank = np.empty(first_state.size, dtype=np.int64)
    rank[np.argsort(first_state)] = np.arange(first_state.size)  # number the orbits by their smallest state
    return rank[inverse.reshape(-1)]


def potts_colour_orbits(L: int, q: int) -> np.ndarray:
    """S_q orbit (global colour permutations) of every ring state: int64 ``(q**L,)`` labels
    ``0..n_orbits-1`` numbered by the smallest state of each orbit (q = 2: flip pairs ``{i, 2**L - 1 - i}``).
    """
    L, q = _check_ring(L, q)
    return _orbit_labels(L, q, np.arange(q))


def _orbit_basis(labels: np.ndarray) -> scipy.sparse.csr_matrix:
    """Orthonormal orbit indicators, sparse ``(n_states, n_orbits)``."""
    sizes = np.bincount(labels)
    n = labels.size
    return scipy.sparse.csr_matrix(
        (1.0 / np.sqrt(sizes[labels]), (np.arange(n), labels)), shape=(n, sizes.size)
    )


def potts_cylinder_transfer_matrix(L: int, q: int, K: float) -> np.ndarray:
    """Symmetric ring-to-ring transfer matrix of the square-lattice q-state Potts model (module docstring).

    float64 ``(q**L, q**L)`` indexed by :func:`potts_ring_states`; ``K = J/kT``; ``Tr T^M`` is the partition
    function of the ``L x M`` torus. ``q**L <= MAX_POTTS_CYLINDER_STATES``.
    """
    L, q = _check_ring(L, q)
    K = _check_coupling(L, K)
    states = potts_ring_states(L, q)
    onehot = np.zeros((states.shape[0], L * q))
    onehot[np.arange(states.shape[0])[:, None], np.arange(L) * q + states] = 1.0
    ring = (states == np.roll(states, -1, axis=1)).sum(axis=1).astype(np.float64)
    exponent = onehot @ onehot.T  # number of equal sites of rings a and b (exact small integers)
    exponent += 0.5 * ring[:, None]
    exponent += 0.5 * ring[None, :]  # exact half-integers, so K * exponent is exactly symmetric
    exponent *= K
    return np.exp(exponent, out=exponent)


def _sector_basis(L: int, q: int, sector: str) -> scipy.sparse.csr_matrix | np.ndarray:
    """Orthonormal basis ``(q**L, dim)`` of a sector (sparse for ``"trivial"``, dense for ``"spin"``)."""
    trivial = _orbit_basis(_orbit_labels(L, q, np.arange(q)))
    if sector == "trivial":
        return trivial
    stabiliser = _orbit_basis(_orbit_labels(L, q, np.arange(1, q)))
    inside = (stabiliser.T @ trivial).toarray()  # trivial sector in the S_(q-1) basis, orthonormal columns
    complement = np.linalg.qr(inside, mode="complete")[0][:, inside.shape[1] :]
    return np.asarray(stabiliser @ complement)


def _leading_eigh(A: np.ndarray, n_eig: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_eig`` eigenpairs of the symmetric ``A`` with the largest ``|lambda|``, in that order."""
    if A.shape[0] <= _DENSE_EIGH or n_eig >= A.shape[0] - 1:
        values, vectors = np.linalg.eigh(A)
    else:
        values, vectors = scipy.sparse.linalg.eigsh(A, k=n_eig, which="LM", tol=1e-13)
    order = np.argsort(-np.abs(values), kind="stable")[:n_eig]
    return values[order], vectors[:, order]


def potts_cylinder_spectrum(
    L: int, q: int, K: float, n_eig: int = 4, sector: str = "all"
) -> tuple[np.ndarray, np.ndarray]:
    """Leading eigenpairs of :func:`potts_cylinder_transfer_matrix` by decreasing ``|lambda|``.

    ``sector``: ``"all"``, ``"trivial"`` (S_q-invariant) or ``"spin"`` (standard irrep, each level once; see
    the module docstring). Returns eigenvalues float64 ``(n_eig,)`` and orthonormal eigenvectors float64
    ``(q**L, n_eig)`` on the full ring space (the leading one of ``"all"``/``"trivial"`` positive).
    """
    L, q = _check_ring(L, q)
    K = _check_coupling(L, K)
    sector = check_choice(sector, "sector", POTTS_CYLINDER_SECTORS)
    return _sector_spectrum(potts_cylinder_transfer_matrix(L, q, K), L, q, n_eig, sector)


def _sector_spectrum(
    T: np.ndarray, L: int, q: int, n_eig: object, sector: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`potts_cylinder_spectrum` of an already built (validated) transfer matrix ``T``."""
    if sector == "all":
        basis = None
        reduced = T
    else:
        basis = _sector_basis(L, q, sector)
        reduced = np.asarray(basis.T @ np.asarray(basis.T @ T).T)  # B^T T B (T symmetric)
        reduced = 0.5 * (reduced + reduced.T)
    n_eig = check_int(n_eig, "n_eig", minimum=1, maximum=reduced.shape[0])
    values, vectors = _leading_eigh(reduced, n_eig)
    if basis is not None:
        vectors = np.asarray(basis @ vectors)
    if vectors[:, 0].sum() < 0:
        vectors[:, 0] = -vectors[:, 0]
    return values, vectors


def potts_cylinder_dimensions(L: int, q: int, K: float) -> tuple[float, float]:
    """Gap estimates ``x = (L / 2 pi) ln(lambda_0 / |lambda_k|)`` of ``(x_sigma, x_epsilon)``: the leading
    spin-sector level and the first S_q-invariant excitation (at K_c: 2/15 and 4/5 for q = 3 as L grows)."""
    T = potts_cylinder_transfer_matrix(L, q, K)
    trivial, _ = _sector_spectrum(T, L, q, 2, "trivial")
    spin, _ = _sector_spectrum(T, L, q, 1, "spin")
    scale = L / (2.0 * math.pi)
    return scale * math.log(trivial[0] / abs(spin[0])), scale * math.log(trivial[0] / abs(trivial[1]))


def _check_ib(
    L: object, q: object, K: object, separation: object, invariant: object
) -> tuple[int, int, float, int, bool]:
    L, q = _check_ring(L, q)
    K = _check_coupling(L, K)
    separation = check_int(separation, "separation", minimum=1)
    return L, q, K, separation, check_bool(invariant, "invariant")


def potts_boundary_joint(
    L: int, q: int, K: float, separation: int, invariant: bool = False, rows: int | None = None
) -> np.ndarray:
    """Exact joint law ``P(a, b)`` of two rings ``separation`` spacings apart on the infinite Potts cylinder,
    or with ``rows`` on the ``L x rows`` torus (:func:`rgnet.ib.cylinder.ring_pair_joint`; ``q**L <=
    MAX_FULL_JOINT_STATES``).

    float64 ``(q**L, q**L)`` indexed by :func:`potts_ring_states`; with ``invariant`` the rows are the S_q
    orbits of :func:`potts_colour_orbits` (summed), shape ``(n_orbits, q**L)``.
    """
    L, q, K, separation, invariant = _check_ib(L, q, K, separation, invariant)
    rows = check_torus_rows(rows, separation, q**L)
    T = potts_cylinder_transfer_matrix(L, q, K)
    values, vectors = _sector_spectrum(T, L, q, 1, "trivial")
    joint = ring_pair_joint(T, float(values[0]), np.abs(vectors[:, 0]), separation, rows)
    if not invariant:
        return joint
    labels = potts_colour_orbits(L, q)
    merge = scipy.sparse.csr_matrix((np.ones(labels.size), (labels, np.arange(labels.size))))
    return np.asarray(merge @ joint)


def potts_predicted_beta_c(
    L: int, q: int, K: float, separation: int, invariant: bool = False, rows: int | None = None
) -> float:
    """Spectral first IB transition ``(lambda_0 / |lambda_1|)^(2 separation)``, ``lambda_1`` the second level
    of the whole spectrum, or of the trivial sector with ``invariant``. With ``rows``: ``1 / sigma_2^2`` of
    the ``L x rows`` torus's ring pair (:func:`rgnet.ib.discrete.critical_beta_spectral` of its joint)."""
    L, q, K, separation, invariant = _check_ib(L, q, K, separation, invariant)
    if rows is not None:
        return critical_beta_spectral(potts_boundary_joint(L, q, K, separation, invariant, rows))
    values, _ = potts_cylinder_spectrum(L, q, K, n_eig=2, sector="trivial" if invariant else "all")
    return float((abs(values[0]) / abs(values[1])) ** (2 * separation))


@dataclass(frozen=True)
class PottsCylinderIBResult:
    """Exact IB of the ring pair of the Potts cylinder. ``ib``: the solver's result on
    :func:`potts_boundary_joint` (encoders indexed by ring state, or S_q orbit when ``invariant``);
    ``beta_c`` located by the solver, ``beta_c_predicted`` from the transfer-matrix spectrum;
    ``ring_marginal``: ``P(a)`` of the encoded states, float64."""

    circumference: int
    q: int
    K: float
    separation: int
    invariant: bool
    ib: IBResult
    beta_c: float
    beta_c_predicted: float
    ring_marginal: np.ndarray

    @property
    def scaling_dimension(self) -> float:
        """Delta from the located ``beta_c`` (:func:`rgnet.ib.cylinder.scaling_dimension`)."""
        return scaling_dimension(self.beta_c, self.circumference, self.separation)


def potts_cylinder_ib(
    L: int, q: int, K: float, separation: int, invariant: bool = False, **solver_opts: object
) -> PottsCylinderIBResult:
    """Exact IB of two rings ``separation`` spacings apart (equivalently of any blocks V, E on either side:
    Markov reduction); ``solver_opts`` go to :func:`rgnet.ib.discrete.solve_ib`. The cost grows as
    ``q**(2 L)``: for q = 3 on 2 cores, 40 betas, about 2 s at L = 6 and 80 s at L = 7 (0.5 s and 3 s with
    ``invariant``); :func:`potts_predicted_beta_c` alone takes about a second at L = 8."""
    L, q, K, separation, invariant = _check_ib(L, q, K, separation, invariant)
    joint = potts_boundary_joint(L, q, K, separation, invariant)
    result = solve_ib(joint, **solver_opts)
    predicted = potts_predicted_beta_c(L, q, K, separation, invariant)
    return PottsCylinderIBResult(
        L, q, K, separation, invariant, result, result.beta_c, predicted, joint.sum(axis=1)
    )


__all__ = [
    "MAX_POTTS_CYLINDER_STATES",
    "POTTS_CYLINDER_SECTORS",
    "PottsCylinderIBResult",
    "potts_boundary_joint",
    "potts_colour_orbits",
    "potts_cylinder_dimensions",
    "potts_cylinder_ib",
    "potts_cylinder_spectrum",
    "potts_cylinder_transfer_matrix",
    "potts_predicted_beta_c",
    "potts_ring_index",
    "potts_ring_states",
]
