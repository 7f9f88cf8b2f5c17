"""Monte Carlo renormalization group (Swendsen, PRL 42, 859 (1979)): critical exponents of any block-spin map.

Configurations at level 0 are coarse-grained ``levels`` times by ``transform`` (majority rule, decimation, a
learned map; deterministic or stochastic). For a set of translation-invariant operators ``S_a`` (lattice sums
of products of spins, e.g. the nearest-neighbour bond sum), the chain rule

    d<S_a^(n)>/dK_b^(n-1) = sum_c  d<S_a^(n)>/dK_c^(n)  dK_c^(n)/dK_b^(n-1)

with ``d<S_a^(n)>/dK_b^(n-1) = <S_a^(n) S_b^(n-1)>_c`` and ``d<S_a^(n)>/dK_c^(n) = <S_a^(n) S_c^(n)>_c``
(connected correlations; the weight is ``exp(sum_a K_a S_a)``) gives the linearized RG map at level ``n``,

    T^(n) = <S^(n) S^(n)>_c^-1 <S^(n) S^(n-1)>_c,       T_cb = dK_c^(n) / dK_b^(n-1),

whose leading eigenvalue ``lambda`` in the even (odd) sector gives ``y_t`` (``y_h``) ``= ln(lambda) / ln(b)``.
Keeping only the first ``k`` operators of a sector (the truncation) shows convergence in the operator set.
Error bars are jackknife errors over blocks of consecutive configurations.

Spins are +-1 tensors ``(batch, L, L)`` (square lattice, periodic) or ``(batch, N)`` (periodic chains); the
operators are computed in float64 on the spins' device, so the same code runs on a GPU for large lattices.

q-state Potts colours ``0..q-1`` ``(batch, L, L)`` (``q=`` given) use the same shapes (:data:`POTTS_SHAPES`)
in the two sectors of S_q instead of Z2. The thermal ("even") operator of a shape counts its placements whose
sites all share one colour (S_q-invariant: for pairs the bond sum of delta(s_i, s_j)); the spin ("odd")
operator of colour ``c`` counts the placements of colour ``c`` minus ``1/q`` of all of them, the component
along ``c`` of the (q-1)-dimensional standard irrep that the order parameter and the field on one colour
belong to. An S_q-covariant map (the plurality rule) does not mix the components, so every colour gives the
same linearized map; their correlations are pooled (each configuration contributes q rows, kept in one
jackknife block). The even sector gives ``y_t`` (6/5 for q = 3), the odd one ``y_h`` (28/15 for q = 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rgnet._checks import check_choice, check_int
from rgnet.potts.observables import check_potts_spins

#: An operator: the sum over sites ``i`` of ``prod_{o in term} s_{i+o}``, summed over its terms (the
#: symmetry images of one shape). Offsets are ``(dy, dx)`` in 2D and ``(dx,)`` in 1D.
Terms = tuple[tuple[tuple[int, ...], ...], ...]

#: Translation-invariant operators of the square lattice, by name (the Z2-even ones, then the odd ones).
SQUARE_EVEN: dict[str, Terms] = {
    "nn": (((0, 0), (0, 1)), ((0, 0), (1, 0))),
    "nnn": (((0, 0), (1, 1)), ((0, 0), (1, -1))),
    "third": (((0, 0), (0, 2)), ((0, 0), (2, 0))),
    "plaquette": (((0, 0), (0, 1), (1, 0), (1, 1)),),
    "knight": (((0, 0), (1, 2)), ((0, 0), (2, 1)), ((0, 0), (1, -2)), ((0, 0), (2, -1))),
    "diag2": (((0, 0), (2, 2)), ((0, 0), (2, -2))),
    "fourth": (((0, 0), (0, 3)), ((0, 0), (3, 0))),
    "bar4": (((0, 0), (0, 1), (0, 2), (0, 3)), ((0, 0), (1, 0), (2, 0), (3, 0))),
}
SQUARE_ODD: dict[str, Terms] = {
    "magnetization": (((0, 0),),),
    "triangle": (
        ((0, 0), (0, 1), (1, 0)),
        ((0, 0), (0, 1), (1, 1)),
        ((0, 0), (1, 0), (1, 1)),
        ((0, 1), (1, 0), (1, 1)),
    ),
    "line3": (((0, -1), (0, 0), (0, 1)), ((-1, 0), (0, 0), (1, 0))),
    "star5": (((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)),),
}
#: Translation-invariant operators of the periodic chain.
CHAIN_EVEN: dict[str, Terms] = {
    "nn": (((0,), (1,)),),
    "r2": (((0,), (2,)),),
    "r3": (((0,), (3,)),),
    "four": (((0,), (1,), (2,), (3,)),),
}
CHAIN_ODD: dict[str, Terms] = {
    "magnetization": (((0,),),),
    "three": (((0,), (1,), (2,)),),
    "r12": (((0,), (1,), (3,)),),
}
#: Shapes of q-state Potts operators (both sectors; the single site only in the spin sector, where it is the
#: order parameter along one colour).
POTTS_SHAPES: dict[str, Terms] = {**SQUARE_EVEN, **SQUARE_ODD}
#: Default operator sets (6 even and 3 odd on the square lattice).
DEFAULT_EVEN_2D = ("nn", "nnn", "third", "plaquette", "knight", "diag2")
DEFAULT_ODD_2D = ("magnetization", "triangle", "line3")
#: Default Potts spin operators for q >= 3 (for q = 2 a pair's spin operator is the magnetization again, so
#: q = 2 uses :data:`DEFAULT_ODD_2D`); the thermal default is :data:`DEFAULT_EVEN_2D`.
DEFAULT_SPIN_POTTS = ("magnetization", "nn", "triangle")
DEFAULT_EVEN_1D = ("nn", "r2", "r3")
DEFAULT_ODD_1D = ("magnetization", "three")
#: Largest condition number of a correlation matrix that is still inverted.
MAX_CONDITION = 1e12
#: Smallest side of the last level's lattice (and smallest last chain).
MIN_LAST_SIDE = 4


def _check_pm1(spins: object, name: str) -> torch.Tensor:
    if not isinstance(spins, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of +-1, got {type(spins).__name__}")
    if spins.ndim not in (2, 3):
        raise ValueError(f"{name} must have shape (batch, N) or (batch, L, L), got {tuple(spins.shape)}")
    if spins.ndim == 3 and spins.shape[1] != spins.shape[2]:
        raise ValueError(f"{name} must be square lattices (batch, L, L), got {tuple(spins.shape)}")
    if spins.numel() and not bool(((spins == 1) | (spins == -1)).all()):
        raise ValueError(f"{name} must hold only +-1 values")
    return spins


def _check_configurations(spins: object, name: str, q: int | None) -> torch.Tensor:
    """+-1 spins (``q`` None) or square lattices of Potts colours ``0..q-1``."""
    if q is None:
        return _check_pm1(spins, name)
    spins = check_potts_spins(spins, q, name)
    if spins.shape[1] != spins.shape[2]:
        raise ValueError(f"{name} must be square lattices (batch, L, L), got {tuple(spins.shape)}")
    return spins


def _check_q(q: object) -> int | None:
    return None if q is None else check_int(q, "q", minimum=2, maximum=127)


#: Configurations per chunk of :func:`operator_sums` are chosen to keep about this many sites in flight.
_CHUNK_SITES = 1 << 22


def operator_sums(
    spins: torch.Tensor, operators: Mapping[str, Terms], *, q: int | None = None, sector: str = "even"
) -> torch.Tensor:
    """Lattice sums of ``operators`` on each configuration: float64 ``(batch, len(operators))``.

    ``spins``: +-1 ``(batch, L, L)`` or ``(batch, N)``, periodic boundaries; the order of the columns is
    the order of ``operators``. A chunk of configurations at a time is tiled periodically once, so that every
    shifted lattice ``s_{i + offset}`` is a view (no copy per offset); products and sums are float32, exact
    for +-1 spins (and colour counts) on up to 2^24 sites, on the spins' device.

    With ``q``, ``spins`` are Potts colours ``(batch, L, L)`` and ``sector`` chooses the operators (see the
    module docstring): ``"even"`` (thermal) gives ``(batch, k)``; ``"odd"`` (spin) gives ``(batch * q, k)``,
    the q colour components of each configuration in consecutive rows. Without ``q`` the sector is only a
    label (the +-1 operators carry their parity).
    """
    q = _check_q(q)
    spins = _check_configurations(spins, "spins", q)
    sector = check_choice(sector, "sector", ("even", "odd"))
    sizes = spins.shape[1:]
    reach = max(
        (abs(o) for terms in operators.values() for term in terms for off in term for o in off), default=0
    )
    copies = [-(-reach // size) for size in sizes]  # whole periods needed on each side, per axis
    sites = math.prod(sizes)
    colours = 1 if q is None else q
    chunk = max(1, _CHUNK_SITES // (sites * colours * math.prod(2 * c + 1 for c in copies)))
    rows = [] if q is None or sector == "even" else [q]  # rows per configuration beyond the first
    out = torch.empty(spins.shape[0], *rows, len(operators), dtype=torch.float64, device=spins.device)
    for start in range(0, spins.shape[0], chunk):
        s = spins[start : start + chunk]
        # fields (chunk, [q,] *sizes): the spins, or the one-hot colours (the operators' products of deltas)
        fields = (
            s.to(torch.float32)
            if q is None
            else torch.nn.functional.one_hot(s.long(), q).movedim(-1, 1).to(torch.float32)
        )
        lead = fields.ndim - len(sizes)
        tiled = fields.repeat(*(1,) * lead, *(2 * c + 1 for c in copies))

        def at(offset: tuple[int, ...], tiled: torch.Tensor = tiled, lead: int = lead) -> torch.Tensor:
            """``s_{i + offset}`` for every site ``i``: a view into the tiled lattice."""
            index = [slice(None)] * lead
            for o, c, size in zip(offset, copies, sizes, strict=True):
                index.append(slice(c * size + o, c * size + o + size))
            return tiled[tuple(index)]

        for column, terms in enumerate(operators.values()):
            total = torch.zeros(fields.shape[:lead], dtype=torch.float32, device=s.device)
            for term in terms:
                product = at(term[0])
                for offset in term[1:]:
                    product = product * at(offset)
                total += product.flatten(lead).sum(dim=-1)
            total = total.to(torch.float64)  # (chunk,) or (chunk, q): placements of each colour
            if q is not None:
                total = total.sum(1) if sector == "even" else total - total.mean(1, keepdim=True)
            out[start : start + chunk, ..., column] = total
    return out.reshape(-1, len(operators))


def _select(names: Sequence[str], table: Mapping[str, Terms], what: str) -> dict[str, Terms]:
    if isinstance(names, str) or not names:
        raise ValueError(f"{what} must be a non-empty sequence of operator names from {sorted(table)}")
    unknown = [n for n in names if n not in table]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"{what} must be distinct names from {sorted(table)}, got {list(names)}")
    return {name: table[name] for name in names}


def _block_sums(fine: np.ndarray, coarse: np.ndarray, n_blocks: int, group: int) -> tuple[np.ndarray, ...]:
    """Per block of consecutive configurations (``group`` rows each): counts, sums of S_f, S_c, S_c S_f^T and
    S_c S_c^T."""
    edges = np.linspace(0, fine.shape[0] // group, n_blocks + 1).astype(int) * group
    counts, sf, sc, cf, cc = [], [], [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        f, c = fine[lo:hi], coarse[lo:hi]
        counts.append(hi - lo)
        sf.append(f.sum(0))
        sc.append(c.sum(0))
        cf.append(c.T @ f)
        cc.append(c.T @ c)
    return tuple(np.array(x, dtype=np.float64) for x in (counts, sf, sc, cf, cc))


def _linear_map(
    n: float, sf: np.ndarray, sc: np.ndarray, cf: np.ndarray, cc: np.ndarray, k: int
) -> np.ndarray:
    """T = <S_c S_c>_c^-1 <S_c S_f>_c on the first ``k`` operators, from sums over ``n`` configurations."""
    mf, mc = sf[:k] / n, sc[:k] / n
    cross = cf[:k, :k] / n - np.outer(mc, mf)
    within = cc[:k, :k] / n - np.outer(mc, mc)
    return np.linalg.solve(within, cross)


def _leading_eigenvalue(T: np.ndarray) -> float:
    """The real part of the eigenvalue of largest modulus."""
    eigenvalues = np.linalg.eigvals(T)
    return float(eigenvalues[np.argmax(np.abs(eigenvalues))].real)


@dataclass
class LinearizedMap:
    """The linearized RG map of one level and operator set, with jackknife errors of its entries.

    ``T[c, b] = dK_c' / dK_b`` (``(k, k)`` float64), ``T_err`` its jackknife errors, ``eigenvalues`` sorted by
    decreasing modulus, ``leading`` the real part of the largest and ``leading_err`` its jackknife error.
    """

    operators: tuple[str, ...]
    T: np.ndarray
    T_err: np.ndarray
    eigenvalues: np.ndarray
    leading: float
    leading_err: float


def _check_conditioning(sums: tuple[np.ndarray, ...], names: Sequence[str], level: int) -> None:
    counts, _, sc, _, cc = (x.sum(0) for x in sums)
    n = float(counts)
    within = cc / n - np.outer(sc / n, sc / n)
    condition = np.linalg.cond(within)
    if not np.isfinite(condition) or condition > MAX_CONDITION:
        raise ValueError(
            f"spins: the correlation matrix of the operators {list(names)} at level {level} is singular "
            f"(condition number {condition:.3g}): too few configurations for this many operators, or "
            "operators that coincide on so small a lattice; use more configurations, fewer operators or "
            "fewer levels"
        )


def linearized_maps(
    fine: torch.Tensor | np.ndarray,
    coarse: torch.Tensor | np.ndarray,
    names: Sequence[str],
    *,
    n_blocks: int = 20,
    level: int = 1,
    rows_per_configuration: int = 1,
) -> list[LinearizedMap]:
    """T for every truncation ``k = 1..len(names)`` from operator sums ``(batch, k)`` of the same
    configurations at two successive levels (``fine`` at level n - 1, ``coarse`` at level n).

    ``rows_per_configuration`` consecutive rows belong to one configuration (the colour components of a Potts
    spin operator): they are pooled and kept in one block. Errors are jackknife errors over ``n_blocks``
    blocks of consecutive configurations. Raises ``ValueError`` when the coarse correlation matrix is
    singular.
    """
    fine = np.asarray(fine.cpu() if isinstance(fine, torch.Tensor) else fine, dtype=np.float64)
    coarse = np.asarray(coarse.cpu() if isinstance(coarse, torch.Tensor) else coarse, dtype=np.float64)
    group = check_int(rows_per_configuration, "rows_per_configuration", minimum=1)
    n_blocks = check_int(n_blocks, "n_blocks", minimum=2, maximum=fine.shape[0] // group)
    sums = _block_sums(fine, coarse, n_blocks, group)
    _check_conditioning(sums, names, level)
    totals = [x.sum(0) for x in sums]
    maps = []
    for k in range(1, len(names) + 1):
        T = _linear_map(float(totals[0]), *totals[1:], k)
        leave_one_out_T, leave_one_out_lambda = [], []
        for j in range(n_blocks):
            rest = [t - x[j] for t, x in zip(totals, sums, strict=True)]
            T_j = _linear_map(float(rest[0]), *rest[1:], k)
            leave_one_out_T.append(T_j)
            leave_one_out_lambda.append(_leading_eigenvalue(T_j))
        factor = (n_blocks - 1) / n_blocks
        T_stack = np.array(leave_one_out_T)
        T_err = np.sqrt(factor * ((T_stack - T_stack.mean(0)) ** 2).sum(0))
        lam = np.array(leave_one_out_lambda)
        eigenvalues = np.linalg.eigvals(T)
        maps.append(
            LinearizedMap(
                operators=tuple(names[:k]),
                T=T,
                T_err=T_err,
                eigenvalues=eigenvalues[np.argsort(-np.abs(eigenvalues))],
                leading=_leading_eigenvalue(T),
                leading_err=float(np.sqrt(factor * ((lam - lam.mean()) ** 2).sum())),
            )
        )
    return maps


def _exponent(eigenvalue: float, error: float, b: int) -> tuple[float, float]:
    """``y = ln(lambda) / ln(b)`` and its propagated error (NaN for a non-positive eigenvalue)."""
    if not eigenvalue > 0:
        return math.nan, math.nan
    return math.log(eigenvalue) / math.log(b), error / (eigenvalue * math.log(b))


@dataclass
class MCRGResult:
    """Exponents of a block-spin map by level ``n`` (``1..levels``: T between levels n - 1 and n) and by
    truncation ``k`` (the first ``k`` operators of a sector).

    ``y_t[(n, k)]``, ``y_t_err[(n, k)]`` from the even sector; ``y_h[(n, k)]``, ``y_h_err[(n, k)]`` from the
    odd one; ``maps_even[(n, k)]`` / ``maps_odd[(n, k)]`` hold the matrices and all eigenvalues; ``sides``
    the lattice side (chain length) at each level ``0..levels``.
    """

    b: int
    levels: int
    even_operators: tuple[str, ...]
    odd_operators: tuple[str, ...]
    sides: tuple[int, ...]
    n_configurations: int
    y_t: dict[tuple[int, int], float] = field(default_factory=dict)
    y_t_err: dict[tuple[int, int], float] = field(default_factory=dict)
    y_h: dict[tuple[int, int], float] = field(default_factory=dict)
    y_h_err: dict[tuple[int, int], float] = field(default_factory=dict)
    maps_even: dict[tuple[int, int], LinearizedMap] = field(default_factory=dict, repr=False)
    maps_odd: dict[tuple[int, int], LinearizedMap] = field(default_factory=dict, repr=False)

    def table(self) -> list[dict[str, float | int]]:
        """One row per (level, truncation): ``level``, ``k``, ``y_t``, ``y_t_err``, ``y_h``, ``y_h_err`` (NaN
        where a sector has fewer operators)."""
        rows = []
        for n in range(1, self.levels + 1):
            for k in range(1, max(len(self.even_operators), len(self.odd_operators)) + 1):
                rows.append(
                    {
                        "level": n,
                        "k": k,
                        "y_t": self.y_t.get((n, k), math.nan),
                        "y_t_err": self.y_t_err.get((n, k), math.nan),
                        "y_h": self.y_h.get((n, k), math.nan),
                        "y_h_err": self.y_h_err.get((n, k), math.nan),
                    }
                )
        return rows


def check_blockings(side: int, b: int, levels: int, what: str) -> None:
    """``levels`` blockings by ``b`` of a lattice of side ``side`` (named ``what`` in the error) need the side
    divisible by ``b**levels`` and a last side of at least :data:`MIN_LAST_SIDE`."""
    if side % b**levels or side // b**levels < MIN_LAST_SIDE:
        raise ValueError(
            f"levels={levels} blockings by b={b} need {what} divisible by b**levels = {b**levels} and a last "
            f"side >= {MIN_LAST_SIDE}, got {what}={side}"
        )


def probe_block_factor(
    spins: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    levels: int,
    what: str,
    *,
    q: int | None = None,
) -> int:
    """The block factor ``b`` of ``transform``, from two of ``spins`` (batch, L[, L]) (shape and values, +-1
    or Potts colours ``0..q-1``, checked), and :func:`check_blockings` of their side for ``levels``
    blockings."""
    if not callable(transform):
        raise TypeError(f"transform must be callable, got {type(transform).__name__}")
    b = _check_transform_output(transform(spins[:2]), spins[:2], 1, q)
    check_blockings(spins.shape[1], b, levels, what)
    return b


def _check_transform_output(out: object, before: torch.Tensor, level: int, q: int | None = None) -> int:
    """The block factor ``b`` of one application of the transform (checks shape and values: +-1, or colours
    ``0..q-1``)."""
    where = f"transform (at level {level})"
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"{where} must return a torch.Tensor, got {type(out).__name__}")
    if out.ndim != before.ndim or out.shape[0] != before.shape[0]:
        raise ValueError(
            f"{where} must map {tuple(before.shape)} to the same batch of smaller lattices, "
            f"got {tuple(out.shape)}"
        )
    side, coarse = before.shape[1], out.shape[1]
    if before.ndim == 3 and out.shape[1] != out.shape[2]:
        raise ValueError(f"{where} must return square lattices, got {tuple(out.shape)}")
    if coarse < 1 or coarse >= side or side % coarse:
        raise ValueError(
            f"{where} must shrink the side {side} by an integer factor b >= 2, got side {coarse}"
        )
    if q is None and not bool(((out == 1) | (out == -1)).all()):
        raise ValueError(f"{where} must return +-1 values")
    if q is not None:
        check_potts_spins(out, q, where)
    return side // coarse


def mcrg_exponents(
    spins: torch.Tensor,
    transform: Callable[[torch.Tensor], torch.Tensor],
    levels: int,
    *,
    even: Sequence[str] | None = None,
    odd: Sequence[str] | None = None,
    n_blocks: int = 20,
    q: int | None = None,
) -> MCRGResult:
    """Monte Carlo RG exponents of ``transform`` from configurations at (or near) a critical point.

    Args:
        spins: +-1 configurations ``(batch, L, L)`` (square lattice) or ``(batch, N)`` (chains), periodic,
            in sampling order (the jackknife blocks are consecutive configurations).
        transform: a block-spin map ``(batch, L, L) -> (batch, L/b, L/b)`` (or ``(batch, N) -> (batch, N/b)``)
            returning +-1; applied ``levels`` times. Deterministic or stochastic.
        levels: number of blockings; the last lattice must have side >= 4.
        even, odd: operator names (of :data:`SQUARE_EVEN`/:data:`SQUARE_ODD` or :data:`CHAIN_EVEN`/
            :data:`CHAIN_ODD`), in the order in which truncations keep them; defaults
            :data:`DEFAULT_EVEN_2D`, :data:`DEFAULT_ODD_2D` (chains: :data:`DEFAULT_EVEN_1D`,
            :data:`DEFAULT_ODD_1D`).
        n_blocks: jackknife blocks.
        q: None for +-1 Ising spins; the number of colours for q-state Potts colours ``0..q-1``
            ``(batch, L, L)``, with an S_q-covariant ``transform`` returning colours (the plurality rule,
            :func:`rgnet.rg.blocking.plurality_2d`). Operators are then names of :data:`POTTS_SHAPES` (even:
            any but the single site; defaults :data:`DEFAULT_EVEN_2D` and :data:`DEFAULT_SPIN_POTTS`, or
            :data:`DEFAULT_ODD_2D` for q = 2).

    Returns an :class:`MCRGResult` (``y_t``, ``y_h`` and errors by (level, truncation)). Bad input (non-+-1
    data, sizes not divisible by ``b**levels``, a last level below 4, too few configurations, a transform of
    the wrong shape or values) is a ``ValueError``/``TypeError`` naming the argument, raised before the
    operators are computed (a singular correlation matrix is found level by level).
    """
    q = _check_q(q)
    spins = _check_configurations(spins, "spins", q)
    levels = check_int(levels, "levels", minimum=1)
    dim = spins.ndim - 1
    if q is not None:
        even_table = {name: terms for name, terms in POTTS_SHAPES.items() if name != "magnetization"}
        even_ops = _select(even or DEFAULT_EVEN_2D, even_table, "even")
        odd_ops = _select(odd or (DEFAULT_ODD_2D if q == 2 else DEFAULT_SPIN_POTTS), POTTS_SHAPES, "odd")
    else:
        even_table, odd_table = (SQUARE_EVEN, SQUARE_ODD) if dim == 2 else (CHAIN_EVEN, CHAIN_ODD)
        even_ops = _select(even or (DEFAULT_EVEN_2D if dim == 2 else DEFAULT_EVEN_1D), even_table, "even")
        odd_ops = _select(odd or (DEFAULT_ODD_2D if dim == 2 else DEFAULT_ODD_1D), odd_table, "odd")
    n_blocks = check_int(n_blocks, "n_blocks", minimum=2)
    n_ops = max(len(even_ops), len(odd_ops))
    if spins.shape[0] < max(2 * n_blocks, 4 * n_ops):
        raise ValueError(
            f"spins: {spins.shape[0]} configurations are too few for {n_blocks} jackknife blocks and {n_ops} "
            f"operators (need at least {max(2 * n_blocks, 4 * n_ops)})"
        )
    b = probe_block_factor(spins, transform, levels, "side", q=q)
    side = spins.shape[1]

    result = MCRGResult(
        b=b,
        levels=levels,
        even_operators=tuple(even_ops),
        odd_operators=tuple(odd_ops),
        sides=tuple(side // b**n for n in range(levels + 1)),
        n_configurations=spins.shape[0],
    )

    def sums(configurations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            operator_sums(configurations, even_ops, q=q, sector="even"),
            operator_sums(configurations, odd_ops, q=q, sector="odd"),
        )

    current = spins
    fine_even, fine_odd = sums(current)
    for n in range(1, levels + 1):
        coarse = transform(current)
        if _check_transform_output(coarse, current, n, q) != b:
            raise ValueError(f"transform (at level {n}) changed its block factor from b={b}")
        coarse_even, coarse_odd = sums(coarse)
        for sector, fine, coarse_sums, names, rows in (
            ("even", fine_even, coarse_even, tuple(even_ops), 1),
            ("odd", fine_odd, coarse_odd, tuple(odd_ops), q or 1),
        ):
            maps = linearized_maps(
                fine, coarse_sums, names, n_blocks=n_blocks, level=n, rows_per_configuration=rows
            )
            for k, lin in enumerate(maps, 1):
                y, y_err = _exponent(lin.leading, lin.leading_err, b)
                if sector == "even":
                    result.maps_even[(n, k)] = lin
                    result.y_t[(n, k)], result.y_t_err[(n, k)] = y, y_err
                else:
                    result.maps_odd[(n, k)] = lin
                    result.y_h[(n, k)], result.y_h_err[(n, k)] = y, y_err
        current, fine_even, fine_odd = coarse, coarse_even, coarse_odd
    return result


__all__ = [
    "CHAIN_EVEN",
    "CHAIN_ODD",
    "DEFAULT_EVEN_1D",
    "DEFAULT_EVEN_2D",
    "DEFAULT_ODD_1D",
    "DEFAULT_ODD_2D",
    "DEFAULT_SPIN_POTTS",
    "POTTS_SHAPES",
    "SQUARE_EVEN",
    "SQUARE_ODD",
    "LinearizedMap",
    "MCRGResult",
    "check_blockings",
    "linearized_maps",
    "mcrg_exponents",
    "operator_sums",
    "probe_block_factor",
]
