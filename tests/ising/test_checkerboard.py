"""Checkerboard samplers: numba vs torch energies, the numba kernel's schedules, state and argument errors.

Exact-law, reproducibility and resume tests of every backend: test_sampler_backends.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rgnet.ising import K_CRITICAL, exact, make_sampler
from rgnet.ising.samplers.checkerboard_numba import _sweeps
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


@pytest.mark.parametrize("chains", [1, 3, 8])
def test_numba_row_and_chain_parallel_schedules_agree(chains: int) -> None:
    """Every lattice row has its own stream, so both thread schedules of the kernel give the same chains."""
    sampler = make_sampler("heatbath", 6, 0.4, h=0.1, chains=chains, seed=2, backend="numba", start="random")
    kernel = sampler.kernel
    results = []
    for n_blocks in (0, 5):  # chains in parallel; rows of each half-sweep in 5 parallel tasks
        spins, streams = sampler.spins.clone(), kernel.streams.copy()
        _sweeps(spins.numpy(), kernel.thresholds, streams, 3, n_blocks)
        results.append((spins, streams))
    (spins_a, streams_a), (spins_b, streams_b) = results
    assert torch.equal(spins_a, spins_b) and np.array_equal(streams_a, streams_b)
    assert not torch.equal(spins_a, sampler.spins)


def test_numba_state_from_other_backend_is_rejected() -> None:
    torch_state = make_sampler("checkerboard", 4, 0.3, seed=0, backend="torch").state_dict()
    with pytest.raises(ValueError, match="numba random streams"):
        make_sampler("checkerboard", 4, 0.3, seed=0, backend="numba").load_state_dict(torch_state)


@pytest.mark.usefixtures("interpreted_triton_kernels")
def test_triton_state_from_other_backend_is_rejected() -> None:
    numba_state = make_sampler("checkerboard", 4, 0.3, seed=0, backend="numba").state_dict()
    with pytest.raises(ValueError, match="Philox seed and counter"):
        make_sampler("checkerboard", 4, 0.3, seed=0, backend="triton").load_state_dict(numba_state)


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
