"""Variational information bottleneck (VIB) encoder of a block V against its environment E.

Code: ``H = mu(V) + xi`` with ``xi ~ N(0, I_{dim_h})`` (fixed unit noise, the Gaussian-IB normal form of
Chechik et al. 2005) and ``mu`` a linear filter or a small MLP. Blocks are +-1 Ising spins, or q-state Potts
colours one-hot (``q`` set; colour-major ``(B, q*sites)``, :mod:`rgnet.ib.operators`). With
``symmetry="z2_even"`` (Ising) the code is restricted to Z2-even functions of the block, ``mu(v) = (g(v) +
g(-v)) / 2`` with ``g`` the MLP, so the Z2-odd operators (the spin) cannot be picked and the first IB
transition moves to the leading even one (the energy; exact reference: ``rgnet.ib.ising_cylinder_ib(...,
z2_even=True)``); ``symmetry="sq_invariant"`` (Potts) averages ``g`` over the q! colour permutations, so the
spin (the standard irrep of S_q) cannot be picked and the transition moves to the energy (exact reference:
``rgnet.potts.potts_cylinder_ib(..., invariant=True)``). ``encoder="pairs"`` is the symmetric codes' linear
filter: ``mu(v) = W f(v) + b`` on the block's site pairs ``i < j``, ``f_ij = v_i v_j`` (Ising) or
``delta(s_i, s_j)`` (Potts), the lowest-degree invariants (the invariant part of a linear filter is a
constant); the energy is one such code (weight on nearest-neighbour pairs), and like the linear filter it
starts informative at any seed, where the symmetrized MLP's invariant part starts small. Bounds, per batch
of pairs ``(v, e)``:

* ``I(V;H) <= 1/2 ln det(Cov_batch(mu(V)) + I)``: with unit noise ``I(V;H) = h(H) - h(xi)`` and the
  Gaussian of the same covariance maximises ``h(H)``; exact for Gaussian V and a linear filter;
* ``I(H;E) >=`` InfoNCE or NWJ bound of a separable critic ``f(h, e)`` (:mod:`rgnet.ib.estimators`).

Loss ``w I(V;H) bound - beta * I(H;E) bound`` (minimised over encoder and critic together: the critic only
enters through ``-beta I(H;E)``, so it maximises the bound), with the compression weight ``w`` ramped from 0
to 1 over the first ``warmup_steps`` optimizer steps (then the IB objective proper). The warm-up matters where
the critic needs time to find the relevant features of E: for a Z2-even code (products of spins) the
compression term otherwise shuts the code before the critic sees any signal, and the encoder collapses to the
trivial one at every beta (measured on the L = 6 cylinder at 1.5-6x the exact even beta_c). Batches:
``(v, e)`` float32 ``(B, dim_v)``, ``(B, dim_e)`` (e.g. :class:`rgnet.data.ve_pairs.VEPairsDataModule`);
for Potts blocks ``dim_v = q * sites``, and ``E`` is one-hot too.
"""

from __future__ import annotations

import math
from typing import Any

import lightning
import torch
from torch import nn

from rgnet._checks import check_choice, check_int, check_real
from rgnet.contracts import HasBlockPairs, require
from rgnet.ib.estimators import BOUNDS, SeparableCritic, mi_lower_bound
from rgnet.ib.operators import MAX_PERMUTED_COLOURS, check_one_hot, one_hot_blocks, symmetrized_code
from rgnet.models.critic_training import check_learning_rates, encoder_critic_adam

ENCODERS = ("linear", "mlp", "pairs")
SYMMETRIES = ("none", "z2_even", "sq_invariant")


def gaussian_code_information(mu: torch.Tensor) -> torch.Tensor:
    """``1/2 ln det(Cov(mu) + I)`` (nats) of codes ``mu`` (B, dim_h): bounds I(V;H), H = mu + N(0, I)."""
    centred = mu - mu.mean(dim=0, keepdim=True)
    cov = centred.T @ centred / max(mu.shape[0] - 1, 1)
    eye = torch.eye(mu.shape[1], dtype=mu.dtype, device=mu.device)
    return 0.5 * torch.logdet(cov + eye)


class PairCode(nn.Module):
    """Linear code of the site-pair invariants of a block: ``(B, channels * sites) -> (B, dim_h)``, with
    features ``sum_a x_ai x_aj`` over the ``channels`` (1 for +-1 spins: ``v_i v_j``; q one-hot colours:
    ``delta(s_i, s_j)``) for the ``sites (sites - 1) / 2`` pairs ``i < j``; ``weight`` is
    ``(dim_h, n_pairs)``."""

    def __init__(self, sites: int, channels: int, dim_h: int) -> None:
        super().__init__()
        if sites < 2:
            raise ValueError(f"encoder='pairs' needs blocks of at least 2 sites, got {sites}")
        self.channels = channels
        self.register_buffer("pairs", torch.triu_indices(sites, sites, offset=1), persistent=False)
        self.linear = nn.Linear(self.pairs.shape[1], dim_h)

    @property
    def weight(self) -> torch.Tensor:
        return self.linear.weight

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        x = v.reshape(v.shape[0], self.channels, -1)
        return self.linear((x[:, :, self.pairs[0]] * x[:, :, self.pairs[1]]).sum(dim=1))


class VIBEncoder(lightning.LightningModule):
    """VIB encoder LightningModule (see the module docstring).

    Args:
        dim_v, dim_e: sizes of the flattened block and environment.
        dim_h: code dimension.
        beta: IB trade-off, ``>= 0``.
        encoder: ``"linear"`` (filter ``W (dim_h, dim_v)`` + bias), ``"mlp"`` (one hidden tanh layer) or
            ``"pairs"`` (:class:`PairCode`, a linear filter on the site-pair invariants; symmetric codes
            only).
        symmetry: ``"none"``, ``"z2_even"`` (Ising: the code is the flip-symmetrized MLP, or ``"pairs"``) or
            ``"sq_invariant"`` (Potts: the MLP averaged over colour permutations, or ``"pairs"``); both need
            ``encoder="mlp"`` or ``"pairs"`` (the symmetric part of a linear filter is a constant).
        q: colours of one-hot Potts blocks (``2 <= q <= 127``; ``sq_invariant`` needs ``q <= 5``), None for
            +-1 Ising blocks; ``dim_v`` and ``dim_e`` are then ``q`` times the number of sites.
        hidden: width of the MLP encoder.
        bound: ``"infonce"`` or ``"nwj"`` lower bound on I(H;E).
        critic_hidden, critic_embed: separable critic MLP width and embedding size.
        lr: Adam learning rate of the encoder.
        critic_lr: Adam learning rate of the critic (default ``3 lr``): the critic must track the encoder,
            otherwise a shrinking code starves it of signal and the encoder collapses to the trivial one.
        warmup_steps: optimizer steps over which the weight of the compression term ``I(V;H)`` rises linearly
            from 0 to 1 (0: none).
        init_std: standard deviation of the initial (last-layer) encoder weights; a code that starts
            informative relaxes onto the IB solution from above instead of creeping out of the trivial one.
    """

    def __init__(
        self,
        dim_v: int,
        dim_e: int,
        dim_h: int = 1,
        beta: float = 1.0,
        encoder: str = "linear",
        hidden: int = 32,
        bound: str = "infonce",
        critic_hidden: int = 64,
        critic_embed: int = 16,
        lr: float = 1e-2,
        critic_lr: float | None = None,
        init_std: float = 1.0,
        symmetry: str = "none",
        warmup_steps: int = 0,
        q: int | None = None,
    ) -> None:
        super().__init__()
        dim_v = check_int(dim_v, "dim_v", minimum=1)
        dim_e = check_int(dim_e, "dim_e", minimum=1)
        dim_h = check_int(dim_h, "dim_h", minimum=1)
        beta = check_real(beta, "beta", minimum=0.0)
        encoder = check_choice(encoder, "encoder", ENCODERS)
        hidden = check_int(hidden, "hidden", minimum=1)
        bound = check_choice(bound, "bound", tuple(BOUNDS))
        symmetry = check_choice(symmetry, "symmetry", SYMMETRIES)
        warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)
        if q is not None:
            q = check_int(q, "q", minimum=2, maximum=127)
            for name, size in (("dim_v", dim_v), ("dim_e", dim_e)):
                if size % q:
                    raise ValueError(f"{name}={size} is not a multiple of q={q} (one-hot blocks: q per site)")
        if symmetry != "none" and encoder == "linear":
            raise ValueError(
                f"symmetry={symmetry!r} needs encoder='mlp' or 'pairs', got encoder='linear' (the symmetric "
                "part of a linear filter is a constant)"
            )
        if encoder == "pairs" and symmetry == "none":
            raise ValueError(
                "encoder='pairs' codes the block's site-pair invariants, a symmetric code: set "
                "symmetry='z2_even' (+-1 Ising blocks) or symmetry='sq_invariant' (one-hot Potts blocks)"
            )
        if symmetry == "z2_even" and q is not None:
            raise ValueError(
                f"symmetry='z2_even' is for +-1 Ising blocks; q={q} Potts blocks: 'sq_invariant'"
            )
        if symmetry == "sq_invariant" and (q is None or q > MAX_PERMUTED_COLOURS):
            raise ValueError(
                f"symmetry='sq_invariant' needs one-hot Potts blocks with 2 <= q <= {MAX_PERMUTED_COLOURS} "
                f"(the code averages over the q! colour permutations), got q={q}"
            )
        check_learning_rates(lr, critic_lr)
        self.save_hyperparameters()
        if encoder == "linear":
            self.encoder = nn.Linear(dim_v, dim_h)
        elif encoder == "pairs":
            self.encoder = PairCode(dim_v // (q or 1), q or 1, dim_h)
        else:
            self.encoder = nn.Sequential(nn.Linear(dim_v, hidden), nn.Tanh(), nn.Linear(hidden, dim_h))
        init_std = check_real(init_std, "init_std", minimum=0.0)
        nn.init.normal_(self.encoder[-1].weight if encoder == "mlp" else self.encoder.weight, std=init_std)
        if encoder == "mlp" and symmetry != "none":
            # the even part of tanh(w.v + b) grows with |b| (it vanishes at b = 0): with the default small
            # biases the initial even code is nearly constant and the encoder collapses before the critic
            # finds the even features of E in 2 of 4 seeds (measured at L = 8, 1.5 beta_c_even); N(0, 1) in
            # 0 of 4
            nn.init.normal_(self.encoder[0].bias, std=1.0)
        self.critic = SeparableCritic(
            dim_h, dim_e, hidden=critic_hidden, embed=critic_embed, even_y=symmetry == "z2_even"
        )
        self._last: dict[str, float] = {}

    @property
    def symmetric(self) -> bool:
        """Whether the code is restricted to symmetry-invariant functions of the block (Z2-even or
        S_q-invariant)."""
        return self.hparams.get("symmetry", "none") != "none"

    @property
    def colours(self) -> int | None:
        """q of one-hot Potts blocks, None for +-1 Ising blocks."""
        return self.hparams.get("q")

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Mean code ``mu(v)``, (B, dim_h)."""
        if self.symmetric and self.hparams.encoder == "mlp":
            # the group average of the MLP: flip (Ising) or colour permutations (Potts)
            return symmetrized_code(self.encoder, v, self.colours)
        return self.encoder(v)

    def check_datamodule(self, datamodule: object) -> None:
        """Raise ``ValueError`` naming the field when the (V, E) pairs of ``datamodule`` do not fit the model:
        ``dim_v``, ``dim_e`` or the colours ``q`` (``TypeError`` when it serves no block pairs). rgnet-train
        calls this before any data is made."""
        dm = require(datamodule, HasBlockPairs, "VIBEncoder")
        data_q = getattr(dm, "q", None)
        if data_q != self.colours:
            raise ValueError(
                f"the data's blocks have q={data_q} ({'+-1 spins' if data_q is None else 'one-hot'}) but "
                f"the model has q={self.colours}: set model.q: ${{data.q}}"
            )
        for name in ("dim_v", "dim_e"):
            size = getattr(dm, name, None)
            if size is not None and int(size) != self.hparams[name]:
                raise ValueError(
                    f"the data's blocks have {name}={int(size)} but the model has {name}={self.hparams[name]}"
                )

    def _check_batch(self, v: torch.Tensor, e: torch.Tensor) -> None:
        if not (torch.isfinite(v).all() and torch.isfinite(e).all()):
            raise ValueError("batch contains NaN or infinite values")
        q = self.colours
        if q is None:
            return
        for name, x in (("v", v), ("e", e)):
            check_one_hot(x, q, name)

    def information_terms(self, v: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(I(V;H) upper bound, I(H;E) lower bound)`` in nats on one batch (differentiable)."""
        self._check_batch(v, e)
        mu = self(v)
        h = mu + torch.randn_like(mu)
        return gaussian_code_information(mu), mi_lower_bound(self.hparams.bound, self.critic(h, e))

    def compression_weight(self, step: int) -> float:
        """Weight of ``I(V;H)`` in the loss at optimizer step ``step``: ``min(1, step / warmup_steps)``."""
        warmup = self.hparams.get("warmup_steps", 0)
        return min(1.0, step / warmup) if warmup else 1.0

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        v, e = batch
        i_vh, i_he = self.information_terms(v, e)
        weight = self.compression_weight(self.global_step) if stage == "train" else 1.0
        loss = weight * i_vh - self.hparams.beta * i_he
        self.log_dict(
            {f"{stage}/loss": loss, f"{stage}/i_vh": i_vh, f"{stage}/i_he": i_he},
            prog_bar=stage == "train",
            batch_size=v.shape[0],
        )
        self._last.update({f"{stage}_i_vh": float(i_vh.detach()), f"{stage}_i_he": float(i_he.detach())})
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return encoder_critic_adam(
            self.encoder.parameters(), self.critic.parameters(), self.hparams.lr, self.hparams.critic_lr
        )

    def filters(self) -> torch.Tensor:
        """Linear encoder: the filter ``W`` (dim_h, dim_v); MLP and pairs: the code's input gradient at v = 0
        (same shape; zero for a Z2-even or pair code, see :meth:`quadratic_kernel`)."""
        if self.hparams.encoder == "linear":
            return self.encoder.weight.detach().clone()
        v0 = torch.zeros(1, self.hparams.dim_v, device=self.device)
        return torch.autograd.functional.jacobian(lambda x: self(x)[0], v0).reshape(self.hparams.dim_h, -1)

    @torch.no_grad()
    def quadratic_kernel(self, n_samples: int = 8192, seed: int = 0) -> torch.Tensor:
        """The code's weight on each pair of sites, ``Q_ij = E[mu(v) v_i v_j]`` over uniform +-1 blocks
        (Ising; Walsh-Fourier coefficients) or ``E[mu(v) delta(s_i, s_j)]`` over uniform colourings
        (Potts), ``mu`` centred, ``i != j`` (the diagonal is 0): the leading symmetric content of the code
        (an energy-like code has its weight on the block's nearest-neighbour pairs). Exact by enumeration up
        to 65536 block states, else from ``n_samples`` seeded uniform draws. Float32 ``(dim_h, sites,
        sites)``."""
        q = self.colours
        levels, sites = q or 2, self.hparams.dim_v // (q or 1)
        if levels**sites <= 65536:
            index = torch.arange(levels**sites)[:, None]
            states = index // levels ** torch.arange(sites) % levels
        else:
            n_samples = check_int(n_samples, "n_samples", minimum=1)
            generator = torch.Generator().manual_seed(seed)
            states = torch.randint(0, levels, (n_samples, sites), generator=generator)
        # channels (B, 1 or q, sites): +-1 spins (pair feature v_i v_j) or one-hot (sum_a x_ai x_aj = delta)
        v = (2.0 * states - 1.0) if q is None else one_hot_blocks(states, q)
        channels = v.reshape(v.shape[0], q or 1, sites).to(self.device)
        mu = self(channels.reshape(v.shape[0], -1))
        mu = mu - mu.mean(dim=0)
        kernel = torch.einsum("bk,bai,baj->kij", mu, channels, channels) / channels.shape[0]
        return (kernel * (1.0 - torch.eye(sites, device=self.device))).cpu()

    def summary_metrics(self) -> dict[str, Any]:
        """beta, last informations (nats) and the filters (lists), JSON-serialisable."""
        out: dict[str, Any] = {"beta": float(self.hparams.beta)}
        out.update({k: v for k, v in self._last.items() if math.isfinite(v)})
        out["filters"] = self.filters().cpu().tolist()
        return out


__all__ = ["ENCODERS", "SYMMETRIES", "PairCode", "VIBEncoder", "gaussian_code_information"]
