"""train_rbm: fidelity of the trained RBM (KL on 4x4 at K = 0.3; exact energy and specific heat at K_c on
8x8, slow), learning-rate decay, parameter averaging, data-started chains, argument checks."""

from __future__ import annotations

import lightning
import pytest
import torch

from rgnet.ising import K_CRITICAL, sample_2d
from rgnet.ising.exact import (
    boltzmann_probabilities_2d,
    energy_torus,
    enumerate_configurations,
    specific_heat_torus,
)
from rgnet.ising.observables import energy_per_site
from rgnet.models.rbm import RBM
from rgnet.models.rbm_training import _AverageFromStep, batch_loader, train_rbm

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


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
    """PCD-1 with 1000 persistent chains started at the data, 64 hidden units, lr 0.01 -> 0.001 over 30
    epochs of 20000 Wolff samples at K_c, parameters averaged over the last 10 epochs (~2 min per seed on 2
    shared cores). Without the average, the last iterate's energy scattered by +-3% between seeds (SGD noise:
    at K_c a 1% error in the effective temperature moves e by ~2%); CD-10 with a constant lr underfit
    (e ~ -1.38)."""
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


def test_train_rbm_learning_rate_decay_parameter_average_and_data_started_chains(spin_data):
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


class Iterates(lightning.Callback):
    """Records the parameters (float64) and the persistent chains after every optimizer step."""

    def __init__(self) -> None:
        self.params: list[list[torch.Tensor]] = []
        self.chains: list[torch.Tensor] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.params.append([p.detach().double().clone() for p in pl_module.parameters()])
        self.chains.append(pl_module.chains.clone())


def test_average_is_the_mean_of_the_iterates_from_the_first_step_and_leaves_the_chains_current(spin_data):
    iterates = Iterates()
    trainer = lightning.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[iterates, _AverageFromStep(first_step=2, device=torch.device("cpu"))],
    )
    torch.manual_seed(0)
    model = RBM(6, 3, lr=0.1, persistent=True, n_chains=5, log_z_every=0)
    trainer.fit(model, batch_loader(spin_data(100, 6), 50, True))
    assert len(iterates.params) == 6  # 3 epochs of 2 batches; steps 2..5 are averaged
    for averaged, *steps in zip(model.parameters(), *iterates.params[2:], strict=True):
        torch.testing.assert_close(averaged.double(), torch.stack(steps).mean(0), rtol=1e-6, atol=1e-7)
    assert not torch.equal(model.W.double(), iterates.params[-1][0])  # not the last iterate
    torch.testing.assert_close(model.chains, iterates.chains[-1], rtol=0, atol=0)


def test_train_rbm_with_progress_bar(spin_data):
    rbm = train_rbm(spin_data(50, 6), 3, epochs=1, batch_size=25, progress=True)
    assert isinstance(rbm, RBM) and rbm.trainer.global_step == 2
