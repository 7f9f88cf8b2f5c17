"""Restricted Boltzmann machines on Ising configurations, and greedy stacks of them (Mehta & Schwab 2014).

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
(L2, weights only), L1 (weights only) and momentum (SGD) as in Hinton's practical guide. The update runs
through Lightning's optimizer (manual optimization), so ``global_step``, checkpoints and resume work; the
persistent chains are a buffer in the state dict.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import lightning
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn

from rgnet._checks import check_bool, check_choice, check_int, check_real

UNITS = ("spin", "binary")
#: The smaller layer is enumerated exactly when it has at most this many units.
MAX_EXACT_UNITS = 20
_ENUM_CHUNK = 1 << 14


def _log_sum_unit(x: torch.Tensor, units: str) -> torch.Tensor:
    """``log sum_{s in alphabet} exp(s x)`` elementwise: ``log(2 cosh x)`` (spin) or ``softplus(x)`` (binary)."""
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
    """States ``start..stop-1`` of ``n`` units in the unit alphabet, ``(stop - start, n)``; bit k -> unit k."""
    idx = torch.arange(start, stop, dtype=torch.int64)
    bits = ((idx[:, None] >> torch.arange(n, dtype=torch.int64)) & 1).to(dtype)
    return 2.0 * bits - 1.0 if units == "spin" else bits


def check_configurations(
    data: object, n_visible: int, inputs: str = "spin", name: str = "data"
) -> torch.Tensor:
    """Validate a batch of configurations ``(n, n_visible)`` in the input alphabet; returns float32 (same device)."""
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
        momentum: SGD momentum in [0, 1).
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
        momentum: float = 0.5,
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
        self.momentum = check_real(momentum, "momentum", minimum=0.0)
        if self.momentum >= 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
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
        """Sample ``v ~ p(v | h)`` for hidden units ``h`` (batch, n_hidden); input alphabet, (batch, n_visible)."""
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
        """``steps`` sweeps of block Gibbs sampling v -> h -> v from inputs ``v``; returns inputs (batch, n_visible)."""
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
        """Free energy ``F(v)`` (kT units) of inputs ``v`` float32 (batch, n_visible) -> (batch,), ``p(v) = e^-F / Z``."""
        return self._free_energy_units(self.to_units(v))

    @torch.no_grad()
    def exact_log_partition(self) -> float:
        """``log Z`` by enumerating the smaller layer (<= 20 units), in float64 with log-sum-exp over chunks."""
        small = min(self.n_visible, self.n_hidden)
        if small > MAX_EXACT_UNITS:
            raise ValueError(
                f"exact log Z needs a layer of <= {MAX_EXACT_UNITS} units, got {self.n_visible}x{self.n_hidden}"
            )
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

        Path: ``p_beta(v, h) ~ exp(b.v + beta (v W h + c.h))`` from ``beta = 0`` (independent visible units with
        the model's biases, uniform hidden units; ``log Z_0`` exact) to ``beta = 1`` at ``betas`` equally spaced
        temperatures, one block-Gibbs transition per temperature, ``runs`` independent chains
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
        """Mean ``log p(v)`` per configuration of inputs ``v`` (batch, n_visible), with ``log_partition()`` by default."""
        log_z = self.log_partition()[0] if log_z is None else log_z
        return float(-self.free_energy(v).double().mean()) - log_z

    @torch.no_grad()
    def pseudo_log_likelihood(
        self, v: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Stochastic pseudo-log-likelihood ``N log p(v_i | v_-i)`` at one random site ``i`` per configuration.

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
        one Gibbs step v -> h -> v from the data changes (CD; NaN for PCD), a cheap sampled reconstruction error.
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

    def make_optimizer(self) -> torch.optim.Optimizer:
        """SGD with the model's learning rate and momentum (penalties are part of :meth:`cd_gradients`)."""
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.make_optimizer()

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        v = batch[0] if isinstance(batch, (list, tuple)) else batch
        v = check_configurations(v, self.n_visible, self.inputs, name="batch")
        optimizer = self.optimizers()
        flips = self.cd_gradients(v)
        optimizer.step()
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


class _Batches(torch.utils.data.Dataset):
    """Indexable by a list of row indices: returns the whole batch at once (no per-item collation)."""

    def __init__(self, data: torch.Tensor) -> None:
        self.data = data

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, indices: list[int]) -> torch.Tensor:
        return self.data[indices]


def batch_loader(data: torch.Tensor, batch_size: int, shuffle: bool) -> torch.utils.data.DataLoader:
    """A DataLoader of whole-batch slices of ``data`` (rows), shuffled or in order."""
    sampler = torch.utils.data.RandomSampler(data) if shuffle else torch.utils.data.SequentialSampler(data)
    batches = torch.utils.data.BatchSampler(sampler, batch_size=batch_size, drop_last=False)
    return torch.utils.data.DataLoader(_Batches(data), sampler=batches, batch_size=None)


class _LinearLR(lightning.Callback):
    """Sets every optimizer's learning rate to ``start + (end - start) * epoch / (epochs - 1)`` at each epoch start."""

    def __init__(self, start: float, end: float, epochs: int) -> None:
        self.start, self.end, self.epochs = start, end, epochs

    def on_train_epoch_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        fraction = trainer.current_epoch / max(self.epochs - 1, 1)
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.start + (self.end - self.start) * min(fraction, 1.0)


class _ParameterAverage(lightning.Callback):
    """Replaces the parameters at the end of fit by their mean over every update from epoch ``start`` on."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.sums: list[torch.Tensor] = []
        self.count = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch < self.start:
            return
        params = [p.detach() for p in pl_module.parameters()]
        if not self.sums:
            self.sums = [torch.zeros_like(p, dtype=torch.float64) for p in params]
        for total, p in zip(self.sums, params):
            total.add_(p)
        self.count += 1

    def on_fit_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        if self.count:
            with torch.no_grad():
                for p, total in zip(pl_module.parameters(), self.sums):
                    p.copy_(total / self.count)


def train_rbm(
    data: torch.Tensor,
    n_hidden: int,
    *,
    epochs: int = 20,
    batch_size: int = 100,
    seed: int | None = 0,
    progress: bool = True,
    final_lr: float | None = None,
    average_epochs: int = 0,
    **opts: Any,
) -> RBM:
    """Train an :class:`RBM` with ``n_hidden`` hidden units on configurations ``data`` (n, n_visible).

    ``data``: +-1 configurations (or {0,1} with ``inputs="binary"``), any numeric dtype, CPU or GPU.
    ``opts`` are :class:`RBM` options (``k``, ``persistent``, ``lr``, ``momentum``, ``l1``, ...); defaults
    are CD-1, lr 0.01, momentum 0.5. The visible biases start at the data's log-odds (Hinton's guide); PCD's
    persistent chains start at randomly drawn training configurations (chains started at random mix slowly into
    an ordered phase); no validation or log Z is computed. ``final_lr``: the learning rate decays linearly per
    epoch from ``lr`` (first epoch) to ``final_lr`` (last epoch); None keeps it constant. ``average_epochs``: the
    returned parameters are the average over every update of the last this many epochs (Polyak averaging,
    which removes most of the stochastic-gradient noise; 0: the last iterate). ``seed`` seeds torch's
    global RNG (None: leave it alone); ``progress`` shows a rich progress bar. All arguments are checked before
    training starts.
    """
    epochs = check_int(epochs, "epochs", minimum=1)
    if final_lr is not None:
        final_lr = check_real(final_lr, "final_lr", minimum=0.0)
    average_epochs = check_int(average_epochs, "average_epochs", minimum=0, maximum=epochs)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    check_bool(progress, "progress")
    if seed is not None:
        lightning.seed_everything(check_int(seed, "seed", minimum=0, maximum=2**32 - 1), verbose=False)
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data must be a torch.Tensor of shape (n, n_visible), got {type(data).__name__}")
    if data.dim() != 2:
        raise ValueError(f"data must have shape (n, n_visible), got {tuple(data.shape)}")
    model = RBM(data.shape[1], n_hidden, log_z_every=0, **opts)
    data = check_configurations(data, model.n_visible, model.inputs)
    with torch.no_grad():
        mean = model.to_units(data).mean(0)
        if model.units == "spin":
            model.b.copy_(torch.atanh(mean.clamp(-0.99, 0.99)))
        else:
            model.b.copy_(torch.logit(mean.clamp(0.01, 0.99)))
        if model.persistent:
            rows = torch.randint(0, data.shape[0], (model.n_chains,), device=data.device)
            model.chains.copy_(model.to_units(data[rows]).to(model.chains.device))
    accelerator = "gpu" if data.is_cuda else "cpu"
    callbacks: list[lightning.Callback] = []
    if final_lr is not None:
        callbacks.append(_LinearLR(model.lr, final_lr, epochs))
    if average_epochs:
        callbacks.append(_ParameterAverage(epochs - average_epochs))
    if progress:
        callbacks.append(lightning.pytorch.callbacks.RichProgressBar())
    trainer = lightning.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
        callbacks=callbacks,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    trainer.fit(
        model, train_dataloaders=batch_loader(data.cpu() if accelerator == "cpu" else data, batch_size, True)
    )
    return model


PROPAGATE = ("sample", "mean")


def lattice_side(n_sites: int) -> int | None:
    """``L`` if ``n_sites = L * L``, else None."""
    side = math.isqrt(n_sites)
    return side if side * side == n_sites else None


def box_window(L: int, n_units: int, factor: float) -> int:
    """Window side for locality of a layer of ``n_units`` on an ``L x L`` lattice: ``factor`` block sides.

    The block side ``L / sqrt(n_units)`` is the area per unit (2 for 1600 -> 400, 4 for 100, 8 for 25).
    """
    return max(1, min(L, round(factor * L / math.sqrt(n_units))))


@torch.no_grad()
def locality(fields: torch.Tensor, L: int, window: int) -> torch.Tensor:
    """Share of each receptive field's squared weight inside the best-placed ``window x window`` box.

    ``fields``: (units, L*L) (row-major sites); distances are periodic. Returns float32 (units,) in
    ``[window^2 / L^2, 1]``: ``window^2 / L^2`` for a uniform field, 1 for a field confined to the window.
    The box is centred where it captures the most weight (the field's centre).
    """
    w2 = fields.reshape(-1, 1, L, L).float() ** 2
    padded = torch.nn.functional.pad(w2, (0, window - 1, 0, window - 1), mode="circular")
    boxes = torch.nn.functional.avg_pool2d(padded, window, stride=1) * (window * window)
    total = w2.sum(dim=(1, 2, 3)).clamp_min(torch.finfo(torch.float32).tiny)
    return boxes.amax(dim=(1, 2, 3)) / total


@torch.no_grad()
def _periodic_moments(fields: torch.Tensor, L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per field and axis (row, column): the centre ``c`` minimizing ``sum_x p(x) |x - c|^2`` over the lattice
    sites and the midpoints between them (periodic distances, ``p = w^2 / sum w^2`` marginalized on the axis),
    and that minimum. Returns float64 ``(units, 2)`` centres (in ``[0, L)``) and ``(units, 2)`` minima."""
    w2 = fields.reshape(-1, L, L).double() ** 2
    total = w2.sum(dim=(1, 2)).clamp_min(torch.finfo(torch.float64).tiny)
    candidates = torch.arange(2 * L, dtype=torch.float64, device=fields.device) / 2  # sites and midpoints
    x = torch.arange(L, dtype=torch.float64, device=fields.device)
    d = (x[None, :] - candidates[:, None]).remainder(L)
    d2 = torch.minimum(d, L - d) ** 2  # (2L candidates, L positions): periodic squared distance
    centres, minima = [], []
    for axis in (2, 1):  # marginal of the rows' index (sum over columns), then of the columns' index
        marginal = w2.sum(dim=axis) / total[:, None]  # (units, L)
        value, index = (marginal @ d2.t()).min(dim=1)
        centres.append(candidates[index])
        minima.append(value)
    return torch.stack(centres, dim=1), torch.stack(minima, dim=1)


def rms_radius(fields: torch.Tensor, L: int) -> torch.Tensor:
    """Receptive-field size: rms distance of each field's squared-weight distribution from its periodic centre.

    ``fields``: (units, L*L) (row-major sites). With ``p = w^2 / sum w^2`` and periodic distances,
    ``radius^2 = min_c sum_x p(x) |x - c|^2`` over centres ``c`` on the lattice sites and the midpoints between
    them (the minimization separates into the two axes). Returns float32 (units,) in lattice spacings: 0 for a
    single site, ``sqrt(1/2)`` for a 2 x 2 block, ``sqrt(b^2 - 1) / sqrt(6)`` for a uniform b x b block
    (``b = L``: a uniform field). All-zero fields give 0.
    """
    return torch.sqrt(_periodic_moments(fields, L)[1].sum(dim=1)).float()


def field_centres(fields: torch.Tensor, L: int) -> torch.Tensor:
    """Periodic centre (row, column) of each receptive field's squared weight, the ``c`` of :func:`rms_radius`.

    ``fields``: (units, L*L) (row-major sites). Returns float32 (units, 2) in lattice units, on sites or
    midpoints in ``[0, L)``: ``(0.5, 0.5)`` for the 2 x 2 block of sites (0..1, 0..1).
    """
    return _periodic_moments(fields, L)[0].float()


class RBMStack(lightning.LightningModule):
    """Greedy layer-wise stack of RBMs (a deep belief net), ``layers = [n_visible, n_1, n_2, ...]``.

    One ``trainer.fit`` trains layer ``l`` (0-based) during epochs ``[l E, (l + 1) E)`` with
    ``E = epochs_per_layer`` (epochs after the last block keep training the top layer), so checkpoints and
    resume work across layers: the active layer follows from ``current_epoch``. Set
    ``trainer.max_epochs = len(layers - 1) * E`` (see :attr:`total_epochs`). Layer ``l > 0`` is trained on the
    hidden units of layer ``l - 1`` given the data, propagated up through the frozen layers below:
    ``propagate="sample"`` (default: sampled units, so every layer sees data in its alphabet) or ``"mean"``
    (conditional means). Every RBM option (``units``, ``k``, ``persistent``, ``lr``, ``momentum``,
    ``weight_decay``, ``l1``, ...) applies to all layers. The first layer's inputs are ``inputs``; deeper
    layers' inputs are the units' alphabet.

    Validation logs ``val/recon_error_depth{d}`` (reconstruction of held-out data from depth ``d``, up by
    conditional means and down by conditional means, squared error / 4 in the spin alphabet) and
    ``val/free_energy`` and ``val/pll`` (pseudo-log-likelihood per configuration) of the first layer. :meth:`summary_metrics` gives final locality per layer
    (:func:`locality` of the effective fields in windows of ``locality_factor`` block sides), block radius per
    layer (:func:`rms_radius`), reconstruction errors, and the first layer's log-likelihood per configuration
    (exact or AIS log Z).
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
        for name in ("log_z_every",):
            if name in rbm_opts:
                raise ValueError(f"{name} is not an RBMStack option (log Z is computed in summary_metrics)")
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
            for i, (n_in, n_out) in enumerate(zip(self.layers[:-1], self.layers[1:]))
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
        """One pass up to ``depth`` (default: the top): the representations at depths 1..depth of inputs ``v``
        (batch, n_visible), each (batch, layers[d]) in the units' alphabet, each computed from the one below."""
        mode = self.propagate if mode is None else check_choice(mode, "mode", PROPAGATE)
        depth = self.n_layers if depth is None else depth
        x, out = v, []
        for rbm in self.rbms[:depth]:
            x = rbm.sample_hidden(x, generator) if mode == "sample" else rbm.hidden_mean(x)
            out.append(x)
        return out

    @torch.no_grad()
    def down(self, h: torch.Tensor, depth: int) -> torch.Tensor:
        """Mean-field pass from units at ``depth`` down to the inputs: (batch, layers[depth]) -> (batch, n_visible)."""
        x = h
        for rbm in reversed(self.rbms[:depth]):
            x = rbm.visible_mean(x)
        return x

    @torch.no_grad()
    def reconstruct(self, v: torch.Tensor, depth: int) -> torch.Tensor:
        """Up to ``depth`` by conditional means and back down: inputs (batch, n_visible) -> means, same shape."""
        depth = check_int(depth, "depth", minimum=1, maximum=self.n_layers)
        return self.down(self.up(v, depth, mode="mean"), depth)

    @torch.no_grad()
    def reconstruction_error(self, v: torch.Tensor, depth: int) -> float:
        """Mean over sites of the squared error of :meth:`reconstruct` (spin alphabet / 4, in [0, 1])."""
        scale = 0.25 if self.rbms[0].inputs == "spin" else 1.0
        return float(((v - self.reconstruct(v, depth)) ** 2).mean() * scale)

    @torch.no_grad()
    def effective_fields(self) -> list[torch.Tensor]:
        """Receptive fields ``r_l = r_{l-1} W_l`` (r_1 = W_1) of every layer, as (n_l, n_visible) float32 tensors."""
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
        signs = [torch.where(field.sum(dim=1) < 0, -1.0, 1.0) for field in self.effective_fields()]
        if self.rbms[0].units == "binary":
            outputs = [2.0 * x - 1.0 for x in outputs]
        return [x * sign for x, sign in zip(outputs, signs)]

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
        """Mean :func:`rms_radius` (lattice spacings) of each layer's effective fields (needs ``layers[0] = L * L``)."""
        if self.L is None:
            raise ValueError(f"block radius needs a square lattice, layers[0] = {self.layers[0]} is not L*L")
        return [float(rms_radius(fields, self.L).mean()) for fields in self.effective_fields()]

    # ------------------------------------------------------------------ training
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [rbm.make_optimizer() for rbm in self.rbms]

    def _optimizer(self, layer: int):
        optimizers = self.optimizers()
        return optimizers[layer] if isinstance(optimizers, list) else optimizers

    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        L = getattr(dm, "L", None) if dm is not None else None
        if isinstance(L, int) and L * L != self.layers[0]:
            raise ValueError(f"layers[0] = {self.layers[0]} does not match the data's L*L = {L * L}")
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
        optimizer = self._optimizer(layer)
        flips = self.rbms[layer].cd_gradients(x)
        optimizer.step()
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
        """Final locality and block radius (:func:`rms_radius`, lattice spacings) per layer, reconstruction errors
        per depth (last validation), layer-1 log-likelihood."""
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
