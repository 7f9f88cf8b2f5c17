"""Restricted Boltzmann machines on Ising configurations, trained by contrastive divergence.

Conventions
-----------
* Data ("inputs") are float32 tensors ``(batch, n_visible)`` in the *input alphabet*: ``+-1`` spins (the
  datasets' convention, default) or ``{0, 1}`` (``inputs="binary"``).
* Units take values in the *unit alphabet* ``units``: ``"spin"`` (+-1, Ising units) or ``"binary"``
  ({0, 1}). Inputs are mapped to units internally (``x = (s + 1) / 2`` for spin inputs and binary units).
* Energy ``E(v, h) = -v.W.h - b.v - c.h`` with ``W`` of shape ``(n_visible, n_hidden)``; the free energy
  ``F(v) = -b.v - sum_j log sum_{h_j} exp(h_j (c + v W)_j)`` so ``p(v) = exp(-F(v)) / Z``. All energies
  are dimensionless (units of kT).
* Sampling: ``p(h_j = +1 | v) = sigmoid(2 a_j)`` for spin units, ``sigmoid(a_j)`` for binary units, with
  ``a = c + v W`` (and symmetrically for the visible layer).

Training is contrastive divergence (CD-k) or persistent CD (PCD): the gradient of the mean log-likelihood
is ``<v h>_data - <v h>_model`` with hidden *means* on both sides (Rao-Blackwellized); weight decay
(L2, weights only), L1 (weights only) and momentum (SGD) as in Hinton's practical guide, optionally switched
to a final momentum at a given epoch (Hinton & Salakhutdinov's 0.5 then 0.9), and optionally a linear
learning-rate decay over the epochs (:class:`torch.optim.lr_scheduler.LinearLR`). The update runs
through Lightning's optimizer (manual optimization), so ``global_step``, checkpoints and resume work; the
persistent chains are a buffer in the state dict. Stacks: :mod:`rgnet.models.rbm_stack`; a one-call training
harness for notebooks: :func:`rgnet.models.rbm_training.train_rbm`.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import lightning
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn

from rgnet._checks import check_bool, check_choice, check_int, check_real

UNITS = ("spin", "binary")
#: The smaller layer is enumerated exactly when it has at most this many units.
MAX_EXACT_UNITS = 20
_ENUM_CHUNK = 1 << 14


def _log_sum_unit(x: torch.Tensor, units: str) -> torch.Tensor:
    """``log sum_{s in alphabet} exp(s x)`` elementwise: ``log(2 cosh x)`` (spin), ``softplus`` (binary)."""
    if units == "spin":
        return torch.logaddexp(x, -x)
    return torch.nn.functional.softplus(x)


def _sample_units(pre: torch.Tensor, units: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample units given their inputs ``pre`` (any shape); values in the unit alphabet, dtype of ``pre``."""
    u = torch.rand(pre.shape, generator=generator, device=pre.device, dtype=pre.dtype)
    if units == "spin":  # P(+1) = sigmoid(2 a)
        return torch.lt(u, torch.sigmoid(2.0 * pre)).to(pre.dtype).mul_(2.0).sub_(1.0)
    return torch.lt(u, torch.sigmoid(pre)).to(pre.dtype)


def _mean_units(pre: torch.Tensor, units: str) -> torch.Tensor:
    """Conditional mean of units given their inputs: ``tanh`` (spin) or ``sigmoid`` (binary)."""
    return torch.tanh(pre) if units == "spin" else torch.sigmoid(pre)


def _all_states(n: int, units: str, start: int, stop: int, dtype: torch.dtype) -> torch.Tensor:
    """States ``start..stop-1`` of ``n`` units in the unit alphabet, ``(stop - start, n)``; bit k: unit k."""
    idx = torch.arange(start, stop, dtype=torch.int64)
    bits = ((idx[:, None] >> torch.arange(n, dtype=torch.int64)) & 1).to(dtype)
    return 2.0 * bits - 1.0 if units == "spin" else bits


def _check_momentum(value: object, name: str) -> float:
    """An SGD momentum in [0, 1)."""
    value = check_real(value, name, minimum=0.0)
    if value >= 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


def check_configurations(
    data: object, n_visible: int, inputs: str = "spin", name: str = "data"
) -> torch.Tensor:
    """Validate configurations ``(n, n_visible)`` in the input alphabet; returns float32, same device."""
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, {n_visible}), got {type(data).__name__}")
    if data.dim() != 2 or data.shape[1] != n_visible or data.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n >= 1, n_visible={n_visible}), got {tuple(data.shape)}")
    if data.dtype == torch.bool or data.is_complex():
        raise TypeError(f"{name} must have an integer or floating dtype, got {data.dtype}")
    values = (-1, 1) if inputs == "spin" else (0, 1)
    if not bool(((data == values[0]) | (data == values[1])).all()):
        raise ValueError(f"{name} must contain only {values[0]} and {values[1]} (inputs={inputs!r})")
    return data.to(torch.float32)


class RBM(lightning.LightningModule):
    """Restricted Boltzmann machine trained by CD-k / PCD through Lightning's optimizer.

    Args:
        n_visible, n_hidden: layer sizes (>= 1).
        units: ``"spin"`` (+-1 Ising units, default) or ``"binary"`` ({0,1}) for both layers.
        inputs: alphabet of the data given to the model: ``"spin"`` (+-1, default) or ``"binary"``.
        k: Gibbs steps of the negative phase (>= 1).
        persistent: PCD (chains carried across updates) instead of CD-k (chains restarted at the data).
        n_chains: number of persistent chains (PCD only).
        lr: SGD learning rate (>= 0) on the batch-mean log-likelihood gradient.
        final_lr: None (default) keeps ``lr`` constant; else the learning rate decays linearly per epoch
            from ``lr`` (first epoch) to ``final_lr`` (last epoch, ``trainer.max_epochs``); in ``[0, lr]``.
        momentum: SGD momentum in [0, 1).
        final_momentum, momentum_switch_epoch: both None (default: constant ``momentum``) or both given: the
            momentum is ``momentum`` for epochs ``0 .. momentum_switch_epoch - 1`` (0-based) and
            ``final_momentum`` (in [0, 1)) from then on (Hinton & Salakhutdinov's code: 0.5, then 0.9 from
            the sixth epoch, i.e. ``momentum_switch_epoch=5``).
        weight_decay: L2 penalty on the weights (>= 0), gradient ``weight_decay * W``.
        l1: L1 penalty on the weights (>= 0), gradient ``l1 * sign(W)``.
        init_std: standard deviation of the initial Gaussian weights (>= 0); biases start at 0.
        log_z_every: compute the log-likelihood (exact or AIS log Z) on validation every this many
            epochs (0: never).
        ais_runs, ais_betas: AIS chains and intermediate temperatures when log Z is not enumerable.
    Training logs ``train/flip_fraction`` (CD: share of sites one Gibbs step from the data changes).
    Validation logs ``val/pll`` (pseudo-log-likelihood per configuration, stochastic single-site estimator),
    ``val/recon_error`` (mean squared error of the mean-field reconstruction in the spin alphabet / 4, i.e.
    in [0, 1] per site), ``val/free_energy`` and, every ``log_z_every`` epochs, ``val/log_likelihood``
    (per configuration), ``val/log_z`` and ``val/log_z_error``.
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        units: str = "spin",
        inputs: str = "spin",
        k: int = 1,
        persistent: bool = False,
        n_chains: int = 100,
        lr: float = 0.01,
        final_lr: float | None = None,
        momentum: float = 0.5,
        final_momentum: float | None = None,
        momentum_switch_epoch: int | None = None,
        weight_decay: float = 0.0,
        l1: float = 0.0,
        init_std: float = 0.01,
        log_z_every: int = 1,
        ais_runs: int = 100,
        ais_betas: int = 1000,
    ) -> None:
        super().__init__()
        self.n_visible = check_int(n_visible, "n_visible", minimum=1)
        self.n_hidden = check_int(n_hidden, "n_hidden", minimum=1)
        self.units = check_choice(units, "units", UNITS)
        self.inputs = check_choice(inputs, "inputs", UNITS)
        self.k = check_int(k, "k", minimum=1)
        self.persistent = check_bool(persistent, "persistent")
        self.n_chains = check_int(n_chains, "n_chains", minimum=1)
        self.lr = check_real(lr, "lr", minimum=0.0)
        self.final_lr = final_lr
        if final_lr is not None:
            self.final_lr = check_real(final_lr, "final_lr", minimum=0.0, maximum=self.lr)
            if self.lr == 0.0:
                raise ValueError("final_lr needs lr > 0 (the schedule scales lr)")
        self.momentum = _check_momentum(momentum, "momentum")
        if (final_momentum is None) != (momentum_switch_epoch is None):
            raise ValueError(
                "final_momentum and momentum_switch_epoch must be given together (or both None), got "
                f"final_momentum={final_momentum!r}, momentum_switch_epoch={momentum_switch_epoch!r}"
            )
        self.final_momentum = (
            None if final_momentum is None else _check_momentum(final_momentum, "final_momentum")
        )
        self.momentum_switch_epoch = (
            None
            if momentum_switch_epoch is None
            else check_int(momentum_switch_epoch, "momentum_switch_epoch", minimum=0)
        )
        self.weight_decay = check_real(weight_decay, "weight_decay", minimum=0.0)
        self.l1 = check_real(l1, "l1", minimum=0.0)
        init_std = check_real(init_std, "init_std", minimum=0.0)
        self.log_z_every = check_int(log_z_every, "log_z_every", minimum=0)
        self.ais_runs = check_int(ais_runs, "ais_runs", minimum=2)
        self.ais_betas = check_int(ais_betas, "ais_betas", minimum=1)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.W = nn.Parameter(init_std * torch.randn(self.n_visible, self.n_hidden))
        self.b = nn.Parameter(torch.zeros(self.n_visible))
        self.c = nn.Parameter(torch.zeros(self.n_hidden))
        chains = torch.randint(0, 2, (self.n_chains if self.persistent else 0, self.n_visible)).float()
        self.register_buffer("chains", 2.0 * chains - 1.0 if self.units == "spin" else chains)
        self._val_sums: dict[str, float] = {}

    # ------------------------------------------------------------------ alphabets and conditionals
    def to_units(self, v: torch.Tensor) -> torch.Tensor:
        """Map inputs (input alphabet) to the unit alphabet, float32."""
        v = v.to(self.W.dtype)
        if self.inputs == self.units:
            return v
        return (v + 1.0) * 0.5 if self.units == "binary" else 2.0 * v - 1.0

    def from_units(self, x: torch.Tensor) -> torch.Tensor:
        """Map visible units (or their means) back to the input alphabet."""
        if self.inputs == self.units:
            return x
        return 2.0 * x - 1.0 if self.units == "binary" else (x + 1.0) * 0.5

    def hidden_input(self, x: torch.Tensor) -> torch.Tensor:
        """``c + x W`` for visible units ``x`` (batch, n_visible) -> (batch, n_hidden)."""
        return torch.addmm(self.c, x, self.W)

    def visible_input(self, h: torch.Tensor) -> torch.Tensor:
        """``b + h W^T`` for hidden units ``h`` (batch, n_hidden) -> (batch, n_visible)."""
        return torch.addmm(self.b, h, self.W.t())

    @torch.no_grad()
    def sample_hidden(self, v: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``h ~ p(h | v)`` for inputs ``v`` (batch, n_visible); unit alphabet, (batch, n_hidden)."""
        return _sample_units(self.hidden_input(self.to_units(v)), self.units, generator)

    @torch.no_grad()
    def hidden_mean(self, v: torch.Tensor) -> torch.Tensor:
        """``E[h | v]`` for inputs ``v`` (batch, n_visible) -> (batch, n_hidden), unit alphabet."""
        return _mean_units(self.hidden_input(self.to_units(v)), self.units)

    @torch.no_grad()
    def sample_visible(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``v ~ p(v | h)`` for hidden units ``h`` (batch, n_hidden): inputs (batch, n_visible)."""
        return self.from_units(_sample_units(self.visible_input(h.to(self.W.dtype)), self.units, generator))

    @torch.no_grad()
    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """``E[v | h]`` for hidden units ``h`` (batch, n_hidden), in the input alphabet (batch, n_visible)."""
        return self.from_units(_mean_units(self.visible_input(h.to(self.W.dtype)), self.units))

    def _gibbs_units(self, x: torch.Tensor, steps: int, generator: torch.Generator | None) -> torch.Tensor:
        for _ in range(steps):
            h = _sample_units(self.hidden_input(x), self.units, generator)
            x = _sample_units(self.visible_input(h), self.units, generator)
        return x

    @torch.no_grad()
    def gibbs(
        self, v: torch.Tensor, steps: int = 1, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``steps`` sweeps of block Gibbs sampling v -> h -> v from inputs ``v`` (batch, n_visible)."""
        steps = check_int(steps, "steps", minimum=0)
        return self.from_units(self._gibbs_units(self.to_units(v), steps, generator))

    @torch.no_grad()
    def sample(self, n: int, steps: int = 1000, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` configurations from ``steps`` Gibbs sweeps of independent chains started uniformly at random.

        Returns float32 (n, n_visible) in the input alphabet on the model's device.
        """
        n = check_int(n, "n", minimum=1)
        steps = check_int(steps, "steps", minimum=1)
        bits = torch.randint(0, 2, (n, self.n_visible), generator=generator, device=self.W.device)
        x = bits.to(self.W.dtype)
        x = 2.0 * x - 1.0 if self.units == "spin" else x
        return self.from_units(self._gibbs_units(x, steps, generator))

    # ------------------------------------------------------------------ energies and partition function
    def _free_energy_units(self, x: torch.Tensor) -> torch.Tensor:
        return -(x @ self.b) - _log_sum_unit(self.hidden_input(x), self.units).sum(dim=1)

    @torch.no_grad()
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """Free energy ``F(v)`` (kT, ``p(v) = e^-F / Z``) of inputs ``v`` (batch, n_visible) -> (batch,)."""
        return self._free_energy_units(self.to_units(v))

    @torch.no_grad()
    def exact_log_partition(self) -> float:
        """``log Z`` by enumerating the smaller layer (<= 20 units), float64 with log-sum-exp over chunks."""
        small = min(self.n_visible, self.n_hidden)
        if small > MAX_EXACT_UNITS:
            sizes = f"{self.n_visible}x{self.n_hidden}"
            raise ValueError(f"exact log Z needs a layer of <= {MAX_EXACT_UNITS} units, got {sizes}")
        W, b, c = self.W.double(), self.b.double(), self.c.double()
        if self.n_hidden <= self.n_visible:
            W, b, c = W.t(), c, b  # enumerate hidden: the roles of the layers swap
        n = W.shape[0]
        parts = []
        for start in range(0, 1 << n, _ENUM_CHUNK):
            s = _all_states(n, self.units, start, min(start + _ENUM_CHUNK, 1 << n), torch.float64).to(
                W.device
            )
            parts.append(
                torch.logsumexp(s @ b + _log_sum_unit(torch.addmm(c, s, W), self.units).sum(dim=1), 0)
            )
        return float(torch.logsumexp(torch.stack(parts), 0))

    @torch.no_grad()
    def ais_log_partition(
        self, runs: int | None = None, betas: int | None = None, generator: torch.Generator | None = None
    ) -> tuple[float, float]:
        """Annealed importance sampling estimate of ``log Z`` and its standard error.

        Path: ``p_beta(v, h) ~ exp(b.v + beta (v W h + c.h))`` from ``beta = 0`` (independent visible units
        with the model's biases, uniform hidden units; ``log Z_0`` exact) to ``beta = 1`` at ``betas`` equally
        spaced temperatures, one block-Gibbs transition per temperature, ``runs`` independent chains
        (Salakhutdinov & Murray 2008). Error: delta-method standard error of ``log mean w``,
        ``std(w) / (sqrt(runs) mean(w))``. The estimate is biased low by about half its variance.
        """
        runs = self.ais_runs if runs is None else check_int(runs, "runs", minimum=2)
        betas = self.ais_betas if betas is None else check_int(betas, "betas", minimum=1)
        W, b, c = self.W, self.b, self.c
        x = _sample_units(b.expand(runs, -1), self.units, generator)
        log_w = torch.zeros(runs, dtype=torch.float64, device=W.device)
        schedule = torch.linspace(0.0, 1.0, betas + 1).tolist()
        for beta_prev, beta in itertools.pairwise(schedule):
            a = torch.addmm(c, x, W)
            log_w += (
                (_log_sum_unit(beta * a, self.units) - _log_sum_unit(beta_prev * a, self.units))
                .sum(1)
                .double()
            )
            if beta < 1.0:
                h = _sample_units(beta * a, self.units, generator)
                x = _sample_units(torch.addmm(b, h, W.t(), alpha=beta), self.units, generator)
        log_z0 = float(_log_sum_unit(b.double(), self.units).sum()) + self.n_hidden * math.log(2.0)
        shift = float(log_w.max())
        w = torch.exp(log_w - shift)
        mean = float(w.mean())
        error = float(w.std()) / (math.sqrt(runs) * mean)
        return log_z0 + shift + math.log(mean), error

    def log_partition(self, method: str = "auto", **ais_opts: Any) -> tuple[float, float]:
        """``(log Z, standard error)``: exact (error 0) when a layer has <= 20 units, else AIS.

        ``method``: ``"auto"``, ``"exact"`` or ``"ais"``; ``ais_opts``: ``runs``, ``betas``, ``generator``.
        """
        method = check_choice(method, "method", ("auto", "exact", "ais"))
        enumerable = min(self.n_visible, self.n_hidden) <= MAX_EXACT_UNITS
        if method == "exact" or (method == "auto" and enumerable):
            return self.exact_log_partition(), 0.0
        return self.ais_log_partition(**ais_opts)

    @torch.no_grad()
    def log_likelihood(self, v: torch.Tensor, log_z: float | None = None) -> float:
        """Mean ``log p(v)`` per configuration of inputs ``v`` (batch, n_visible); ``log_z``: default
        :meth:`log_partition`."""
        log_z = self.log_partition()[0] if log_z is None else log_z
        return float(-self.free_energy(v).double().mean()) - log_z

    @torch.no_grad()
    def pseudo_log_likelihood(
        self, v: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Stochastic pseudo-log-likelihood ``N log p(v_i | v_-i)`` at a random site ``i`` per configuration.

        Inputs ``v`` (batch, n_visible) -> float32 (batch,); its mean over sites is the full PLL.
        """
        x = self.to_units(v)
        site = torch.randint(0, self.n_visible, (x.shape[0],), generator=generator, device=x.device)
        flipped = x.clone()
        rows = torch.arange(x.shape[0], device=x.device)
        flipped[rows, site] = -x[rows, site] if self.units == "spin" else 1.0 - x[rows, site]
        delta = self._free_energy_units(flipped) - self._free_energy_units(x)
        return self.n_visible * torch.nn.functional.logsigmoid(delta)

    @torch.no_grad()
    def reconstruction_error(self, v: torch.Tensor) -> float:
        """Mean over sites of ``(v - E[v | E[h | v]])^2 / 4`` in the spin alphabet (in [0, 1])."""
        recon = self.visible_mean(self.hidden_mean(v))
        scale = 0.25 if self.inputs == "spin" else 1.0
        return float(((v - recon) ** 2).mean() * scale)

    # ------------------------------------------------------------------ training
    @torch.no_grad()
    def cd_gradients(self, v: torch.Tensor) -> float:
        """Set ``.grad`` of W, b, c to the CD-k/PCD descent direction for inputs ``v`` (batch, n_visible).

        Includes weight decay and L1; updates the persistent chains (PCD). Returns the fraction of sites that
        one Gibbs step v -> h -> v from the data changes (CD; NaN for PCD), a cheap sampled reconstruction
        error.
        """
        x0 = self.to_units(v)
        a0 = self.hidden_input(x0)
        ph0 = _mean_units(a0, self.units)
        if self.persistent:
            xk = self._gibbs_units(self.chains, self.k, None)
            self.chains.copy_(xk)
            flips = float("nan")
        else:
            xk = _sample_units(self.visible_input(_sample_units(a0, self.units)), self.units)
            flips = float((xk != x0).float().mean())
            xk = self._gibbs_units(xk, self.k - 1, None)
        phk = _mean_units(self.hidden_input(xk), self.units)
        n0, nk = x0.shape[0], xk.shape[0]
        # one matmul for both phases: [x0; xk]^T [ph0 / n0; -phk / nk]
        grad_w = torch.cat([x0, xk]).t() @ torch.cat([ph0 / -n0, phk / nk])
        if self.weight_decay:
            grad_w.add_(self.W, alpha=self.weight_decay)
        if self.l1:
            grad_w.add_(torch.sign(self.W), alpha=self.l1)
        self.W.grad = grad_w
        self.b.grad = xk.mean(0) - x0.mean(0)
        self.c.grad = phk.mean(0) - ph0.mean(0)
        return flips

    def momentum_at(self, epoch: int) -> float:
        """The SGD momentum of (0-based) training epoch ``epoch``: ``momentum``, or ``final_momentum`` from
        ``momentum_switch_epoch`` on."""
        switched = self.final_momentum is not None and epoch >= self.momentum_switch_epoch
        return self.final_momentum if switched else self.momentum

    def step_optimizer(self, optimizer: torch.optim.Optimizer, epoch: int) -> None:
        """One SGD step of ``optimizer`` (of :meth:`make_optimizer`, gradients set by :meth:`cd_gradients`) at
        the momentum of training epoch ``epoch`` (:meth:`momentum_at`)."""
        for group in optimizer.param_groups:
            group["momentum"] = self.momentum_at(epoch)
        optimizer.step()

    def make_optimizer(self) -> torch.optim.Optimizer:
        """SGD with the model's learning rate and momentum (penalties are part of :meth:`cd_gradients`)."""
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum)

    def configure_optimizers(self) -> torch.optim.Optimizer | OptimizerLRSchedulerConfig:
        """:meth:`make_optimizer`; with ``final_lr``, also its per-epoch decay over ``trainer.max_epochs``."""
        optimizer = self.make_optimizer()
        if self.final_lr is None:
            return optimizer
        epochs = self.trainer.max_epochs
        if epochs is None or epochs < 1:
            raise ValueError(f"final_lr needs a finite trainer.max_epochs >= 1, got {epochs}")
        schedule = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=1.0, end_factor=self.final_lr / self.lr, total_iters=epochs - 1
        )
        return {"optimizer": optimizer, "lr_scheduler": schedule}

    def on_train_epoch_end(self) -> None:
        """Step the learning-rate schedule, if any (under manual optimization Lightning leaves that to us)."""
        schedule = self.lr_schedulers()
        if schedule is not None:
            schedule.step()

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        v = batch[0] if isinstance(batch, (list, tuple)) else batch
        v = check_configurations(v, self.n_visible, self.inputs, name="batch")
        optimizer = self.optimizers()
        flips = self.cd_gradients(v)
        self.step_optimizer(optimizer, self.current_epoch)
        if not self.persistent:
            self.log("train/flip_fraction", flips, prog_bar=True, on_step=True, on_epoch=False)

    def on_validation_epoch_start(self) -> None:
        self._val_sums = {"n": 0.0, "pll": 0.0, "recon": 0.0, "free_energy": 0.0}

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        v = batch[0] if isinstance(batch, (list, tuple)) else batch
        v = check_configurations(v, self.n_visible, self.inputs, name="batch")
        n = v.shape[0]
        sums = self._val_sums
        sums["n"] += n
        sums["pll"] += float(self.pseudo_log_likelihood(v).sum())
        sums["recon"] += self.reconstruction_error(v) * n
        sums["free_energy"] += float(self.free_energy(v).double().sum())

    def on_validation_epoch_end(self) -> None:
        sums = self._val_sums
        if not sums.get("n"):
            return
        n = sums["n"]
        self.log("val/pll", sums["pll"] / n)
        self.log("val/recon_error", sums["recon"] / n)
        self.log("val/free_energy", sums["free_energy"] / n)
        if (
            self.log_z_every
            and not self.trainer.sanity_checking
            and (self.current_epoch + 1) % self.log_z_every == 0
        ):
            log_z, error = self.log_partition()
            self.log("val/log_z", log_z)
            self.log("val/log_z_error", error)
            self.log("val/log_likelihood", -sums["free_energy"] / n - log_z)
