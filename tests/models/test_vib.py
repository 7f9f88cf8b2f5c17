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


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


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


def _train_on_pairs(
    beta: float, a: torch.Tensor, b: torch.Tensor, steps: int = 600, **model_kwargs: float
) -> VIBEncoder:
    """Seeded VIB training on (v, e) pairs ``a, b`` (float32 +-1) with random batches of 256."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    model = VIBEncoder(a.shape[1], b.shape[1], dim_h=1, beta=beta, critic_hidden=32, **model_kwargs)
    opt = model.configure_optimizers()
    for step in range(steps):
        idx = torch.randint(0, a.shape[0], (256,), generator=gen)
        i_vh, i_he = model.information_terms(a[idx], b[idx])
        loss = model.compression_weight(step) * i_vh - beta * i_he
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def _p_cosine(p: np.ndarray, f: np.ndarray, g: np.ndarray) -> float:
    """``|cos|`` of the centred functions ``f, g`` of the ring state in the ``P(a)`` inner product."""
    f, g = f - (p * f).sum(), g - (p * g).sum()
    return float(abs((p * f * g).sum()) / math.sqrt((p * f * f).sum() * (p * g * g).sum()))


def test_vib_on_exact_cylinder_samples_matches_exact_ib_encoder() -> None:
    from rgnet.ib.cylinder import ising_cylinder_ib, predicted_beta_c, sample_boundary_pairs
    from rgnet.ising.exact import K_CRITICAL, cylinder_ring_states

    L, separation = 6, 1
    beta = 1.5 * predicted_beta_c(L, K_CRITICAL, separation)
    # the exact IB solved up to the beta the VIB is trained at: its last encoder P(h|a) is the exact one there
    exact = ising_cylinder_ib(L, K_CRITICAL, 1, 1, separation, betas=np.geomspace(1.0, beta, 16))
    assert exact.betas[-1] == pytest.approx(beta) and exact.info_v[-1] > 0.1  # the exact code is on
    exact_code = exact.ib.forward.encoders[-1][:, 0]  # P(h = 0 | a): 2 clusters, one soft code
    a, b = (
        torch.tensor(x, dtype=torch.float32) for x in sample_boundary_pairs(L, K_CRITICAL, separation, 20000)
    )
    states = torch.tensor(cylinder_ring_states(L), dtype=torch.float32)
    p = exact.ring_marginal
    # just above the transition: a Z2-odd (linear), single-sign filter whose code is the exact IB encoder's
    model = _train_on_pairs(beta, a, b)
    w = model.filters()[0]
    assert float(w.sum().abs() / w.abs().sum()) > 0.99
    with torch.no_grad():
        mu = model(states)[:, 0].double().numpy()
    assert _p_cosine(p, mu, exact_code) > 0.9
    assert _p_cosine(p, mu, exact.predicted_direction) > 0.9  # and the spectral operator psi_1 / psi_0
    # power: a staggered filter's code is far from the exact encoder
    staggered = (states * torch.tensor([1.0, -1.0] * (L // 2))).sum(dim=1).double().numpy()
    assert _p_cosine(p, staggered, exact_code) < 0.5
    # below the transition the code switches off
    below = _train_on_pairs(0.7 * exact.beta_c, a, b).filters()[0]
    assert float(below.norm()) < 0.01 * float(w.norm())


def test_z2_even_vib_on_exact_cylinder_samples_picks_the_energy_operator() -> None:
    """With the code restricted to Z2-even functions the spin cannot be picked: the first transition moves to
    the even sector's (the energy operator), where the code agrees with the exact even IB encoder."""
    from rgnet.ib import block_bond_sum
    from rgnet.ib.cylinder import ising_cylinder_ib, predicted_beta_c, sample_boundary_pairs
    from rgnet.ising.exact import K_CRITICAL, cylinder_ring_states

    L, separation = 6, 1
    beta_c_even = predicted_beta_c(L, K_CRITICAL, separation, z2_even=True)
    assert beta_c_even > 5 * predicted_beta_c(L, K_CRITICAL, separation)  # energy: Delta = 1 vs 1/8
    beta = 1.5 * beta_c_even
    exact = ising_cylinder_ib(
        L, K_CRITICAL, 1, 1, separation, betas=np.geomspace(1.0, beta, 16), z2_even=True
    )
    assert exact.info_v[-1] > 0.1  # the exact even code is on
    states = cylinder_ring_states(L)
    exact_code = exact.encode(states[:, None, :])[:, 0]
    p = ising_cylinder_ib(
        L, K_CRITICAL, 1, 1, separation, betas=np.array([1.0])
    ).ring_marginal  # P(ring state)
    a, b = (
        torch.tensor(x, dtype=torch.float32) for x in sample_boundary_pairs(L, K_CRITICAL, separation, 20000)
    )
    states_t = torch.tensor(states, dtype=torch.float32)
    opts = {"encoder": "mlp", "hidden": 128, "symmetry": "z2_even", "warmup_steps": 300}
    model = _train_on_pairs(beta, a, b, steps=1200, **opts)
    with torch.no_grad():
        mu = model(states_t)[:, 0].double().numpy()
        assert torch.allclose(model(states_t), model(-states_t))  # even by construction
    assert _p_cosine(p, mu, exact_code) > 0.9
    energy = block_bond_sum(states_t, (1, L, True)).double().numpy()
    assert _p_cosine(p, mu, energy) > 0.75  # bond-energy-like (the exact code's own overlap is ~0.7)
    # below the even transition the even code switches off (where the unrestricted code is on:
    # beta > 5 beta_c)
    below = _train_on_pairs(0.7 * beta_c_even, a, b, steps=1200, **opts)
    with torch.no_grad():
        assert float(below(states_t).std()) < 0.05 * float(np.sqrt((p * mu**2).sum() - (p * mu).sum() ** 2))


def test_z2_even_needs_an_mlp() -> None:
    with pytest.raises(ValueError, match="z2_even.*mlp"):
        VIBEncoder(4, 4, symmetry="z2_even")
    with pytest.raises(ValueError, match="symmetry"):
        VIBEncoder(4, 4, encoder="mlp", symmetry="odd")
    with pytest.raises(ValueError, match="warmup_steps"):
        VIBEncoder(4, 4, warmup_steps=-1)
    model = VIBEncoder(4, 4, encoder="mlp", symmetry="z2_even", warmup_steps=10)
    assert model.compression_weight(0) == 0.0 and model.compression_weight(5) == 0.5
    assert model.compression_weight(50) == 1.0 and VIBEncoder(4, 4).compression_weight(0) == 1.0
    assert float(model.filters().abs().max()) < 1e-6  # no linear part
    assert model.quadratic_kernel().shape == (1, 4, 4)


class _PairCode(VIBEncoder):
    """A fixed code ``v_0 v_1 + 0.5 v_2 v_3 + v_0`` (its pair weights are known exactly)."""

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return (v[:, 0] * v[:, 1] + 0.5 * v[:, 2] * v[:, 3] + v[:, 0])[:, None]


@pytest.mark.parametrize("dim_v", [6, 20])  # enumeration, and seeded uniform draws
def test_quadratic_kernel_is_the_walsh_pair_weight(dim_v: int) -> None:
    kernel = _PairCode(dim_v, 4).quadratic_kernel(n_samples=20000)[0]
    expected = torch.zeros(dim_v, dim_v)
    expected[0, 1] = expected[1, 0] = 1.0
    expected[2, 3] = expected[3, 2] = 0.5
    tolerance = 1e-6 if dim_v <= 16 else 5 * 1.2 / math.sqrt(20000)  # 5 sigma of a mean of +-1.2-sized terms
    assert float((kernel - expected).abs().max()) < tolerance


def _torus_slab_pairs(tmp_path, L: int, n: int) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, bool]]:
    from rgnet.data.ve_pairs import VEPairsDataModule
    from rgnet.ising.exact import K_CRITICAL

    dm = VEPairsDataModule(
        tmp_path, geometry="slab", block=2, buffer=1, env_width=2, pairs_per_config=4, L=L, K=K_CRITICAL,
        h=0.0, n=n, method="wolff", seed=0, batch_size=256, progress=False,
    )  # fmt: skip
    dm.prepare_data()
    dm.setup()
    return (*dm.train_set.tensors, dm.block_shape)


def test_vib_on_monte_carlo_torus_learns_boundary_weighted_magnetization(tmp_path) -> None:
    """Wolff samples of the 12 x 12 torus at K_c, V = 2 rows, E = 2 rows at L_B = 2: just above the first
    transition (1.5 x the exact beta_c of the matching infinite cylinder) the filter is single-signed
    (magnetization-like, Z2-odd) and heavier on the row facing E; at 0.6 x beta_c the code is off."""
    from rgnet.ib import code_operator_overlaps
    from rgnet.ib.cylinder import predicted_beta_c
    from rgnet.ising.exact import K_CRITICAL

    L = 12
    v, e, block_shape = _torus_slab_pairs(tmp_path, L, 1000)
    beta_c = predicted_beta_c(L, K_CRITICAL, 2)
    model = _train_on_pairs(1.5 * beta_c, v, e, steps=300, init_std=0.1, lr=0.003)
    w = model.filters()[0]
    assert float(w.sum().abs() / w.abs().sum()) > 0.95
    overlaps = code_operator_overlaps(model, v[:2000], block_shape)
    # boundary-weighted: V's row 1 faces E (2 spacings), row 0 is 3 away (and 9 across the wrap)
    far, near = w.reshape(2, L).mean(dim=1).abs()
    assert overlaps["filter_boundary_ratio"] == pytest.approx(float(near / far)) and near > 1.5 * far
    assert overlaps["overlap_magnetization"] > 0.9 and overlaps["overlap_energy"] < 0.2
    # negative control: below the transition the code's variance is gone and the filter is mixed-sign
    below = _train_on_pairs(0.6 * beta_c, v, e, steps=200, init_std=0.1, lr=0.003)
    with torch.no_grad():
        variance_on, variance_off = float(model(v).var()), float(below(v).var())
    assert variance_off < 0.05 * variance_on
    w_off = below.filters()[0]
    assert float(w_off.sum().abs() / w_off.abs().sum()) < 0.8


@pytest.fixture(scope="module")
def potts_ring_pairs():
    """20000 exact pairs of q = 3 rings of 4 sites, 1 spacing apart on the infinite cylinder at K_c, one-hot
    (set up; the tests only read them)."""
    from rgnet.data.ve_pairs import CylinderPairsDataModule
    from rgnet.potts import potts_critical_coupling

    dm = CylinderPairsDataModule(L=4, K=potts_critical_coupling(3), separation=1, n=20000, q=3)
    dm.setup()
    return dm


def test_vib_on_exact_potts_cylinder_pairs_switches_on_at_the_exact_beta_c(potts_ring_pairs) -> None:
    """q = 3 rings of 4 sites at K_c, one-hot: above the exact beta_c the code is on and lies in the order
    parameter's span (the spin, the standard irrep of S_3); below it, off (the power check)."""
    from rgnet.ib import code_operator_overlaps
    from rgnet.potts import potts_predicted_beta_c

    dm = potts_ring_pairs
    beta_c = potts_predicted_beta_c(4, 3, dm.K, 1)
    assert dm.reference_beta_c()["beta_c_exact"] == pytest.approx(beta_c)
    a, b = dm.train_set.tensors
    above = _train_on_pairs(1.5 * beta_c, a, b, q=3)
    overlaps = code_operator_overlaps(above, dm.val_set.tensors[0], dm.block_shape)
    assert overlaps["overlap_magnetization"] > 0.95 and overlaps["overlap_energy"] < 0.2
    below = _train_on_pairs(0.7 * beta_c, a, b, q=3)
    v = dm.val_set.tensors[0]
    with torch.no_grad():  # the code's variance: a one-hot filter is defined up to a constant per site
        assert float(below(v).var()) < 0.01 * float(above(v).var())


def test_sq_invariant_code_is_invariant_and_bad_potts_input_is_refused() -> None:
    from rgnet.ib import colour_permutations, permute_colours
    from rgnet.ib.operators import one_hot_blocks

    model = VIBEncoder(12, 12, encoder="mlp", symmetry="sq_invariant", q=3)
    v = one_hot_blocks(torch.randint(0, 3, (64, 4), generator=torch.Generator().manual_seed(0)), 3)
    with torch.no_grad():
        codes = [model(permute_colours(v, 3, p)) for p in colour_permutations(3)]
    for code in codes[1:]:
        assert torch.allclose(code, codes[0], atol=1e-6)
    with pytest.raises(ValueError, match="not one-hot over q=3"):
        model.information_terms(v * 2.0, v)
    with pytest.raises(ValueError, match="dim_v=10 is not a multiple of q=3"):
        VIBEncoder(10, 12, q=3)
    with pytest.raises(ValueError, match="'sq_invariant' needs one-hot Potts blocks"):
        VIBEncoder(12, 12, encoder="mlp", symmetry="sq_invariant")
    with pytest.raises(ValueError, match="z2_even' is for .*Ising blocks; q=3 Potts blocks: 'sq_invariant'"):
        VIBEncoder(12, 12, encoder="mlp", symmetry="z2_even", q=3)


def test_pair_code_is_the_linear_filter_on_site_pair_invariants() -> None:
    from rgnet.ib import colour_permutations, permute_colours
    from rgnet.ib.operators import one_hot_blocks

    colours = torch.randint(0, 3, (64, 4), generator=torch.Generator().manual_seed(0))
    v = one_hot_blocks(colours, 3)
    model = VIBEncoder(12, 12, encoder="pairs", symmetry="sq_invariant", q=3)
    assert model.encoder.weight.shape == (1, 6)  # the 6 pairs i < j of 4 sites
    with torch.no_grad():
        model.encoder.linear.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0, 0.0, -2.0]]))  # (0,1), (2,3)
        model.encoder.linear.bias.zero_()
        code = model(v)[:, 0]
        expected = (colours[:, 0] == colours[:, 1]).float() - 2.0 * (colours[:, 2] == colours[:, 3]).float()
        assert torch.equal(code, expected)
        for p in colour_permutations(3)[1:]:
            assert torch.equal(model(permute_colours(v, 3, p)), model(v))
    ising = VIBEncoder(4, 4, encoder="pairs", symmetry="z2_even")
    spins = 2.0 * torch.randint(0, 2, (64, 4), generator=torch.Generator().manual_seed(1)) - 1.0
    with torch.no_grad():
        assert torch.equal(ising(spins), ising(-spins))
    with pytest.raises(ValueError, match="encoder='pairs' .* set symmetry='z2_even' .* or symmetry='sq_inv"):
        VIBEncoder(12, 12, encoder="pairs", q=3)
    with pytest.raises(ValueError, match="at least 2 sites"):
        VIBEncoder(3, 12, encoder="pairs", symmetry="sq_invariant", q=3)


def test_invariant_pair_code_on_exact_potts_pairs_switches_on_at_the_invariant_beta_c(
    potts_ring_pairs,
) -> None:
    """q = 3 rings of 4 sites at K_c, separation 1: restricted to S_3-invariant codes (the pair code) the
    first transition is the invariant sector's (14.9, ten times the unrestricted 1.56) and the code is the
    energy (the ring's satisfied bonds); below it the code is off (the power check)."""
    from rgnet.ib import code_operator_overlaps
    from rgnet.potts import potts_predicted_beta_c

    dm = potts_ring_pairs
    beta_c = potts_predicted_beta_c(4, 3, dm.K, 1, invariant=True)
    assert beta_c > 9 * potts_predicted_beta_c(4, 3, dm.K, 1)
    a, b = dm.train_set.tensors
    v = dm.val_set.tensors[0]
    opts = {"q": 3, "encoder": "pairs", "symmetry": "sq_invariant", "warmup_steps": 300, "init_std": 1.0}
    above = _train_on_pairs(1.5 * beta_c, a, b, **opts)
    overlaps = code_operator_overlaps(above, v, dm.block_shape)
    assert overlaps["overlap_energy"] > 0.9 and overlaps["overlap_magnetization"] < 0.1
    below = _train_on_pairs(0.7 * beta_c, a, b, **opts)
    with torch.no_grad():
        assert float(below(v).var()) < 0.01 * float(above(v).var())


def test_vib_on_monte_carlo_potts_torus_rings_switches_on_at_the_exact_torus_beta_c(tmp_path) -> None:
    """Swendsen-Wang samples of the 6 x 6 q = 3 torus at K_c, V and E single rows 2 spacings apart (4 the
    other way round): against the exact transition of this torus (1.22; the infinite cylinder's 1.78 would
    be wrong here) the code is on at 1.3 beta_c and is the order parameter, and off at 0.8 beta_c."""
    from rgnet.data.ve_pairs import VEPairsDataModule
    from rgnet.ib import code_operator_overlaps
    from rgnet.potts import potts_critical_coupling, potts_predicted_beta_c

    K = potts_critical_coupling(3)
    dm = VEPairsDataModule(
        tmp_path, geometry="slab", block=1, buffer=1, env_width=1, pairs_per_config=6, L=6, K=K, q=3,
        storage="int8", n=2000, method="swendsen_wang", seed=0, batch_size=256, progress=False,
    )  # fmt: skip
    reference = dm.reference_beta_c()
    beta_c = potts_predicted_beta_c(6, 3, K, 2, rows=6)
    assert reference["beta_c_exact"] == pytest.approx(beta_c, rel=1e-12)
    assert reference["beta_c_exact_geometry"] == "torus"
    assert beta_c < 0.75 * potts_predicted_beta_c(6, 3, K, 2)
    dm.prepare_data()
    dm.setup()
    v, e = dm.train_set.tensors
    held_out = dm.val_set.tensors[0]
    opts = {"q": 3, "warmup_steps": 300, "init_std": 0.1, "lr": 0.003}
    above = _train_on_pairs(1.3 * beta_c, v, e, **opts)
    overlaps = code_operator_overlaps(above, held_out, dm.block_shape)
    assert overlaps["overlap_magnetization"] > 0.95 and overlaps["overlap_energy"] < 0.2
    below = _train_on_pairs(0.8 * beta_c, v, e, **opts)
    with torch.no_grad():
        assert float(below(held_out).var()) < 0.02 * float(above(held_out).var())
