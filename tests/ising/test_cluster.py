"""Wolff and Swendsen-Wang samplers (both backends): bond draws, streams, limiting cases, argument errors.

Exact-law, reproducibility and resume tests of every backend: test_sampler_backends.py.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch

from rgnet.ising.samplers._rng import (
    SPLITMIX_GAMMA,
    below_threshold16,
    splitmix64,
    weyl_streams,
    widest_stream_length,
)
from rgnet.ising.samplers.cluster import SwendsenWangSampler, WolffSampler
from rgnet.ising.samplers.tables import split_threshold

METHODS = {"wolff": WolffSampler, "swendsen_wang": SwendsenWangSampler}
BACKENDS = ("numba", "torch")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread():
    """Tiny tensors: one intra-op thread is faster and robust to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@numba.njit
def _bond_decisions(t_hi: int, t_lo: int, counter: np.uint64) -> np.ndarray:
    """below_threshold16 for every 16-bit input, each from the same counter; bool (65536,)."""
    out = np.empty(65536, dtype=np.bool_)
    for u in range(65536):
        out[u], _ = below_threshold16(u, t_hi, t_lo, counter)
    return out


@pytest.mark.parametrize("threshold", [0, 1, 0xFFFF, 0x10000, 0x9E3779B9, 0x12340000, 2**32 - 1, 2**32])
def test_16_bit_bond_draw_is_the_32_bit_threshold_compare(threshold: int) -> None:
    """Decided from the high 16 bits, with the low 16 bits drawn only on a tie: exactly u32 < threshold."""
    counter = np.uint64(0x0123456789ABCDEF)
    low = int(splitmix64(np.uint64((int(counter) + SPLITMIX_GAMMA) % 2**64))) & 0xFFFF  # the tie's draw
    u32 = (np.arange(65536, dtype=np.int64) << 16) | low
    assert np.array_equal(_bond_decisions(*split_threshold(threshold), counter), u32 < threshold)


def test_widest_streams_are_disjoint_segments() -> None:
    generator = torch.Generator().manual_seed(0)
    for n in (1, 3, 8, 2**24 - 1, 2**24):
        length = widest_stream_length(n)
        assert length % 2 == 1 and n * length <= 2**64 < n * (length + 2)
    counters = weyl_streams(8, generator, widest_stream_length(8))
    steps = (counters[1:] - counters[:-1]) * np.uint64(pow(SPLITMIX_GAMMA, -1, 2**64))  # in outputs
    assert (steps == np.uint64(widest_stream_length(8))).all()
    with pytest.raises(ValueError, match="do not fit"):
        weyl_streams(3, generator, 2**63)


@pytest.mark.parametrize("backend", BACKENDS)
def test_wolff_clusters_are_single_sites_at_zero_coupling(backend: str) -> None:
    sampler = WolffSampler(5, 0.0, chains=16, seed=1, backend=backend, flips_per_sweep=1)
    before = sampler.spins.clone()
    sampler.step(1)
    assert ((sampler.spins != before).sum(dim=(1, 2)) == 1).all()
    auto = WolffSampler(5, 0.0, chains=16, seed=1, backend=backend)
    auto.step(1)
    assert auto.flips_per_sweep == 25  # <|C|> = 1 exactly, so N flips per sweep


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("L", [4, 5])
def test_wolff_cluster_is_whole_aligned_lattice_at_large_coupling(backend: str, L: int) -> None:
    sampler = WolffSampler(L, 25.0, chains=8, seed=2, backend=backend, start="ordered")
    before = sampler.spins.clone()
    sampler.step(1)
    assert sampler.flips_per_sweep == 1
    assert torch.equal(sampler.spins, -before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_wolff_field_rejects_flip_against_strong_field(backend: str) -> None:
    """Flipping the whole aligned lattice against h costs exp(-2 h N): never accepted for h N = 50."""
    sampler = WolffSampler(
        5, 25.0, h=2.0, chains=8, seed=3, backend=backend, start="ordered", flips_per_sweep=1
    )
    sampler.step(5)
    assert (sampler.spins == 1).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_swendsen_wang_keeps_one_cluster_at_large_coupling(backend: str) -> None:
    sampler = SwendsenWangSampler(4, 25.0, chains=512, seed=4, backend=backend, start="ordered")
    sampler.step(3)
    m = sampler.magnetization()
    assert (m.abs() == 1).all()
    assert 0.4 < (m > 0).double().mean() < 0.6  # each cluster sign is a fair coin at h = 0


@pytest.mark.parametrize("cls", METHODS.values())
def test_numba_sampler_resumes_a_torch_state_with_streams_from_its_generator(cls: type) -> None:
    """A torch-backend state has no numba streams: they are drawn afresh from the restored generator."""
    options = {"flips_per_sweep": 2} if cls is WolffSampler else {}
    saved = cls(4, 0.4, chains=3, seed=0, backend="torch", **options)
    saved.step(2)
    state = saved.state_dict()
    continuations = []
    for seed in (1, 2):
        restored = cls(4, 0.4, chains=3, seed=seed, backend="numba")
        restored.load_state_dict(state)
        assert torch.equal(restored.spins, saved.spins) and restored.sweeps_done == 2
        restored.step(3)
        continuations.append(restored.spins)
    assert torch.equal(*continuations)


def test_wolff_state_with_other_fixed_flips_per_sweep_is_rejected() -> None:
    state = WolffSampler(4, 0.3, seed=0, flips_per_sweep=3).state_dict()
    with pytest.raises(ValueError, match="flips_per_sweep"):
        WolffSampler(4, 0.3, seed=0, flips_per_sweep=5).load_state_dict(state)


@pytest.mark.parametrize("cls", METHODS.values())
def test_bad_arguments(cls: type) -> None:
    with pytest.raises(ValueError, match="K must be >= 0"):
        cls(4, -0.1)
    with pytest.raises(ValueError, match="backend"):
        cls(4, 0.3, backend="cupy")
    with pytest.raises(TypeError, match="K"):
        cls(4, "0.3")


def test_bad_flips_per_sweep() -> None:
    with pytest.raises(ValueError, match="flips_per_sweep"):
        WolffSampler(4, 0.3, flips_per_sweep=0)
    with pytest.raises(TypeError, match="flips_per_sweep"):
        WolffSampler(4, 0.3, flips_per_sweep=2.5)


@CUDA
@pytest.mark.gpu
@pytest.mark.parametrize("cls", METHODS.values())
def test_numba_backend_needs_cpu(cls: type) -> None:
    with pytest.raises(ValueError, match="backend='numba'"):
        cls(4, 0.3, device="cuda", backend="numba")
    assert cls(4, 0.3, device="cuda").backend == "torch"
