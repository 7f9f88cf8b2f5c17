"""RBM: exact free energy / log Z against brute force, Gibbs sampling (chi-square), AIS, CD-k updates and
penalties, the linear learning-rate decay, Lightning checkpoint/resume, argument validation."""

from __future__ import annotations

import math

import lightning
import pytest
import torch
from scipy import stats

from rgnet.models.rbm import RBM
from rgnet.models.rbm_training import batch_loader

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def random_rbm(n_visible: int, n_hidden: int, seed: int = 0, scale: float = 0.7, **opts) -> RBM:
    torch.manual_seed(seed)
    rbm = RBM(n_visible, n_hidden, init_std=scale, **opts)
    with torch.no_grad():
        rbm.b.normal_(0.0, 0.3)
        rbm.c.normal_(0.0, 0.3)
    return rbm


def states(n: int, alphabet: str) -> torch.Tensor:
    """All 2**n states, (2**n, n) float64 in the alphabet, bit k of the row index -> unit k."""
    idx = torch.arange(1 << n)
    bits = ((idx[:, None] >> torch.arange(n)) & 1).double()
    return 2 * bits - 1 if alphabet == "spin" else bits


def brute_force(rbm: RBM) -> tuple[torch.Tensor, float]:
    """Free energies of all visible states (in units) and log Z from the joint energy E(v, h), float64."""
    v, h = states(rbm.n_visible, rbm.units), states(rbm.n_hidden, rbm.units)
    W, b, c = rbm.W.double().detach(), rbm.b.double().detach(), rbm.c.double().detach()
    minus_energy = v @ W @ h.t() + (v @ b)[:, None] + (h @ c)[None, :]
    return -torch.logsumexp(minus_energy, dim=1), float(torch.logsumexp(minus_energy.reshape(-1), 0))


@pytest.mark.parametrize("units", ["spin", "binary"])
@pytest.mark.parametrize("sizes", [(6, 4), (4, 6)])
def test_free_energy_and_exact_log_z_match_brute_force(units, sizes):
    rbm = random_rbm(*sizes, units=units)
    free, log_z = brute_force(rbm)
    v_units = states(rbm.n_visible, units).float()
    v_inputs = 2 * v_units - 1 if units == "binary" else v_units  # inputs are +-1 spins by default
    torch.testing.assert_close(rbm.free_energy(v_inputs).double(), free, rtol=1e-5, atol=1e-5)
    value, error = rbm.log_partition()
    assert error == 0.0
    assert value == pytest.approx(log_z, abs=1e-9)
    # probabilities sum to one
    assert float(torch.exp(-rbm.free_energy(v_inputs).double() - value).sum()) == pytest.approx(1.0, abs=1e-5)


def test_binary_inputs_match_spin_inputs():
    rbm = random_rbm(6, 4, units="binary", inputs="binary")
    spin_rbm = random_rbm(6, 4, units="binary", inputs="spin")
    x = states(6, "binary").float()
    torch.testing.assert_close(rbm.free_energy(x), spin_rbm.free_energy(2 * x - 1))


def gibbs_counts(rbm: RBM, n_chains: int, steps: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    v = rbm.sample(n_chains, steps=steps, generator=gen)
    bits = (v > 0).long() if rbm.inputs == "spin" else v.long()
    index = (bits << torch.arange(rbm.n_visible)).sum(1)
    return torch.bincount(index, minlength=1 << rbm.n_visible)


@pytest.mark.parametrize("units", ["spin", "binary"])
def test_gibbs_sampling_chi_square_against_exact_marginal(units):
    rbm = random_rbm(6, 4, units=units, seed=3)
    free, log_z = brute_force(rbm)
    expected = torch.exp(-free - log_z) * 20000
    counts = gibbs_counts(rbm, 20000, steps=30, seed=1)
    assert stats.chisquare(counts.double().numpy(), expected.numpy()).pvalue > 1e-4
    # power: a sampler with 25% too strong couplings is clearly rejected against the same marginal
    wrong = random_rbm(6, 4, units=units, seed=3)
    with torch.no_grad():
        wrong.W.mul_(1.25)
    bad = gibbs_counts(wrong, 20000, steps=30, seed=1)
    assert stats.chisquare(bad.double().numpy(), expected.numpy()).pvalue < 1e-6


@pytest.mark.parametrize("units", ["spin", "binary"])
def test_ais_log_z_within_error_bar_of_exact(units):
    rbm = random_rbm(10, 30, units=units, seed=2, scale=0.25)
    exact, _ = rbm.log_partition()
    estimate, error = rbm.log_partition(
        method="ais", runs=200, betas=500, generator=torch.Generator().manual_seed(0)
    )
    assert 0.0 < error < 0.05
    assert abs(estimate - exact) < 4 * error + 1e-3
    # power: the error bar is tight enough to tell a model with 5% stronger couplings apart
    other = random_rbm(10, 30, units=units, seed=2, scale=0.25)
    with torch.no_grad():
        other.W.mul_(1.05)
    assert abs(estimate - other.log_partition()[0]) > 4 * error


def fit(model: RBM, data: torch.Tensor, tmp_path, epochs: int, ckpt_path=None) -> lightning.Trainer:
    checkpoint = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[checkpoint],
    )
    trainer.fit(model, batch_loader(data, 50, True), batch_loader(data[:100], 50, False), ckpt_path=ckpt_path)
    return trainer


def test_lightning_training_logs_monitors_and_resumes_with_persistent_chains(tmp_path, spin_data):
    data = spin_data(200, 12)
    torch.manual_seed(0)
    model = RBM(12, 8, persistent=True, n_chains=20, lr=0.05)
    before = model.W.detach().clone()
    trainer = fit(model, data, tmp_path, epochs=2)
    assert trainer.global_step == 8
    assert not torch.equal(model.W.detach(), before)
    metrics = trainer.callback_metrics
    for key in ("val/pll", "val/recon_error", "val/free_energy", "val/log_likelihood", "val/log_z"):
        assert math.isfinite(float(metrics[key])), key
    assert float(metrics["val/log_z_error"]) == 0.0  # 8 hidden units: exact
    assert float(metrics["val/log_likelihood"]) == pytest.approx(model.log_likelihood(data[:100]), abs=1e-4)
    saved = torch.load(tmp_path / "last.ckpt", weights_only=False)["state_dict"]
    torch.testing.assert_close(saved["chains"], model.chains)
    resumed = RBM(12, 8, persistent=True, n_chains=20, lr=0.05)
    trainer = fit(resumed, data, tmp_path, epochs=3, ckpt_path=tmp_path / "last.ckpt")
    assert trainer.global_step == 12  # 2 epochs restored + 1 more


class LearningRates(lightning.Callback):
    """Records the optimizer's learning rate at the start of every training epoch."""

    def __init__(self) -> None:
        self.per_epoch: list[float] = []

    def on_train_epoch_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        self.per_epoch.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_final_lr_decays_linearly_per_epoch_and_resumes_mid_schedule(tmp_path, spin_data):
    data = spin_data(200, 12)

    def run(max_steps: int, ckpt_path=None) -> list[float]:
        rates = LearningRates()
        checkpoint = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
        trainer = lightning.Trainer(
            max_epochs=5,
            max_steps=max_steps,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[rates, checkpoint],
        )
        model = RBM(12, 8, lr=0.1, final_lr=0.02, log_z_every=0)
        trainer.fit(model, batch_loader(data, 50, True), ckpt_path=ckpt_path)
        return rates.per_epoch

    expected = [0.1, 0.08, 0.06, 0.04, 0.02]  # lr at the first epoch, final_lr at the last
    assert run(max_steps=8) == pytest.approx(expected[:2])  # stopped after 2 epochs of 4 batches
    assert run(max_steps=-1, ckpt_path=tmp_path / "last.ckpt") == pytest.approx(expected[2:])


@pytest.mark.parametrize("switch, expected", [(2, [0.5, 0.5, 0.9, 0.9]), (None, [0.5, 0.5, 0.5, 0.5])])
def test_momentum_switches_to_final_momentum_at_the_switch_epoch(
    spin_data, momenta_callback, switch, expected
):
    momenta = momenta_callback(optimizer=0)
    trainer = lightning.Trainer(
        max_epochs=4,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[momenta],
    )
    final = None if switch is None else 0.9
    model = RBM(12, 8, momentum=0.5, final_momentum=final, momentum_switch_epoch=switch, log_z_every=0)
    trainer.fit(model, batch_loader(spin_data(100, 12), 50, True))
    assert momenta.steps == [(e, m) for e, m in enumerate(expected) for _ in range(2)]  # 2 batches an epoch
    assert [model.momentum_at(e) for e in range(4)] == expected


def test_final_lr_is_checked_against_lr_and_needs_a_finite_number_of_epochs(spin_data):
    with pytest.raises(ValueError, match="final_lr must be <= 0.1"):
        RBM(4, 3, lr=0.1, final_lr=0.2)
    with pytest.raises(ValueError, match="final_lr needs lr > 0"):
        RBM(4, 3, lr=0.0, final_lr=0.0)
    trainer = lightning.Trainer(max_epochs=-1, max_steps=1, accelerator="cpu", logger=False)
    with pytest.raises(ValueError, match="finite trainer.max_epochs"):
        trainer.fit(RBM(4, 3, final_lr=0.001, log_z_every=0), batch_loader(spin_data(10, 4), 5, True))


def test_cd_k_reduces_reconstruction_error_and_penalties_shrink_weights(spin_data):
    data = spin_data(400, 10)
    data[:, 5:] = data[:, :5]  # perfectly correlated pairs of sites: learnable structure
    torch.manual_seed(0)
    rbm = RBM(10, 5, k=2, lr=0.1)
    first = rbm.reconstruction_error(data)
    optimizer = rbm.make_optimizer()
    for start in range(0, 4000, 20):
        rbm.cd_gradients(data[start % 400 : start % 400 + 20])
        optimizer.step()
    assert rbm.reconstruction_error(data) < first - 0.1
    # L1 and weight decay pull weights to zero when the data carries no signal
    penalized = RBM(10, 5, lr=0.1, l1=0.5, weight_decay=0.5, init_std=1.0)
    norm = float(penalized.W.abs().sum())
    opt = penalized.make_optimizer()
    noise = spin_data(400, 10, seed=1)
    for start in range(0, 400, 20):
        penalized.cd_gradients(noise[start : start + 20])
        opt.step()
    assert float(penalized.W.abs().sum()) < 0.2 * norm


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"k": 0}, ValueError, "k must be >= 1"),
        ({"lr": -0.1}, ValueError, "lr must be >= 0"),
        ({"l1": -1e-4}, ValueError, "l1 must be >= 0"),
        ({"weight_decay": -1.0}, ValueError, "weight_decay must be >= 0"),
        ({"momentum": 1.0}, ValueError, "momentum must be in"),
        ({"final_momentum": 1.0, "momentum_switch_epoch": 5}, ValueError, "final_momentum must be in"),
        ({"final_momentum": 0.9}, ValueError, "must be given together"),
        ({"momentum_switch_epoch": 5}, ValueError, "must be given together"),
        (
            {"final_momentum": 0.9, "momentum_switch_epoch": -1},
            ValueError,
            "momentum_switch_epoch must be >= 0",
        ),
        (
            {"final_momentum": 0.9, "momentum_switch_epoch": 1.5},
            TypeError,
            "momentum_switch_epoch must be an",
        ),
        ({"units": "ternary"}, ValueError, "units must be one of"),
        ({"persistent": 1}, TypeError, "persistent must be a bool"),
        ({"n_hidden": 0}, ValueError, "n_hidden must be >= 1"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, error, match):
    args = {"n_visible": 4, "n_hidden": 3, **kwargs}
    with pytest.raises(error, match=match):
        RBM(**args)


def test_training_step_checks_the_batch_before_any_update():
    with pytest.raises(ValueError, match="n_visible=4"):
        RBM(4, 3).training_step(torch.ones(10, 5), 0)


def test_exact_log_z_refuses_large_layers():
    with pytest.raises(ValueError, match="<= 20 units"):
        RBM(30, 25).exact_log_partition()
    value, error = RBM(30, 25).log_partition(runs=10, betas=5)  # falls back to AIS
    assert math.isfinite(value) and error >= 0.0
