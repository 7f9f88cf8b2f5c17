"""FlowDNN: validation, the Mehta-Schwab oracle against exact decimation, the objective's optimum, and the
central claim: a trained default model follows the exact decimation flow layer by layer while an untrained
one does not (negative control). Tolerances are the coupling fitter's statistical errors (4 sigma)."""

from __future__ import annotations

import math

import lightning
import numpy as np
import pytest
import torch

from rgnet.data.chain1d import Chain1DDataModule
from rgnet.ising import sample_1d
from rgnet.ising.exact import chain_log_partition
from rgnet.models.flow_dnn import FlowDNN
from rgnet.rg import check_exact_flow, decimate_1d, fit_couplings, fit_layers

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
