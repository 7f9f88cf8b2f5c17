"""Every (method, backend) pair of the 2D samplers against exact enumeration, and its resumable state.

In the style of netket's sampler tests: on tiny tori the sampled frequencies of all 2^(L*L) states are tested
(chi-square) against the exact Boltzmann law, and each pair must also reject samples drawn at a 10 % larger
coupling (the test's power). On the CPU the Triton kernel runs through Triton's interpreter (fixture
``interpreted_triton_kernels`` of conftest.py); the CUDA pairs run where a GPU is present.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from rgnet.ising import SAMPLERS, Sampler, make_sampler
from rgnet.ising.exact import boltzmann_probabilities_2d, configuration_index

pytestmark = pytest.mark.usefixtures("one_thread")

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
#: (method, backend, device): every backend of every method on the CPU, and those that run on CUDA
RUNNABLE = [(method, backend, "cpu") for method, cls in SAMPLERS.items() for backend in cls.kernels] + [
    (method, backend, "cuda")
    for method, cls in SAMPLERS.items()
    for backend in cls.kernels
    if backend != "numba"
]
# Tiny tori (L, K, h) per kind of method; L = 2 has two bonds between each pair of neighbours (Kaufman's
# torus). The second one (h != 0) is also the power check's.
LOCAL_CASES = [(4, 0.35, 0.0), (4, 0.35, 0.3), (2, 0.4, -0.2)]
CLUSTER_CASES = [(3, 0.3, 0.0), (3, 0.3, 0.3), (3, 0.6, 0.0), (3, 0.6, 0.3), (2, 0.4, -0.2)]
# Sweeps between snapshots, so that snapshots of one chain are nearly independent. Wolff needs more: with a
# field, a state with one minority spin on the 3x3 torus lives ~9 flips (~9 sweeps at K = 0.6).
GAP = {"checkerboard": 4, "heatbath": 4, "wolff": 16, "swendsen_wang": 4}


def cases(method: str) -> list[tuple[int, float, float]]:
    """The tiny tori (L, K, h) that ``method`` is checked on."""
    return LOCAL_CASES if SAMPLERS[method].requires_even_L else CLUSTER_CASES


def pair_params(values_of: Callable[[str], list[tuple]] = lambda method: [()]) -> list:
    """pytest params (method, backend, device, *values) for each runnable pair and each tuple of
    ``values_of(method)``; the CUDA ones are marked gpu and skipped without a GPU, and under the Triton
    interpreter only the second of :func:`cases` runs by default."""
    return [
        pytest.param(
            method,
            backend,
            device,
            *values,
            id="-".join([method, backend, device, *map(str, values)]),
            marks=_marks(method, backend, device, values),
        )
        for method, backend, device in RUNNABLE
        for values in values_of(method)
    ]


def _marks(method: str, backend: str, device: str, values: tuple) -> list:
    if device == "cuda":
        return [pytest.mark.gpu, CUDA]
    if backend == "triton" and values in cases(method) and values != cases(method)[1]:
        return [pytest.mark.slow]  # the interpreter takes ~0.1 s per sweep: one case by default
    return []


def make(request: pytest.FixtureRequest, method: str, backend: str, device: str, *args, **kwargs) -> Sampler:
    """``make_sampler(method, *args, backend=backend, device=device, **kwargs)``; the triton backend on the
    CPU runs under Triton's interpreter."""
    if backend == "triton" and device == "cpu":
        request.getfixturevalue("interpreted_triton_kernels")
    return make_sampler(method, *args, backend=backend, device=device, **kwargs)


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


def frequency_pvalue(
    request, method: str, backend: str, device: str, L: int, K: float, h: float, K_sampled: float
) -> float:
    """p-value of the states sampled at coupling ``K_sampled`` against the exact law at ``K`` (same h).

    8192 chains from a random start, 12 sweeps of burn-in, then 4 snapshots GAP sweeps apart: 32768 samples.
    """
    sampler = make(request, method, backend, device, L, K_sampled, h=h, chains=8192, seed=0, start="random")
    sampler.step(12)
    counts = np.zeros(2 ** (L * L), dtype=np.int64)
    for _ in range(4):
        sampler.step(GAP[method])
        counts += np.bincount(configuration_index(sampler.spins).cpu().numpy(), minlength=counts.size)
    return chi2_pvalue(counts, boltzmann_probabilities_2d(L, L, K, h).numpy())


@pytest.mark.parametrize(("method", "backend", "device", "L", "K", "h"), pair_params(cases))
def test_state_frequencies_match_enumeration(request, method, backend, device, L, K, h) -> None:
    p = frequency_pvalue(request, method, backend, device, L, K, h, K_sampled=K)
    assert p > 1e-4, f"chi-square p-value {p:.2e}"


@pytest.mark.parametrize(("method", "backend", "device"), pair_params())
def test_chi_square_detects_a_wrong_coupling(request, method, backend, device) -> None:
    """Power check: samples at 1.1 K are rejected against the exact law at K (second case: h != 0)."""
    L, K, h = cases(method)[1]
    p = frequency_pvalue(request, method, backend, device, L, K, h, K_sampled=1.1 * K)
    assert p < 1e-8, f"a 10% error in K went unnoticed (p = {p:.2e})"


@pytest.mark.parametrize(("method", "backend", "device"), pair_params())
def test_same_seed_same_spins_and_chains_independent(request, method, backend, device) -> None:
    def run(seed: int) -> torch.Tensor:
        sampler = make(request, method, backend, device, 6, 0.2, h=0.05, chains=8, seed=seed, start="ordered")
        sampler.step(3)
        return sampler.spins

    first = run(7)
    assert torch.equal(first, run(7))
    assert not torch.equal(first, run(8))
    # all chains started identical (ordered, sign of h): shared random numbers would keep some equal
    assert len({tuple(chain.flatten().tolist()) for chain in first}) == first.shape[0]


@pytest.mark.parametrize(("method", "backend", "device"), pair_params())
@pytest.mark.parametrize("steps_before_save", [0, 3])
def test_state_dict_continues_identically(request, method, backend, device, steps_before_save) -> None:
    """A state, saved with torch.save or kept in memory, loaded into a sampler of another seed continues the
    same chains."""

    def sampler(seed: int) -> Sampler:
        return make(request, method, backend, device, 6, 0.45, h=0.05, chains=3, seed=seed)

    original = sampler(11)
    original.step(steps_before_save)
    state = original.state_dict()
    saved_spins = state["spins"].clone()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    original.step(4)
    buffer.seek(0)
    for restored, source in ((sampler(99), torch.load(buffer)), (sampler(5), state)):
        restored.load_state_dict(source)
        assert restored.backend == backend
        restored.step(4)
        assert torch.equal(restored.spins, original.spins)
        assert restored.sweeps_done == original.sweeps_done
        if method == "wolff":
            assert restored.flips_per_sweep == original.flips_per_sweep
    assert torch.equal(state["spins"], saved_spins)  # the restored sampler works on its own copy


@pytest.mark.parametrize("method", SAMPLERS)
def test_backend_is_resolved_at_construction(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = SAMPLERS[method]
    assert cls(4, 0.3).backend == "numba"  # "auto" on the CPU
    with pytest.raises(ValueError, match=r"backend must be one of \['auto', 'numba', 'torch'"):
        cls(4, 0.3, backend="fortran")
    if "triton" in cls.kernels:  # the Triton kernels need CUDA unless interpreted: refused before sampling
        pytest.importorskip("triton")
        from rgnet.ising.samplers import triton_kernels

        monkeypatch.setattr(triton_kernels, "_INTERPRETED", False)  # as loaded without TRITON_INTERPRET
        with pytest.raises(ValueError, match="backend='triton' runs on CUDA devices only"):
            cls(4, 0.3, backend="triton")
