"""Measured RG flows of layered networks: fit the Ising couplings of every layer's output and judge them
against a classic RG flow of the same input.

The layers' outputs are ``(batch, n_l)`` +-1 units, layer 1 first. Two geometries:

* **Chains** (e.g. :class:`rgnet.models.flow_dnn.FlowDNN` on 1D chains of ``N`` spins): layer ``l`` is taken
  to be a periodic chain with lattice spacing ``s_l = N / n_l`` input sites; units with known positions
  ``(n_l,)`` are sorted by them before fitting. The reference is exact decimation of the input chain
  ``(K0, h0)`` by ``s_l``: ``(K_l, h_l) = decimate_1d(K0, s_l, h0)``, i.e. ``K_l = atanh(tanh(K0)^(2^l))``
  for halving layers at ``h0 = 0``, with correlation lengths ``xi_l = xi_0 / s_l`` in the layer's own lattice
  units; the stable fixed point is ``K* = 0`` (:func:`fit_layers`, :func:`check_exact_flow`).
* **Square lattices** (e.g. :class:`~rgnet.models.rbm_stack.RBMStack` on ``L x L`` configurations): each unit
  has a position ``(n_l, 2)`` (row, column; the centre of its receptive field) in input lattice units. Layer
  ``l`` must have ``n_l = m_l^2`` units; they are placed on the sites of an ``m_l x m_l`` periodic lattice
  (block side ``b_l = L / m_l``) by the assignment that minimizes the total squared periodic distance from
  each unit to its block's centre (:func:`assign_to_lattice`), and the nearest-neighbour coupling (and field)
  of that lattice is fitted by pseudo-likelihood. The reference is the majority-rule block-spin flow of the
  same configurations, one blocking per layer (``m_{l-1} / m_l`` per step, random tie-break), fitted the same
  way (:func:`fit_lattice_layers`, :func:`check_block_spin_flow`).

:func:`fit_flow` picks the geometry from the positions, :func:`flow_verdict` summarizes a measured flow.
Couplings are dimensionless (``K = J / kT``), lengths in lattice spacings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from rgnet._checks import check_choice, check_int, check_real
from rgnet.rg.blocking import majority_2d
from rgnet.rg.couplings import fit_couplings
from rgnet.rg.recursions import correlation_length_1d, decimate_1d

#: The stable fixed point of the 1D decimation flow.
FIXED_POINT_K = 0.0
#: Fit methods of :func:`fit_flow`: ``"auto"`` is exact on chains and pseudo-likelihood on lattices.
FLOW_FIT_METHODS = ("auto", "exact", "pseudo")
#: Per geometry, the row key of the reference coupling and the name of the reference flow.
REFERENCE_FLOWS = {"chain": ("K_exact", "exact decimation"), "lattice": ("K_majority", "majority-rule flow")}


def _xi_with_error(K: float, h: float, cov: np.ndarray, with_h: bool) -> tuple[float, float]:
    """Correlation length (lattice spacings) at ``(K, h)`` and its delta-method error from the covariance
    ``cov`` (float64 ``(n_terms, n_terms)``, K first, then h when ``with_h``) of the fitted couplings."""
    xi = correlation_length_1d(K, h)
    if not math.isfinite(xi) or K == 0.0:
        return xi, math.inf
    eps = 1e-5 * (1.0 + abs(K))
    grad = [(correlation_length_1d(K + eps, h) - correlation_length_1d(K - eps, h)) / (2 * eps)]
    if with_h:
        grad.append((correlation_length_1d(K, h + eps) - correlation_length_1d(K, h - eps)) / (2 * eps))
    g = np.array(grad)
    return xi, float(math.sqrt(max(g @ cov[: len(g), : len(g)] @ g, 0.0)))


def fit_layers(
    outputs: list[torch.Tensor],
    N: int,
    K0: float,
    h0: float = 0.0,
    *,
    method: str = "exact",
    terms: tuple[str, ...] = ("K", "h"),
) -> list[dict[str, float]]:
    """Fit every layer's output chain and attach the exact decimation values.

    Args:
        outputs: per layer ``(batch, n_l)`` +-1 spins, layer 1 first, units in chain order.
        N: input chain length; layer ``l`` has lattice spacing ``N / n_l`` (must be an integer).
        K0, h0: couplings of the input chain.
        method, terms: passed to :func:`rgnet.rg.fit_couplings` (terms must include ``"K"``).

    Returns:
        one dict per layer: ``layer, size, spacing, K, K_err, h`` (0 when not fitted), ``h_err`` (only when
        fitted), ``xi, xi_err`` (own lattice units),
        ``xi_input_units, xi_input_units_err``, ``K_exact, h_exact, xi_exact``, ``pull_K =
        (K - K_exact) / K_err`` and ``converged``.
    """
    rows = []
    for l, y in enumerate(outputs, start=1):
        size = int(y.shape[1])
        if N % size:
            raise ValueError(f"layer {l} has {size} units, which does not divide the input length N={N}")
        spacing = N // size
        fit = fit_couplings(y, terms=terms, method=method)
        K = fit["K"]
        h = fit.values.get("h", 0.0)
        xi, xi_err = _xi_with_error(K, h, fit.covariance, "h" in fit.terms)
        exact = decimate_1d(K0, spacing, h0)
        K_err = fit.errors["K"]
        rows.append(
            {
                "layer": l,
                "size": size,
                "spacing": spacing,
                "K": K,
                "K_err": K_err,
                "h": h,
                **({"h_err": fit.errors["h"]} if "h" in fit.terms else {}),
                "xi": xi,
                "xi_err": xi_err,
                "xi_input_units": xi * spacing,
                "xi_input_units_err": xi_err * spacing,
                "K_exact": exact.K,
                "h_exact": exact.h,
                "xi_exact": correlation_length_1d(exact.K, exact.h),
                "pull_K": (K - exact.K) / K_err if K_err > 0 else math.inf,
                "converged": bool(fit.converged),
            }
        )
    return rows


def _flow_failures(
    rows: list[dict[str, Any]],
    checks: tuple[tuple[str, str, str | None], ...],
    n_sigma: float,
    n_checked: int,
) -> list[str]:
    """Disagreements of the first ``n_checked`` rows and the deepest one with their reference: for each
    ``(key, reference key, reference error key or None)``, ``|row[key] - row[ref]| < n_sigma * error`` with
    the fit's error ``row[key + "_err"]`` combined in quadrature with the reference's. Keys absent from a row
    (a field that was not fitted) are skipped; fits that did not converge are failures."""
    failures = []
    if len(rows) < n_checked:
        failures.append(f"only {len(rows)} layers, {n_checked} needed")
    for row in rows:
        if not row.get("converged", True):
            failures.append(f"layer {row['layer']}: the coupling fit did not converge (no finite maximum)")
    checked = rows[:n_checked] + (rows[-1:] if len(rows) > n_checked else [])
    for row in checked:
        for key, ref, ref_err in checks:
            if f"{key}_err" not in row:
                continue
            error = math.hypot(row[f"{key}_err"], row[ref_err] if ref_err else 0.0)
            if not abs(row[key] - row[ref]) < n_sigma * error:
                which = "deepest layer" if row is rows[-1] and len(rows) > n_checked else "layer"
                failures.append(
                    f"{which} {row['layer']}: {key} = {row[key]:.4f} +- {error:.4f}, {ref} {row[ref]:.4f}"
                )
    return failures


def check_exact_flow(
    rows: list[dict[str, float]], n_sigma: float = 4.0, n_checked: int = 3
) -> dict[str, Any]:
    """Does a measured flow of chains (:func:`fit_layers`) follow exact decimation?

    Passes when, for each of the first ``n_checked`` layers, ``|K - K_exact| < n_sigma K_err``,
    ``|xi - xi_exact| < n_sigma xi_err`` (own lattice units) and, where the field was fitted,
    ``|h - h_exact| < n_sigma h_err``, every layer's fit converged, and the deepest layer's K agrees with its
    exact value in the same sense. The tolerance is the fitter's statistical error only. Separately,
    ``deepest_at_fixed_point`` says whether the deepest layer is within ``n_sigma K_err`` of ``K* = 0``:
    exact decimation gets there only after enough layers (from K0 = 1, four halvings leave K = 0.013; from
    K0 = 2 they leave 0.63), so reaching K* is a verdict on the depth as much as on the network.
    Returns ``{"passed": bool, "failures": [str, ...], "deepest_at_fixed_point": bool}``.
    """
    n_sigma = check_real(n_sigma, "n_sigma", minimum=0.0)
    n_checked = check_int(n_checked, "n_checked", minimum=1)
    failures = _flow_failures(
        rows,
        (("K", "K_exact", None), ("xi", "xi_exact", None), ("h", "h_exact", None)),
        n_sigma,
        n_checked,
    )
    at_fixed_point = bool(rows) and abs(rows[-1]["K"] - FIXED_POINT_K) < n_sigma * rows[-1]["K_err"]
    return {"passed": not failures, "failures": failures, "deepest_at_fixed_point": at_fixed_point}


def assign_to_lattice(positions: torch.Tensor, L: int) -> tuple[torch.Tensor, float]:
    """Place ``n = m^2`` units with positions ``(n, 2)`` (row, column; input lattice units of an ``L x L``
    torus) on the sites of an ``m x m`` lattice whose site ``(I, J)`` is the block of side ``b = L / m``
    centred at ``(b I + (b - 1) / 2, b J + (b - 1) / 2)``, minimizing the total squared periodic distance.

    Returns ``order`` (int64 ``(n,)``: the unit on site ``k = I m + J``, row-major) and the mean distance of
    a unit from its site's centre in block sides (0 when every unit sits at the centre of its own block).
    """
    from scipy.optimize import linear_sum_assignment

    positions = torch.as_tensor(positions, dtype=torch.float64).cpu()
    n = positions.shape[0]
    m = math.isqrt(n)
    if positions.dim() != 2 or positions.shape[1] != 2 or m * m != n:
        raise ValueError(f"positions must have shape (m*m, 2), got {tuple(positions.shape)}")
    if m == 0 or L % m:
        raise ValueError(f"a layer of {n} = {m}^2 units needs m to divide the lattice side L = {L}")
    b = L // m
    centre = b * torch.arange(m, dtype=torch.float64) + (b - 1) / 2
    sites = torch.cartesian_prod(centre, centre)  # (n, 2), row-major
    d = (sites[:, None, :] - positions[None, :, :]).remainder(L)
    cost = (torch.minimum(d, L - d) ** 2).sum(dim=-1).numpy()  # (sites, units)
    site_index, unit_index = linear_sum_assignment(cost)
    order = torch.as_tensor(unit_index[np.argsort(site_index)], dtype=torch.int64)
    return order, float(np.sqrt(cost[site_index, unit_index]).mean() / b)


def lattice_sides(sizes: list[int], L: int | None = None) -> list[int]:
    """Sides ``m_l`` of the coarse lattices of layers with ``sizes[l] = m_l^2`` units: each ``m_l >= 3`` (the
    smallest periodic square lattice with distinct neighbours) dividing the side of the layer below (``L`` for
    the first, when given). Raises ValueError naming the first layer that does not fit."""
    sides, below = [], L
    for l, size in enumerate(sizes, start=1):
        m = math.isqrt(size)
        if m * m != size or m < 3 or (below is not None and below % m):
            where = f" dividing the side {below} of the layer below" if below is not None else ""
            raise ValueError(f"layer {l} has {size} units: a square lattice of side m >= 3{where} is needed")
        sides.append(m)
        below = m
    return sides


def fit_lattice_layers(
    outputs: list[torch.Tensor],
    positions: list[torch.Tensor],
    spins: torch.Tensor,
    *,
    terms: tuple[str, ...] = ("K", "h"),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Fit every layer's output on its coarse square lattice and the majority-rule flow of the same inputs.

    Args:
        outputs: per layer ``(batch, n_l)`` +-1 units, layer 1 first, ``n_l = m_l^2``.
        positions: per layer ``(n_l, 2)`` unit positions (row, column) in input lattice units.
        spins: the inputs, ``(batch, L, L)`` or ``(batch, L*L)`` +-1.
        terms: passed to :func:`rgnet.rg.fit_couplings` (pseudo-likelihood; must include ``"K"``).
        seed: seed of the majority rule's tie-breaks.

    Returns:
        one dict per layer: ``layer, size, side`` (m_l), ``spacing`` (L / m_l), ``placement_error``
        (:func:`assign_to_lattice`), ``K, K_err, h, h_err`` of the layer, ``K_majority, K_majority_err,
        h_majority, h_majority_err`` of the majority-rule configurations at the same depth, ``pull_K`` (the
        difference over the combined error) and ``converged``.
    """
    n = spins.shape[0]
    L = math.isqrt(spins[0].numel())
    if L * L != spins[0].numel():
        raise ValueError(f"inputs must be square lattices, got {spins[0].numel()} sites per configuration")
    sides = lattice_sides([int(y.shape[1]) for y in outputs], L)
    reference = spins.reshape(n, L, L)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    rows = []
    for l, (y, pos, m) in enumerate(zip(outputs, positions, sides, strict=True), start=1):
        size, side_below = m * m, reference.shape[-1]
        order, placement_error = assign_to_lattice(pos, L)
        lattice = y[:, order].reshape(n, m, m)
        reference = majority_2d(reference, side_below // m, generator=generator)
        fit = fit_couplings(lattice, terms=terms, method="pseudo")
        ref = fit_couplings(reference, terms=terms, method="pseudo")
        row: dict[str, Any] = {
            "layer": l,
            "size": size,
            "side": m,
            "spacing": L // m,
            "placement_error": placement_error,
        }
        for term in terms:
            row[term], row[f"{term}_err"] = fit[term], fit.errors[term]
            row[f"{term}_majority"], row[f"{term}_majority_err"] = ref[term], ref.errors[term]
        row["pull_K"] = (fit["K"] - ref["K"]) / math.hypot(fit.errors["K"], ref.errors["K"])
        row["converged"] = bool(fit.converged and ref.converged)
        rows.append(row)
    return rows


def check_block_spin_flow(
    rows: list[dict[str, Any]], n_sigma: float = 4.0, n_checked: int = 3
) -> dict[str, Any]:
    """Does a measured flow on square lattices (:func:`fit_lattice_layers`) follow the majority-rule flow?

    Passes when, for each of the first ``n_checked`` layers and the deepest one, ``K`` (and ``h`` where
    fitted) agree with the majority-rule values within ``n_sigma`` combined standard errors, and every fit
    converged.
    Returns ``{"passed": bool, "failures": [str, ...]}``.
    """
    n_sigma = check_real(n_sigma, "n_sigma", minimum=0.0)
    n_checked = check_int(n_checked, "n_checked", minimum=1)
    checks = (("K", "K_majority", "K_majority_err"), ("h", "h_majority", "h_majority_err"))
    failures = _flow_failures(rows, checks, n_sigma, n_checked)
    return {"passed": not failures, "failures": failures}


def on_square_lattice(positions: list[torch.Tensor] | None) -> bool:
    """Whether unit positions are 2D, ``(n_l, 2)`` per layer: the layers live on square lattices."""
    return positions is not None and all(p.dim() == 2 for p in positions)


def flow_fit_method(method: str, lattice: bool) -> str:
    """The :func:`rgnet.rg.fit_couplings` method for ``method`` in :data:`FLOW_FIT_METHODS` on chains or
    lattices (``lattice``); ValueError for ``"exact"`` on lattices (no exact likelihood there)."""
    method = check_choice(method, "method", FLOW_FIT_METHODS)
    if lattice and method == "exact":
        raise ValueError(
            "method='exact' fits chains; lattice layers are fitted by pseudo-likelihood "
            "(method 'auto' or 'pseudo')"
        )
    if method == "auto":
        return "pseudo" if lattice else "exact"
    return method


def fit_flow(
    outputs: list[torch.Tensor],
    positions: list[torch.Tensor] | None,
    spins: torch.Tensor,
    K0: float,
    h0: float = 0.0,
    *,
    method: str = "auto",
    terms: tuple[str, ...] = ("K", "h"),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The measured flow of layer ``outputs`` (per layer ``(batch, n_l)`` +-1, layer 1 first) of the
    inputs ``spins`` (+-1, ``(batch, N)``; on lattices ``(batch, L, L)`` or ``(batch, L*L)``) drawn at
    ``(K0, h0)``.

    ``positions`` (per layer, see the module docstring; None: units in chain order) choose the geometry:
    ``(n_l, 2)`` positions give :func:`fit_lattice_layers` (``K0, h0`` unused: the reference is the
    majority-rule flow of ``spins``, tie-breaks seeded by ``seed``), else :func:`fit_layers` on chains of
    ``N`` sites with the units sorted by their positions. ``method``: see :func:`flow_fit_method`.
    """
    lattice = on_square_lattice(positions)
    fit_method = flow_fit_method(method, lattice)
    if lattice:
        return fit_lattice_layers(outputs, positions, spins, terms=terms, seed=seed)
    if positions is not None:
        outputs = [y[:, torch.argsort(p)] for y, p in zip(outputs, positions, strict=True)]
    return fit_layers(outputs, int(spins[0].numel()), K0, h0, method=fit_method, terms=terms)


def flow_geometry(rows: list[dict[str, Any]]) -> str:
    """``"lattice"`` for rows of :func:`fit_lattice_layers`, ``"chain"`` for those of :func:`fit_layers`."""
    return "lattice" if rows and "K_majority" in rows[0] else "chain"


def flow_chi2(rows: list[dict[str, Any]]) -> float:
    """Sum over layers of ``pull_K^2``, the squared differences of the fitted and reference K over their
    errors: small when the network follows the reference flow."""
    return float(sum(r["pull_K"] ** 2 for r in rows))


def flow_verdict(rows: list[dict[str, Any]], n_sigma: float = 4.0) -> dict[str, Any]:
    """Verdict on a measured flow (rows of :func:`fit_flow`, at least one), judged on its first three layers
    and the deepest one.

    Returns ``geometry``, ``reference`` (its name) and ``failures``; on chains :func:`check_exact_flow`'s
    ``follows_exact_flow`` and ``deepest_at_fixed_point``, ``chi2_vs_exact_flow`` (:func:`flow_chi2`),
    ``fixed_point_K`` and the deepest layer's ``distance_to_fixed_point`` (in K, and in its standard errors
    ``distance_to_fixed_point_sigma``); on lattices :func:`check_block_spin_flow`'s
    ``follows_block_spin_flow`` and ``chi2_vs_block_spin_flow``.
    """
    if not rows:
        raise ValueError("a flow verdict needs at least one layer")
    geometry = flow_geometry(rows)
    out: dict[str, Any] = {"geometry": geometry, "reference": REFERENCE_FLOWS[geometry][1]}
    n_checked = min(3, len(rows))
    if geometry == "lattice":
        verdict = check_block_spin_flow(rows, n_sigma, n_checked=n_checked)
        out.update(chi2_vs_block_spin_flow=flow_chi2(rows), follows_block_spin_flow=verdict["passed"])
    else:
        verdict = check_exact_flow(rows, n_sigma, n_checked=n_checked)
        distance = abs(rows[-1]["K"] - FIXED_POINT_K)
        out.update(
            fixed_point_K=FIXED_POINT_K,
            distance_to_fixed_point=distance,
            distance_to_fixed_point_sigma=distance / rows[-1]["K_err"],
            chi2_vs_exact_flow=flow_chi2(rows),
            follows_exact_flow=verdict["passed"],
            deepest_at_fixed_point=verdict["deepest_at_fixed_point"],
        )
    out["failures"] = verdict["failures"]
    return out


__all__ = [
    "FIXED_POINT_K",
    "FLOW_FIT_METHODS",
    "REFERENCE_FLOWS",
    "assign_to_lattice",
    "check_block_spin_flow",
    "check_exact_flow",
    "fit_flow",
    "fit_lattice_layers",
    "fit_layers",
    "flow_chi2",
    "flow_fit_method",
    "flow_geometry",
    "flow_verdict",
    "lattice_sides",
    "on_square_lattice",
]
