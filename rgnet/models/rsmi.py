"""RSMI coarse-graining (Koch-Janusz & Ringel, Nature Physics 14, 578 (2018)): a linear filter of a block.

A ``b x b`` block ``V`` (flattened row-major, ``b^2`` spins) is mapped to ``n_hidden`` binary coarse variables
``h_k = +-1`` of Boltzmann form ``P(h_k = +1 | v) = sigmoid(2 a_k)``, ``a = Lambda v`` with the filter
``Lambda`` of shape ``(n_hidden, b^2)`` and no bias (the map commutes with the global spin flip, as the Ising
model does). ``Lambda`` is learned by maximizing a lower bound (InfoNCE or NWJ, :mod:`rgnet.ib.estimators`,
separable critic) on the mutual information ``I(H; E)`` with the environment ``E``, the shell of width
``env_width`` beyond a buffer (:class:`rgnet.data.ve_pairs.VEPairsDataModule` with ``geometry="shell"``):
the coarse variable keeps what its block tells about the long-range rest of the system. At criticality on
the square lattice the optimum for one variable is the uniform filter (majority rule with a coin for ties).

Training samples ``h`` through a relaxation (``relaxation``):

* ``"concrete"`` (binary Concrete / Gumbel-softmax, Maddison et al. 2017; Jang et al. 2017, for +-1):
  ``h = tanh((2 a + l) / (2 tau))``, ``l ~ Logistic(0, 1)``; ``tau -> 0`` gives the exact Boltzmann sample
  ``sign(2 a + l)``;
* ``"straight_through"``: the exact sample ``sign(2 a + l)`` in the forward pass, the gradient of the
  concrete relaxation in the backward pass.

``val/mi_bound`` is the bound for the exact (hard) samples, ``train/mi_bound`` for the relaxed ones that the
loss ``-I_bound(H; E)`` is computed from (nats, both; a continuous relaxed ``h`` can carry more than the
binary one, so the training bound of ``"concrete"`` may exceed ``val/mi_bound``, even ``ln 2``). In long runs
the critic overfits the training pairs and ``val/mi_bound`` declines after its peak (more so for a large
environment, measured at dim_e = 160 with 900 training configurations) while the filter stays put; the
summary keeps the peak as ``val_mi_bound_max``. The filter's norm keeps growing (a sharper
``P(h | v)`` carries more information); its direction converges. MI is invariant under ``Lambda -> -Lambda``,
so :meth:`RSMICoarseGrainer.filters` orients each filter by a convention (non-negative sum).

q-state Potts blocks (``q`` set) are one-hot, ``v`` float ``(B, q*b^2)`` in colour-major order
(:mod:`rgnet.ib.operators`), and each coarse variable is a colour ``h_k in 0..q-1`` with
``P(h_k = c | v) = softmax_c(2 a_kc)``, ``a_kc = sum_i Lambda_ki delta(v_i, c)``: one weight per site, the
same for every colour, so the map commutes with every permutation of the colours (S_q, as the Potts model
does) and a uniform filter is the plurality rule. For ``q = 2`` with colour ``0 <-> +1`` this is the Ising
map above (``2 (a_k0 - a_k1) = 2 Lambda_k . s``). Training relaxes ``h`` by the Gumbel-softmax
(``"concrete"``, ``softmax((2 a + g) / tau)``, ``g`` Gumbel, the binary Concrete above for ``q = 2``) or its
straight-through estimator; the critic sees the code one-hot, ``(B, n_hidden*q)``. Here ``Lambda -> -Lambda``
is no symmetry (a negative uniform filter is a minority rule), so Potts filters are not re-oriented. The
bound has two optima there, found from random starts about equally often (measured at q = 3, K_c, L = 32,
1000 configurations, 6 seeds: 3 each): the plurality rule (held-out bound 0.58-0.62 nats, a frozen
plurality filter 0.63) and the minority rule (0.23-0.25; frozen 0.27); the summary names the one found
(``rule``), and the held-out bound tells them apart.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import lightning
import torch
from torch import nn

from rgnet._checks import check_choice, check_int, check_real
from rgnet.contracts import BLOCK_SPIN_MODES, HasBlockPairs, require
from rgnet.ib.estimators import BOUNDS, SeparableCritic, mi_lower_bound
from rgnet.ib.operators import check_one_hot
from rgnet.models.critic_training import check_learning_rates, encoder_critic_adam
from rgnet.potts.observables import check_potts_spins
from rgnet.rg.blocking import _check_spins, sign_with_coin

RELAXATIONS = ("concrete", "straight_through")


def uniformity(filters: torch.Tensor) -> tuple[list[float], list[bool]]:
    """Per filter of ``filters`` (n, ...) (any float dtype): the cosine similarity of ``|filter|`` with the
    uniform filter, ``sum |w| / (sqrt(d) ||w||)`` in [1/sqrt(d), 1] (0 for a zero filter), and whether all
    its entries are non-zero and of one sign."""
    w = filters.detach().reshape(filters.shape[0], -1).double()
    norm = w.norm(dim=1) * math.sqrt(w.shape[1])
    cosine = torch.where(norm > 0, w.abs().sum(dim=1) / norm.clamp_min(1e-300), torch.zeros_like(norm))
    same_sign = (w > 0).all(dim=1) | (w < 0).all(dim=1)
    return [float(c) for c in cosine], [bool(s) for s in same_sign]


class RSMICoarseGrainer(lightning.LightningModule):
    """RSMI filter of a ``block x block`` block against its shell environment (see the module docstring).

    Args:
        dim_e: size of the flattened environment (shell geometry: ``(block + 2 buffer + 2 env_width)^2 -
            (block + 2 buffer)^2`` sites, times ``q`` for one-hot Potts); checked against the data module
            before training.
        block: side ``b`` of the block V; the filter acts on ``b^2`` spins.
        n_hidden: coarse variables per block.
        relaxation: ``"concrete"`` or ``"straight_through"``.
        tau: temperature of the relaxation (> 0).
        tau_final: if given, the temperature decays geometrically from ``tau`` (first epoch) to ``tau_final``
            (last epoch of ``trainer.max_epochs``); None: constant ``tau``.
        bound: ``"infonce"`` (capped at ``ln batch_size``) or ``"nwj"`` lower bound on I(H;E).
        critic_hidden, critic_embed, critic_layers: separable critic MLPs (width, embedding, hidden layers).
        lr: Adam learning rate of the filter; critic_lr: of the critic (None: ``3 lr``). A critic much faster
            than 3e-3 overshoots on the weak signal of a random initial filter and collapses to a constant
            (zero bound, no gradient for the filter; measured at K_c with critic_lr = 0.15).
        init_std: initial filter entries ~ N(0, init_std^2).
        q: colours of one-hot q-state Potts blocks (``2 <= q <= 127``; coarse variables are colours), None
            for +-1 Ising blocks.
    """

    def __init__(
        self,
        dim_e: int,
        block: int = 2,
        n_hidden: int = 1,
        relaxation: str = "concrete",
        tau: float = 0.5,
        tau_final: float | None = None,
        bound: str = "infonce",
        critic_hidden: int = 64,
        critic_embed: int = 16,
        critic_layers: int = 2,
        lr: float = 0.02,
        critic_lr: float | None = 0.003,
        init_std: float = 0.1,
        q: int | None = None,
    ) -> None:
        super().__init__()
        self.dim_e = check_int(dim_e, "dim_e", minimum=1)
        self.block = check_int(block, "block", minimum=1)
        self.n_hidden = check_int(n_hidden, "n_hidden", minimum=1)
        self.relaxation = check_choice(relaxation, "relaxation", RELAXATIONS)
        for name, value in (("tau", tau), ("tau_final", tau_final)):
            if (value is not None or name == "tau") and check_real(value, name) <= 0.0:
                raise ValueError(f"{name} must be > 0, got {value}")
        self.bound = check_choice(bound, "bound", tuple(BOUNDS))
        check_learning_rates(lr, critic_lr)
        init_std = check_real(init_std, "init_std", minimum=0.0)
        if q is not None:
            q = check_int(q, "q", minimum=2, maximum=127)
            if self.dim_e % q:
                raise ValueError(
                    f"dim_e={dim_e} is not a multiple of q={q} (one-hot environment: q per site)"
                )
        self.save_hyperparameters()
        #: the filter Lambda, (n_hidden, block^2), row-major sites of the block
        self.weight = nn.Parameter(init_std * torch.randn(self.n_hidden, self.block**2))
        self.critic = SeparableCritic(
            self.n_hidden * (q or 1),
            self.dim_e,
            hidden=critic_hidden,
            embed=critic_embed,
            layers=critic_layers,
        )
        self._last: dict[str, float] = {}
        self._epoch_sums: dict[str, tuple[float, int]] = {}

    @property
    def colours(self) -> int | None:
        """q of one-hot Potts blocks (coarse variables are colours), None for +-1 Ising blocks."""
        return self.hparams.get("q")

    @property
    def dim_v(self) -> int:
        """Features of a block V: ``block^2`` spins, or ``q * block^2`` one-hot entries."""
        return self.block**2 * (self.colours or 1)

    # ------------------------------------------------------------------ the coarse variable
    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Fields of blocks ``v`` float32 (B, dim_v): Ising, ``a = Lambda v`` (B, n_hidden) with
        ``P(h = +1 | v) = sigmoid(2 a)``; Potts, ``a`` (B, n_hidden, q) with
        ``P(h = c | v) = softmax_c(2 a)``."""
        q = self.colours
        if q is None:
            return v @ self.weight.T
        return torch.einsum("bcs,ks->bkc", v.reshape(v.shape[0], q, -1), self.weight)

    def temperature(self) -> float:
        """The relaxation temperature of the current epoch (``tau``, or the geometric schedule to
        ``tau_final`` over ``trainer.max_epochs``)."""
        tau, tau_final = self.hparams.tau, self.hparams.tau_final
        trainer = self._trainer
        if tau_final is None or trainer is None or not trainer.max_epochs or trainer.max_epochs < 2:
            return float(tau)
        fraction = min(1.0, self.current_epoch / (trainer.max_epochs - 1))
        return float(tau * (tau_final / tau) ** fraction)

    def sample_codes(self, v: torch.Tensor, hard: bool = False) -> torch.Tensor:
        """Coarse variables of blocks ``v`` (B, dim_v), relaxed as ``relaxation`` says (differentiable), or
        with ``hard=True`` the exact Boltzmann samples: float (B, n_hidden) of ``+-1`` (Ising), or one-hot
        (B, n_hidden * q), variable-major (Potts)."""
        a = self(v)
        u = torch.rand_like(a).clamp(1e-7, 1.0 - 1e-7)
        if self.colours is None:
            logits = 2.0 * a + torch.log(u) - torch.log1p(-u)  # l ~ Logistic(0, 1)
            sample = torch.where(logits > 0, 1.0, -1.0).to(a.dtype)
            soft = torch.tanh(logits / (2.0 * self.temperature()))
        else:
            logits = 2.0 * a - torch.log(-torch.log(u))  # Gumbel-max: argmax is a draw of softmax(2 a)
            sample = torch.nn.functional.one_hot(logits.argmax(dim=-1), self.colours).to(a.dtype)
            soft = torch.softmax(logits / self.temperature(), dim=-1)
            sample, soft = sample.flatten(1), soft.flatten(1)
        if hard:
            return sample.detach()
        if self.relaxation == "concrete":
            return soft
        return sample + soft - soft.detach()

    def information_bound(self, v: torch.Tensor, e: torch.Tensor, hard: bool = False) -> torch.Tensor:
        """Lower bound on I(H; E) (nats, scalar, differentiable) on one batch ``v`` (B, dim_v), ``e``
        (B, dim_e), float32 +-1 (Ising) or one-hot (Potts); ``hard``: of the exact samples instead of the
        relaxed ones."""
        if v.dim() != 2 or v.shape[1] != self.dim_v:
            what = "block^2" if self.colours is None else "q * block^2"
            raise ValueError(f"v must have shape (batch, {what} = {self.dim_v}), got {tuple(v.shape)}")
        if e.dim() != 2 or e.shape[1] != self.dim_e:
            raise ValueError(f"e must have shape (batch, dim_e = {self.dim_e}), got {tuple(e.shape)}")
        if not (torch.isfinite(v).all() and torch.isfinite(e).all()):
            raise ValueError("batch contains NaN or infinite values")
        if self.colours is not None:
            check_one_hot(v, self.colours, "v")
            check_one_hot(e, self.colours, "e")
        return mi_lower_bound(self.bound, self.critic(self.sample_codes(v, hard=hard), e))

    # ------------------------------------------------------------------ training
    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        v, e = batch
        bound = self.information_bound(v, e, hard=stage != "train")
        self.log(f"{stage}/mi_bound", bound, prog_bar=True, on_epoch=True, on_step=False, batch_size=len(v))
        total, count = self._epoch_sums.get(stage, (0.0, 0))
        self._epoch_sums[stage] = (total + float(bound.detach()) * len(v), count + len(v))
        return -bound

    def _record(self, stage: str) -> None:
        """Keep the epoch's mean bound of ``stage`` (weighted by batch size) for :meth:`summary_metrics`."""
        total, count = self._epoch_sums.pop(stage, (0.0, 0))
        if count and not self.trainer.sanity_checking:
            self._last[f"{stage}_mi_bound"] = total / count
            if stage == "val":  # the critic overfits in long runs: the held-out bound peaks, then declines
                self._last["val_mi_bound_max"] = max(
                    total / count, self._last.get("val_mi_bound_max", -math.inf)
                )

    def on_validation_epoch_end(self) -> None:
        self._record("val")

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def on_train_epoch_end(self) -> None:
        self._record("train")
        filters = self.filters()
        cosine, _ = uniformity(filters)
        metrics = {"train/tau": self.temperature(), "filter/uniformity": cosine[0]}
        for k in range(self.n_hidden):
            for r in range(self.block):
                for c in range(self.block):
                    metrics[f"filter/{k}_{r}_{c}"] = float(filters[k, r, c])
        self.log_dict(metrics, on_epoch=True, on_step=False)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the epoch bounds (and the best held-out one) across a resume."""
        checkpoint["rsmi_bounds"] = dict(self._last)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._last = dict(checkpoint.get("rsmi_bounds", {}))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return encoder_critic_adam(
            [self.weight], self.critic.parameters(), self.hparams.lr, self.hparams.critic_lr
        )

    def check_datamodule(self, datamodule: object) -> None:
        """Raise ``TypeError`` when ``datamodule`` serves no (V, E) pairs and ``ValueError`` naming the field
        when its geometry, block or ``dim_e`` do not fit the model (rgnet-train calls this before any data is
        made; :meth:`on_fit_start` repeats it for plain Lightning use)."""
        dm = require(datamodule, HasBlockPairs, "RSMICoarseGrainer")
        data_q = getattr(dm, "q", None)
        if data_q != self.colours:
            raise ValueError(
                f"the data's blocks have q={data_q} ({'+-1 spins' if data_q is None else 'one-hot'}) but "
                f"the model has q={self.colours}: set model.q: ${{data.q}}"
            )
        b = self.block
        if dm.block_shape != (b, b, False):
            rows, cols, periodic = dm.block_shape
            geometry = getattr(dm, "geometry", "slab" if periodic else "unknown")
            raise ValueError(
                f"the data's block V is {rows} x {cols} (geometry={geometry!r}) but the model has block={b}: "
                f"RSMI needs data.geometry='shell' and data.block={b}"
            )
        dim_e = getattr(dm, "dim_e", None)
        if dim_e is not None and int(dim_e) != self.dim_e:
            raise ValueError(
                f"the data's environment E has dim_e={int(dim_e)} features but the model has "
                f"dim_e={self.dim_e} (shell: (block + 2 buffer + 2 env_width)^2 - (block + 2 buffer)^2 "
                "sites, times q for one-hot Potts)"
            )

    def on_fit_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None:
            self.check_datamodule(datamodule)

    # ------------------------------------------------------------------ the learned map
    @torch.no_grad()
    def filters(self) -> torch.Tensor:
        """The filters, float32 ``(n_hidden, block, block)`` on the model's device; Ising filters each
        multiplied by the sign of its sum (+1 for a zero sum), so that every filter's sum is >= 0 (Potts
        filters as they are: their sign matters)."""
        w = self.weight.detach().to(torch.float32)
        if self.colours is None:
            w = w * torch.where(w.sum(dim=1, keepdim=True) < 0, -1.0, 1.0)
        return w.reshape(self.n_hidden, self.block, self.block).clone()

    @torch.no_grad()
    def coarse_grain(
        self,
        spins: torch.Tensor,
        mode: str = "sample",
        generator: torch.Generator | None = None,
        variable: int = 0,
    ) -> torch.Tensor:
        """Apply the oriented filter of ``variable`` (:meth:`filters`) to every ``b x b`` block of ``spins``.

        ``spins``: +-1 ``(batch, L, L)``, any real dtype and device, ``b`` dividing ``L``; block ``(I, J)``
        holds the sites from ``(b I, b J)`` as in :func:`rgnet.rg.majority_2d`. ``mode``: ``"sample"``
        (``h = +1`` with probability ``sigmoid(2 a)``, uniforms drawn from ``generator``, else the global
        RNG) or ``"mean_sign"`` (``sign(a)``, exact ties by a fair coin per block from ``generator`` via
        :func:`rgnet.rg.sign_with_coin`, None: a generator seeded 0, as :func:`rgnet.rg.majority_2d`; a
        uniform filter makes this the majority rule). Returns +-1
        ``(batch, L / b, L / b)`` of the dtype and device of ``spins``.

        Potts (``q`` set): ``spins`` are colours 0..q-1 and so is the result; ``"sample"`` draws
        ``P(h = c | v) = softmax_c(2 a_c)`` (Gumbel-max, one uniform per block and colour), ``"mean_sign"``
        takes the colour of largest field, exact ties to one of the tied colours uniformly at random. Both
        draw the uniforms as :func:`rgnet.rg.plurality_2d` does, so a uniform filter in ``"mean_sign"`` gives
        its very blocks from the same generator."""
        mode = check_choice(mode, "mode", BLOCK_SPIN_MODES)
        variable = check_int(variable, "variable", minimum=0, maximum=self.n_hidden - 1)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        if self.colours is not None:
            return self._coarse_grain_colours(spins, mode, generator, variable)
        spins, b = _check_spins(spins, 3, self.block)
        n, m = spins.shape[0], spins.shape[1] // b
        w = self.filters()[variable].reshape(-1)
        blocks = spins.to(device=w.device, dtype=torch.float32).reshape(n, m, b, m, b).permute(0, 1, 3, 2, 4)
        a = blocks.reshape(n, m, m, b * b) @ w
        if mode == "mean_sign":
            out = sign_with_coin(a, generator)
        else:
            device = generator.device if generator is not None else a.device
            u = torch.rand(a.shape, generator=generator, device=device).to(a.device)
            out = torch.where(u < torch.sigmoid(2.0 * a), 1, -1)
        return out.to(device=spins.device, dtype=spins.dtype)

    def _coarse_grain_colours(
        self, colours: object, mode: str, generator: torch.Generator | None, variable: int
    ) -> torch.Tensor:
        """:meth:`coarse_grain` of Potts colours ``(batch, L, L)`` (checked) to ``(batch, L / b, L / b)``."""
        q, b = int(self.colours), self.block
        colours = check_potts_spins(colours, q, "spins")
        if colours.ndim != 3 or colours.shape[1] != colours.shape[2] or colours.shape[1] % b:
            raise ValueError(
                f"spins must be square lattices (batch, L, L) with block={b} dividing L, "
                f"got {tuple(colours.shape)}"
            )
        n, m = colours.shape[0], colours.shape[1] // b
        w = self.filters()[variable].reshape(-1)
        one_hot = torch.nn.functional.one_hot(colours.to(w.device).long(), q).to(torch.float32)
        blocks = one_hot.reshape(n, m, b, m, b, q).permute(0, 1, 3, 2, 4, 5).reshape(n, m, m, b * b, q)
        a = torch.einsum("nijsc,s->nijc", blocks, w)  # (n, m, m, q)
        if generator is None and mode == "mean_sign":
            generator = torch.Generator().manual_seed(0)
        device = generator.device if generator is not None else a.device
        u = torch.rand(a.shape, generator=generator, device=device).to(a.device)
        if mode == "mean_sign":
            keys = torch.where(a == a.amax(dim=-1, keepdim=True), u, -1.0)  # uniform among the tied
        else:
            keys = 2.0 * a - torch.log(-torch.log(u.clamp(1e-12, 1.0 - 1e-7)))
        return keys.argmax(dim=-1).to(device=colours.device, dtype=colours.dtype)

    def block_spin_map(
        self, mode: str = "sample", generator: torch.Generator | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """The filter of variable 0 as a block-spin transform for :func:`rgnet.rg.mcrg_exponents`: a callable
        ``(batch, m, m) -> (batch, m / b, m / b)`` of +-1, or of colours (:meth:`coarse_grain` with ``mode``
        and ``generator``; the parameters at call time). ``mode``: one of ``BLOCK_SPIN_MODES``."""
        mode = check_choice(mode, "mode", BLOCK_SPIN_MODES)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        return functools.partial(self.coarse_grain, mode=mode, generator=generator)

    def summary_metrics(self) -> dict[str, Any]:
        """Last epoch's MI bounds (nats; ``val_mi_bound_max``: the best epoch's held-out bound) next to
        ``ln 2`` (the most one binary variable can carry), the uniformity of the oriented filters (cosine of
        ``|filter|`` with the uniform filter, of variable 0 and per variable; whether all entries share a
        sign) and the filters (lists), JSON-serialisable. Potts models add ``ln_q`` (the most one colour can
        carry) and ``rule``, the sign pattern of variable 0's filter: ``"plurality"`` (all entries > 0),
        ``"minority"`` (all < 0: a local optimum of the bound, see the module docstring) or ``"mixed"``."""
        filters = self.filters().cpu()
        cosine, same_sign = uniformity(filters)
        out: dict[str, Any] = {k: v for k, v in self._last.items() if math.isfinite(v)}
        out.update(
            {
                "ln2": math.log(2.0),
                "uniformity": cosine[0],
                "same_sign": same_sign[0],
                "uniformity_per_variable": cosine,
                "same_sign_per_variable": same_sign,
                "filter_norm": [float(x) for x in filters.reshape(self.n_hidden, -1).norm(dim=1)],
                "filters": filters.tolist(),
                "tau": self.temperature(),
            }
        )
        if self.colours is not None:
            w = filters[0]
            rule = "plurality" if bool((w > 0).all()) else "minority" if bool((w < 0).all()) else "mixed"
            out |= {"ln_q": math.log(self.colours), "rule": rule}
        return out


__all__ = ["RELAXATIONS", "RSMICoarseGrainer", "uniformity"]
