"""The critical point and scaling dimensions of any block-spin map, from Monte Carlo configurations.

**Two-lattice matching** (Swendsen, PRL 42, 859 (1979); Blöte & Swendsen, PRB 20, 2077 (1979)). A lattice of
side ``L`` coarse-grained ``n`` times and one of side ``L / b`` coarse-grained ``n - 1`` times end on lattices
of the same side; when the original couplings are ``K`` and ``K'`` with ``K' = R(K)`` (the map's RG flow),
every coarse observable agrees. At the unstable fixed point ``R(K_c) = K_c``, so ``K_c`` solves

    Delta_a(K) = <S_a^(n)>_L(K) - <S_a^(n-1)>_(L/b)(K) = 0

for any even operator ``S_a`` of the final lattices (densities per site), and the slope of the flow there is
``lambda_t = dR/dK = f_L'(K_c) / f_s'(K_c)``, ``y_t = ln(lambda_t) / ln(b)`` (``nu = 1 / y_t``); the same
ratio of derivatives in the field gives ``y_h``. The estimates converge in ``n`` (the irrelevant operators die
out) and differ between operators by their corrections, which makes them a measure of the map's quality: a map
that is not an RG of the model has no ``K`` where all operators match, or matches with other exponents.

The derivatives are fluctuations of the level-0 operators (``d<A>/dK = <A E_0>_c``, ``E_0`` the level-0
nearest-neighbour bond sum, each bond once; ``d<A>/dh = <A M_0>_c``, ``M_0`` the level-0 spin sum), and the
observables at ``K != K_0`` come from the configurations sampled at ``K_0`` by single-histogram reweighting
(Ferrenberg & Swendsen, PRL 61, 2635 (1988)), weight ``exp((K - K_0) E_0)``: one sample per lattice size gives
the whole ``Delta_a(K)`` near ``K_0``, solved by Newton's method. Reweighting is trusted only while the
effective sample size stays above :data:`MIN_EFFECTIVE_FRACTION` of the sample; a root outside that range is
reported as not converged (NaN), never as a number, and so is a root that some jackknife sample does not
reproduce. Errors are jackknife errors over blocks of consecutive configurations, of each lattice's sample in
turn, added in quadrature (the two samples are independent).

**Scaling dimension** of the coarse variable by finite-size scaling at the critical point: the spin-spin
correlation at a fixed fraction ``x`` of the side scales as ``C_L(x L) ~ L^(-2 Delta)``, so two sides ``L``
and ``L_s`` give ``Delta = -ln(C_L(x L) / C_s(x L_s)) / (2 ln(L / L_s))`` at every level of coarse-graining
(the map keeps the ratio of sides); ``Delta -> 1/8`` for the 2D Ising spin and for any coarse variable that
carries it. For q-state Potts colours the correlation is that of the order parameter,
``sum_c <(delta(s_i, c) - 1/q) (delta(s_j, c) - 1/q)> = <delta(s_i, s_j)> - 1/q`` (half the Ising one for
q = 2, which leaves ``Delta`` unchanged); ``Delta -> 2/15`` for q = 3.

Spins are +-1 tensors ``(batch, L, L)`` (square lattice, periodic) in sampling order; operators are computed
in torch on the spins' device (:func:`rgnet.rg.mcrg.operator_sums`), the statistics in float64 numpy."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rgnet._checks import check_int, check_real
from rgnet.rg.mcrg import (
    SQUARE_EVEN,
    SQUARE_ODD,
    _check_configurations,
    _check_pm1,
    _check_q,
    _check_transform_output,
    _select,
    operator_sums,
    probe_block_factor,
)

#: Even operators matched by default (densities per site of the final lattices).
DEFAULT_MATCHED = ("nn", "nnn", "plaquette")
#: Reweighting is trusted while the effective sample size (sum w)^2 / sum w^2 is at least this fraction.
MIN_EFFECTIVE_FRACTION = 0.2
#: Newton iterations of the matching condition and the tolerance on K.
MAX_NEWTON_STEPS = 30
NEWTON_TOLERANCE = 1e-10
#: Fractions of the side at which the correlation function is compared between sizes.
DEFAULT_FRACTIONS = (0.25, 0.5)

Transform = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class BlockedObservables:
    """Per configuration of one sample: level-0 sums and the densities of the coarse lattices.

    ``energy`` (batch,) float64: level-0 nearest-neighbour bond sum (each bond once); ``magnetization``
    (batch,): level-0 spin sum; ``even[n]`` (batch, n_operators): even operator densities per site at level
    ``n``; ``odd[n]`` (batch,): magnetization per site at level ``n``; ``sides[n]`` the side at level ``n``.
    """

    operators: tuple[str, ...]
    energy: np.ndarray
    magnetization: np.ndarray
    even: list[np.ndarray]
    odd: list[np.ndarray]
    sides: list[int]


def blocked_observables(
    spins: torch.Tensor, transform: Transform, levels: int, operators: Sequence[str] = DEFAULT_MATCHED
) -> BlockedObservables:
    """Coarse-grain ``spins`` ``(batch, L, L)`` ``levels`` times with ``transform`` and collect, at every
    level ``0..levels``, the densities of the even ``operators`` (names of :data:`rgnet.rg.mcrg.SQUARE_EVEN`)
    and the magnetization, with the level-0 energy and magnetization sums (:class:`BlockedObservables`)."""
    spins = _check_pm1(spins, "spins")
    if spins.ndim != 3:
        raise ValueError(f"spins must be square lattices (batch, L, L), got {tuple(spins.shape)}")
    ops = _select(operators, SQUARE_EVEN, "operators")
    levels = check_int(levels, "levels", minimum=0)
    b = probe_block_factor(spins, transform, max(levels, 1), "the side of spins") if levels else 0
    current = spins
    even, odd, sides = [], [], []
    for n in range(levels + 1):
        if n:
            coarse = transform(current)
            if _check_transform_output(coarse, current, n) != b:
                raise ValueError(f"transform (at level {n}) changed its block factor from b={b}")
            current = coarse
        sites = current.shape[1] * current.shape[2]
        # one pass over the lattice per level: the operators, the magnetization and (level 0) the energy
        sums = operator_sums(current, {**ops, "_m": SQUARE_ODD["magnetization"], "_nn": SQUARE_EVEN["nn"]})
        sums = sums.cpu().numpy()
        if n == 0:
            energy = sums[:, -1]
        even.append(sums[:, : len(ops)] / sites)
        odd.append(sums[:, len(ops)] / sites)
        sides.append(int(current.shape[1]))
    return BlockedObservables(tuple(ops), energy, odd[0] * sides[0] ** 2, even, odd, sides)


def _weights(energy: np.ndarray, dK: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalized single-histogram weights ``exp(dK E_0)`` (batch,) and the centred energy."""
    centred = energy - energy.mean()
    log_w = dK * centred
    w = np.exp(log_w - log_w.max())
    return w / w.sum(), centred


def _covariance(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(w @ ((x - w @ x) * (y - w @ y)))


def _reweighted(energy: np.ndarray, values: np.ndarray, dK: float) -> tuple[float, float, float]:
    """Mean of ``values`` (batch,) at ``K_0 + dK``, its derivative in K, and the effective sample fraction."""
    w, centred = _weights(energy, dK)
    return float(w @ values), _covariance(w, values, centred), 1.0 / (float(w @ w) * values.shape[0])


def _match_one(
    large: tuple[np.ndarray, np.ndarray], small: tuple[np.ndarray, np.ndarray], K0: float
) -> tuple[float, float, float]:
    """Root ``K`` of ``<A>_large(K) = <A>_small(K)`` by Newton from ``K0``, and the two slopes there (NaN when
    the root leaves the reweighting range or Newton does not converge). Each sample: (energy, values)."""
    dK = 0.0
    for _ in range(MAX_NEWTON_STEPS):
        (f_l, d_l, eff_l), (f_s, d_s, eff_s) = (_reweighted(e, v, dK) for e, v in (large, small))
        if min(eff_l, eff_s) < MIN_EFFECTIVE_FRACTION or not d_l != d_s:
            return math.nan, math.nan, math.nan
        step = (f_l - f_s) / (d_l - d_s)
        dK -= step
        if abs(step) < NEWTON_TOLERANCE:
            (_, d_l, eff_l), (_, d_s, eff_s) = (_reweighted(e, v, dK) for e, v in (large, small))
            if min(eff_l, eff_s) < MIN_EFFECTIVE_FRACTION:
                return math.nan, math.nan, math.nan
            return K0 + dK, d_l, d_s
    return math.nan, math.nan, math.nan


def _field_slopes(
    large: tuple[np.ndarray, np.ndarray, np.ndarray],
    small: tuple[np.ndarray, np.ndarray, np.ndarray],
    dK: float,
) -> float:
    """``d<m>/dh`` ratio large/small at ``K_0 + dK`` (each sample: energy, level-0 M, final-level m)."""
    slopes = [
        _covariance(_weights(energy, dK)[0], m, magnetization) for energy, magnetization, m in (large, small)
    ]
    return slopes[0] / slopes[1]


def _log_ratio(ratio: float, b: int) -> float:
    return math.log(ratio) / math.log(b) if ratio > 0 else math.nan


def _blocks(n: int, n_blocks: int) -> list[np.ndarray]:
    """Boolean keep-masks of the leave-one-block-out samples of ``n`` configurations."""
    edges = np.linspace(0, n, n_blocks + 1).astype(int)
    masks = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        keep = np.ones(n, dtype=bool)
        keep[lo:hi] = False
        masks.append(keep)
    return masks


def _jackknife_error(estimates: Sequence[float]) -> float:
    values = np.asarray(estimates, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        return math.nan
    n = values.shape[0]
    return float(np.sqrt((n - 1) / n * ((values - values.mean()) ** 2).sum()))


#: The estimates of a matching, each by (level, operator).
ESTIMATES = ("K_c", "K_c_err", "y_t", "y_t_err", "y_h", "y_h_err")


@dataclass(kw_only=True)
class _Estimates:
    """``K_c``, ``y_t``, ``y_h`` and their errors by ``(level, operator)`` (:data:`ESTIMATES`)."""

    K_c: dict[tuple[int, str], float] = field(default_factory=dict)
    K_c_err: dict[tuple[int, str], float] = field(default_factory=dict)
    y_t: dict[tuple[int, str], float] = field(default_factory=dict)
    y_t_err: dict[tuple[int, str], float] = field(default_factory=dict)
    y_h: dict[tuple[int, str], float] = field(default_factory=dict)
    y_h_err: dict[tuple[int, str], float] = field(default_factory=dict)


@dataclass
class MatchingResult(_Estimates):
    """Two-lattice matching of one pair of samples at ``K0``, by level ``n`` (large lattice blocked ``n``
    times, small ``n - 1``) and matched operator.

    ``K_c[(n, op)]``, ``K_c_err``: the root of the matching condition (NaN: outside the reweighting range or
    no root); ``y_t``, ``y_t_err``: ``ln(f_L'/f_s') / ln b`` there; ``y_h[(n, op)]``, ``y_h_err``: the same
    ratio of field derivatives of the magnetization at that root. ``sides``: (large side, small side).
    """

    K0: float
    b: int
    levels: int
    operators: tuple[str, ...]
    sides: tuple[int, int]
    n_configurations: tuple[int, int]

    def table(self) -> list[dict[str, float | int | str]]:
        """One row per (level, operator) with ``K0``, ``K_c``, ``y_t``, ``y_h`` and their errors."""
        return [
            {"K0": self.K0, "level": n, "operator": op}
            | {name: getattr(self, name)[(n, op)] for name in ESTIMATES}
            for n in range(1, self.levels + 1)
            for op in self.operators
        ]


def _estimates(
    large: BlockedObservables,
    small: BlockedObservables,
    keep_l: np.ndarray,
    keep_s: np.ndarray,
    n: int,
    column: int,
    K0: float,
    b: int,
) -> tuple[float, float, float]:
    """(K_c, y_t, y_h) from the configurations kept by the masks."""
    K, d_l, d_s = _match_one(
        (large.energy[keep_l], large.even[n][keep_l, column]),
        (small.energy[keep_s], small.even[n - 1][keep_s, column]),
        K0,
    )
    if not math.isfinite(K):
        return math.nan, math.nan, math.nan
    ratio_h = _field_slopes(
        (large.energy[keep_l], large.magnetization[keep_l], large.odd[n][keep_l]),
        (small.energy[keep_s], small.magnetization[keep_s], small.odd[n - 1][keep_s]),
        K - K0,
    )
    return K, _log_ratio(d_l / d_s, b), _log_ratio(ratio_h, b)


def match_critical_point(
    large: torch.Tensor,
    small: torch.Tensor,
    K0: float,
    transform: Transform,
    levels: int,
    *,
    operators: Sequence[str] = DEFAULT_MATCHED,
    n_blocks: int = 20,
) -> MatchingResult:
    """Critical coupling and exponents of ``transform`` by two-lattice matching (see the module docstring).

    Args:
        large: +-1 configurations ``(batch, L, L)`` sampled at coupling ``K0`` (h = 0), in sampling order.
        small: +-1 configurations ``(batch', L / b, L / b)`` sampled at the same ``K0``.
        K0: the coupling (K = J/kT) of both samples; the root is searched by reweighting around it.
        transform: block-spin map ``(batch, m, m) -> (batch, m / b, m / b)`` of +-1 spins (any callable:
            majority rule, a learned map), deterministic or stochastic.
        levels: blockings of the large lattice (``1..levels`` are matched); its last side must be >= 4.
        operators: even operators matched (names of :data:`rgnet.rg.mcrg.SQUARE_EVEN`).
        n_blocks: jackknife blocks per sample.

    Returns a :class:`MatchingResult`. Bad input (non-+-1 data, sides that are not ``L`` and ``L / b``, sizes
    not divisible by ``b**levels``, too few configurations, a transform of the wrong shape or values) raises
    ``ValueError``/``TypeError`` naming the argument before any operator is computed.
    """
    large, small = _check_pm1(large, "large"), _check_pm1(small, "small")
    for name, spins in (("large", large), ("small", small)):
        if spins.ndim != 3:
            raise ValueError(f"{name} must be square lattices (batch, L, L), got {tuple(spins.shape)}")
    K0 = check_real(K0, "K0")
    levels = check_int(levels, "levels", minimum=1)
    n_blocks = check_int(n_blocks, "n_blocks", minimum=2)
    for name, spins in (("large", large), ("small", small)):
        if spins.shape[0] < 10 * n_blocks:
            raise ValueError(
                f"{name}: {spins.shape[0]} configurations are too few for {n_blocks} jackknife blocks "
                f"(need at least {10 * n_blocks})"
            )
    b = probe_block_factor(large, transform, levels, "the side of large")
    if small.shape[1] * b != large.shape[1]:
        raise ValueError(
            f"small must have side L / b = {large.shape[1]} / {b} = {large.shape[1] // b} (the large side "
            f"over the transform's block factor), got {small.shape[1]}"
        )
    ops = tuple(_select(operators, SQUARE_EVEN, "operators"))
    obs_l = blocked_observables(large, transform, levels, ops)
    obs_s = blocked_observables(small, transform, levels - 1, ops)
    result = MatchingResult(
        K0=K0,
        b=b,
        levels=levels,
        operators=ops,
        sides=(int(large.shape[1]), int(small.shape[1])),
        n_configurations=(int(large.shape[0]), int(small.shape[0])),
    )
    all_l, all_s = np.ones(large.shape[0], dtype=bool), np.ones(small.shape[0], dtype=bool)
    jack_l, jack_s = _blocks(large.shape[0], n_blocks), _blocks(small.shape[0], n_blocks)
    for n in range(1, levels + 1):
        for column, op in enumerate(ops):
            central = _estimates(obs_l, obs_s, all_l, all_s, n, column, K0, b)
            errors = np.zeros(3)
            for masks in ([(keep, all_s) for keep in jack_l], [(all_l, keep) for keep in jack_s]):
                samples = [_estimates(obs_l, obs_s, kl, ks, n, column, K0, b) for kl, ks in masks]
                errors += np.array([_jackknife_error(column_) for column_ in zip(*samples, strict=True)]) ** 2
            errors = np.sqrt(errors)
            if not math.isfinite(errors[0]):  # a root the jackknife samples do not all reproduce is no root
                central, errors = (math.nan,) * 3, np.full(3, math.nan)
            key = (n, op)
            result.K_c[key], result.y_t[key], result.y_h[key] = central
            result.K_c_err[key], result.y_t_err[key], result.y_h_err[key] = (float(e) for e in errors)
    return result


@dataclass
class CriticalPointEstimate(_Estimates):
    """Matching results of several starting couplings combined, by (level, operator): inverse-variance means
    over the starts whose root converged (the samples of different starts are independent).

    ``K_c``, ``K_c_err``, ``y_t``, ``y_t_err``, ``y_h``, ``y_h_err``, ``n_starts`` (converged starts) by
    ``(n, op)``; ``starts``: the individual :class:`MatchingResult` objects.
    """

    starts: list[MatchingResult]
    n_starts: dict[tuple[int, str], int] = field(default_factory=dict)

    def best(self) -> dict[str, float | int | str]:
        """The estimate of the deepest level (first operator) with a converged root: ``level``, ``operator``,
        ``K_c``, ``y_t``, ``y_h`` with errors and ``nu = 1 / y_t`` (NaNs when no level converged)."""
        ops = self.starts[0].operators
        levels = self.starts[0].levels
        for n in range(levels, 0, -1):
            key = (n, ops[0])
            if math.isfinite(self.K_c[key]):
                break
        out: dict[str, float | int | str] = {"level": key[0], "operator": key[1]}
        for name in ESTIMATES:
            out[name] = getattr(self, name)[key]
        y_t, y_t_err = self.y_t[key], self.y_t_err[key]
        out["nu"] = 1.0 / y_t if y_t else math.nan
        out["nu_err"] = y_t_err / y_t**2 if y_t else math.nan
        return out


def combine_matchings(results: Sequence[MatchingResult]) -> CriticalPointEstimate:
    """Inverse-variance combination of :func:`match_critical_point` results from independent samples (one per
    starting coupling); all must share levels and operators."""
    results = list(results)
    if not results or not all(isinstance(r, MatchingResult) for r in results):
        raise TypeError("results must be a non-empty sequence of MatchingResult")
    keys = set(results[0].K_c)
    if any(set(r.K_c) != keys for r in results):
        raise ValueError("results must share their levels and operators to be combined")
    estimate = CriticalPointEstimate(starts=results)
    for key in sorted(keys):
        for name in ("K_c", "y_t", "y_h"):
            values = np.array([getattr(r, name)[key] for r in results])
            errors = np.array([getattr(r, f"{name}_err")[key] for r in results])
            ok = np.isfinite(values) & np.isfinite(errors) & (errors > 0)
            if ok.any():
                w = 1.0 / errors[ok] ** 2
                getattr(estimate, name)[key] = float((w * values[ok]).sum() / w.sum())
                getattr(estimate, f"{name}_err")[key] = float(1.0 / math.sqrt(w.sum()))
            else:
                getattr(estimate, name)[key] = getattr(estimate, f"{name}_err")[key] = math.nan
        estimate.n_starts[key] = int(sum(math.isfinite(r.K_c[key]) and r.K_c_err[key] > 0 for r in results))
    return estimate


def correlation_function(spins: torch.Tensor, *, q: int | None = None) -> torch.Tensor:
    """Spin-spin correlation ``s_i s_{i + r}`` along the two axes, averaged over sites and both axes, per
    configuration: float64 ``(batch, L // 2 + 1)`` for ``r = 0..L // 2`` of +-1 ``(batch, L, L)`` spins
    (periodic autocorrelation of every row and column by FFT, on the spins' device). With ``q``: of Potts
    colours ``0..q-1``, the order-parameter correlation ``delta(s_i, s_{i + r}) - 1/q`` (module docstring)."""
    q = _check_q(q)
    spins = _check_configurations(spins, "spins", q)
    if spins.ndim != 3:
        raise ValueError(f"spins must be square lattices (batch, L, L), got {tuple(spins.shape)}")
    side = spins.shape[1]
    out = torch.zeros(spins.shape[0], side // 2 + 1, dtype=torch.float64, device=spins.device)
    chunk = max(1, (1 << 22) // (side * side * (q or 1)))
    for start in range(0, spins.shape[0], chunk):
        part = spins[start : start + chunk]
        # channels (batch, channels, L, L): the spins, or one-hot colours whose autocorrelations add up to
        # the count of equal pairs
        if q is None:
            channels = part.to(torch.float64)[:, None]
        else:
            channels = torch.nn.functional.one_hot(part.long(), q).permute(0, 3, 1, 2).to(torch.float64)
        for dim in (2, 3):
            power = torch.fft.rfft(channels, dim=dim).abs().square()
            auto = torch.fft.irfft(power, n=side, dim=dim).sum(dim=1)  # sum over the axis of s_i s_{i + r}
            axis = dim - 1
            out[start : start + chunk] += 0.5 * auto.narrow(axis, 0, side // 2 + 1).mean(dim=3 - axis) / side
    return out if q is None else out - 1.0 / q


def _fss_dimension(large: np.ndarray, small: np.ndarray, log_sides: float) -> float:
    """``-ln(<C_L> / <C_s>) / (2 ln(L / L_s))`` from per-configuration correlations (NaN if not positive)."""
    c_l, c_s = float(large.mean()), float(small.mean())
    return -math.log(c_l / c_s) / (2 * log_sides) if c_l > 0 and c_s > 0 else math.nan


@dataclass
class ScalingDimensionResult:
    """``Delta[(n, x)]`` and its jackknife error ``Delta_err`` of the coarse variable at level ``n`` (0: the
    input spins) from the correlation at distance ``x * side``; ``sides[n]`` = (large side, small side)."""

    levels: int
    fractions: tuple[float, ...]
    sides: list[tuple[int, int]]
    Delta: dict[tuple[int, float], float] = field(default_factory=dict)
    Delta_err: dict[tuple[int, float], float] = field(default_factory=dict)


def check_fractions(fractions: Sequence[float], last_side: int | None = None) -> tuple[float, ...]:
    """Distances of :func:`scaling_dimension` as fractions of the side, checked: a non-empty sequence in
    ``(0, 1/2]``, each (given ``last_side``, the side of the small lattice at the last level) a whole number
    of lattice spacings there."""
    if isinstance(fractions, str) or not list(fractions):
        raise ValueError(f"fractions must be a non-empty sequence of numbers in (0, 1/2], got {fractions!r}")
    checked = tuple(check_real(x, "fractions", minimum=0.0, maximum=0.5) for x in fractions)
    for x in checked if last_side is not None else ():
        if x <= 0 or abs(x * last_side - round(x * last_side)) > 1e-9:
            raise ValueError(
                f"fractions: {x} of the last small side {last_side} (the small lattice after every blocking) "
                "is not a whole positive number of lattice spacings"
            )
    return checked


def scaling_dimension(
    large: torch.Tensor,
    small: torch.Tensor,
    transform: Transform,
    levels: int,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    n_blocks: int = 20,
    q: int | None = None,
) -> ScalingDimensionResult:
    """Scaling dimension of the coarse variable of ``transform`` at every level ``0..levels``, by finite-size
    scaling of its correlation function between two sizes at the critical point (module docstring).

    Args:
        large, small: +-1 configurations ``(batch, L, L)`` and ``(batch', L_s, L_s)``, ``L > L_s``, both
            sampled at the critical coupling.
        transform: block-spin map applied ``levels`` times to both.
        fractions: distances as fractions of the side, in ``(0, 1/2]``; each must land on a whole number of
            lattice spacings at the last level of the small lattice.
        n_blocks: jackknife blocks per sample (errors of the two samples added in quadrature).
        q: None for +-1 spins; the colours of q-state Potts configurations ``0..q-1`` (``transform``
            returning colours), whose order-parameter correlation is used (module docstring).
    """
    q = _check_q(q)
    large, small = _check_configurations(large, "large", q), _check_configurations(small, "small", q)
    levels = check_int(levels, "levels", minimum=0)
    n_blocks = check_int(n_blocks, "n_blocks", minimum=2)
    if large.ndim != 3 or small.ndim != 3 or large.shape[1] <= small.shape[1]:
        raise ValueError(
            f"large and small must be square lattices with a larger side for large, got {tuple(large.shape)} "
            f"and {tuple(small.shape)}"
        )
    fractions = check_fractions(fractions)
    if levels:
        b = probe_block_factor(small, transform, levels, "the side of small", q=q)
        probe_block_factor(large, transform, levels, "the side of large", q=q)
    else:
        b = 1
    check_fractions(fractions, small.shape[1] // b**levels)
    result = ScalingDimensionResult(levels=levels, fractions=fractions, sides=[])
    current = {"large": large, "small": small}
    for n in range(levels + 1):
        if n:
            current = {k: transform(v) for k, v in current.items()}
        side_l, side_s = current["large"].shape[1], current["small"].shape[1]
        result.sides.append((int(side_l), int(side_s)))
        corr = {k: correlation_function(v, q=q).cpu().numpy() for k, v in current.items()}
        log_sides = math.log(side_l / side_s)
        for x in fractions:
            c_l = corr["large"][:, round(x * side_l)]
            c_s = corr["small"][:, round(x * side_s)]
            central = _fss_dimension(c_l, c_s, log_sides)
            err_l = _jackknife_error(
                [_fss_dimension(c_l[keep], c_s, log_sides) for keep in _blocks(c_l.shape[0], n_blocks)]
            )
            err_s = _jackknife_error(
                [_fss_dimension(c_l, c_s[keep], log_sides) for keep in _blocks(c_s.shape[0], n_blocks)]
            )
            result.Delta[(n, x)] = central
            result.Delta_err[(n, x)] = math.hypot(err_l, err_s)
    return result


__all__ = [
    "ESTIMATES",
    "DEFAULT_FRACTIONS",
    "DEFAULT_MATCHED",
    "MIN_EFFECTIVE_FRACTION",
    "BlockedObservables",
    "CriticalPointEstimate",
    "MatchingResult",
    "ScalingDimensionResult",
    "blocked_observables",
    "check_fractions",
    "combine_matchings",
    "correlation_function",
    "match_critical_point",
    "scaling_dimension",
]
