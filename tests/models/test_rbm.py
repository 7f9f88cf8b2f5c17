"""RBM: exact free energy / log Z against brute force, Gibbs sampling (chi-square), AIS, training fidelity,
Lightning checkpoint/resume, argument validation."""

from __future__ import annotations

import math

import lightning
import pytest
import torch
from scipy import stats

from rgnet.ising import K_CRITICAL, sample_2d
from rgnet.ising.exact import (
    boltzmann_probabilities_2d,
    energy_torus,
    enumerate_configurations,
    specific_heat_torus,
)
from rgnet.ising.observables import energy_per_site
from rgnet.models.rbm import RBM, batch_loader, train_rbm

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


def test_rbm_fits_4x4_ising_at_k03_kl_below_005():
    p = boltzmann_probabilities_2d(4, 4, 0.3)
    configurations = enumerate_configurations((4, 4)).reshape(-1, 16).float()
    index = torch.multinomial(p, 20000, replacement=True, generator=torch.Generator().manual_seed(1))
    rbm = train_rbm(
        configurations[index], 16, epochs=60, batch_size=500, lr=0.05, momentum=0.5, seed=0, progress=False
    )
    log_q = -rbm.free_energy(configurations).double() - rbm.log_partition()[0]
    kl = float((p * (p.log() - log_q)).sum())
    assert kl < 0.05
    # negative control: the untrained model (independent spins) is far from the Ising distribution
    untrained = RBM(16, 16)
    log_q0 = -untrained.free_energy(configurations).double() - untrained.log_partition()[0]
    assert float((p * (p.log() - log_q0)).sum()) > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rbm_at_critical_8x8_reproduces_exact_energy_and_specific_heat(seed):
    """PCD-1 with 1000 persistent chains started at the data, 64 hidden units, lr 0.01 -> 0.001 over 30 epochs
    of 20000 Wolff samples at K_c, parameters averaged over the last 10 epochs (~2 min per seed on 2 shared
    cores). Without the average, the last iterate's energy scattered by +-3% between seeds (SGD noise: at K_c a
    1% error in the effective temperature moves e by ~2%); CD-10 with a constant lr underfit (e ~ -1.38)."""
    L, K = 8, K_CRITICAL
    data = sample_2d(L, K, 20000, method="wolff", seed=seed).reshape(-1, L * L).float()
    rbm = train_rbm(
        data,
        64,
        epochs=30,
        batch_size=100,
        lr=0.01,
        final_lr=0.001,
        average_epochs=10,
        momentum=0.5,
        k=1,
        persistent=True,
        n_chains=1000,
        seed=seed,
        progress=False,
    )
    # chains start at training configurations (random starts mix slowly at K_c) and run 1000 sweeps, so they
    # sample the model's own distribution (an underfit model drifts away from the data's energy)
    samples = rbm.gibbs(data[:2000], steps=1000, generator=torch.Generator().manual_seed(5)).reshape(-1, L, L)
    e = energy_per_site(samples)
    heat = K**2 * L * L * float(e.var())
    assert float(e.mean()) == pytest.approx(energy_torus(L, L, K), rel=0.02)
    assert heat == pytest.approx(specific_heat_torus(L, L, K), rel=0.15)
    # power: the same chains under the untrained model (biases only) lose the correlations at once
    untrained = RBM(L * L, 64)
    cold = untrained.gibbs(data[:500], steps=5, generator=torch.Generator().manual_seed(5)).reshape(-1, L, L)
    assert float(energy_per_site(cold).mean()) > 0.5 * energy_torus(L, L, K)


def spin_data(n: int, n_visible: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (n, n_visible), generator=gen).float() * 2 - 1


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


def test_lightning_training_logs_monitors_and_resumes_with_persistent_chains(tmp_path):
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


def test_cd_k_reduces_reconstruction_error_and_penalties_shrink_weights():
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
        ({"units": "ternary"}, ValueError, "units must be one of"),
        ({"persistent": 1}, TypeError, "persistent must be a bool"),
        ({"n_hidden": 0}, ValueError, "n_hidden must be >= 1"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, error, match):
    args = {"n_visible": 4, "n_hidden": 3, **kwargs}
    with pytest.raises(error, match=match):
        RBM(**args)


def test_train_rbm_rejects_bad_data_before_training():
    with pytest.raises(ValueError, match="only -1 and 1"):
        train_rbm(torch.zeros(10, 4), 3, progress=False)
    with pytest.raises(ValueError, match="only 0 and 1"):
        train_rbm(-torch.ones(10, 4), 3, inputs="binary", progress=False)
    with pytest.raises(ValueError, match="shape"):
        train_rbm(torch.ones(4), 3, progress=False)
    with pytest.raises(TypeError, match="torch.Tensor"):
        train_rbm([[1, -1]], 3, progress=False)
    with pytest.raises(ValueError, match="k must be >= 1"):
        train_rbm(torch.ones(10, 4), 3, k=0, progress=False)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        train_rbm(torch.ones(10, 4), 3, epochs=0, progress=False)
    with pytest.raises(ValueError, match="n_visible=4"):
        RBM(4, 3).training_step(torch.ones(10, 5), 0)  # batch checked before any update


def test_exact_log_z_refuses_large_layers():
    with pytest.raises(ValueError, match="<= 20 units"):
        RBM(30, 25).exact_log_partition()
    value, error = RBM(30, 25).log_partition(runs=10, betas=5)  # falls back to AIS
    assert math.isfinite(value) and error >= 0.0


def test_locality_of_point_uniform_and_block_fields():
    from rgnet.models.rbm import locality

    L = 8
    fields = torch.zeros(3, L * L)
    fields[0, 9] = 1.0  # a single site
    fields[1] = 1.0  # uniform
    block = torch.zeros(L, L)
    block[[7, 7, 0, 0], [7, 0, 7, 0]] = 1.0  # a 2x2 block across the periodic corner
    fields[2] = block.reshape(-1)
    torch.testing.assert_close(locality(fields, L, 2), torch.tensor([1.0, 4 / 64, 1.0]))


def test_rms_radius_of_hand_built_fields():
    from rgnet.models.rbm import rms_radius

    L = 8
    fields = torch.zeros(5, L, L)
    fields[0, 3, 5] = -2.0  # a single site: radius 0
    fields[1, [7, 7, 0, 0], [7, 0, 7, 0]] = 1.0  # 2x2 block across the periodic corner: sqrt(1/4 + 1/4)
    fields[2] = 1.0  # uniform: (L^2 - 1) / 12 per axis
    fields[3, 1:4, 6] = 1.0  # a 3x1 bar: only the rows' axis contributes, 2/3
    fields[4, 2, 2], fields[4, 2, 6] = 1.0, 1.0  # two sites L/2 apart: 2 from the midpoint either way round
    expected = torch.tensor([0.0, 0.5**0.5, ((L * L - 1) / 6) ** 0.5, (2 / 3) ** 0.5, 2.0])
    torch.testing.assert_close(rms_radius(fields.reshape(5, -1), L), expected)
    # invariant under translations (periodic) and the sign and scale of the weights
    shifted = -3.0 * fields.roll((3, 5), dims=(1, 2))
    torch.testing.assert_close(rms_radius(shifted.reshape(5, -1), L), expected)
    # the radius grows with the side of a uniform b x b block as sqrt((b^2 - 1) / 6)
    blocks = torch.zeros(3, L, L)
    for i, b in enumerate((2, 4, 6)):
        blocks[i, :b, :b] = 1.0
    torch.testing.assert_close(
        rms_radius(blocks.reshape(3, -1), L), torch.tensor([((b * b - 1) / 6) ** 0.5 for b in (2, 4, 6)])
    )


def stack_trainer(tmp_path, epochs: int) -> lightning.Trainer:
    checkpoint = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    return lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[checkpoint],
    )


def test_stack_trains_one_layer_per_block_of_epochs_and_resumes_across_layers(tmp_path):
    from rgnet.models.rbm import RBMStack

    data = spin_data(200, 16)
    torch.manual_seed(0)
    stack = RBMStack([16, 8, 4], epochs_per_layer=2, lr=0.05, l1=1e-4)
    assert stack.total_epochs == 4
    w0, w1 = stack.rbms[0].W.detach().clone(), stack.rbms[1].W.detach().clone()
    trainer = stack_trainer(tmp_path, 2)
    trainer.fit(stack, batch_loader(data, 50, True), batch_loader(data[:100], 50, False))
    assert not torch.equal(stack.rbms[0].W.detach(), w0)
    torch.testing.assert_close(stack.rbms[1].W.detach(), w1)  # the second layer has not started
    w0_trained = stack.rbms[0].W.detach().clone()
    resumed = RBMStack([16, 8, 4], epochs_per_layer=2, lr=0.05, l1=1e-4)
    trainer = stack_trainer(tmp_path, 4)
    trainer.fit(
        resumed,
        batch_loader(data, 50, True),
        batch_loader(data[:100], 50, False),
        ckpt_path=tmp_path / "last.ckpt",
    )
    torch.testing.assert_close(resumed.rbms[0].W.detach(), w0_trained)  # frozen after its block
    assert not torch.equal(resumed.rbms[1].W.detach(), w1)
    assert trainer.global_step == 16
    fields = resumed.effective_fields()
    assert [tuple(f.shape) for f in fields] == [(8, 16), (4, 16)]
    torch.testing.assert_close(fields[1], (resumed.rbms[0].W @ resumed.rbms[1].W).t().detach())
    summary = resumed.summary_metrics()
    assert set(summary["locality"]) == {"layer1", "layer2"}
    assert set(summary["block_radius"]) == {"layer1", "layer2"}
    assert 0.0 < summary["block_radius"]["layer1"] <= (15 / 6) ** 0.5 + 1e-6  # at most the uniform field's
    assert set(summary["reconstruction_error"]) == {"depth1", "depth2"}
    assert math.isfinite(summary["layer1_log_likelihood"]) and summary["layer1_log_z_error"] == 0.0
    recon = resumed.reconstruct(data[:5], 2)
    assert recon.shape == (5, 16) and bool((recon.abs() <= 1).all())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layers": [16]}, "layers must be a list"),
        ({"layers": [16, 0]}, r"layers\[1\] must be >= 1"),
        ({"epochs_per_layer": 0}, "epochs_per_layer must be >= 1"),
        ({"propagate": "both"}, "propagate must be one of"),
        ({"k": 0}, "k must be >= 1"),
        ({"l1": -2e-4}, "l1 must be >= 0"),
    ],
)
def test_stack_rejects_bad_arguments(kwargs, match):
    from rgnet.models.rbm import RBMStack

    args = {"layers": [16, 8, 4], **kwargs}
    with pytest.raises(ValueError, match=match):
        RBMStack(**args)


def test_stack_warns_when_max_epochs_does_not_cover_every_layer():
    from rgnet.models.rbm import RBMStack

    data = spin_data(100, 16)
    for epochs, match in ((2, "deeper layers are never trained"), (5, "top layer trains longer")):
        trainer = lightning.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            limit_train_batches=1,
        )
        with pytest.warns(UserWarning, match=match):
            trainer.fit(RBMStack([16, 8, 4], epochs_per_layer=2), batch_loader(data, 50, True))


def test_stack_rejects_data_of_the_wrong_size_before_training():
    from rgnet.models.rbm import RBMStack

    stack = RBMStack([16, 8])
    with pytest.raises(ValueError, match="n_visible=16"):
        stack.training_step(torch.ones(4, 25), 0)


def test_stack_refuses_a_datamodule_of_another_lattice_size_at_fit_start(tmp_path):
    from rgnet.data.datamodule import IsingDataModule
    from rgnet.models.rbm import RBMStack

    dm = IsingDataModule.from_fields(cache_dir=tmp_path, L=6, K=0.3, n=20, method="wolff")
    trainer = lightning.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    with pytest.raises(ValueError, match=r"layers\[0\] = 16 does not match the data's L\*L = 36"):
        trainer.fit(RBMStack([16, 4]), datamodule=dm)


def test_train_rbm_learning_rate_decay_parameter_average_and_data_started_chains():
    data = spin_data(100, 6)
    data[:, 3:] = data[:, :3]
    rbm = train_rbm(
        data,
        3,
        epochs=3,
        batch_size=50,
        lr=0.1,
        final_lr=0.01,
        average_epochs=2,
        persistent=True,
        n_chains=7,
        progress=False,
    )
    assert rbm.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.01)  # reached at the last epoch
    assert rbm.chains.shape == (7, 6)
    with pytest.raises(ValueError, match="average_epochs must be <= 3"):
        train_rbm(data, 3, epochs=3, average_epochs=4, progress=False)
    with pytest.raises(ValueError, match="final_lr must be >= 0"):
        train_rbm(data, 3, final_lr=-1.0, progress=False)


def test_train_rbm_with_progress_bar():
    rbm = train_rbm(spin_data(50, 6), 3, epochs=1, batch_size=25, progress=True)
    assert isinstance(rbm, RBM) and rbm.trainer.global_step == 2
