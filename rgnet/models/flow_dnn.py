"""A fully connected deep network of stochastic spin layers on 1D Ising chains whose layers coarse-grain.

Architecture. Layer ``l`` maps spins ``x`` (``n_{l-1}`` of them, +-1) to spins ``y`` (``n_l``, +-1) with
stochastic sign units, ``P(y_j = +1 | x) = sigmoid(2 a_j)``, ``a = W x + c`` (fully connected). Widths
halve by default, ``N -> N/2 -> N/4 ...``; every layer's output is itself a spin chain whose Ising
couplings can be fitted (:meth:`FlowDNN.layer_outputs`, lattice spacing ``N / n_l`` input sites). Nothing
in a fully connected layer orders or orients its units, so each unit's place and sign are read off its
weights (:meth:`FlowDNN.unit_sites`: the input site and sign reached along its strongest weights, layer by
layer): the coupling fits sort the units by these positions (:meth:`FlowDNN.layer_positions`) and
:meth:`FlowDNN.layer_outputs` orients them, so that a permuted or sign-flipped decimation is recognised as
decimation, while units that pile onto one input site are counted (:meth:`FlowDNN.units_sharing_a_site`).

Objectives (``objective=``), each trained greedily and concurrently: layer ``l`` learns on the sampled
output of layer ``l - 1`` (no gradient flows between layers).

- ``"elbo"`` (default): the evidence lower bound of a two-level generative model of the layer's input,
  ``log p(x) >= E_q[log p(x|y) + log p_K'(y) - log q(y|x)]`` with ``q(y|x)`` the layer itself, a factorized
  logistic decoder ``p(x_i|y) = sigmoid(2 x_i (V y + d)_i)`` and as prior a periodic nearest-neighbour
  Ising chain ``p_K'(y) = exp(K' sum_j y_j y_{j+1} + h' sum_j y_j) / Z(K', h')`` whose coupling and field are
  learned (``Z`` exact through the transfer matrix). This is the setting of Gong & Xia (arXiv:2212.00005):
  the network's output is described by an Ising partition function, and its coupling is read off after the
  parameters reach their optimum. Why decimation is the optimum (for ``b = 2``): the bound is at most the
  data log-likelihood ``-H(x)``, and exact decimation ``y_j = x_{2j}`` (Mehta & Schwab's Fig. 2 weights,
  :meth:`FlowDNN.oracle`) attains it: the decimated chain is exactly a nearest-neighbour chain with
  ``tanh K' = tanh^2 K`` (prior exact), each removed spin given the kept ones depends only on its two
  neighbours with log-odds ``2(K (y_j + y_{j+1}) + h)`` (decoder exact, linear-logistic) and ``q`` is
  deterministic (posterior exact). A map whose output is not a uniform nearest-neighbour chain (majority
  rules, units sharing a site, uneven spacings) leaves a gap in the prior or decoder term, and so do permuted
  or sign-flipped units unless the prior chains the units by their sites (``prior_order="sites"``). So the
  learned prior coupling ``K'_l`` and the fitted coupling of the outputs both follow
  ``K_l = atanh(tanh(K0)^(2^l))`` to ``K* = 0``. The paper's exact training objective is not restated here;
  this is the closest well-founded trainable objective with that optimum that we could construct.
- ``"infomax"``: maximize the reconstruction lower bound on the mutual information, ``I(x; y) >= H(x) +
  E_q[log p(x|y)]`` (same decoder, no prior). Its optimum is any maximally informative map; trained
  networks use several input spins per unit and produce outputs with couplings below the decimation
  sequence: they still reach ``K* = 0`` but do not follow the exact flow layer by layer.

Gradients of the expectation over the binary units are exact per unit ("local expectation" gradients):
with the other units fixed at their sampled values, ``d E_q[f] / d P(y_j=+1) = f(y_j=+1) - f(y_j=-1)``,
evaluated in closed form for every unit at once (the decoder is linear in ``y`` and the prior local), so the
estimator is unbiased and has far less variance than score-function estimators.

Initialization (``init=``): ``"local"`` (default) starts unit ``j`` with a Gaussian bump of weights around
its block's centre ``b j + (b - 1)/2`` (width ``init_width * b`` sites) plus noise; the bump is symmetric
between the ``b`` sites of the block, so which spin (if any) a unit keeps is learned. ``"random"`` starts
from i.i.d. Gaussian weights, a start that knows nothing of the chain.

Prior order (``prior_order=``): the ELBO's prior chains the units of a layer either in network order
(``"network"``, default: unit ``j`` next to ``j + 1``, which only the ``"local"`` start respects) or by their
input sites with their signs (``"sites"``, :meth:`FlowDNN.unit_sites`, re-sorted at every step). Both are
valid bounds with exact decimation as optimum; ``"sites"`` makes it invariant under permuting and flipping
units, i.e. every relabelled decimation is optimal, as it must be for a general fully connected network.
From ``init="random"`` the network-order prior stalls in distributed codes whose units share input sites.
The random-start recipe reaches exact decimation: the sites prior, a cosine learning-rate decay
(``lr_schedule="cosine"``) and, over the first epochs, re-drawing units that share their strongest input
with a stronger one (``redraw_shared_epochs``, :meth:`FlowDNN.redraw_shared_units`, as k-means re-seeds
duplicate centroids); without the re-draws a few units stay piled up, without the sites prior the re-drawn
units pile up again (measured: docs/experiments.md#coupling_flow_1d). ``anneal_temperature`` /
``anneal_epochs`` weight the units' entropy by a temperature falling linearly to 1 (deterministic
annealing); measured, it makes the random start worse.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import lightning
import torch
import torch.nn.functional as F
from torch import nn

from rgnet._checks import check_choice, check_int, check_real
from rgnet.contracts import ServesChains

OBJECTIVES = ("elbo", "infomax")
INITS = ("local", "random")
LR_SCHEDULES = ("constant", "cosine")
PRIOR_ORDERS = ("network", "sites")


def _widths(n_visible: int, widths: Sequence[int] | None, n_layers: int | None) -> tuple[int, ...]:
    """Validated layer sizes ``(n_visible, n_1, ..., n_L)``."""
    if widths is None:
        if n_layers is None:
            raise ValueError("give widths (layer sizes) or n_layers (number of halvings)")
        n_layers = check_int(n_layers, "n_layers", minimum=1)
        if n_visible % (2**n_layers) or n_visible // 2**n_layers < 2:
            raise ValueError(
                f"n_visible={n_visible} is too short for n_layers={n_layers} halvings: it must be a "
                f"multiple of 2**n_layers = {2**n_layers} with at least 2 spins left in the deepest layer"
            )
        return (n_visible, *(n_visible // 2**l for l in range(1, n_layers + 1)))
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise TypeError(f"widths must be a sequence of integers, got {widths!r}")
    if len(widths) == 0:
        raise ValueError("widths must name at least one layer size")
    sizes = [n_visible]
    for k, w in enumerate(widths):
        w = check_int(w, f"widths[{k}]", minimum=2)
        if w >= sizes[-1] or sizes[-1] % w:
            raise ValueError(
                f"widths[{k}]={w} must be smaller than and divide the previous size {sizes[-1]} "
                f"(each layer coarse-grains by an integer factor)"
            )
        sizes.append(w)
    return tuple(sizes)


def _log_partition_chain(K: torch.Tensor, h: torch.Tensor, n: int) -> torch.Tensor:
    """ln Z of the periodic chain of ``n >= 2`` spins, ``Tr T^n`` (differentiable, float of K's dtype)."""
    a = torch.exp(K) * torch.cosh(h)
    root = torch.sqrt(torch.exp(2 * K) * torch.sinh(h) ** 2 + torch.exp(-2 * K))
    ratio = (a - root) / (a + root)
    return n * torch.log(a + root) + torch.log1p(ratio**n)


def _binary_entropy(a: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of a +-1 unit with ``P(+1) = sigmoid(2a)``."""
    u = 2 * a
    return F.softplus(u) - u * torch.sigmoid(u)


class FlowDNN(lightning.LightningModule):
    """Stochastic sign-unit network on chains of ``n_visible`` spins; see the module docstring.

    Args:
        n_visible: spins per input chain (periodic).
        widths: output sizes of the layers, each dividing the previous one (default: halve ``n_layers``
            times).
        n_layers: number of halvings when ``widths`` is None.
        objective: ``"elbo"`` (default, flows along exact decimation) or ``"infomax"``.
        init: ``"local"`` (default) or ``"random"`` encoder initialization.
        init_scale: height of the initial weight bump (``"local"``) or std * sqrt(n_in) (``"random"``).
        init_width: width of the bump in units of the block size ``b``.
        init_noise: std of the Gaussian noise added to the initial encoder weights.
        lr: Adam learning rate.
        prior_order: ``"network"`` (default) or ``"sites"``: how the ELBO's prior chains the units (see the
            module docstring).
        anneal_temperature: weight (>= 1) of the units' entropy in the trained ELBO at epoch 0 ...
        anneal_epochs: ... falling linearly to 1 at this epoch (0: no annealing).
        lr_schedule: ``"constant"`` (default) or ``"cosine"`` (decay to 0 over the run's optimizer steps).
        redraw_shared_epochs: at the end of each of the first this many epochs, re-draw the units that share
            their strongest input with a stronger unit (:meth:`redraw_shared_units`; 0: never).
    """

    def __init__(
        self,
        n_visible: int = 64,
        widths: Sequence[int] | None = None,
        n_layers: int | None = 4,
        objective: str = "elbo",
        init: str = "local",
        init_scale: float = 1.0,
        init_width: float = 0.5,
        init_noise: float = 0.1,
        lr: float = 0.05,
        prior_order: str = "network",
        anneal_temperature: float = 1.0,
        anneal_epochs: int = 0,
        lr_schedule: str = "constant",
        redraw_shared_epochs: int = 0,
    ) -> None:
        super().__init__()
        self.n_visible = check_int(n_visible, "n_visible", minimum=2)
        self.sizes = _widths(self.n_visible, None if widths is None else list(widths), n_layers)
        self.objective = check_choice(objective, "objective", OBJECTIVES)
        self.init = check_choice(init, "init", INITS)
        self.init_scale = check_real(init_scale, "init_scale", minimum=0.0)
        self.init_width = check_real(init_width, "init_width", minimum=1e-3)
        self.init_noise = check_real(init_noise, "init_noise", minimum=0.0)
        self.lr = check_real(lr, "lr", minimum=0.0)
        if self.lr == 0.0:
            raise ValueError("lr must be > 0")
        self.prior_order = check_choice(prior_order, "prior_order", PRIOR_ORDERS)
        self.anneal_temperature = check_real(anneal_temperature, "anneal_temperature", minimum=1.0)
        self.anneal_epochs = check_int(anneal_epochs, "anneal_epochs", minimum=0)
        self.lr_schedule = check_choice(lr_schedule, "lr_schedule", LR_SCHEDULES)
        self.redraw_shared_epochs = check_int(redraw_shared_epochs, "redraw_shared_epochs", minimum=0)
        self.save_hyperparameters()
        pairs = list(itertools.pairwise(self.sizes))
        self.encoders = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        self.decoders = nn.ModuleList(nn.Linear(b, a) for a, b in pairs)
        # learned (K', h') of each layer's output chain (used by the "elbo" objective)
        self.priors = nn.Parameter(torch.zeros(len(pairs), 2))
        self._initialize()

    # ------------------------------------------------------------------ set-up
    @property
    def n_layers_total(self) -> int:
        return len(self.encoders)

    @property
    def spacings(self) -> list[int]:
        """Lattice spacing of each layer's output in input sites, ``N / n_l``."""
        return [self.n_visible // n for n in self.sizes[1:]]

    def _initialize(self) -> None:
        with torch.no_grad():
            for enc, dec, (n_in, n_out) in zip(
                self.encoders, self.decoders, itertools.pairwise(self.sizes), strict=True
            ):
                noise = self.init_noise * torch.randn(n_out, n_in)
                if self.init == "local":
                    b = n_in // n_out
                    sites = torch.arange(n_in, dtype=torch.float64)
                    centres = b * torch.arange(n_out, dtype=torch.float64) + 0.5 * (b - 1)
                    dist = torch.remainder(sites[None, :] - centres[:, None] + 0.5 * n_in, n_in) - 0.5 * n_in
                    bump = torch.exp(-0.5 * (dist / (self.init_width * b)) ** 2)
                    enc.weight.copy_(self.init_scale * bump.float() + noise)
                else:
                    enc.weight.copy_(self.init_scale / math.sqrt(n_in) * torch.randn(n_out, n_in) + noise)
                enc.bias.zero_()
                dec.weight.zero_()
                dec.bias.zero_()
            self.priors.zero_()

    @classmethod
    def oracle(
        cls,
        n_visible: int,
        n_layers: int = 4,
        *,
        weight: float = 10.0,
        K0: float | None = None,
        h0: float = 0.0,
        objective: str = "elbo",
    ) -> FlowDNN:
        """Mehta & Schwab's exact-decimation network (arXiv:1410.3831, Fig. 2) with halving layers.

        Unit ``j`` of each layer couples only to unit ``2j`` of the layer below with weight ``weight``, so
        it copies that spin up to a flip probability ``sigmoid(-2 weight)``: the output is an exact chain with
        ``tanh K' = tanh(weight)^2 tanh(K)^2`` (exact decimation as ``weight -> inf``).
        With ``K0`` (and ``h0``) given, the decoders and prior couplings are set to their exact values as
        well (the removed spin's log-odds given its neighbours, and the decimated ``(K_l, h_l)``), so the
        objective is at its optimum.
        """
        weight = check_real(weight, "weight", minimum=0.0)
        model = cls(n_visible=n_visible, n_layers=n_layers, objective=objective, init_noise=0.0)
        with torch.no_grad():
            couplings = [(K0, h0)]
            if K0 is not None:
                from rgnet.rg import flow_1d

                flow = flow_1d(K0, n_layers, 2, h0)
                couplings = list(zip(flow["K"], flow["h"], strict=True))
            for l, (enc, dec) in enumerate(zip(model.encoders, model.decoders, strict=True)):
                n_out = enc.out_features
                j = torch.arange(n_out)
                enc.weight.zero_()
                enc.weight[j, 2 * j] = weight
                enc.bias.zero_()
                if K0 is not None:
                    K, h = couplings[l]
                    dec.weight.zero_()
                    dec.weight[2 * j, j] = weight
                    dec.weight[2 * j + 1, j] += K
                    dec.weight[2 * j + 1, (j + 1) % n_out] += K
                    dec.bias.zero_()
                    dec.bias[2 * j + 1] = h
                    model.priors[l, 0] = float(couplings[l + 1][0])
                    model.priors[l, 1] = float(couplings[l + 1][1])
        return model

    # ------------------------------------------------------------------ forward
    def _check_input(self, x: object) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a torch.Tensor of +-1 spins, got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != self.n_visible:
            raise ValueError(f"input must have shape (batch, {self.n_visible}), got {tuple(x.shape)}")
        if not bool(((x == 1) | (x == -1)).all()):
            raise ValueError("input must contain only +1 and -1 spins (non-spin data)")
        return x.to(torch.float32)

    def _sample(self, a: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is None:
            u = torch.rand(a.shape, device=a.device)
        else:
            u = torch.rand(a.shape, generator=generator, device=generator.device).to(a.device)
        return torch.where(u < torch.sigmoid(2 * a), 1.0, -1.0)

    @torch.no_grad()
    def unit_sites(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Where each unit reads the input chain, and with which sign, along its strongest weights.

        Unit ``j`` of layer ``l`` follows its largest ``|w|`` to a unit ``k`` of layer ``l - 1`` (an input
        site for ``l = 1``): its site is ``k``'s site and its sign is ``sign(w) * sign_k`` (input sites have
        sign +1; ``w = 0`` counts as +1). Exact decimation ``y_j = x_{2j}`` (:meth:`oracle`) gives sites
        ``2^l j`` and signs +1; permuting or flipping units permutes or flips them alike.

        Returns per layer (layer 1 first) the sites, int64 ``(n_l,)`` in ``[0, n_visible)``, and the signs,
        float32 ``(n_l,)`` of +-1.
        """
        site = torch.arange(self.n_visible, device=self.device)
        sign = torch.ones(self.n_visible, device=self.device)
        sites, signs = [], []
        for enc in self.encoders:
            strongest = enc.weight.abs().argmax(dim=1)
            w = enc.weight[torch.arange(enc.out_features, device=self.device), strongest]
            site = site[strongest]
            sign = sign[strongest] * torch.where(w < 0, -1.0, 1.0)
            sites.append(site)
            signs.append(sign)
        return sites, signs

    def layer_positions(self) -> list[torch.Tensor]:
        """Per layer, every unit's input site (:meth:`unit_sites`) as float32 ``(n_l,)``: the coupling fits
        (:func:`rgnet.rg.fit_flow`) sort the units along the chain by it
        (:class:`rgnet.contracts.HasLayerPositions`)."""
        return [site.float() for site in self.unit_sites()[0]]

    def units_sharing_a_site(self) -> list[int]:
        """Per layer, how many units have the same input site (:meth:`unit_sites`) as another unit of their
        layer (0 for a decimation, where every unit reads its own site)."""
        counts = []
        for site in self.unit_sites()[0]:
            _, inverse, per_site = torch.unique(site, return_inverse=True, return_counts=True)
            counts.append(int((per_site[inverse] > 1).sum()))
        return counts

    @torch.no_grad()
    def layer_outputs(
        self, x: torch.Tensor, generator: torch.Generator | None = None, *, oriented: bool = True
    ) -> list[torch.Tensor]:
        """Sampled spins of every layer for inputs ``x`` float ``(batch, n_visible)`` of +-1.

        Returns a list of float32 ``(batch, n_l)`` +-1 tensors, layer 1 first, units in network order; their
        places on the input chain are :meth:`layer_positions`. ``oriented`` (default) multiplies every unit by
        its sign (:meth:`unit_sites`), so that outputs are in the gauge of the input spins (a unit that copies
        ``-x_i`` reads ``+x_i``); the network itself always propagates the raw spins. ``generator`` makes the
        sampling reproducible without touching the global random state.
        """
        h = self._check_input(x)
        outputs = []
        for enc in self.encoders:
            h = self._sample(enc(h), generator)
            outputs.append(h)
        if oriented:
            outputs = [y * sign for y, sign in zip(outputs, self.unit_sites()[1], strict=True)]
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sampled raw spins of the deepest layer, float32 ``(batch, n_L)``."""
        return self.layer_outputs(x, oriented=False)[-1]

    # ------------------------------------------------------------------ objective
    def temperature(self) -> float:
        """Weight of the units' entropy in the trained ELBO: ``anneal_temperature`` at epoch 0, falling
        linearly to 1 (the true ELBO) at epoch ``anneal_epochs`` and after."""
        left = max(0.0, 1.0 - self.current_epoch / self.anneal_epochs) if self.anneal_epochs else 0.0
        return 1.0 + (self.anneal_temperature - 1.0) * left

    def _prior_chain(self, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """How the prior of ``layer`` (0-based) chains its units: the unit at each chain place, int64
        ``(n_l,)``, and every unit's sign, float32 ``(n_l,)`` +-1. ``prior_order="network"``: network order,
        signs +1; ``"sites"``: sorted by input site with the signs of :meth:`unit_sites` (recomputed at every
        step, no gradient through the order)."""
        n = self.sizes[layer + 1]
        if self.prior_order == "network":
            return torch.arange(n, device=self.device), torch.ones(n, device=self.device)
        sites, signs = self.unit_sites()
        return torch.argsort(sites[layer], stable=True), signs[layer]

    def _prior_terms(self, layer: int, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``-log p_K'(y)`` of the outputs ``y`` float ``(batch, n_l)`` +-1 of ``layer`` (0-based) under its
        chain prior (:meth:`_prior_chain`), ``(batch,)`` nats differentiable in ``(K', h')``, and, without
        gradient, its change when unit ``j`` is set to +1 rather than -1, ``(batch, n_l)``."""
        K, h = self.priors[layer, 0], self.priors[layer, 1]
        order, sign = self._prior_chain(layer)
        z = (y * sign)[:, order]  # the prior's chain: oriented units in chain order
        value = -K * (z * torch.roll(z, -1, 1)).sum(dim=1) - h * z.sum(dim=1)
        value = value + _log_partition_chain(K, h, z.shape[1])
        with torch.no_grad():
            diff = torch.empty_like(z)
            diff[:, order] = -2 * sign[order] * (K * (torch.roll(z, 1, 1) + torch.roll(z, -1, 1)) + h)
        return value, diff

    def _layer_objective(
        self, layer: int, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss to differentiate, sampled output y, objective value per configuration in nats)."""
        enc, dec = self.encoders[layer], self.decoders[layer]
        a = enc(x)
        with torch.no_grad():
            y = self._sample(a)
        logits = dec(y)
        f_value = F.softplus(-2 * x * logits).sum(dim=1)  # -log p(x|y)
        with torch.no_grad():
            # decoder logits with unit j set to s, all units at once: (batch, n_out, n_in)
            vt = dec.weight.T[None]
            f_plus = F.softplus(-2 * x[:, None, :] * (logits[:, None, :] + vt * (1 - y[:, :, None]))).sum(-1)
            f_minus = F.softplus(-2 * x[:, None, :] * (logits[:, None, :] + vt * (-1 - y[:, :, None]))).sum(
                -1
            )
            diff = f_plus - f_minus
        if self.objective == "elbo":
            prior_value, prior_diff = self._prior_terms(layer, y)
            f_value = f_value + prior_value
            diff = diff + prior_diff
            entropy = _binary_entropy(a).sum(dim=1)
            surrogate = (torch.sigmoid(2 * a) * diff).sum(dim=1) - self.temperature() * entropy
            value = f_value.detach() - entropy.detach()
        else:
            surrogate = (torch.sigmoid(2 * a) * diff).sum(dim=1)
            value = f_value.detach()
        return (f_value + surrogate).mean(), y, value.mean()

    def _objectives(self, batch: torch.Tensor, stage: str) -> torch.Tensor:
        x = self._check_input(batch)
        total = torch.zeros((), device=x.device)
        values = []
        for layer in range(self.n_layers_total):
            loss, x, value = self._layer_objective(layer, x)
            total = total + loss
            values.append(value)
            self.log(f"{stage}/objective_layer{layer + 1}", value, on_epoch=True, on_step=False)
        self.log(f"{stage}/objective", torch.stack(values).sum(), on_epoch=True, on_step=False, prog_bar=True)
        return total

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self._objectives(batch, "train")

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self._objectives(batch, "val")

    @torch.no_grad()
    def redraw_shared_units(self) -> list[int]:
        """Re-draw every unit whose strongest input (a unit of the layer below, an input site for layer 1) is
        also the strongest input of a stronger unit of its layer (larger ``|w|``; ties: the lower index
        keeps it), as k-means re-seeds duplicate centroids: its encoder row from the ``"random"`` init, its
        bias and decoder column zero, and their Adam moments cleared. Returns per layer the number re-drawn.
        """
        optimizer = self.trainer.optimizers[0] if self._trainer is not None else None
        counts = []
        for enc, dec in zip(self.encoders, self.decoders, strict=True):
            n_out, n_in = enc.weight.shape
            strength, strongest = enc.weight.abs().max(dim=1)
            index = torch.arange(n_out, device=self.device)
            beats = (strength[None, :] > strength[:, None]) | (
                (strength[None, :] == strength[:, None]) & (index[None, :] < index[:, None])
            )
            redraw = ((strongest[None, :] == strongest[:, None]) & beats).any(dim=1)
            k = int(redraw.sum())
            counts.append(k)
            if k == 0:
                continue
            enc.weight[redraw] = (
                self.init_scale / math.sqrt(n_in) * torch.randn(k, n_in)
                + self.init_noise * torch.randn(k, n_in)
            ).to(enc.weight)
            enc.bias[redraw] = 0.0
            dec.weight[:, redraw] = 0.0
            if optimizer is not None:  # the unit's rows of the Adam moments (decoder: its column)
                for param, by_column in ((enc.weight, False), (enc.bias, False), (dec.weight, True)):
                    state = optimizer.state.get(param, {})
                    for moment in ("exp_avg", "exp_avg_sq"):
                        if moment in state:
                            (state[moment].T if by_column else state[moment])[redraw] = 0.0
        return counts

    def on_train_epoch_end(self) -> None:
        if self.current_epoch < self.redraw_shared_epochs:
            counts = self.redraw_shared_units()
            self.log("train/redrawn_units", float(sum(counts)), on_epoch=True, on_step=False)

    def configure_optimizers(self) -> dict:
        """Adam at ``lr``; ``lr_schedule="cosine"`` decays it to 0 over the run's optimizer steps."""
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        if self.lr_schedule == "constant":
            return {"optimizer": optimizer}
        steps = int(self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def check_datamodule(self, datamodule: object) -> None:
        """Raise ValueError when ``datamodule`` serves chains of another length than ``n_visible``
        (rgnet-train calls this before any data is made; :meth:`on_fit_start` repeats it for plain Lightning
        use)."""
        if isinstance(datamodule, ServesChains) and datamodule.N != self.n_visible:
            raise ValueError(
                f"the data has chains of N={datamodule.N} spins but the model has n_visible={self.n_visible}"
            )

    def on_fit_start(self) -> None:
        self.check_datamodule(getattr(self.trainer, "datamodule", None))

    def summary_metrics(self) -> dict:
        """Learned prior couplings ``(K'_l, h'_l)`` of each layer's output chain (the Ising partition function
        of the output, meaningful for ``objective='elbo'``) and how many units share an input site
        (:meth:`units_sharing_a_site`), layer 1 first."""
        out = {
            "layer_sizes": list(self.sizes[1:]),
            "objective": self.objective,
            "units_sharing_a_site": self.units_sharing_a_site(),
        }
        if self.objective == "elbo":
            out["prior_K"] = [float(v) for v in self.priors[:, 0].detach().cpu()]
            out["prior_h"] = [float(v) for v in self.priors[:, 1].detach().cpu()]
        return out


__all__ = ["INITS", "OBJECTIVES", "FlowDNN"]
