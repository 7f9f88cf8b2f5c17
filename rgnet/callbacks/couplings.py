"""Coupling trajectories: fit the Ising couplings of every layer's output during training and compare them
with a classic RG flow of the same input.

Works with any LightningModule exposing ``layer_outputs(x) -> list[Tensor]`` (float/int ``(batch, n_l)`` of
+-1, layer 1 first); ``layer_outputs`` may take a ``generator=`` keyword for reproducible sampling (passed
when accepted). Two geometries:

* **Chains** (e.g. :class:`rgnet.models.flow_dnn.FlowDNN` on 1D chains of ``N`` spins): layer ``l`` is taken
  to be a periodic chain with lattice spacing ``s_l = N / n_l`` input sites. If the module has
  ``layer_positions() -> list[Tensor]`` with one position per unit ``(n_l,)``, the units are sorted by it
  before fitting. The reference is exact decimation of the input chain ``(K0, h0)`` by ``s_l``:
  ``(K_l, h_l) = decimate_1d(K0, s_l, h0)``, i.e. ``K_l = atanh(tanh(K0)^(2^l))`` for halving layers at
  ``h0 = 0``, with correlation lengths ``xi_l = xi_0 / s_l`` in the layer's own lattice units; the stable
  fixed point is ``K* = 0``.
* **Square lattices** (e.g. :class:`rgnet.models.rbm.RBMStack` on ``L x L`` configurations): the module's
  ``layer_positions()`` give each unit's position ``(n_l, 2)`` (row, column; the centre of its receptive
  field) in input lattice units. Layer ``l`` must have ``n_l = m_l^2`` units; they are placed on the sites of
  an ``m_l x m_l`` periodic lattice (block side ``b_l = L / m_l``) by the assignment that minimizes the total
  squared periodic distance from each unit to its block's centre (:func:`assign_to_lattice`), and the
  nearest-neighbour coupling (and field) of that lattice is fitted by pseudo-likelihood. The reference is
  the majority-rule block-spin flow of the same held-out configurations, one blocking per layer
  (``m_{l-1} / m_l`` per step, random tie-break), fitted the same way (:func:`fit_lattice_layers`).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import lightning
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from rgnet._checks import check_bool, check_choice, check_int, check_real
from rgnet.rg import correlation_length_1d, decimate_1d, fit_couplings, majority_2d

FIXED_POINT_K = 0.0


def _xi_with_error(K: float, h: float, cov: np.ndarray, with_h: bool) -> tuple[float, float]:
    """Correlation length at (K, h) and its delta-method error from the fit covariance."""
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
        ``xi_input_units, xi_input_units_err``, ``K_exact, h_exact, xi_exact`` and ``pull_K =
        (K - K_exact) / K_err``.
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
    ``(key, reference key, reference error key or None)``, ``|row[key] - row[ref]| < n_sigma * error`` with the
    fit's error ``row[key + "_err"]`` combined in quadrature with the reference's. Keys absent from a row
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
    for l, (y, pos, m) in enumerate(zip(outputs, positions, sides), start=1):
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

    Passes when, for each of the first ``n_checked`` layers and the deepest one, ``K`` (and ``h`` where fitted)
    agree with the majority-rule values within ``n_sigma`` combined standard errors, and every fit converged.
    Returns ``{"passed": bool, "failures": [str, ...]}``.
    """
    n_sigma = check_real(n_sigma, "n_sigma", minimum=0.0)
    n_checked = check_int(n_checked, "n_checked", minimum=1)
    checks = (("K", "K_majority", "K_majority_err"), ("h", "h_majority", "h_majority_err"))
    failures = _flow_failures(rows, checks, n_sigma, n_checked)
    return {"passed": not failures, "failures": failures}


_REFERENCE = {"chain": ("K_exact", "exact decimation"), "lattice": ("K_majority", "majority-rule flow")}


def _unit_positions(pl_module: lightning.LightningModule) -> list[torch.Tensor] | None:
    """The module's ``layer_positions()`` as CPU tensors, or None when it has none."""
    if not hasattr(pl_module, "layer_positions"):
        return None
    return [torch.as_tensor(p).detach().cpu() for p in pl_module.layer_positions()]


def _on_lattice(positions: list[torch.Tensor] | None) -> bool:
    """Whether unit positions are 2D ``(n_l, 2)``: the layers live on square lattices."""
    return positions is not None and all(p.dim() == 2 for p in positions)


def _geometry(rows: list[dict[str, Any]]) -> str:
    """``"lattice"`` for rows of :func:`fit_lattice_layers`, ``"chain"`` for those of :func:`fit_layers`."""
    return "lattice" if rows and "K_majority" in rows[0] else "chain"


class CouplingTrajectories(lightning.Callback):
    """Every ``every_n_epochs`` training epochs, fit the couplings of each layer's output on held-out inputs,
    log them and keep their history (survives checkpoint/resume). Chains or square lattices, see the module
    docstring: the reference is exact decimation (chains) or the majority-rule flow (lattices).

    TensorBoard (when the trainer logs to it): scalars ``couplings/K_layer{l}``, ``couplings/h_layer{l}``,
    ``couplings/pull_K_layer{l}`` (and ``couplings/xi_layer{l}`` on chains), and a figure
    ``couplings/trajectories`` of the fitted couplings over epochs next to the reference flow.

    Args:
        every_n_epochs: fit frequency.
        method: ``"auto"`` (default: exact transfer-matrix likelihood on chains, pseudo-likelihood on
            lattices), ``"exact"`` (chains only) or ``"pseudo"``.
        fit_field: also fit the field h (default True).
        max_samples: use at most this many held-out inputs.
        K0, h0: couplings of the inputs (default: the datamodule's ``K`` and ``h``, or those of its
            ``config``).
        n_sigma: tolerance (in standard errors) of :func:`check_exact_flow` / :func:`check_block_spin_flow`
            in the summary.
        seed: seed of the sampling of the stochastic layer outputs and of the majority rule's tie-breaks.

    Held-out inputs: ``trainer.datamodule.heldout`` (``(n, N)`` +-1) when present, else the validation set.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        method: str = "auto",
        fit_field: bool = True,
        max_samples: int = 2000,
        K0: float | None = None,
        h0: float | None = None,
        n_sigma: float = 4.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", minimum=1)
        self.method = check_choice(method, "method", ("auto", "exact", "pseudo"))
        self.terms = ("K", "h") if check_bool(fit_field, "fit_field") else ("K",)
        self.max_samples = check_int(max_samples, "max_samples", minimum=2)
        self.K0 = None if K0 is None else check_real(K0, "K0")
        self.h0 = None if h0 is None else check_real(h0, "h0")
        self.n_sigma = check_real(n_sigma, "n_sigma", minimum=0.0)
        self.seed = check_int(seed, "seed", minimum=0)
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ data
    def _heldout(self, trainer: lightning.Trainer) -> torch.Tensor:
        dm = trainer.datamodule
        spins = getattr(dm, "heldout", None)
        if spins is None:
            loaders = trainer.val_dataloaders
            if loaders is None:
                raise ValueError(
                    "CouplingTrajectories needs held-out chains: datamodule.heldout or a validation set"
                )
            loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
            spins = torch.cat([b[0] if isinstance(b, (list, tuple)) else b for b in loader])
        return spins[: self.max_samples]

    def _couplings(self, trainer: lightning.Trainer) -> tuple[float, float]:
        dm = trainer.datamodule
        config = getattr(dm, "config", None)
        K0 = self.K0 if self.K0 is not None else getattr(dm, "K", getattr(config, "K", None))
        h0 = self.h0 if self.h0 is not None else getattr(dm, "h", getattr(config, "h", 0.0))
        if K0 is None:
            raise ValueError("CouplingTrajectories: give K0 (the datamodule has no attribute K)")
        return float(K0), float(h0)

    def measure(
        self, pl_module: lightning.LightningModule, spins: torch.Tensor, K0: float, h0: float
    ) -> list[dict]:
        """Fit the current layer outputs of ``pl_module`` on ``spins`` ``(n, N)``: :func:`fit_layers` on chains,
        :func:`fit_lattice_layers` when ``layer_positions()`` gives ``(n_l, 2)`` positions."""
        if not hasattr(pl_module, "layer_outputs"):
            raise TypeError(f"{type(pl_module).__name__} has no layer_outputs(x) method")
        x = spins.to(device=pl_module.device, dtype=torch.float32)
        kwargs = {}
        if "generator" in inspect.signature(pl_module.layer_outputs).parameters:
            kwargs["generator"] = torch.Generator().manual_seed(self.seed)
        was_training = pl_module.training
        pl_module.eval()
        try:
            outputs = [y.detach().cpu() for y in pl_module.layer_outputs(x, **kwargs)]
            positions = _unit_positions(pl_module)
        finally:
            pl_module.train(was_training)
        if _on_lattice(positions):
            self._check_lattice_method()
            return fit_lattice_layers(outputs, positions, spins.cpu(), terms=self.terms, seed=self.seed)
        if positions is not None:
            outputs = [y[:, torch.argsort(p)] for y, p in zip(outputs, positions)]
        method = "exact" if self.method == "auto" else self.method
        return fit_layers(outputs, int(x.shape[1]), K0, h0, method=method, terms=self.terms)

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        """Fail before training when the layers cannot be fitted: no ``layer_outputs``, lattice layers whose
        sizes are not nested square lattices (:func:`lattice_sides`), or ``method="exact"`` on lattices."""
        if not hasattr(pl_module, "layer_outputs"):
            raise TypeError(f"{type(pl_module).__name__} has no layer_outputs(x) method")
        positions = _unit_positions(pl_module)
        if _on_lattice(positions):
            self._check_lattice_method()
            lattice_sides([p.shape[0] for p in positions], getattr(pl_module, "L", None))

    def _check_lattice_method(self) -> None:
        if self.method == "exact":
            raise ValueError(
                "method='exact' fits chains; lattice layers are fitted by pseudo-likelihood (method 'auto' or 'pseudo')"
            )

    def on_train_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        epoch = trainer.current_epoch
        if (epoch + 1) % self.every_n_epochs:
            return
        K0, h0 = self._couplings(trainer)
        rows = self.measure(pl_module, self._heldout(trainer), K0, h0)
        self.history.append(
            {
                "epoch": epoch,
                "global_step": trainer.global_step,
                "K0": K0,
                "h0": h0,
                "method": self.method,
                "geometry": _geometry(rows),
                "layers": rows,
            }
        )
        if trainer.is_global_zero and isinstance(trainer.logger, TensorBoardLogger):
            writer = trainer.logger.experiment
            for row in rows:
                l = row["layer"]
                for key in ("K", "h", "xi", "pull_K"):
                    if key in row:
                        writer.add_scalar(f"couplings/{key}_layer{l}", row[key], trainer.global_step)
            writer.add_figure("couplings/trajectories", self.figure(), trainer.global_step)

    def figure(self):
        """Matplotlib figure: fitted K per layer over epochs (with the reference values dashed and, on chains,
        K* = 0 dotted) and the final couplings against depth."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 4))
        ax_t, ax_l = fig.subplots(1, 2)
        if not self.history:
            return fig
        last = self.history[-1]
        ref_key, ref_name = _REFERENCE[_geometry(last["layers"])]
        epochs = [rec["epoch"] for rec in self.history]
        n_layers = len(last["layers"])
        for i in range(n_layers):
            K = np.array([rec["layers"][i]["K"] for rec in self.history])
            err = np.array([rec["layers"][i]["K_err"] for rec in self.history])
            line = ax_t.plot(epochs, K, marker="o", ms=3, label=f"layer {i + 1}")[0]
            ax_t.fill_between(epochs, K - err, K + err, color=line.get_color(), alpha=0.25)
            ax_t.axhline(last["layers"][i][ref_key], color=line.get_color(), ls="--", lw=1)
        ax_t.axhline(FIXED_POINT_K, color="k", ls=":", lw=1, label="K* = 0")
        ax_t.set_xlabel("epoch")
        ax_t.set_ylabel("fitted K of layer output")
        ax_t.set_title(f"coupling trajectories (dashed: {ref_name})")
        ax_t.legend(fontsize=7)
        depth = np.arange(0, n_layers + 1)
        ax_l.plot(depth, [last["K0"]] + [r[ref_key] for r in last["layers"]], "s--", label=ref_name)
        ax_l.errorbar(
            depth[1:],
            [r["K"] for r in last["layers"]],
            yerr=[r["K_err"] for r in last["layers"]],
            fmt="o",
            capsize=3,
            label=f"fitted (epoch {last['epoch']})",
        )
        ax_l.axhline(FIXED_POINT_K, color="k", ls=":", lw=1)
        ax_l.set_xlabel("layer l")
        ax_l.set_ylabel("K_l")
        ax_l.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def summary_metrics(self) -> dict[str, Any]:
        """Final fitted couplings per layer (with errors) next to the reference flow, and its verdict.

        Chains: correlation lengths, exact decimation values, the distance of the deepest layer to ``K* = 0``
        and :func:`check_exact_flow` (``follows_exact_flow``). Lattices: majority-rule values, placement errors
        and :func:`check_block_spin_flow` (``follows_block_spin_flow``).
        """
        if not self.history:
            return {}
        last = self.history[-1]
        rows = last["layers"]
        geometry = _geometry(rows)
        chi2 = float(sum(r["pull_K"] ** 2 for r in rows))
        flow: dict[str, Any] = {
            "geometry": geometry,
            "reference": _REFERENCE[geometry][1],
            "K0": last["K0"],
            "h0": last["h0"],
            "epoch": last["epoch"],
            "method": last["method"],
            "layers": [dict(r) for r in rows],
        }
        out: dict[str, Any] = {"coupling_flow": flow, "coupling_chi2": chi2}
        if geometry == "lattice":
            verdict = check_block_spin_flow(rows, self.n_sigma, n_checked=min(3, len(rows)))
            flow.update(chi2_vs_block_spin_flow=chi2, follows_block_spin_flow=verdict["passed"])
        else:
            verdict = check_exact_flow(rows, self.n_sigma, n_checked=min(3, len(rows)))
            deep = rows[-1]
            flow.update(
                fixed_point_K=FIXED_POINT_K,
                distance_to_fixed_point=abs(deep["K"] - FIXED_POINT_K),
                distance_to_fixed_point_sigma=abs(deep["K"] - FIXED_POINT_K) / deep["K_err"],
                chi2_vs_exact_flow=chi2,
                follows_exact_flow=verdict["passed"],
                deepest_at_fixed_point=verdict["deepest_at_fixed_point"],
            )
            out["coupling_distance_to_fixed_point"] = abs(deep["K"] - FIXED_POINT_K)
        flow.update(
            failures=verdict["failures"],
            trajectory_epochs=[rec["epoch"] for rec in self.history],
            trajectory_K=[[rec["layers"][i]["K"] for rec in self.history] for i in range(len(rows))],
        )
        return out

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))


__all__ = [
    "CouplingTrajectories",
    "assign_to_lattice",
    "check_block_spin_flow",
    "check_exact_flow",
    "fit_lattice_layers",
    "fit_layers",
    "lattice_sides",
]
