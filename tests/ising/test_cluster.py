"""Tests of the Wolff and Swendsen-Wang samplers (both backends) against exact enumeration."""

from __future__ import annotations

import io

import numba
import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from rgnet.ising.exact import boltzmann_probabilities_2d, configuration_index
from rgnet.ising.samplers._rng import (
    SPLITMIX_GAMMA,
    below_threshold16,
    split_threshold,
    splitmix64,
    weyl_streams,
    widest_stream_length,
)
from rgnet.ising.samplers.cluster import SwendsenWangSampler, WolffSampler

METHODS = {"wolff": WolffSampler, "swendsen_wang": SwendsenWangSampler}
# Sweeps between snapshots, so that snapshots of one chain are nearly independent. Wolff needs more: with a
# field, a state with one minority spin on the 3x3 torus lives ~9 flips (~9 sweeps at K = 0.6).
GAP = {"wolff": 16, "swendsen_wang": 4}
BACKENDS = ("numba", "torch")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread():
    """Tiny tensors: one intra-op thread is faster and robust to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sampled_counts(
    method: str,
    backend: str,
    L: int,
    K: float,
    h: float,
    *,
    device: str = "cpu",
    seed: int = 0,
    chains: int = 2048,
    burn_in: int = 20,
    samples: int = 8,
) -> np.ndarray:
    """Counts of the 2**(L*L) configurations in ``samples`` snapshots of every chain, GAP sweeps apart."""
    cls = METHODS[method]
    sampler = cls(L, K, h=h, chains=chains, seed=seed, backend=backend, device=device, start="random")
    sampler.step(burn_in)
    counts = np.zeros(2 ** (L * L), dtype=np.int64)
    for _ in range(samples):
        sampler.step(GAP[method])
        counts += np.bincount(configuration_index(sampler.spins).cpu().numpy(), minlength=counts.size)
    return counts


def chi2_pvalue(counts: np.ndarray, probabilities: np.ndarray) -> float:
    """Chi-square p-value of ``counts`` against ``probabilities``; rarest bins pooled to expect >= 5 each."""
    expected = probabilities * counts.sum()
    order = np.argsort(expected)
    pooled_obs, pooled_exp, obs_acc, exp_acc = [], [], 0, 0.0
    for i in order:
        obs_acc += counts[i]
        exp_acc += expected[i]
        if exp_acc >= 5.0:
            pooled_obs.append(obs_acc)
            pooled_exp.append(exp_acc)
            obs_acc, exp_acc = 0, 0.0
    pooled_obs[-1] += obs_acc  # a small remainder joins the largest bin
    pooled_exp[-1] += exp_acc
    return float(chisquare(pooled_obs, pooled_exp).pvalue)


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


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("K", [0.3, 0.6])
@pytest.mark.parametrize("h", [0.0, 0.3])
def test_matches_exact_boltzmann_3x3(method: str, backend: str, K: float, h: float) -> None:
    exact = boltzmann_probabilities_2d(3, 3, K, h).numpy()
    counts = sampled_counts(method, backend, 3, K, h)
    assert chi2_pvalue(counts, exact) > 1e-4


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_matches_exact_boltzmann_2x2_double_bonds(method: str, backend: str) -> None:
    """L = 2: both bonds between a pair of sites are FK bonds (Kaufman's torus)."""
    exact = boltzmann_probabilities_2d(2, 2, 0.4, -0.2).numpy()
    counts = sampled_counts(method, backend, 2, 0.4, -0.2, samples=4)
    assert chi2_pvalue(counts, exact) > 1e-4


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_chi_square_detects_wrong_coupling(method: str, backend: str) -> None:
    """Power check: samples at 1.1 K are rejected against the exact law at K."""
    exact = boltzmann_probabilities_2d(3, 3, 0.3, 0.3).numpy()
    counts = sampled_counts(method, backend, 3, 0.3 * 1.1, 0.3)
    assert chi2_pvalue(counts, exact) < 1e-8


@CUDA
@pytest.mark.gpu
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("h", [0.0, 0.3])
def test_matches_exact_boltzmann_cuda(method: str, h: float) -> None:
    exact = boltzmann_probabilities_2d(3, 3, 0.6, h).numpy()
    counts = sampled_counts(method, "torch", 3, 0.6, h, device="cuda")
    assert chi2_pvalue(counts, exact) > 1e-4


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


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_spins_and_chains_independent(method: str, backend: str) -> None:
    def run(seed: int) -> torch.Tensor:
        sampler = METHODS[method](6, 0.2, h=0.05, chains=8, seed=seed, backend=backend, start="ordered")
        sampler.step(3)
        return sampler.spins

    first = run(7)
    assert torch.equal(first, run(7))
    assert not torch.equal(first, run(8))
    # all chains started identical (ordered, sign of h): they must have diverged
    assert len({tuple(chain.flatten().tolist()) for chain in first}) == first.shape[0]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("steps_before_save", [0, 2])
def test_state_dict_continues_identically(method: str, backend: str, steps_before_save: int) -> None:
    cls = METHODS[method]
    original = cls(5, 0.45, h=0.05, chains=6, seed=11, backend=backend)
    original.step(steps_before_save)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    original.step(4)
    buffer.seek(0)
    restored = cls(5, 0.45, h=0.05, chains=6, seed=99, backend=backend)
    restored.load_state_dict(torch.load(buffer))
    restored.step(4)
    assert torch.equal(restored.spins, original.spins)
    assert restored.sweeps_done == original.sweeps_done
    if method == "wolff":
        assert restored.flips_per_sweep == original.flips_per_sweep


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
