"""FlowDNN: validation, the Mehta-Schwab oracle against exact decimation, the objective's optimum, and the
central claim: a trained default model follows the exact decimation flow layer by layer while an untrained
one does not (negative control). Units placed and oriented by their weights: a permuted, sign-flipped oracle
gives the exact flow, and with the sites prior the optimal ELBO; the random-start recipe (slow) reaches
exact decimation where the defaults do not. Tolerances are the coupling fitter's statistical errors
(4 sigma)."""

from __future__ import annotations

import math

import lightning
import numpy as np
import pytest
import torch

from rgnet.callbacks.couplings import CouplingTrajectories
from rgnet.data.chain1d import Chain1DDataModule
from rgnet.ising import sample_1d
from rgnet.ising.exact import chain_log_partition
from rgnet.models.flow_dnn import FlowDNN
from rgnet.rg import check_exact_flow, decimate_1d, decimate_spins_1d, fit_couplings, fit_layers

K0 = 1.0


def trainer(epochs: int) -> lightning.Trainer:
    return lightning.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )


def flow_rows(model: FlowDNN, spins: torch.Tensor, seed: int = 1) -> list[dict]:
    outputs = model.layer_outputs(spins.float(), generator=torch.Generator().manual_seed(seed))
    return fit_layers(outputs, model.n_visible, K0, 0.0, method="exact")


def chain_entropy(N: int, K: float) -> float:
    """H = ln Z - K d lnZ/dK of the periodic chain (nats)."""
    eps = 1e-5
    dlnz = (chain_log_partition(N, K + eps) - chain_log_partition(N, K - eps)) / (2 * eps)
    return chain_log_partition(N, K) - K * dlnz


@pytest.fixture(scope="module")
def heldout() -> torch.Tensor:
    return sample_1d(32, K0, 2000, seed=123)


def test_oracle_output_is_the_decimated_chain(heldout):
    oracle = FlowDNN.oracle(32, 4, K0=K0)
    rows = flow_rows(oracle, heldout)
    for row in rows:
        assert abs(row["K"] - row["K_exact"]) < 4 * row["K_err"], row
    assert math.isclose(rows[0]["K_exact"], math.atanh(math.tanh(K0) ** 2))
    assert check_exact_flow(rows)["passed"]


def test_finite_weight_oracle_is_an_exact_noisy_decimation(heldout):
    """With copy weight w each kept spin flips with probability sigmoid(-2w), so
    tanh K1 = tanh(w)^2 tanh(K0)^2."""
    w = 1.0
    oracle = FlowDNN.oracle(32, 1, weight=w)
    y = oracle.layer_outputs(heldout.float(), generator=torch.Generator().manual_seed(0))[0]
    fit = fit_couplings(y, terms=("K",), method="exact")
    expected = math.atanh(math.tanh(w) ** 2 * math.tanh(K0) ** 2)
    assert abs(fit["K"] - expected) < 4 * fit.errors["K"]
    assert abs(fit["K"] - decimate_1d(K0, 2).K) > 10 * fit.errors["K"]  # power: differs from w = inf


def test_oracle_attains_the_elbo_optimum(heldout):
    """At exact decimation the layer's objective -ELBO equals the data entropy H(x) (the bound is tight)."""
    oracle = FlowDNN.oracle(32, 1, K0=K0)
    x = heldout.float()
    torch.manual_seed(0)
    with torch.no_grad():
        chunks = [float(oracle._layer_objective(0, c)[2]) for c in x.chunk(10)]
    mean, sem = np.mean(chunks), np.std(chunks, ddof=1) / math.sqrt(len(chunks))
    assert abs(mean - chain_entropy(32, K0)) < 4 * sem + 1e-3
    # a random network is strictly worse
    with torch.no_grad():
        worse = float(FlowDNN(32, n_layers=1)._layer_objective(0, x)[2])
    assert worse > chain_entropy(32, K0) + 1.0


@pytest.fixture(scope="module")
def trained_small():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lightning.seed_everything(0, verbose=False)
        dm = Chain1DDataModule(N=32, K=K0, n=4000, batch_size=256, seed=0)
        model = FlowDNN(n_visible=32, n_layers=4, lr=0.1)
        trainer(20).fit(model, datamodule=dm)
    finally:
        torch.set_num_threads(threads)
    return model


def test_trained_model_follows_exact_decimation(trained_small, heldout):
    """Layers 1-3: fitted K and xi (own lattice units) within 4 fitter-sigma of K_l = atanh(tanh(K0)^(2^l)),
    xi_l = xi_0 / 2^l; layer 4 (K_4 = 0.013) within 4 sigma of K* = 0."""
    rows = flow_rows(trained_small, heldout)
    verdict = check_exact_flow(rows, n_sigma=4.0, n_checked=3)
    assert verdict["passed"], verdict["failures"]
    assert verdict["deepest_at_fixed_point"]
    xi0 = -1.0 / math.log(math.tanh(K0))
    for row in rows[:3]:
        assert math.isclose(row["xi_exact"], xi0 / 2 ** row["layer"], rel_tol=1e-9)
    # the learned prior couplings (the Ising partition function of each output) track the flow too
    prior_K = trained_small.summary_metrics()["prior_K"]
    assert all(abs(p - r["K_exact"]) < 0.1 for p, r in zip(prior_K, rows, strict=True))


def test_untrained_model_fails_the_same_check(heldout):
    lightning.seed_everything(0, verbose=False)
    for init in ("local", "random"):
        rows = flow_rows(FlowDNN(n_visible=32, n_layers=4, init=init), heldout)
        assert not check_exact_flow(rows, n_sigma=4.0, n_checked=3)["passed"], init


@pytest.mark.slow
def test_default_size_model_follows_exact_decimation_and_infomax_does_not(one_thread):
    """The experiment's default size (N = 64, 4 layers, lr 0.05, 30 epochs); infomax as the contrast."""
    spins = sample_1d(64, K0, 2000, seed=7)
    results = {}
    for objective in ("elbo", "infomax"):
        lightning.seed_everything(0, verbose=False)
        dm = Chain1DDataModule(N=64, K=K0, n=8000, batch_size=256, seed=0)
        model = FlowDNN(n_visible=64, n_layers=4, objective=objective, lr=0.05)
        trainer(30).fit(model, datamodule=dm)
        results[objective] = check_exact_flow(flow_rows(model, spins), n_sigma=4.0, n_checked=3)
    assert results["elbo"]["passed"], results["elbo"]["failures"]
    assert not results["infomax"]["passed"]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"n_visible": 12, "n_layers": 3}, ValueError, "too short"),
        ({"n_visible": 8, "n_layers": 3}, ValueError, "too short"),
        ({"n_visible": 32, "widths": [16, 6]}, ValueError, "divide"),
        ({"n_visible": 32, "widths": [16, 16]}, ValueError, "divide"),
        ({"n_visible": 32, "widths": [16, 1]}, ValueError, "widths"),
        ({"n_visible": 32, "widths": "16"}, TypeError, "widths"),
        ({"n_visible": 32, "widths": None, "n_layers": None}, ValueError, "n_layers"),
        ({"n_visible": 32, "objective": "cd"}, ValueError, "objective"),
        ({"n_visible": 32, "init": "zeros"}, ValueError, "init"),
        ({"n_visible": 32, "lr": 0.0}, ValueError, "lr"),
        ({"n_visible": 32, "prior_order": "random"}, ValueError, "prior_order"),
        ({"n_visible": 32, "lr_schedule": "step"}, ValueError, "lr_schedule"),
        ({"n_visible": 32, "anneal_temperature": 0.5}, ValueError, "anneal_temperature"),
        ({"n_visible": 32, "anneal_epochs": -1}, ValueError, "anneal_epochs"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        FlowDNN(**kwargs)


def test_custom_widths_and_spacings():
    model = FlowDNN(n_visible=36, widths=[12, 4, 2])
    assert model.spacings == [3, 9, 18]
    outs = model.layer_outputs(torch.ones(5, 36))
    assert [tuple(o.shape) for o in outs] == [(5, 12), (5, 4), (5, 2)]


def test_bad_data_is_rejected_before_any_step():
    model = FlowDNN(n_visible=16, n_layers=2)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="non-spin"):
        model.layer_outputs(torch.zeros(4, 16))
    with pytest.raises(ValueError, match="shape"):
        model.layer_outputs(torch.ones(4, 8))
    dm = Chain1DDataModule(N=32, K=K0, n=100)
    with pytest.raises(ValueError, match="n_visible"):
        trainer(1).fit(model, datamodule=dm)

    class NotSpins(Chain1DDataModule):
        def setup(self, stage=None):
            super().setup(stage)
            self.train_spins = (self.train_spins + 1) // 2  # 0/1 bits

    with pytest.raises(ValueError, match="non-spin"):
        trainer(1).fit(model, datamodule=NotSpins(N=16, K=K0, n=100))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_checkpoint_state_holds_the_priors():
    model = FlowDNN.oracle(16, 2, K0=K0)
    state = model.state_dict()
    fresh = FlowDNN(16, n_layers=2)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.priors, model.priors)
    assert fresh.summary_metrics()["prior_K"][0] == pytest.approx(decimate_1d(K0, 2).K, rel=1e-6)


def test_oracle_in_a_field_follows_the_field_recursion():
    """With h0 != 0 the decimated chain has (K', h') = decimate_1d(K0, 2, h0): both are recovered."""
    h0 = 0.3
    spins = sample_1d(32, K0, 2000, h=h0, seed=9)
    oracle = FlowDNN.oracle(32, 2, K0=K0, h0=h0)
    outputs = oracle.layer_outputs(spins.float(), generator=torch.Generator().manual_seed(0))
    rows = fit_layers(outputs, 32, K0, h0, method="exact")
    for row in rows:
        assert abs(row["K"] - row["K_exact"]) < 4 * row["K_err"], row
        assert abs(row["h"] - row["h_exact"]) < 4 * row["h_err"], row
    assert rows[0]["h_exact"] > h0  # the field grows under decimation


def scrambled_oracle(n_visible: int, n_layers: int, seed: int) -> tuple[FlowDNN, list, list]:
    """The exact-decimation oracle with the units of every layer permuted and sign-flipped at random (new
    unit j = s_j * old unit p_j; encoder and decoder weights transformed alike, so the network computes the
    same coarse-graining). Returns the model and per layer the permutations p and signs s."""
    model = FlowDNN.oracle(n_visible, n_layers, K0=K0)
    gen = torch.Generator().manual_seed(seed)
    perm_below, sign_below = torch.arange(n_visible), torch.ones(n_visible)
    perms, signs = [], []
    with torch.no_grad():
        for enc, dec in zip(model.encoders, model.decoders, strict=True):
            n = enc.out_features
            p = torch.randperm(n, generator=gen)
            s = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
            enc.weight.copy_(s[:, None] * enc.weight[p][:, perm_below] * sign_below[None, :])
            enc.bias.copy_(s * enc.bias[p])
            dec.weight.copy_(sign_below[:, None] * dec.weight[perm_below][:, p] * s[None, :])
            dec.bias.copy_(sign_below * dec.bias[perm_below])
            perms.append(p)
            signs.append(s)
            perm_below, sign_below = p, s
    return model, perms, signs


def test_unit_sites_of_the_oracle_and_of_a_scrambled_oracle():
    """Sites and signs follow the strongest weights exactly: 2^l j and +1 for the oracle, 2^l p_j and s_j
    once its units are permuted and flipped."""
    sites, signs = FlowDNN.oracle(32, 4).unit_sites()
    for l, (site, sign) in enumerate(zip(sites, signs, strict=True), start=1):
        assert torch.equal(site, 2**l * torch.arange(32 // 2**l))
        assert torch.equal(sign, torch.ones(32 // 2**l))
    model, perms, flips = scrambled_oracle(32, 4, seed=0)
    sites, signs = model.unit_sites()
    for l, (site, sign, p, s) in enumerate(zip(sites, signs, perms, flips, strict=True), start=1):
        assert torch.equal(site, 2**l * p)
        assert torch.equal(sign, s)
        assert bool((s < 0).any()) and not torch.equal(p, torch.arange(len(p)))  # really scrambled
    assert model.units_sharing_a_site() == [0, 0, 0, 0]
    assert [p.dtype for p in model.layer_positions()] == [torch.float32] * 4


def test_unit_sites_compose_and_count_shared_sites():
    """Hand-made weights: layer 1 reads sites (4, 0, 4, 7) with signs (-, +, +, -); layer 2 reads layer-1
    units (0, 1) with weights (-, -), i.e. sites (4, 0) with signs (+, -); two layer-1 units share site 4."""
    model = FlowDNN(n_visible=8, widths=[4, 2], init_noise=0.0)
    w1 = torch.zeros(4, 8)
    w1[0, 4], w1[0, 5], w1[1, 0], w1[1, 7], w1[2, 4], w1[3, 7], w1[3, 6] = -2, 1.9, 3, -2.9, 1, -1, 0.5
    w2 = torch.tensor([[-1.0, 0.2, 0.3, 0.0], [0.1, -2.0, 0.0, 1.5]])
    with torch.no_grad():
        model.encoders[0].weight.copy_(w1)
        model.encoders[1].weight.copy_(w2)
    sites, signs = model.unit_sites()
    assert sites[0].tolist() == [4, 0, 4, 7] and signs[0].tolist() == [-1.0, 1.0, 1.0, -1.0]
    assert sites[1].tolist() == [4, 0] and signs[1].tolist() == [1.0, -1.0]
    assert model.units_sharing_a_site() == [2, 0]
    with torch.no_grad():  # nearly deterministic units, y = sign(W x): the orientation is a fixed gauge
        model.encoders[0].weight.mul_(20)
        model.encoders[1].weight.mul_(20)
    x = sample_1d(8, K0, 50, seed=4).float()
    raw = model.layer_outputs(x, generator=torch.Generator().manual_seed(0), oriented=False)
    oriented = model.layer_outputs(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(oriented[0], raw[0] * torch.tensor([-1.0, 1.0, 1.0, -1.0]))
    assert torch.equal(oriented[1], raw[1] * torch.tensor([1.0, -1.0]))


def test_a_scrambled_oracle_follows_the_exact_flow_once_units_are_placed_and_oriented(heldout):
    """Through the coupling callback (positions sort, orientation flips) the scrambled oracle's outputs are
    exactly the decimated chains and pass the exact-flow check; negative controls: without the sort, or
    without the orientation, the same outputs fail it."""
    model, _, _ = scrambled_oracle(32, 4, seed=1)
    x = heldout.float()
    gen = torch.Generator().manual_seed(0)
    oriented = model.layer_outputs(x, generator=gen)
    positions = model.layer_positions()
    for l, (y, pos) in enumerate(zip(oriented, positions, strict=True), start=1):
        assert torch.equal(y[:, torch.argsort(pos)], decimate_spins_1d(x, 2**l))
    rows = CouplingTrajectories().measure(model, heldout, K0, 0.0)
    assert check_exact_flow(rows)["passed"]
    unsorted = fit_layers(oriented, 32, K0)
    assert not check_exact_flow(unsorted)["passed"]
    raw = model.layer_outputs(x, generator=gen, oriented=False)
    unoriented = fit_layers([y[:, torch.argsort(p)] for y, p in zip(raw, positions, strict=True)], 32, K0)
    assert not check_exact_flow(unoriented)["passed"]


@pytest.mark.parametrize("prior_order", ["network", "sites"])
def test_prior_terms_are_the_normalized_chain_and_its_exact_local_differences(prior_order):
    """-log p_K'(y) sums to probability 1 over all 2^n outputs, and the closed-form change of the prior term
    when unit j is set to +1 rather than -1 equals the brute-force difference, for every unit."""
    torch.manual_seed(0)
    model = FlowDNN(n_visible=12, widths=[6], init="random", prior_order=prior_order)
    with torch.no_grad():
        model.priors[0] = torch.tensor([0.7, -0.3])
    every = torch.cartesian_prod(*[torch.tensor([-1.0, 1.0])] * 6)
    value, diff = model._prior_terms(0, every)
    assert float(torch.exp(-value.detach().double()).sum()) == pytest.approx(1.0, abs=1e-5)
    for j in range(6):
        up, down = every.clone(), every.clone()
        up[:, j], down[:, j] = 1.0, -1.0
        brute = model._prior_terms(0, up)[0] - model._prior_terms(0, down)[0]
        assert torch.allclose(diff[:, j], brute.detach(), atol=1e-5)


def test_the_sites_prior_gives_a_scrambled_oracle_the_optimal_elbo(heldout):
    """With prior_order="sites" the ELBO of the scrambled oracle is the data entropy H(x), as for the oracle;
    with the network-order prior (the negative control) its prior is mismatched and the bound is worse."""
    scrambled, _, _ = scrambled_oracle(32, 1, seed=2)
    x = heldout.float()
    values = {}
    for prior_order in ("network", "sites"):
        model = FlowDNN(32, n_layers=1, prior_order=prior_order)
        model.load_state_dict(scrambled.state_dict())
        torch.manual_seed(0)
        with torch.no_grad():
            values[prior_order] = float(model._layer_objective(0, x)[2])
    torch.manual_seed(0)
    with torch.no_grad():
        optimum = float(FlowDNN.oracle(32, 1, K0=K0)._layer_objective(0, x)[2])
    assert values["sites"] == pytest.approx(optimum, abs=1e-4)
    assert abs(optimum - chain_entropy(32, K0)) < 0.2  # the optimum is the data entropy (see above)
    assert values["network"] > optimum + 1.0


def test_temperature_annealing_and_cosine_schedule():
    """The entropy weight falls linearly from anneal_temperature to 1 over anneal_epochs, then stays at 1; the
    cosine schedule takes the learning rate from lr to 0 over the run's steps (exact values per epoch)."""
    seen = []

    class Record(lightning.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            seen.append((pl_module.temperature(), trainer.optimizers[0].param_groups[0]["lr"]))

    lightning.seed_everything(0, verbose=False)
    dm = Chain1DDataModule(N=8, K=K0, n=80, batch_size=72, seed=0)  # 72 training chains: one step per epoch
    model = FlowDNN(8, n_layers=1, anneal_temperature=3.0, anneal_epochs=4, lr_schedule="cosine", lr=0.1)
    fit = lightning.Trainer(
        max_epochs=6,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        callbacks=[Record()],
    )
    fit.fit(model, datamodule=dm)
    assert [t for t, _ in seen] == pytest.approx([3.0, 2.5, 2.0, 1.5, 1.0, 1.0])
    assert [lr for _, lr in seen] == pytest.approx([0.05 * (1 + math.cos(math.pi * e / 6)) for e in range(6)])
    assert FlowDNN(8, n_layers=1).temperature() == 1.0  # no annealing by default


def test_redraw_shared_units_keeps_the_strongest_unit_of_each_input():
    """Units 0 and 2 share site 4 (unit 0 is stronger), units 1 and 3 share site 0 with equal strength (the
    lower index keeps it): units 2 and 3 are re-drawn, with zero bias and decoder column; the oracle has no
    shared inputs (negative control) and is left unchanged."""
    model = FlowDNN(n_visible=8, widths=[4], init_noise=0.0)
    w = torch.zeros(4, 8)
    w[0, 4], w[1, 0], w[2, 4], w[3, 0], w[3, 1] = -3.0, 2.0, 1.0, -2.0, 0.5
    with torch.no_grad():
        model.encoders[0].weight.copy_(w)
        model.encoders[0].bias.fill_(0.3)
        model.decoders[0].weight.fill_(1.0)
    torch.manual_seed(0)
    assert model.redraw_shared_units() == [2]
    enc, dec = model.encoders[0], model.decoders[0]
    assert torch.equal(enc.weight[:2], w[:2]) and not torch.equal(enc.weight[2:], w[2:])
    assert enc.bias.tolist() == pytest.approx([0.3, 0.3, 0.0, 0.0])
    assert dec.weight[:, :2].eq(1.0).all() and dec.weight[:, 2:].eq(0.0).all()
    oracle = FlowDNN.oracle(32, 4)
    before = [p.detach().clone() for p in oracle.parameters()]
    assert oracle.redraw_shared_units() == [0, 0, 0, 0]
    assert all(torch.equal(a, b) for a, b in zip(before, oracle.parameters(), strict=True))


@pytest.mark.slow
def test_random_start_reaches_exact_decimation_with_the_recipe(one_thread):
    """The experiment's size (N = 64, 4 layers) from init="random": the recipe (prior chained by sites, cosine
    learning rate, shared units re-drawn over the first 40 of 60 epochs) follows the exact flow layer by
    layer with no two units on one site; negative control: the same random start trained as the defaults
    (network-order prior, constant lr, 30 epochs) does not, and its units pile onto shared sites."""
    spins = sample_1d(64, K0, 2000, seed=7)
    recipe = {"prior_order": "sites", "lr_schedule": "cosine", "redraw_shared_epochs": 40}
    results = {}
    for name, options, epochs in (("recipe", recipe, 60), ("defaults", {}, 30)):
        lightning.seed_everything(0, verbose=False)
        dm = Chain1DDataModule(N=64, K=K0, n=8000, batch_size=256, seed=0)
        model = FlowDNN(n_visible=64, n_layers=4, init="random", **options)
        trainer(epochs).fit(model, datamodule=dm)
        rows = CouplingTrajectories().measure(model, spins, K0, 0.0)
        results[name] = (check_exact_flow(rows, n_sigma=4.0, n_checked=3), model.units_sharing_a_site())
    assert results["recipe"][0]["passed"], results["recipe"]
    assert results["recipe"][1] == [0, 0, 0, 0]
    assert not results["defaults"][0]["passed"]
    assert results["defaults"][1][0] > 0
