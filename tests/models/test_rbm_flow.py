"""RBM flow: the coupling estimators recover the K of exact samples; an identity-like RBM stays put, a
decoupled RBM flows to K = 0 in one step; argument validation."""

from __future__ import annotations

import pytest
import torch

from rgnet.ising.exact import boltzmann_probabilities_2d, energy_torus, enumerate_configurations
from rgnet.models.rbm import RBM
from rgnet.models.rbm_flow import K_MAX, coupling_from_energy, measure_coupling, rbm_flow


def exact_samples(L: int, K: float, n: int, seed: int = 0) -> torch.Tensor:
    p = boltzmann_probabilities_2d(L, L, K)
    index = torch.multinomial(p, n, replacement=True, generator=torch.Generator().manual_seed(seed))
    return enumerate_configurations((L, L))[index]


@pytest.mark.parametrize("K", [0.1, 0.3, 0.5])
def test_coupling_estimators_recover_the_k_of_exact_4x4_samples(K):
    out = measure_coupling(exact_samples(4, K, 4000, seed=int(10 * K)))
    assert out["converged"]
    assert abs(out["K_pl"] - K) < 4 * out["K_pl_err"]
    assert out["K_pl_err"] < 0.03  # tight enough to tell these three apart
    # energy inversion: the mean energy of 4000 samples pins K to ~ +-0.02 on 16 sites
    assert out["K_energy"] == pytest.approx(K, abs=0.04)


def test_coupling_from_energy_inverts_the_exact_energy():
    for K in (-0.3, 0.0, 0.2, 0.4407, 1.0):
        assert coupling_from_energy(energy_torus(6, 6, K), 6) == pytest.approx(K, abs=1e-7)
    assert coupling_from_energy(-2.0, 6) == K_MAX and coupling_from_energy(2.0, 6) == -K_MAX
    with pytest.raises(ValueError, match="energy must be <= 2"):
        coupling_from_energy(2.5, 6)


def diagonal_rbm(n: int, weight: float) -> RBM:
    rbm = RBM(n, n)
    with torch.no_grad():
        rbm.W.copy_(weight * torch.eye(n))
    return rbm


def test_identity_like_rbm_stays_put_and_decoupled_rbm_flows_to_zero():
    v0 = exact_samples(4, 0.4, 2000, seed=1).reshape(-1, 16).float()
    gen = torch.Generator().manual_seed(0)
    # W = 6 I: h copies v and v copies h except with probability sigmoid(-12) ~ 6e-6 per unit
    flow = rbm_flow(diagonal_rbm(16, 6.0), v0, steps=10, every=5, generator=gen)
    assert len(flow.K_pl) == 3  # steps 0, 5, 10
    assert max(abs(K - flow.K_pl[0]) for K in flow.K_pl) < 0.01 < 4 * flow.K_pl_err[0]
    assert flow.K_pl[0] == pytest.approx(0.4, abs=4 * flow.K_pl_err[0])
    # negative control: W = 0 makes v' independent of v (uniform spins): K jumps to 0 after one step
    decoupled = rbm_flow(diagonal_rbm(16, 0.0), v0, steps=1, generator=gen)
    assert abs(decoupled.K_pl[1]) < 4 * decoupled.K_pl_err[1] and decoupled.K_pl[0] > 0.3
    assert abs(decoupled.K_energy[1]) < 0.05
    assert set(flow.as_dict()) == {"K_pl", "K_pl_err", "K_energy", "energy", "abs_magnetization", "converged"}


def test_rbm_flow_rejects_bad_arguments():
    v0 = torch.ones(4, 16)
    with pytest.raises(TypeError, match="rbm must be"):
        rbm_flow(object(), v0, 1)
    with pytest.raises(ValueError, match="L >= 3"):
        rbm_flow(RBM(15, 4), torch.ones(4, 15), 1)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        rbm_flow(RBM(16, 4), v0, 0)
    with pytest.raises(ValueError, match="only -1 and 1"):
        rbm_flow(RBM(16, 4), torch.zeros(4, 16), 1)
    with pytest.raises(ValueError, match="at least 2"):
        rbm_flow(RBM(16, 4), torch.ones(1, 16), 1)
