"""Greedy layer-wise stacks of RBMs (deep belief nets) on L x L Ising configurations (Mehta & Schwab 2014).

One ``trainer.fit`` trains the layers one after another (layer ``l`` during its own block of epochs), so
checkpoints and resume work across layers. The receptive-field geometry of the effective fields
``r_l = r_{l-1} W_l`` comes from :mod:`rgnet.rg.receptive_fields`. :meth:`RBMStack.block_spin_map` turns the
stack into a block-spin transform (layer l: the lattice of layer l - 1 to its units on their coarse lattice)
for Monte Carlo RG (:func:`rgnet.rg.mcrg_exponents`).
"""

from __future__ import annotations

import itertools
from typing import Any

import lightning
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn

from rgnet._checks import check_choice, check_int, check_real
from rgnet.contracts import BLOCK_SPIN_MODES, HasBlockPairs, HasLatticeSide
from rgnet.models.rbm import RBM, check_configurations
from rgnet.rg.blocking import sign_with_coin
from rgnet.rg.flow import assign_to_lattice, lattice_sides
from rgnet.rg.receptive_fields import box_window, field_centres, lattice_side, locality, rms_radius

#: How a layer's inputs are propagated up through the frozen layers below: sampled units or their means.
PROPAGATE = ("sample", "mean")
#: Block-spin maps of a stack: units sampled from P(h | v), or the sign of their input (likeliest state).


class RBMStack(lightning.LightningModule):
    """Greedy layer-wise stack of RBMs (a deep belief net), ``layers = [n_visible, n_1, n_2, ...]``.

    One ``trainer.fit`` trains layer ``l`` (0-based) during epochs ``[l E, (l + 1) E)`` with
    ``E = epochs_per_layer`` (epochs after the last block keep training the top layer), so checkpoints and
    resume work across layers: the active layer follows from ``current_epoch``. Set
    ``trainer.max_epochs = len(layers - 1) * E`` (see :attr:`total_epochs`). Layer ``l > 0`` is trained on the
    hidden units of layer ``l - 1`` given the data, propagated up through the frozen layers below:
    ``propagate="sample"`` (default: sampled units, so every layer sees data in its alphabet) or ``"mean"``
    (conditional means). Every RBM option (``units``, ``k``, ``persistent``, ``lr``, ``momentum``,
    ``final_momentum``, ``weight_decay``, ``l1``, ...; not ``final_lr`` or ``log_z_every``) applies to all
    layers; ``momentum_switch_epoch`` counts from the first epoch of each layer's block. The first
    layer's inputs are ``inputs``; deeper layers' inputs are the units' alphabet.

    Validation logs ``val/recon_error_depth{d}`` (reconstruction of held-out data from depth ``d``, up by
    conditional means and down by conditional means, squared error / 4 in the spin alphabet) and
    ``val/free_energy`` and ``val/pll`` (pseudo-log-likelihood per configuration) of the first layer.
    :meth:`summary_metrics` gives final locality per layer (:func:`~rgnet.rg.receptive_fields.locality` of the
    effective fields in windows of ``locality_factor`` block sides), block radius per layer
    (:func:`~rgnet.rg.receptive_fields.rms_radius`), reconstruction errors, and the first layer's
    log-likelihood per configuration (exact or AIS log Z).
    """

    def __init__(
        self,
        layers: list[int],
        *,
        epochs_per_layer: int = 10,
        propagate: str = "sample",
        locality_factor: float = 2.0,
        ais_runs: int = 100,
        ais_betas: int = 1000,
        **rbm_opts: Any,
    ) -> None:
        super().__init__()
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or len(layers) < 2:
            raise ValueError(
                f"layers must be a list of >= 2 layer sizes [n_visible, n_1, ...], got {layers!r}"
            )
        self.layers = [check_int(n, f"layers[{i}]", minimum=1) for i, n in enumerate(layers)]
        self.epochs_per_layer = check_int(epochs_per_layer, "epochs_per_layer", minimum=1)
        self.propagate = check_choice(propagate, "propagate", PROPAGATE)
        self.locality_factor = check_real(locality_factor, "locality_factor", minimum=0.0)
        if self.locality_factor <= 0:
            raise ValueError(f"locality_factor must be > 0, got {self.locality_factor}")
        not_stack_options = {
            "log_z_every": "log Z is computed in summary_metrics",
            "final_lr": "every layer trains at a constant lr",
        }
        for name, reason in not_stack_options.items():
            if name in rbm_opts:
                raise ValueError(f"{name} is not an RBMStack option ({reason})")
        self.save_hyperparameters()
        opts = dict(rbm_opts)
        inputs = opts.pop("inputs", "spin")
        units = opts.get("units", "spin")
        self.rbms = nn.ModuleList(
            RBM(
                n_in,
                n_out,
                inputs=inputs if i == 0 else units,
                log_z_every=0,
                ais_runs=ais_runs,
                ais_betas=ais_betas,
                **opts,
            )
            for i, (n_in, n_out) in enumerate(itertools.pairwise(self.layers))
        )
        self.automatic_optimization = False
        self.L = lattice_side(self.layers[0])
        self._val: dict[str, float] = {}
        self.last_validation: dict[str, float] = {}

    @property
    def n_layers(self) -> int:
        return len(self.rbms)

    @property
    def total_epochs(self) -> int:
        """Epochs for greedy training of every layer: ``n_layers * epochs_per_layer``."""
        return self.n_layers * self.epochs_per_layer

    def layer_of_epoch(self, epoch: int) -> int:
        """The layer (0-based) trained during ``epoch``."""
        return min(epoch // self.epochs_per_layer, self.n_layers - 1)

    @property
    def active_layer(self) -> int:
        return self.layer_of_epoch(self.current_epoch)

    # ------------------------------------------------------------------ passes through the stack
    @torch.no_grad()
    def up(
        self, v: torch.Tensor, depth: int, mode: str | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Hidden representation at ``depth`` (0 = inputs) of inputs ``v`` (batch, n_visible); ``mode`` as
        ``propagate`` (default: the model's). Returns (batch, layers[depth]) in the units' alphabet."""
        return self.up_all(v, depth, mode, generator)[-1] if depth else v

    @torch.no_grad()
    def up_all(
        self,
        v: torch.Tensor,
        depth: int | None = None,
        mode: str | None = None,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """One pass up to ``depth`` (default: the top): the representations at depths 1..depth of inputs
        ``v`` (batch, n_visible), each (batch, layers[d]) in the units' alphabet, each from the one below."""
        mode = self.propagate if mode is None else check_choice(mode, "mode", PROPAGATE)
        depth = self.n_layers if depth is None else depth
        x, out = v, []
        for rbm in self.rbms[:depth]:
            x = rbm.sample_hidden(x, generator) if mode == "sample" else rbm.hidden_mean(x)
            out.append(x)
        return out

    @torch.no_grad()
    def down(self, h: torch.Tensor, depth: int) -> torch.Tensor:
        """Mean-field pass from units at ``depth`` (batch, layers[depth]) to inputs (batch, n_visible)."""
        x = h
        for rbm in reversed(self.rbms[:depth]):
            x = rbm.visible_mean(x)
        return x

    @torch.no_grad()
    def reconstruct(self, v: torch.Tensor, depth: int) -> torch.Tensor:
        """Up to ``depth`` by conditional means and back down: inputs (batch, n_visible) -> means (same)."""
        depth = check_int(depth, "depth", minimum=1, maximum=self.n_layers)
        return self.down(self.up(v, depth, mode="mean"), depth)

    @torch.no_grad()
    def reconstruction_error(self, v: torch.Tensor, depth: int) -> float:
        """Mean over sites of the squared error of :meth:`reconstruct` (spin alphabet / 4, in [0, 1])."""
        scale = 0.25 if self.rbms[0].inputs == "spin" else 1.0
        return float(((v - self.reconstruct(v, depth)) ** 2).mean() * scale)

    @torch.no_grad()
    def effective_fields(self) -> list[torch.Tensor]:
        """Receptive fields ``r_l = r_{l-1} W_l`` (r_1 = W_1) of every layer: float32 (n_l, n_visible)."""
        fields, r = [], None
        for rbm in self.rbms:
            r = rbm.W if r is None else r @ rbm.W
            fields.append(r.t().contiguous())
        return fields

    @torch.no_grad()
    def layer_outputs(self, v: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Sampled +-1 units of every layer for inputs ``v`` (batch, n_visible), one stochastic pass up, each
        unit oriented like the block it sees: multiplied by the sign of its effective field's sum, so that
        +1 means the block's spins point up. A list of float32 (batch, layers[l]) for l = 1..n_layers; for
        :class:`rgnet.callbacks.couplings.CouplingTrajectories`, with :meth:`layer_positions`."""
        v = check_configurations(v, self.layers[0], self.rbms[0].inputs, name="v")
        outputs = self.up_all(v, mode="sample", generator=generator)
        if self.rbms[0].units == "binary":
            outputs = [2.0 * x - 1.0 for x in outputs]
        return [x * sign for x, sign in zip(outputs, self.unit_orientations(), strict=True)]

    @torch.no_grad()
    def unit_orientations(self) -> list[torch.Tensor]:
        """Per layer, float32 (layers[l],) of +-1: the sign of each unit's effective field sum (+1 for a zero
        sum), by which :meth:`layer_outputs` and :meth:`block_spin_map` orient the units like their blocks."""
        return [torch.where(field.sum(dim=1) < 0, -1.0, 1.0) for field in self.effective_fields()]

    def block_spin_map(
        self, mode: str = "sample", generator: torch.Generator | None = None
    ) -> StackBlockSpinMap:
        """The stack as a block-spin transform for :func:`rgnet.rg.mcrg_exponents`, a
        :class:`StackBlockSpinMap`: layer ``l`` maps the lattice of layer ``l - 1`` (the input for l = 1) to
        its units placed on their coarse lattice, oriented as in :meth:`layer_outputs`. ``mode``: ``"sample"``
        (units drawn from P(h | v) with ``generator``) or ``"mean_sign"`` (the sign of each unit's input, its
        most likely state; exact ties by a fair coin from ``generator``). Uses the current parameters."""
        return StackBlockSpinMap(self, mode, generator)

    def layer_positions(self) -> list[torch.Tensor]:
        """Centre of every unit's effective receptive field (:func:`field_centres`): float32 (layers[l], 2)
        (row, column) in input lattice units, per layer (needs ``layers[0] = L * L``)."""
        if self.L is None:
            raise ValueError(f"unit positions need a square lattice, layers[0] = {self.layers[0]} is not L*L")
        return [field_centres(fields, self.L) for fields in self.effective_fields()]

    def locality_per_layer(self) -> list[float]:
        """Mean :func:`locality` of each layer's effective fields (needs ``layers[0] = L * L``)."""
        if self.L is None:
            raise ValueError(f"locality needs a square lattice, layers[0] = {self.layers[0]} is not L*L")
        return [
            float(locality(fields, self.L, box_window(self.L, fields.shape[0], self.locality_factor)).mean())
            for fields in self.effective_fields()
        ]

    def radius_per_layer(self) -> list[float]:
        """Mean :func:`rms_radius` (lattice spacings) of each layer's effective fields (L * L inputs)."""
        if self.L is None:
            raise ValueError(f"block radius needs a square lattice, layers[0] = {self.layers[0]} is not L*L")
        return [float(rms_radius(fields, self.L).mean()) for fields in self.effective_fields()]

    # ------------------------------------------------------------------ training
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [rbm.make_optimizer() for rbm in self.rbms]

    def _optimizer(self, layer: int):
        optimizers = self.optimizers()
        return optimizers[layer] if isinstance(optimizers, list) else optimizers

    def check_datamodule(self, datamodule: object) -> None:
        """Raise ValueError when ``datamodule`` serves q-state Potts colours (one-hot; the stack's inputs
        and its block-spin measurements are Ising spins) or lattices of another L*L than ``layers[0]``
        (rgnet-train calls this before any data is made; :meth:`on_fit_start` repeats it); also when it
        serves (V, E) block pairs, images instead of flat configurations (``data.shape=image``), or when the
        stack expects {0, 1} inputs (``inputs="binary"``) of the data's +-1 spins."""
        if datamodule is None:  # plain Lightning use with loaders: checked batch by batch
            return
        if isinstance(datamodule, HasBlockPairs):
            raise TypeError(
                "the RBM stack trains on whole 2D Ising configurations (data=ising2d or data=ising2d_file), "
                f"but {type(datamodule).__name__} serves (V, E) block pairs"
            )
        shape = getattr(datamodule, "shape", "flat")
        if shape != "flat":
            raise ValueError(
                f"the RBM stack takes flat configurations of L*L sites, but the data serve shape={shape!r}: "
                "set data.shape=flat"
            )
        if self.rbms[0].inputs != "spin":
            raise ValueError(
                f"model.inputs={self.rbms[0].inputs!r} but the data serve +-1 spins: set model.inputs=spin"
            )
        q = getattr(datamodule, "q", None)
        if q is not None:
            raise ValueError(
                f"the RBM stack takes 2D Ising spins (data=ising2d), but the data serve q={q} Potts colours "
                "one-hot"
            )
        L = datamodule.L if isinstance(datamodule, HasLatticeSide) else None
        if isinstance(L, int) and L * L != self.layers[0]:
            raise ValueError(f"layers[0] = {self.layers[0]} does not match the data's L*L = {L * L}")

    def on_fit_start(self) -> None:
        self.check_datamodule(getattr(self.trainer, "datamodule", None))
        max_epochs = self.trainer.max_epochs
        if max_epochs is not None and max_epochs >= 0 and max_epochs != self.total_epochs:
            what = (
                "the deeper layers are never trained"
                if max_epochs < self.total_epochs
                else "the top layer trains longer"
            )
            rank_zero_warn(
                f"trainer.max_epochs = {max_epochs} but {self.n_layers} layers x epochs_per_layer = "
                f"{self.total_epochs}: {what} (fine when resuming in steps)"
            )

    def layer_batch(self, batch: torch.Tensor, layer: int) -> torch.Tensor:
        """A training batch of inputs propagated to the visible units of ``layer`` (checked at layer 0)."""
        v = batch[0] if isinstance(batch, (list, tuple)) else batch
        v = check_configurations(v, self.layers[0], self.rbms[0].inputs, name="batch")
        return self.up(v, layer)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        layer = self.active_layer
        x = self.layer_batch(batch, layer)
        flips = self.rbms[layer].cd_gradients(x)
        # a layer's epochs count from the start of its own block (the momentum schedule restarts per layer)
        self.rbms[layer].step_optimizer(
            self._optimizer(layer), self.current_epoch - layer * self.epochs_per_layer
        )
        self.log("train/layer", float(layer), on_step=True, on_epoch=False)
        if not self.rbms[layer].persistent:
            self.log("train/flip_fraction", flips, prog_bar=True, on_step=True, on_epoch=False)

    def on_validation_epoch_start(self) -> None:
        self._val = {
            "n": 0.0,
            "free_energy": 0.0,
            "pll": 0.0,
            **{f"recon_error_depth{d}": 0.0 for d in range(1, self.n_layers + 1)},
        }

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        v = batch[0] if isinstance(batch, (list, tuple)) else batch
        v = check_configurations(v, self.layers[0], self.rbms[0].inputs, name="batch")
        n = v.shape[0]
        self._val["n"] += n
        self._val["free_energy"] += float(self.rbms[0].free_energy(v).double().sum())
        self._val["pll"] += float(self.rbms[0].pseudo_log_likelihood(v).sum())
        for d in range(1, self.n_layers + 1):
            self._val[f"recon_error_depth{d}"] += self.reconstruction_error(v, d) * n

    def on_validation_epoch_end(self) -> None:
        n = self._val.get("n", 0.0)
        if not n:
            return
        self.last_validation = {key: value / n for key, value in self._val.items() if key != "n"}
        for key, value in self.last_validation.items():
            self.log(f"val/{key}", value)

    def summary_metrics(self) -> dict[str, Any]:
        """Final locality and block radius (:func:`rms_radius`, lattice spacings) per layer, reconstruction
        errors per depth (last validation), layer-1 log-likelihood."""
        out: dict[str, Any] = {}
        if self.L is not None:
            out["locality"] = {f"layer{l + 1}": value for l, value in enumerate(self.locality_per_layer())}
            out["block_radius"] = {f"layer{l + 1}": value for l, value in enumerate(self.radius_per_layer())}
        log_z, error = self.rbms[0].log_partition()
        out["layer1_log_z"] = log_z
        out["layer1_log_z_error"] = error
        if self.last_validation:
            out["reconstruction_error"] = {
                key.removeprefix("recon_error_"): value
                for key, value in self.last_validation.items()
                if key.startswith("recon_error_")
            }
            out["layer1_log_likelihood"] = -self.last_validation["free_energy"] - log_z
        return out


class StackBlockSpinMap:
    """An :class:`RBMStack` as a block-spin transform ``(batch, m, m) -> (batch, m', m')`` of +-1 spins, for
    :func:`rgnet.rg.mcrg_exponents` (``levels`` up to ``n_layers``).

    The layer is chosen by the input's side: ``sides[l]`` (``sides = [L, m_1, m_2, ...]``) is mapped by layer
    ``l + 1``. A layer's units are placed on their ``m x m`` lattice as :class:`rgnet.callbacks.couplings.
    CouplingTrajectories` places them (receptive-field centres, :func:`rgnet.rg.assign_to_lattice`) and
    oriented by :meth:`RBMStack.unit_orientations`; binary {0, 1} units become -1/+1. An input lattice of
    layer ``l >= 1`` is read back into its units by inverting that placement and orientation, so applying the
    map level after level is one pass up the stack. ``mode="sample"`` draws the units from P(h | v) with
    ``generator`` (on the model's device); ``"mean_sign"`` takes the sign of each unit's input (ties: a fair
    coin from ``generator``, as :func:`rgnet.rg.majority_2d` breaks them). The placement and orientation are
    those of the parameters when the map is built.

    Attributes: ``sides`` (lattice side at depths 0..n_layers), ``placement_errors`` (per layer, mean distance
    of a unit from its site in block sides, :func:`rgnet.rg.assign_to_lattice`).
    """

    def __init__(self, stack: RBMStack, mode: str, generator: torch.Generator | None) -> None:
        if stack.L is None:
            raise ValueError(
                f"a block-spin map needs a square lattice, layers[0] = {stack.layers[0]} is not L*L"
            )
        self.stack = stack
        self.mode = check_choice(mode, "mode", BLOCK_SPIN_MODES)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator
        self.sides = [stack.L, *lattice_sides(stack.layers[1:], stack.L)]
        placements = [assign_to_lattice(p, stack.L) for p in stack.layer_positions()]
        device = stack.rbms[0].W.device
        self.orders = [order.to(device) for order, _ in placements]
        self.inverse_orders = [torch.argsort(order) for order in self.orders]
        self.placement_errors = [error for _, error in placements]
        self.signs = stack.unit_orientations()

    def _check(self, spins: object) -> int:
        """The 0-based layer that maps ``spins``: +-1 ``(batch, m, m)``, ``m`` one of ``sides`` (checked)."""
        if not isinstance(spins, torch.Tensor):
            raise TypeError(f"spins must be a torch.Tensor of +-1, got {type(spins).__name__}")
        if spins.dim() != 3 or spins.shape[1] != spins.shape[2] or spins.shape[0] < 1:
            raise ValueError(f"spins must have shape (batch >= 1, m, m), got {tuple(spins.shape)}")
        if spins.shape[1] not in self.sides[:-1]:
            raise ValueError(
                f"spins: no layer maps side {spins.shape[1]}; the layers map sides {self.sides[:-1]} "
                f"(to {self.sides[1:]})"
            )
        if spins.dtype == torch.bool or spins.is_complex() or not bool(((spins == 1) | (spins == -1)).all()):
            raise ValueError(f"spins must hold only +-1 values (real dtype), got dtype {spins.dtype}")
        return self.sides.index(spins.shape[1])

    @torch.no_grad()
    def __call__(self, spins: torch.Tensor) -> torch.Tensor:
        """Coarse-grain +-1 ``spins`` (batch, m_l, m_l) by layer ``l + 1``: (batch, m_{l+1}, m_{l+1}) of +-1,
        same dtype and device as ``spins``."""
        l = self._check(spins)
        rbm = self.stack.rbms[l]
        x = spins.reshape(spins.shape[0], -1).to(device=rbm.W.device, dtype=torch.float32)
        if l:  # the lattice of layer l back to its units, in their order and own orientation
            x = x[:, self.inverse_orders[l - 1]] * self.signs[l - 1]
        v = x if rbm.inputs == "spin" else (x + 1.0) * 0.5
        m = self.sides[l + 1]
        if self.mode == "sample":
            h = rbm.sample_hidden(v, self.generator)
            y = (2.0 * h - 1.0 if rbm.units == "binary" else h) * self.signs[l]
            out = y[:, self.orders[l]]
        else:
            pre = rbm.hidden_input(rbm.to_units(v)) * self.signs[l]
            out = sign_with_coin(pre[:, self.orders[l]].reshape(-1, m, m), self.generator)
        return out.reshape(-1, m, m).to(device=spins.device, dtype=spins.dtype)
