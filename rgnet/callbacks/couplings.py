"""Coupling trajectories: fit the Ising couplings of every layer's output during training and compare them
with the exact decimation flow of the input chain.

Works with any LightningModule exposing ``layer_outputs(x) -> list[Tensor]`` (float/int ``(batch, n_l)`` of
+-1, layer 1 first) on 1D chains of ``N`` spins, e.g. :class:`rgnet.models.flow_dnn.FlowDNN`. Layer ``l`` is
taken to be a periodic chain with lattice spacing ``N / n_l`` input sites. If the module also has
``layer_positions() -> list[Tensor]`` (the input-lattice position of each unit, e.g. the centre of its
receptive field, as for an RBM stack whose units carry no intrinsic order), the units of each layer are
sorted by position before fitting. ``layer_outputs`` may take a ``generator=`` keyword for reproducible
sampling; it is passed when accepted.

The reference is exact decimation of the input chain ``(K0, h0)`` by the layer's spacing ``s_l``:
``(K_l, h_l) = decimate_1d(K0, s_l, h0)``, i.e. ``K_l = atanh(tanh(K0)^(2^l))`` for halving layers at
``h0 = 0``, with correlation lengths ``xi_l = xi_0 / s_l`` in the layer's own lattice units; the stable fixed
point is ``K* = 0``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import lightning
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from rgnet._checks import check_choice, check_int, check_real
from rgnet.rg import correlation_length_1d, decimate_1d, fit_couplings

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
        one dict per layer: ``layer, size, spacing, K, K_err, h, h_err, xi, xi_err`` (own lattice units),
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
                "h_err": fit.errors.get("h", 0.0),
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


def check_exact_flow(rows: list[dict[str, float]], n_sigma: float = 4.0, n_checked: int = 3) -> dict[str, Any]:
    """Does a measured flow follow exact decimation?

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
    failures = []
    if len(rows) < n_checked:
        failures.append(f"only {len(rows)} layers, {n_checked} needed")
    for row in rows:
        if not row.get("converged", True):
            failures.append(f"layer {row['layer']}: the coupling fit did not converge (no finite maximum)")
    for row in rows[:n_checked]:
        if not abs(row["K"] - row["K_exact"]) < n_sigma * row["K_err"]:
            failures.append(
                f"layer {row['layer']}: K = {row['K']:.4f} +- {row['K_err']:.4f}, exact {row['K_exact']:.4f}"
            )
        if not abs(row["xi"] - row["xi_exact"]) < n_sigma * row["xi_err"]:
            failures.append(
                f"layer {row['layer']}: xi = {row['xi']:.4f} +- {row['xi_err']:.4f}, exact {row['xi_exact']:.4f}"
            )
        if "h_err" in row and not abs(row["h"] - row["h_exact"]) < n_sigma * row["h_err"]:
            failures.append(
                f"layer {row['layer']}: h = {row['h']:.4f} +- {row['h_err']:.4f}, exact {row['h_exact']:.4f}"
            )
    at_fixed_point = False
    if rows:
        deep = rows[-1]
        if len(rows) > n_checked and not abs(deep["K"] - deep["K_exact"]) < n_sigma * deep["K_err"]:
            failures.append(
                f"deepest layer {deep['layer']}: K = {deep['K']:.4f} +- {deep['K_err']:.4f}, exact {deep['K_exact']:.4f}"
            )
        at_fixed_point = abs(deep["K"] - FIXED_POINT_K) < n_sigma * deep["K_err"]
    return {"passed": not failures, "failures": failures, "deepest_at_fixed_point": at_fixed_point}


class CouplingTrajectories(lightning.Callback):
    """Every ``every_n_epochs`` training epochs, fit the couplings of each layer's output on held-out chains,
    log them and keep their history (survives checkpoint/resume).

    TensorBoard (when the trainer logs to it): scalars ``couplings/K_layer{l}``, ``couplings/h_layer{l}``,
    ``couplings/xi_layer{l}`` and ``couplings/pull_K_layer{l}``, and a figure ``couplings/trajectories``
    of the fitted couplings over epochs next to the exact decimation values and the fixed point K* = 0.

    Args:
        every_n_epochs: fit frequency.
        method: ``"exact"`` (transfer-matrix likelihood, default) or ``"pseudo"``.
        fit_field: also fit the field h (default True).
        max_samples: use at most this many held-out chains.
        K0, h0: couplings of the input chain (default: the datamodule's ``K`` and ``h``).
        n_sigma: tolerance (in fitter standard errors) of :func:`check_exact_flow` in the summary.
        seed: seed of the sampling of the stochastic layer outputs.

    Held-out chains: ``trainer.datamodule.heldout`` (``(n, N)`` +-1) when present, else the validation set.
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        method: str = "exact",
        fit_field: bool = True,
        max_samples: int = 2000,
        K0: float | None = None,
        h0: float | None = None,
        n_sigma: float = 4.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", minimum=1)
        self.method = check_choice(method, "method", ("exact", "pseudo"))
        if not isinstance(fit_field, bool):
            raise TypeError(f"fit_field must be True or False, got {fit_field!r}")
        self.terms = ("K", "h") if fit_field else ("K",)
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
                raise ValueError("CouplingTrajectories needs held-out chains: datamodule.heldout or a validation set")
            loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
            spins = torch.cat([b[0] if isinstance(b, (list, tuple)) else b for b in loader])
        return spins[: self.max_samples]

    def _couplings(self, trainer: lightning.Trainer) -> tuple[float, float]:
        dm = trainer.datamodule
        K0 = self.K0 if self.K0 is not None else getattr(dm, "K", None)
        h0 = self.h0 if self.h0 is not None else getattr(dm, "h", 0.0)
        if K0 is None:
            raise ValueError("CouplingTrajectories: give K0 (the datamodule has no attribute K)")
        return float(K0), float(h0)

    def measure(self, pl_module: lightning.LightningModule, spins: torch.Tensor, K0: float, h0: float) -> list[dict]:
        """Fit the current layer outputs of ``pl_module`` on ``spins`` ``(n, N)``; see :func:`fit_layers`."""
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
            if hasattr(pl_module, "layer_positions"):
                positions = pl_module.layer_positions()
                outputs = [y[:, torch.argsort(torch.as_tensor(p).cpu())] for y, p in zip(outputs, positions)]
        finally:
            pl_module.train(was_training)
        return fit_layers(outputs, int(x.shape[1]), K0, h0, method=self.method, terms=self.terms)

    # ------------------------------------------------------------------ hooks
    def on_train_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        epoch = trainer.current_epoch
        if (epoch + 1) % self.every_n_epochs:
            return
        K0, h0 = self._couplings(trainer)
        rows = self.measure(pl_module, self._heldout(trainer), K0, h0)
        self.history.append(
            {"epoch": epoch, "global_step": trainer.global_step, "K0": K0, "h0": h0, "method": self.method, "layers": rows}
        )
        if trainer.is_global_zero and isinstance(trainer.logger, TensorBoardLogger):
            writer = trainer.logger.experiment
            for row in rows:
                l = row["layer"]
                for key in ("K", "h", "xi", "pull_K"):
                    writer.add_scalar(f"couplings/{key}_layer{l}", row[key], trainer.global_step)
            writer.add_figure("couplings/trajectories", self.figure(), trainer.global_step)

    def figure(self):
        """Matplotlib figure: fitted K per layer over epochs (with exact decimation values dashed and K* = 0
        dotted) and the final couplings against depth."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 4))
        ax_t, ax_l = fig.subplots(1, 2)
        if not self.history:
            return fig
        epochs = [rec["epoch"] for rec in self.history]
        n_layers = len(self.history[-1]["layers"])
        for i in range(n_layers):
            K = np.array([rec["layers"][i]["K"] for rec in self.history])
            err = np.array([rec["layers"][i]["K_err"] for rec in self.history])
            line = ax_t.plot(epochs, K, marker="o", ms=3, label=f"layer {i + 1}")[0]
            ax_t.fill_between(epochs, K - err, K + err, color=line.get_color(), alpha=0.25)
            ax_t.axhline(self.history[-1]["layers"][i]["K_exact"], color=line.get_color(), ls="--", lw=1)
        ax_t.axhline(FIXED_POINT_K, color="k", ls=":", lw=1, label="K* = 0")
        ax_t.set_xlabel("epoch")
        ax_t.set_ylabel("fitted K of layer output")
        ax_t.set_title("coupling trajectories (dashed: exact decimation)")
        ax_t.legend(fontsize=7)
        last = self.history[-1]
        depth = np.arange(0, n_layers + 1)
        ax_l.plot(depth, [last["K0"]] + [r["K_exact"] for r in last["layers"]], "s--", label="exact decimation")
        ax_l.errorbar(
            depth[1:], [r["K"] for r in last["layers"]], yerr=[r["K_err"] for r in last["layers"]], fmt="o",
            capsize=3, label=f"fitted (epoch {last['epoch']})",
        )
        ax_l.axhline(FIXED_POINT_K, color="k", ls=":", lw=1)
        ax_l.set_xlabel("layer l")
        ax_l.set_ylabel("K_l")
        ax_l.legend(fontsize=7)
        fig.tight_layout()
        return fig

    def summary_metrics(self) -> dict[str, Any]:
        """Final fitted couplings and correlation lengths per layer (with errors), the exact decimation
        values, the distance of the deepest layer to ``K* = 0`` and the verdict of :func:`check_exact_flow`."""
        if not self.history:
            return {}
        last = self.history[-1]
        rows = last["layers"]
        verdict = check_exact_flow(rows, self.n_sigma, n_checked=min(3, len(rows)))
        deep = rows[-1]
        chi2 = float(sum(r["pull_K"] ** 2 for r in rows))
        return {
            "coupling_flow": {
                "K0": last["K0"],
                "h0": last["h0"],
                "epoch": last["epoch"],
                "method": last["method"],
                "layers": [dict(r) for r in rows],
                "fixed_point_K": FIXED_POINT_K,
                "distance_to_fixed_point": abs(deep["K"] - FIXED_POINT_K),
                "distance_to_fixed_point_sigma": abs(deep["K"] - FIXED_POINT_K) / deep["K_err"],
                "chi2_vs_exact_flow": chi2,
                "follows_exact_flow": verdict["passed"],
                "deepest_at_fixed_point": verdict["deepest_at_fixed_point"],
                "failures": verdict["failures"],
                "trajectory_epochs": [rec["epoch"] for rec in self.history],
                "trajectory_K": [[rec["layers"][i]["K"] for rec in self.history] for i in range(len(rows))],
            },
            "coupling_chi2": chi2,
            "coupling_distance_to_fixed_point": abs(deep["K"] - FIXED_POINT_K),
        }

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))


__all__ = ["CouplingTrajectories", "check_exact_flow", "fit_layers"]
