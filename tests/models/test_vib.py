"""VIB encoder on jointly Gaussian data against the closed-form Gaussian IB (Chechik et al. 2005)."""

from __future__ import annotations

import math

import lightning
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from rgnet.ib.gaussian import gaussian_ib
from rgnet.models.vib import VIBEncoder, gaussian_code_information

# X = A z, Y_i = rho_i z_i + sqrt(1 - rho_i^2) n_i: squared canonical correlations 0.5, 0.1, 0
_A = np.array([[1.0, 0.3, -0.2], [0.2, 1.0, 0.3], [-0.3, 0.1, 1.0]])
_RHO = np.sqrt(np.array([0.5, 0.1, 0.0]))


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sample(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.randn(n, 3, generator=gen)
    rho = torch.tensor(_RHO, dtype=torch.float32)
    return z @ torch.tensor(_A, dtype=torch.float32).T, rho * z + torch.sqrt(1 - rho**2) * torch.randn(
        n, 3, generator=gen
    )


def _train(beta: float, steps: int, seed: int = 0) -> np.ndarray:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    model = VIBEncoder(3, 3, dim_h=1, beta=beta, critic_hidden=32)
    opt = model.configure_optimizers()
    for _ in range(steps):
        i_vh, i_he = model.information_terms(*_sample(256, gen))
        loss = i_vh - beta * i_he
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.filters()[0].numpy().astype(np.float64)


def test_vib_recovers_gaussian_ib_first_transition_and_direction() -> None:
    sx = _A @ _A.T
    exact = gaussian_ib(sx, np.eye(3), _A @ np.diag(_RHO))
    beta_c = exact.first_critical_beta  # 2.0; the second transition is at 10
    assert beta_c == pytest.approx(2.0) and exact.critical_betas[1] == pytest.approx(10.0)
    # order parameter: code signal variance q = W Sigma_x W^T, linear in beta between the first two
    # transitions (q = (beta / beta_c - 1) / lambda_1): extrapolate its zero from runs above beta_c
    betas = np.array([2.4, 2.8, 3.2])
    filters = [_train(b, 800) for b in betas]
    q = np.array([w @ sx @ w for w in filters])
    slope, intercept = np.polyfit(betas, q, 1)
    assert slope > 0
    assert -intercept / slope == pytest.approx(beta_c, rel=0.15)
    for w in filters:
        assert abs(w @ exact.directions[0]) / np.linalg.norm(w) > 0.95
    # negative control below the transition: the code switches off
    w = _train(1.6, 400)
    assert w @ sx @ w < 0.02 * q[0]


def test_code_information_bound_is_exact_for_linear_gaussian() -> None:
    gen = torch.Generator().manual_seed(0)
    x, _ = _sample(200000, gen)
    w = torch.tensor([[0.5, -1.0, 0.2]])
    exact = 0.5 * math.log(float(w.double() @ torch.tensor(_A @ _A.T) @ w.double().T) + 1.0)
    assert float(gaussian_code_information(x @ w.T)) == pytest.approx(exact, rel=0.01)


def test_lightning_fit_and_summary() -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    v, e = _sample(512, gen)
    loader = DataLoader(TensorDataset(v, e), batch_size=128)
    model = VIBEncoder(3, 3, dim_h=2, beta=3.0, encoder="mlp", bound="nwj")
    trainer = lightning.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, accelerator="cpu", enable_progress_bar=False
    )
    trainer.fit(model, train_dataloaders=loader, val_dataloaders=loader)
    assert trainer.global_step == 8
    summary = model.summary_metrics()
    assert summary["beta"] == 3.0 and np.array(summary["filters"]).shape == (2, 3)
    assert math.isfinite(summary["val_i_he"])


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="beta"):
        VIBEncoder(3, 3, beta=-1.0)
    with pytest.raises(ValueError, match="encoder"):
        VIBEncoder(3, 3, encoder="cnn")
    with pytest.raises(ValueError, match="bound"):
        VIBEncoder(3, 3, bound="mine")
    with pytest.raises(ValueError, match="dim_v"):
        VIBEncoder(0, 3)
    with pytest.raises(ValueError, match="lr"):
        VIBEncoder(3, 3, lr=0.0)
    model = VIBEncoder(3, 3)
    with pytest.raises(ValueError, match="NaN"):
        model.information_terms(torch.full((4, 3), math.nan), torch.zeros(4, 3))


def _train_on_cylinder(beta: float, a: torch.Tensor, b: torch.Tensor, steps: int = 600) -> VIBEncoder:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = VIBEncoder(a.shape[1], b.shape[1], dim_h=1, beta=beta, critic_hidden=32)
    opt = model.configure_optimizers()
    for _ in range(steps):
        idx = torch.randint(0, a.shape[0], (256,), generator=gen)
        i_vh, i_he = model.information_terms(a[idx], b[idx])
        loss = i_vh - beta * i_he
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def test_vib_on_exact_cylinder_samples_matches_exact_ib_encoder() -> None:
    from rgnet.ib.cylinder import ising_cylinder_ib, sample_boundary_pairs
    from rgnet.ising.exact import K_CRITICAL, cylinder_ring_states

    L, separation = 6, 1
    exact = ising_cylinder_ib(L, K_CRITICAL, 1, 1, separation, betas=np.geomspace(1.0, 5.0, 10))
    a, b = (
        torch.tensor(x, dtype=torch.float32) for x in sample_boundary_pairs(L, K_CRITICAL, separation, 20000)
    )
    states = torch.tensor(cylinder_ring_states(L), dtype=torch.float32)
    p, g = exact.ring_marginal, exact.predicted_direction
    # just above the transition: a Z2-odd (linear), single-sign filter whose code is the exact IB direction
    model = _train_on_cylinder(1.5 * exact.beta_c, a, b)
    w = model.filters()[0]
    assert float(w.sum().abs() / w.abs().sum()) > 0.99
    with torch.no_grad():
        mu = model(states)[:, 0].double().numpy()
    mu = mu - (p * mu).sum()
    assert abs((p * mu * g).sum()) / math.sqrt((p * mu * mu).sum() * (p * g * g).sum()) > 0.9
    # below the transition the code switches off
    below = _train_on_cylinder(0.7 * exact.beta_c, a, b).filters()[0]
    assert float(below.norm()) < 0.01 * float(w.norm())
