"""Checkerboard sampler backends: numba vs torch statistics, reproducibility, resumable state, argument errors."""

from __future__ import annotations

import pytest
import torch

from rgnet.ising import K_CRITICAL, exact, make_sampler
from rgnet.ising.stats import mean_and_error


@pytest.mark.parametrize("method", ["checkerboard", "heatbath"])
def test_numba_and_torch_backends_agree_on_energy(method: str) -> None:
    L, K = 8, K_CRITICAL
    results = {}
    for backend in ("numba", "torch"):
        sampler = make_sampler(method, L, K, chains=64, seed=3, backend=backend)
        sampler.step(200)
        results[backend] = mean_and_error(sampler.run(400)["energy"].numpy())
    (e_numba, de_numba), (e_torch, de_torch) = results["numba"], results["torch"]
    assert abs(e_numba - e_torch) < 4 * (de_numba**2 + de_torch**2) ** 0.5
    assert abs(e_numba - exact.energy_torus(L, L, K)) < 4 * de_numba


@pytest.mark.parametrize("chains", [1, 3, 4])  # row-parallel and chain-parallel kernels
def test_numba_backend_is_reproducible_and_resumes_exactly(chains: int) -> None:
    def sampler():
        return make_sampler("checkerboard", 6, 0.4, chains=chains, seed=11, backend="numba")

    a, b = sampler(), sampler()
    a.step(7)
    b.step(7)
    assert torch.equal(a.spins, b.spins)
    state = a.state_dict()
    a.step(5)
    c = make_sampler("checkerboard", 6, 0.4, chains=chains, seed=99, backend="numba")
    c.load_state_dict(state)
    c.step(5)
    assert torch.equal(a.spins, c.spins)
    assert not torch.equal(
        a.spins, make_sampler("checkerboard", 6, 0.4, chains=chains, seed=12, backend="numba").spins
    )


def test_chains_do_not_share_random_numbers() -> None:
    sampler = make_sampler("heatbath", 4, 0.0, chains=2, seed=5, backend="numba", start="ordered")
    sampler.spins[1] = sampler.spins[0]
    sampler.step(1)  # at K = 0 heat-bath spins are fresh coin flips: equal chains would mean shared numbers
    assert not torch.equal(sampler.spins[0], sampler.spins[1])


def test_numba_state_from_other_backend_is_rejected() -> None:
    torch_state = make_sampler("checkerboard", 4, 0.3, seed=0, backend="torch").state_dict()
    with pytest.raises(ValueError, match="numba random streams"):
        make_sampler("checkerboard", 4, 0.3, seed=0, backend="numba").load_state_dict(torch_state)


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="L must be even"):
        make_sampler("checkerboard", 5, 0.3, backend="numba")
    with pytest.raises(ValueError, match="backend"):
        make_sampler("checkerboard", 4, 0.3, backend="fortran")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_numba_backend_off_cpu_raises() -> None:
    with pytest.raises(ValueError, match="CPU only"):
        make_sampler("checkerboard", 4, 0.3, backend="numba", device="cuda")
