"""TensorBoard callbacks for RBMs and RBM stacks (rgnet.models.rbm): learned filters, block-spin emergence
against controls, reconstructions from each depth, thermodynamics of generated configurations.

All work with an :class:`~rgnet.models.rbm_stack.RBMStack` or a single :class:`~rgnet.models.rbm.RBM` (one
layer) whose visible layer is an ``L x L`` lattice (row-major sites). Images and scalars go to TensorBoard
only when the trainer has a :class:`~lightning.pytorch.loggers.TensorBoardLogger`, on global rank zero; the
physics results are also returned by ``summary_metrics()`` (rgnet-train writes them to summary.json).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import lightning
import torch

from rgnet._checks import check_choice, check_int, check_real
from rgnet.callbacks._tensorboard import (
    add_series,
    image_grid_figure,
    overlay_charts,
    run_title,
    tensorboard_writer,
)
from rgnet.contracts import check_couplings_match
from rgnet.ising.observables import energy_per_site, magnetization_per_site
from rgnet.models.rbm import RBM
from rgnet.models.rbm_stack import RBMStack
from rgnet.rg.receptive_fields import box_window, lattice_side, locality, rms_radius

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CONTROLS = ("shuffle", "random", "none")
#: What RBMThermodynamics measures (TensorBoard ``thermo/<quantity>/{model,data}``).
THERMO_QUANTITIES = ("energy", "abs_magnetization", "specific_heat")


def _check_module(module: lightning.LightningModule) -> int:
    """Lattice side L of an RBM or RBMStack whose visible layer is L x L."""
    if not isinstance(module, (RBM, RBMStack)):
        raise TypeError(f"the RBM callbacks need an RBM or RBMStack, got {type(module).__name__}")
    n_visible = module.n_visible if isinstance(module, RBM) else module.layers[0]
    L = lattice_side(n_visible)
    if L is None:
        raise ValueError(f"the RBM callbacks need n_visible = L*L (a square lattice), got {n_visible}")
    return L


def _fields(module: RBM | RBMStack) -> list[torch.Tensor]:
    """Effective receptive fields per layer, (n_l, n_visible)."""
    return module.effective_fields() if isinstance(module, RBMStack) else [module.W.detach().t()]


def _first_rbm(module: RBM | RBMStack) -> RBM:
    return module.rbms[0] if isinstance(module, RBMStack) else module


def _n_layers(module: RBM | RBMStack) -> int:
    return len(module.rbms) if isinstance(module, RBMStack) else 1


def _trained_layers(module: RBM | RBMStack, epoch: int) -> int:
    """Number of layers that have started training by the end of ``epoch``."""
    return module.layer_of_epoch(epoch) + 1 if isinstance(module, RBMStack) else 1


def _due(trainer: lightning.Trainer, every: int) -> bool:
    epoch = trainer.current_epoch + 1
    last = trainer.max_epochs is not None and 0 < trainer.max_epochs <= epoch
    return epoch % every == 0 or last


class _Periodic(lightning.Callback):
    def __init__(self, every_n_epochs: int) -> None:
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", minimum=1)


class RBMFilters(_Periodic):
    """Figure of every hidden unit's (effective) receptive field per trained layer, every N epochs.

    Tags ``filters/layer{l}`` (l = 1 is W_1, deeper layers r_l = r_{l-1} W_l); at most ``max_units`` units
    per layer as ``L x L`` tiles on one colour scale per layer (blue < 0 < red, up to the layer's largest
    ``|weight|``, with its colour bar), titled with the run (:func:`rgnet.callbacks._tensorboard.run_title`).
    """

    def __init__(self, every_n_epochs: int = 5, max_units: int = 100) -> None:
        super().__init__(every_n_epochs)
        self.max_units = check_int(max_units, "max_units", minimum=1)

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        _check_module(pl_module)

    def on_train_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or not _due(trainer, self.every_n_epochs):
            return
        L = _check_module(pl_module)
        for l, fields in enumerate(_fields(pl_module)[: _trained_layers(pl_module, trainer.current_epoch)]):
            figure = self.figure(fields, L, l + 1, trainer.current_epoch + 1, run_title(trainer))
            writer.add_figure(f"filters/layer{l + 1}", figure, trainer.global_step)

    def figure(self, fields: torch.Tensor, L: int, layer: int, epochs: int, run: str = "") -> Figure:
        """The first ``max_units`` fields ``(units, L*L)`` of ``layer`` after ``epochs`` epochs."""
        shown = min(self.max_units, fields.shape[0])
        field = "W_1" if layer == 1 else f"r_{layer} = r_{layer - 1} W_{layer}"
        title = f"layer {layer} receptive fields {field}: {shown} of {fields.shape[0]} units, epoch {epochs}"
        images = fields[:shown].detach().float().cpu().reshape(-1, L, L)
        return image_grid_figure(images, title=f"{title}\n{run}".strip(), colorbar_label="weight")


class BlockSpinEmergence(_Periodic):
    """Locality of the receptive fields per layer, against controls, every N epochs.

    Locality of a layer: mean over its units of :func:`rgnet.rg.locality` of the effective field, the
    share of squared weight inside the best-placed window of ``locality_factor`` block sides (the model's
    setting; block side = L / sqrt(n_units)). Controls, logged as TensorBoard tags
    ``block_spin/layer{l}/{trained,init,control}`` (overlaid on one custom-scalars chart per layer):

    * ``init``: the untrained initialization (measured once at the start of fit);
    * ``control``: an identical copy of the model from the same initialization, trained in lock-step with
      the same options (same L1, same layer schedule, one CD update per training batch) on data *without
      spatial structure*: ``control="shuffle"`` permutes each configuration's sites at random (keeps its
      magnetization, destroys correlations); ``control="random"`` replaces it by i.i.d. uniform spins (K = 0);
      ``"none"`` disables it (halves the training cost).

    Localization learned from correlations shows as ``locality - control > 0``; what L1 alone produces shows
    in the control. Block size: the mean rms radius of the fields (:func:`rgnet.rg.rms_radius`) of the
    model and the control (``block_radius/layer{l}/{trained,control}``). The control model and its
    optimizers are part of the callback state (resume works).
    """

    def __init__(self, every_n_epochs: int = 1, control: str = "shuffle") -> None:
        super().__init__(every_n_epochs)
        self.control_mode = check_choice(control, "control", CONTROLS)
        self.init_locality: list[float] | None = None
        self.history: list[dict[str, Any]] = []
        self.control: RBMStack | RBM | None = None
        self.control_optimizers: list[torch.optim.Optimizer] = []
        self._pending: dict[str, Any] | None = None

    def _locality(self, module: RBM | RBMStack) -> list[float]:
        if isinstance(module, RBMStack):
            return module.locality_per_layer()
        L = _check_module(module)
        factor = 2.0
        return [float(locality(module.W.detach().t(), L, box_window(L, module.n_hidden, factor)).mean())]

    def _radius(self, module: RBM | RBMStack) -> list[float]:
        L = _check_module(module)
        return [float(rms_radius(fields, L).mean()) for fields in _fields(module)]

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        _check_module(pl_module)
        writer = tensorboard_writer(trainer)
        if writer is not None:  # one chart per layer, titled with what it overlays
            data = {"shuffle": "site-shuffled data", "random": "K = 0 spins"}.get(self.control_mode)
            control = f", control ({data})" if data else ""
            titles = {
                "block_spin": "layer {} locality: trained, init" + control,
                "block_radius": "layer {} block radius (lattice spacings): trained" + control,
            }
            for tag, title in titles.items():
                layers = range(1, _n_layers(pl_module) + 1)
                overlay_charts(writer, tag, {title.format(l): f"{tag}/layer{l}" for l in layers})
        if self.init_locality is None:
            self.init_locality = self._locality(pl_module)
        if self.control_mode != "none" and self.control is None:
            self.control = type(pl_module)(**pl_module.hparams).to(pl_module.device)
            self.control.load_state_dict(pl_module.state_dict())
            rbms = self.control.rbms if isinstance(self.control, RBMStack) else [self.control]
            self.control_optimizers = [rbm.make_optimizer() for rbm in rbms]
            if self._pending is not None:
                self.control.load_state_dict(self._pending["control"])
                saved = self._pending["control_optimizers"]
                for optimizer, state in zip(self.control_optimizers, saved, strict=True):
                    optimizer.load_state_dict(state)
        self._pending = None

    def structureless(self, batch: torch.Tensor) -> torch.Tensor:
        """The control's version of a batch (n, n_visible): sites shuffled per configuration, or K = 0
        spins."""
        if self.control_mode == "shuffle":
            order = torch.argsort(torch.rand(batch.shape, device=batch.device), dim=1)
            return torch.gather(batch, 1, order)
        rbm = _first_rbm(self.control)
        bits = torch.randint(0, 2, batch.shape, device=batch.device).to(batch.dtype)
        return 2 * bits - 1 if rbm.inputs == "spin" else bits

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.control is None:
            return
        v = batch[0] if isinstance(batch, (list, tuple)) else batch
        x = self.structureless(v.to(torch.float32))
        if isinstance(self.control, RBMStack):
            layer = pl_module.active_layer
            x = self.control.layer_batch(x, layer)
            rbm = self.control.rbms[layer]
        else:
            layer, rbm = 0, self.control
        rbm.cd_gradients(x)
        self.control_optimizers[layer].step()

    def measure(self, pl_module: RBM | RBMStack) -> dict[str, list[float]]:
        """Current locality per layer of the model, the initialization and the control (when trained), and the
        block radius (:func:`rgnet.rg.rms_radius`, lattice spacings) of the model and the control."""
        out = {
            "trained": self._locality(pl_module),
            "init": list(self.init_locality or []),
            "radius_trained": self._radius(pl_module),
        }
        if self.control is not None:
            out["control"] = self._locality(self.control)
            out["radius_control"] = self._radius(self.control)
        return out

    def on_train_epoch_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        if not _due(trainer, self.every_n_epochs):
            return
        values = self.measure(pl_module)
        n_trained = _trained_layers(pl_module, trainer.current_epoch)
        self.history.append({"epoch": trainer.current_epoch, "layers_trained": n_trained, **values})
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        for l in range(n_trained):
            for prefix, tag in (("", "block_spin"), ("radius_", "block_radius")):
                series = {
                    k.removeprefix(prefix): v[l]
                    for k, v in values.items()
                    if k.startswith("radius_") == bool(prefix)
                }
                add_series(writer, f"{tag}/layer{l + 1}", series, trainer.global_step)
            if "control" in values:
                excess = values["trained"][l] - values["control"][l]
                writer.add_scalar(f"block_spin/excess_over_control/layer{l + 1}", excess, trainer.global_step)

    def summary_metrics(self) -> dict[str, Any]:
        """Last measured locality per layer (trained, init, control, trained - control) and block radius
        (``block_radius_trained``, ``block_radius_control``)."""
        if not self.history:
            return {}
        last = self.history[-1]
        out: dict[str, Any] = {
            f"locality_{key}": {f"layer{l + 1}": v for l, v in enumerate(last[key])}
            for key in ("trained", "init", "control")
            if key in last
        }
        for key in ("radius_trained", "radius_control"):
            if key in last:
                out[f"block_{key}"] = {f"layer{l + 1}": v for l, v in enumerate(last[key])}
        if "control" in last:
            out["locality_excess_over_control"] = {
                f"layer{l + 1}": t - c
                for l, (t, c) in enumerate(zip(last["trained"], last["control"], strict=True))
            }
        return out

    def hparam_metrics(self) -> dict[str, float]:
        """The last measurement of the layers that were training by then, as the tags logged
        (:class:`rgnet.callbacks._tensorboard.ReportsHParamMetrics`): per layer the locality in excess of the
        control, the locality of the model and the control, then the block radii; the initialization
        last."""
        if not self.history:
            return {}
        last = self.history[-1]
        layers = range(1, last.get("layers_trained", len(last["trained"])) + 1)
        out: dict[str, float] = {}
        if "control" in last:
            for l in layers:
                excess = last["trained"][l - 1] - last["control"][l - 1]
                out[f"block_spin/excess_over_control/layer{l}"] = excess
        for key, tag in (
            ("trained", "block_spin/layer{}/trained"),
            ("control", "block_spin/layer{}/control"),
            ("radius_trained", "block_radius/layer{}/trained"),
            ("radius_control", "block_radius/layer{}/control"),
            ("init", "block_spin/layer{}/init"),
        ):
            if last.get(key):
                out.update({tag.format(l): float(last[key][l - 1]) for l in layers})
        return out

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"init_locality": self.init_locality, "history": self.history}
        if self.control is not None:
            state["control"] = self.control.state_dict()
            state["control_optimizers"] = [o.state_dict() for o in self.control_optimizers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.init_locality = state_dict["init_locality"]
        self.history = list(state_dict["history"])
        self._pending = state_dict if "control" in state_dict else None
        self.control = None


class RBMReconstructions(_Periodic):
    """Held-out configurations and their reconstructions from each trained depth, one image every N epochs.

    Tag ``reconstructions``: a figure whose first row (``data``) holds ``n_samples`` validation configurations
    and row ``model, depth d`` their reconstructions from depth ``d`` (up by conditional means, down by
    conditional means), as spins: black -1, white +1, grey the conditional mean in between (colour bar).
    """

    def __init__(self, every_n_epochs: int = 5, n_samples: int = 8) -> None:
        super().__init__(every_n_epochs)
        self.n_samples = check_int(n_samples, "n_samples", minimum=1)
        self._held_out: torch.Tensor | None = None

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if batch_idx == 0:
            v = batch[0] if isinstance(batch, (list, tuple)) else batch
            self._held_out = v[: self.n_samples].detach().to(torch.float32)

    def on_validation_epoch_end(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        writer = tensorboard_writer(trainer)
        if (
            writer is None
            or trainer.sanity_checking
            or self._held_out is None
            or not _due(trainer, self.every_n_epochs)
        ):
            return
        L = _check_module(pl_module)
        v = self._held_out
        rows = [v]
        for depth in range(1, _trained_layers(pl_module, trainer.current_epoch) + 1):
            if isinstance(pl_module, RBMStack):
                rows.append(pl_module.reconstruct(v, depth))
            else:
                rows.append(pl_module.visible_mean(pl_module.hidden_mean(v)))
        rbm = _first_rbm(pl_module)
        images = torch.cat(rows)
        images = images if rbm.inputs == "spin" else 2 * images - 1  # binary units: {0, 1} -> {-1, +1}
        labels = ["data", *(f"model, depth {d}" for d in range(1, len(rows)))]
        title = f"held-out configurations and their reconstructions, epoch {trainer.current_epoch + 1}"
        figure = image_grid_figure(
            images.reshape(-1, L, L),
            title=f"{title}\n{run_title(trainer)}".strip(),
            columns=v.shape[0],
            signed=False,
            colorbar_label="spin (conditional mean)",
            row_labels=labels,
            annotate=False,
        )
        writer.add_figure("reconstructions", figure, trainer.global_step)


class RBMThermodynamics(_Periodic):
    """Energy, |m| and specific heat of configurations Gibbs-sampled from the first-layer RBM, and the data's.

    Every N epochs (after validation) and at the end of fit: ``n_chains`` chains started uniformly at
    random run ``steps`` block-Gibbs sweeps; per-site energy ``e`` (units of J, torus), ``|m|`` and
    ``C = K^2 N var(e)`` of the final configurations, against the same on up to ``max_data`` validation
    configurations. ``K`` is the data's coupling (enters C only). TensorBoard: ``thermo/<quantity>/model``
    and ``thermo/<quantity>/data``, overlaid on one custom-scalars chart per quantity.
    """

    def __init__(
        self,
        K: float,
        every_n_epochs: int = 10,
        n_chains: int = 200,
        steps: int = 200,
        max_data: int = 2000,
        seed: int = 0,
    ) -> None:
        super().__init__(every_n_epochs)
        self.K = check_real(K, "K")
        self.n_chains = check_int(n_chains, "n_chains", minimum=2)
        self.steps = check_int(steps, "steps", minimum=1)
        self.max_data = check_int(max_data, "max_data", minimum=2)
        self.seed = check_int(seed, "seed", minimum=0)
        self._data: list[torch.Tensor] = []
        self.last: dict[str, dict[str, float]] = {}
        self.recorded_step: int | None = None

    def check_datamodule(self, datamodule: object) -> None:
        """``K`` must be the data's coupling (rgnet-train calls this before any data is made)."""
        check_couplings_match(datamodule, K=("K", self.K))

    def _observables(self, v: torch.Tensor, L: int, inputs: str) -> dict[str, float]:
        spins = (v if inputs == "spin" else 2 * v - 1).reshape(-1, L, L)
        e = energy_per_site(spins)
        m = magnetization_per_site(spins)
        values = (float(e.mean()), float(m.abs().mean()), self.K**2 * L * L * float(e.var()))
        return dict(zip(THERMO_QUANTITIES, values, strict=True))

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is not None:
            titles = {key: f"{key.replace('_', ' ')} per site: model, data" for key in THERMO_QUANTITIES}
            overlay_charts(writer, "thermo", {titles[key]: f"thermo/{key}" for key in THERMO_QUANTITIES})

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._data = []

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if sum(d.shape[0] for d in self._data) < self.max_data:
            v = batch[0] if isinstance(batch, (list, tuple)) else batch
            self._data.append(v.detach().to(torch.float32).cpu())

    def measure(self, pl_module: RBM | RBMStack, data: torch.Tensor) -> dict[str, dict[str, float]]:
        """Observables of generated configurations ("model") and of ``data`` (n, L*L) ("data")."""
        L = _check_module(pl_module)
        rbm = _first_rbm(pl_module)
        generator = torch.Generator(device=rbm.W.device).manual_seed(self.seed)
        samples = rbm.sample(self.n_chains, steps=self.steps, generator=generator).cpu()
        return {
            "model": self._observables(samples, L, rbm.inputs),
            "data": self._observables(data[: self.max_data], L, rbm.inputs),
        }

    def _record(self, trainer: lightning.Trainer, pl_module) -> None:
        """Measure and log, at most once per global step (the last validation and the end of fit share one,
        and so does a resumed run with nothing left to train)."""
        if not self._data or trainer.global_step == self.recorded_step:
            return
        self.recorded_step = trainer.global_step
        self.last = self.measure(pl_module, torch.cat(self._data))
        writer = tensorboard_writer(trainer)
        if writer is not None:
            for key in self.last["model"]:
                series = {s: self.last[s][key] for s in ("model", "data")}
                add_series(writer, f"thermo/{key}", series, trainer.global_step)

    def on_validation_epoch_end(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        if not trainer.sanity_checking and _due(trainer, self.every_n_epochs):
            self._record(trainer, pl_module)

    def on_fit_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        self._record(trainer, pl_module)

    def summary_metrics(self) -> dict[str, Any]:
        """``{"model": {...}, "data": {...}}`` (energy, abs_magnetization, specific_heat), last measured."""
        return dict(self.last)

    def hparam_metrics(self) -> dict[str, float]:
        """The last measurement as the tags logged, ``thermo/<quantity>/model`` next to ``.../data``."""
        return {
            f"thermo/{key}/{source}": float(self.last[source][key])
            for key in (self.last.get("model") or {})
            for source in ("model", "data")
        }

    def state_dict(self) -> dict[str, Any]:
        return {"last": self.last, "recorded_step": self.recorded_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last = dict(state_dict["last"])
        self.recorded_step = state_dict["recorded_step"]
