"""Coupling trajectories: fit the Ising couplings of every layer's output during training and compare them
with a classic RG flow of the same input (the analysis is :mod:`rgnet.rg.flow`; this module logs it).

Works with any LightningModule with ``layer_outputs(x, generator=None) -> list[Tensor]``
(:class:`rgnet.contracts.HasLayerOutputs`; float ``(batch, n_l)`` of +-1, layer 1 first). Optionally, its
``layer_positions() -> list[Tensor]`` (:class:`rgnet.contracts.HasLayerPositions`) give each unit's place:

* **Chains** (e.g. :class:`rgnet.models.flow_dnn.FlowDNN` on 1D chains of ``N`` spins): no positions, or one
  per unit ``(n_l,)`` by which the units are sorted; the reference is exact decimation of the input chain
  (:func:`rgnet.rg.fit_layers`, :func:`rgnet.rg.check_exact_flow`).
* **Square lattices** (e.g. :class:`~rgnet.models.rbm_stack.RBMStack` on ``L x L`` configurations): positions
  ``(n_l, 2)`` (row, column) in input lattice units; the units are placed on ``m_l x m_l`` lattices and the
  reference is the majority-rule block-spin flow of the same held-out configurations
  (:func:`rgnet.rg.fit_lattice_layers`, :func:`rgnet.rg.check_block_spin_flow`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lightning
import numpy as np
import torch

from rgnet._checks import check_bool, check_choice, check_int, check_real
from rgnet.callbacks._tensorboard import (
    legend_below,
    overlay_charts,
    run_title,
    tensorboard_writer,
    wrap_title,
)
from rgnet.contracts import (
    HasCouplings,
    HasHeldout,
    HasLatticeSide,
    HasLayerOutputs,
    HasLayerPositions,
    check_couplings_match,
    require,
)
from rgnet.rg.flow import (
    FIXED_POINT_K,
    FLOW_FIT_METHODS,
    REFERENCE_FLOWS,
    fit_flow,
    flow_chi2,
    flow_fit_method,
    flow_geometry,
    flow_verdict,
    lattice_sides,
    on_square_lattice,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: Per-layer quantities logged as ``couplings/layer{l}/<quantity>/fitted`` next to their reference.
LAYER_QUANTITIES = ("K", "h", "xi")


def _unit_positions(pl_module: lightning.LightningModule) -> list[torch.Tensor] | None:
    """The module's ``layer_positions()`` as CPU tensors, or None when it has none."""
    if not isinstance(pl_module, HasLayerPositions):
        return None
    return [torch.as_tensor(p).detach().cpu() for p in pl_module.layer_positions()]


class CouplingTrajectories(lightning.Callback):
    """Every ``every_n_epochs`` training epochs, fit the couplings of each layer's output on held-out inputs,
    log them and keep their history (survives checkpoint/resume). Chains or square lattices, see the module
    docstring: the reference is exact decimation (chains) or the majority-rule flow (lattices).

    TensorBoard (when the trainer logs to it): the verdict ``couplings/follows_exact_flow`` or
    ``couplings/follows_block_spin_flow`` (0/1) and ``couplings/chi2``; per layer scalars
    ``couplings/layer{l}/K/fitted`` next to the reference ``couplings/layer{l}/K/exact`` (chains) or
    ``.../K/majority`` (lattices), the same for ``h`` (and ``xi`` on chains), each pair overlaid on one
    custom-scalars chart, and ``couplings/layer{l}/pull_K`` (:meth:`tags`); a figure
    ``couplings/trajectories`` of the fitted couplings over epochs next to the reference flow.

    Args:
        every_n_epochs: fit frequency.
        method: ``"auto"`` (default: exact transfer-matrix likelihood on chains, pseudo-likelihood on
            lattices), ``"exact"`` (chains only) or ``"pseudo"``.
        fit_field: also fit the field h (default True).
        max_samples: use at most this many held-out inputs.
        K0, h0: couplings of the inputs (default: the data module's ``K`` and ``h``,
            :class:`rgnet.contracts.HasCouplings`).
        n_sigma: tolerance (in standard errors) of the summary's verdict (:func:`rgnet.rg.flow_verdict`).
        seed: seed of the sampling of the stochastic layer outputs and of the majority rule's tie-breaks.

    Held-out inputs: ``trainer.datamodule.heldout`` (``(n, N)`` +-1, :class:`rgnet.contracts.HasHeldout`) when
    present, else the validation set.
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
        self.method = check_choice(method, "method", FLOW_FIT_METHODS)
        self.terms = ("K", "h") if check_bool(fit_field, "fit_field") else ("K",)
        self.max_samples = check_int(max_samples, "max_samples", minimum=2)
        self.K0 = None if K0 is None else check_real(K0, "K0")
        self.h0 = None if h0 is None else check_real(h0, "h0")
        self.n_sigma = check_real(n_sigma, "n_sigma", minimum=0.0)
        self.seed = check_int(seed, "seed", minimum=0)
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ data
    def _heldout(self, trainer: lightning.Trainer) -> torch.Tensor:
        """Up to ``max_samples`` held-out inputs ``(n, N)`` +-1: the data module's ``heldout``
        (:class:`rgnet.contracts.HasHeldout`) when it has them, else the validation set."""
        dm = trainer.datamodule
        spins = dm.heldout if isinstance(dm, HasHeldout) else None
        if spins is None:
            loaders = trainer.val_dataloaders
            if loaders is None:
                raise ValueError(
                    "CouplingTrajectories needs held-out chains: datamodule.heldout or a validation set"
                )
            loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
            spins = torch.cat([b[0] if isinstance(b, (list, tuple)) else b for b in loader])
        return spins[: self.max_samples]

    def check_datamodule(self, datamodule: object) -> None:
        """``K0``, ``h0`` when given must be the data's couplings (rgnet-train calls this before any data is
        made)."""
        check_couplings_match(datamodule, K=("K0", self.K0), h=("h0", self.h0))

    def _couplings(self, trainer: lightning.Trainer) -> tuple[float, float]:
        """``(K0, h0)``: as given, else the data module's (:class:`rgnet.contracts.HasCouplings`; needed for
        K0, while h0 falls back to 0 when the data module does not know it)."""
        dm = trainer.datamodule
        if self.K0 is None:
            require(dm, HasCouplings, "CouplingTrajectories without K0")
        known = isinstance(dm, HasCouplings)
        K0 = self.K0 if self.K0 is not None else dm.K
        h0 = self.h0 if self.h0 is not None else dm.h if known else 0.0
        return float(K0), float(h0)

    def measure(
        self, pl_module: lightning.LightningModule, spins: torch.Tensor, K0: float, h0: float
    ) -> list[dict[str, Any]]:
        """Fit the current layer outputs of ``pl_module`` (:class:`rgnet.contracts.HasLayerOutputs`, sampled
        with a generator seeded by ``seed``) on ``spins`` ``(n, N)`` +-1 drawn at ``(K0, h0)``:
        :func:`rgnet.rg.fit_flow` with the module's unit positions, when it has them."""
        model = require(pl_module, HasLayerOutputs, "CouplingTrajectories")
        x = spins.to(device=pl_module.device, dtype=torch.float32)
        generator = torch.Generator().manual_seed(self.seed)
        was_training = pl_module.training
        pl_module.eval()
        try:
            outputs = [y.detach().cpu() for y in model.layer_outputs(x, generator=generator)]
            positions = _unit_positions(pl_module)
        finally:
            pl_module.train(was_training)
        return fit_flow(
            outputs, positions, spins.cpu(), K0, h0, method=self.method, terms=self.terms, seed=self.seed
        )

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        """Fail before training when the layers cannot be fitted: no ``layer_outputs``, lattice layers whose
        sizes are not nested square lattices (:func:`rgnet.rg.lattice_sides`, inside the module's ``L x L``
        input when it has :class:`rgnet.contracts.HasLatticeSide`), or ``method="exact"`` on lattices."""
        require(pl_module, HasLayerOutputs, "CouplingTrajectories")
        positions = _unit_positions(pl_module)
        lattice = on_square_lattice(positions)
        flow_fit_method(self.method, lattice)
        if lattice:
            L = pl_module.L if isinstance(pl_module, HasLatticeSide) else None
            lattice_sides([p.shape[0] for p in positions], L)

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
                "geometry": flow_geometry(rows),
                "layers": rows,
            }
        )
        writer = tensorboard_writer(trainer)
        if writer is not None:
            reference = "exact" if any("K_exact" in row for row in rows) else "majority"
            charts = {
                f"layer {row['layer']} {key}: fitted, {reference}": f"couplings/layer{row['layer']}/{key}"
                for row in rows
                for key in LAYER_QUANTITIES
                if key in row
            }
            overlay_charts(writer, "couplings", charts)
            for tag, value in self.tags(rows).items():
                writer.add_scalar(tag, float(value), trainer.global_step)
            writer.add_figure("couplings/trajectories", self.figure(run_title(trainer)), trainer.global_step)

    def tags(self, rows: list[dict[str, Any]]) -> dict[str, float | bool]:
        """The TensorBoard tags of one fit: the verdict (:func:`rgnet.rg.flow_verdict`; a bool, logged as
        0/1) and its chi-square (on chains also the deepest layer's distance to ``K* = 0``), then per layer
        ``couplings/layer{l}/{K,h,xi}/fitted`` next to the reference flow's value (``.../exact``: exact
        decimation on chains; ``.../majority``: majority rule on lattices) and the pull of K."""
        verdict = flow_verdict(rows, self.n_sigma)
        out: dict[str, float | bool] = {}
        for key in ("follows_exact_flow", "follows_block_spin_flow", "deepest_at_fixed_point"):
            if key in verdict:
                out[f"couplings/{key}"] = bool(verdict[key])
        out["couplings/chi2"] = float(flow_chi2(rows))
        if "distance_to_fixed_point" in verdict:
            out["couplings/distance_to_fixed_point"] = float(verdict["distance_to_fixed_point"])
        for row in rows:
            prefix = f"couplings/layer{row['layer']}"
            for key in LAYER_QUANTITIES:
                if key not in row:
                    continue
                out[f"{prefix}/{key}/fitted"] = float(row[key])
                for reference in ("exact", "majority"):
                    if f"{key}_{reference}" in row:
                        out[f"{prefix}/{key}/{reference}"] = float(row[f"{key}_{reference}"])
            if "pull_K" in row:
                out[f"{prefix}/pull_K"] = float(row["pull_K"])
        return out

    def hparam_metrics(self) -> dict[str, float | bool]:
        """The tags of the last fit (:meth:`tags`), as logged
        (:class:`rgnet.callbacks._tensorboard.ReportsHParamMetrics`)."""
        return self.tags(self.history[-1]["layers"]) if self.history else {}

    def figure(self, run: str = "") -> Figure:
        """Matplotlib figure: fitted K per layer against the epochs trained (band: its standard error; the
        reference flow's value dashed in the layer's colour and, on chains, K* = 0 dotted) and the last fit's
        couplings against depth next to the reference flow; legends under the axes, ``run`` (the run shown,
        :func:`rgnet.callbacks._tensorboard.run_title`) in the title."""
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        fig = Figure(figsize=(11, 5), dpi=120, layout="constrained")
        ax_t, ax_l = fig.subplots(1, 2)
        if not self.history:
            return fig
        last = self.history[-1]
        ref_key, ref_name = REFERENCE_FLOWS[flow_geometry(last["layers"])]
        epochs = [rec["epoch"] + 1 for rec in self.history]
        n_layers = len(last["layers"])
        for i in range(n_layers):
            K = np.array([rec["layers"][i]["K"] for rec in self.history])
            err = np.array([rec["layers"][i]["K_err"] for rec in self.history])
            colour = f"C{i % 10}"
            ax_t.plot(epochs, K, marker="o", ms=3, color=colour, label=f"layer {i + 1} fitted")
            ax_t.fill_between(epochs, K - err, K + err, color=colour, alpha=0.25)
            reference = last["layers"][i][ref_key]
            ax_t.axhline(reference, color=colour, ls="--", lw=1, label=f"layer {i + 1} {ref_name}")
        ax_t.axhline(FIXED_POINT_K, color="k", ls=":", lw=1, label="K* = 0")
        ax_t.set_xlabel("epochs trained")
        ax_t.set_ylabel("fitted K of the layer's output")
        ax_t.set_title("coupling trajectories")
        legend_below(ax_t, columns=2)
        depth = np.arange(0, n_layers + 1)
        flow = [last["K0"]] + [r[ref_key] for r in last["layers"]]
        ax_l.plot(depth, flow, "s--", color="C7", label=ref_name)
        ax_l.errorbar(
            depth[1:],
            [r["K"] for r in last["layers"]],
            yerr=[r["K_err"] for r in last["layers"]],
            fmt="o",
            color="C3",
            capsize=3,
            label=f"fitted after {last['epoch'] + 1} epochs",
        )
        ax_l.axhline(FIXED_POINT_K, color="k", ls=":", lw=1, label="K* = 0")
        ax_l.set_xlabel("layer l (0: the input)")
        ax_l.set_xticks(depth)
        ax_l.set_ylabel("K_l")
        ax_l.set_title(f"couplings per layer against the {ref_name}")
        legend_below(ax_l, columns=3)
        inputs = f"K0 = {last['K0']:.4g}, h0 = {last['h0']:.4g}"
        title = f"couplings of the layers' outputs ({inputs})\n{run}".strip()
        fig.suptitle(wrap_title(title, 10.5), fontsize=9)
        ax_t.xaxis.set_major_locator(MaxNLocator(integer=True))
        return fig

    def summary_metrics(self) -> dict[str, Any]:
        """Final fitted couplings per layer (with errors) next to the reference flow, its verdict
        (:func:`rgnet.rg.flow_verdict`: on chains ``follows_exact_flow`` and the distance of the deepest layer
        to ``K* = 0``, on lattices ``follows_block_spin_flow``) and the trajectories of K over epochs."""
        if not self.history:
            return {}
        last = self.history[-1]
        rows = last["layers"]
        flow: dict[str, Any] = {
            "K0": last["K0"],
            "h0": last["h0"],
            "epoch": last["epoch"],
            "method": last["method"],
            "layers": [dict(r) for r in rows],
            **flow_verdict(rows, self.n_sigma),
            "trajectory_epochs": [rec["epoch"] for rec in self.history],
            "trajectory_K": [[rec["layers"][i]["K"] for rec in self.history] for i in range(len(rows))],
        }
        out: dict[str, Any] = {"coupling_flow": flow, "coupling_chi2": flow_chi2(rows)}
        if flow["geometry"] == "chain":
            out["coupling_distance_to_fixed_point"] = flow["distance_to_fixed_point"]
        return out

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))


__all__ = ["CouplingTrajectories"]
