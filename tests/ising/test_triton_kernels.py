"""Triton checkerboard kernels, run on the CPU by Triton's interpreter (TRITON_INTERPRET=1).

The kernel module is imported afresh with the interpreter switched on for the duration of this module's tests
(fixture ``interpreted_triton_kernels`` of conftest.py). Physics is checked against the exact Boltzmann law
of the 4 x 4 torus by enumeration of its 2^16 states; the flip tables themselves in test_flip_tables.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("triton")
from scipy import stats

from rgnet.ising.lattice import bond_sum, checkerboard_mask, neighbour_sum
from rgnet.ising.samplers.tables import ALWAYS, flip_probability_table, thresholds_from_probabilities

KERNELS = ("int8", "multispin")


@pytest.fixture(scope="module")
def tk(interpreted_triton_kernels):
    """The kernel module imported under the interpreter (see conftest.py)."""
    return interpreted_triton_kernels


def run_sweeps(
    tk, kernel: str, spins: torch.Tensor, thresholds: torch.Tensor, seed: int, counter: int, n: int
):
    """Run either kernel on int8 spins; returns (new spins, new counter). The input is left unchanged."""
    if kernel == "int8":
        out = spins.clone()
        return out, tk.checkerboard_sweeps(out, thresholds, seed, counter, n)
    packed = tk.pack_multispin(spins)
    counter = tk.multispin_sweeps(packed, thresholds, seed, counter, n)
    return tk.unpack_multispin(packed), counter


def random_spins(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, shape, generator=gen) * 2 - 1).to(torch.int8)


def reference_sweep(spins: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """One sweep (colour 0, then colour 1) of the deterministic rule flips[(s+1)/2, (nb+4)/2], bool (2, 5)."""
    L = spins.shape[-1]
    for colour in (0, 1):
        nb = neighbour_sum(spins).long()
        flip = flips.view(-1)[(spins.long() + 1) // 2 * 5 + (nb + 4) // 2] & checkerboard_mask(L, colour)
        spins = torch.where(flip, -spins, spins)
    return spins


# ------------------------------------------------------------------------------------------ exact 4 x 4 law
L_EXACT = 4


def enumerate_4x4() -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """All 2^16 configurations of the 4 x 4 torus: spins int8, bond sums and magnetizations (int64 numpy)."""
    n = L_EXACT * L_EXACT
    bits = (torch.arange(2**n)[:, None] >> torch.arange(n)) & 1
    spins = (bits * 2 - 1).to(torch.int8).view(-1, L_EXACT, L_EXACT)
    return spins, bond_sum(spins).numpy(), spins.sum(dim=(1, 2), dtype=torch.int64).numpy()


ENUM_SPINS, ENUM_BONDS, ENUM_MAGS = enumerate_4x4()


def boltzmann(K: float, h: float) -> np.ndarray:
    logw = K * ENUM_BONDS + h * ENUM_MAGS
    w = np.exp(logw - logw.max())
    return w / w.sum()


def observable_key(bonds: np.ndarray, mags: np.ndarray) -> np.ndarray:
    """One integer per (bond sum, magnetization) pair."""
    return (bonds + 2 * L_EXACT**2) * 1000 + (mags + L_EXACT**2)


def exact_samples(K: float, h: float, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    idx = torch.multinomial(torch.as_tensor(boltzmann(K, h)), n, replacement=True, generator=gen)
    return ENUM_SPINS[idx].contiguous()


def chi_square_pvalue(samples: torch.Tensor, K: float, h: float) -> float:
    """Chi-square test of the sampled (energy, magnetization) histogram against the exact law at (K, h)."""
    keys_all = observable_key(ENUM_BONDS, ENUM_MAGS)
    classes, inverse = np.unique(keys_all, return_inverse=True)
    expected_p = np.bincount(inverse, weights=boltzmann(K, h), minlength=len(classes))
    keys = observable_key(bond_sum(samples).numpy(), samples.sum(dim=(1, 2), dtype=torch.int64).numpy())
    observed = np.bincount(np.searchsorted(classes, keys), minlength=len(classes)).astype(float)
    expected = expected_p * len(samples)
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    if exp[-1] < 5:  # fold a too-small remainder into the smallest kept class
        smallest = np.argmin(exp[:-1])
        obs[smallest] += obs[-1]
        exp[smallest] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    return float(stats.chisquare(obs, exp).pvalue)


def assert_moments_match(samples: torch.Tensor, K: float, h: float) -> None:
    """Mean energy per site and <m^2> of independent samples agree with the exact values within 4 sigma."""
    p = boltzmann(K, h)
    n_sites = L_EXACT**2
    for name, exact_values, sample_values in (
        ("energy", -ENUM_BONDS / n_sites, -bond_sum(samples).numpy() / n_sites),
        (
            "m^2",
            (ENUM_MAGS / n_sites) ** 2,
            (samples.sum(dim=(1, 2), dtype=torch.int64).numpy() / n_sites) ** 2,
        ),
    ):
        mean = float(p @ exact_values)
        sigma = math.sqrt(float(p @ (exact_values - mean) ** 2) / len(sample_values))
        assert abs(sample_values.mean() - mean) < 4 * sigma, (name, sample_values.mean(), mean, sigma)


N_CHAINS = 16384


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("rule", ["metropolis", "heatbath"])
@pytest.mark.parametrize("h", [0.0, 0.15])
def test_boltzmann_law_is_stationary(tk, kernel, rule, h):
    """Chains started from exact Boltzmann samples stay Boltzmann-distributed after two sweeps."""
    K = 0.35
    start = exact_samples(K, h, N_CHAINS, seed=11)
    thr = thresholds_from_probabilities(flip_probability_table(K, h, rule))
    samples, _ = run_sweeps(tk, kernel, start, thr, seed=5, counter=0, n=2)
    assert not torch.equal(samples, start)
    assert chi_square_pvalue(samples, K, h) > 1e-4
    assert_moments_match(samples, K, h)


@pytest.mark.parametrize("kernel", KERNELS)
def test_wrong_coupling_is_detected(tk, kernel):
    """Power: a kernel run at K + 0.05 from the exact law at K fails the same test."""
    K, h = 0.35, 0.15
    start = exact_samples(K, h, N_CHAINS, seed=11)
    thr = thresholds_from_probabilities(flip_probability_table(K + 0.05, h, "metropolis"))
    samples, _ = run_sweeps(tk, kernel, start, thr, seed=5, counter=0, n=2)
    assert chi_square_pvalue(samples, K, h) < 1e-8


def test_converges_from_ordered_start(tk):
    """From all spins up, 20 Metropolis sweeps at K = 0.3 reach the exact law (relaxation time ~ 2 sweeps)."""
    K, h = 0.3, 0.0
    start = torch.ones((N_CHAINS, L_EXACT, L_EXACT), dtype=torch.int8)
    thr = thresholds_from_probabilities(flip_probability_table(K, h, "metropolis"))
    samples, _ = run_sweeps(tk, "int8", start, thr, seed=21, counter=0, n=20)
    assert chi_square_pvalue(samples, K, h) > 1e-4
    assert_moments_match(samples, K, h)


@pytest.mark.parametrize("L", [4, 16])
def test_multispin_equals_int8_with_one_word_per_row(tk, L):
    """With one multispin word per row (L <= 16) both kernels map Philox outputs to sites identically, so they
    must give bit-identical chains: the multispin kernel inherits every statistical test of the int8 one."""
    assert tk.multispin_layout(L)[1] == 1
    spins = random_spins((5, L, L), seed=L)
    thr = thresholds_from_probabilities(flip_probability_table(0.3, 0.1, "heatbath"))
    a, _ = run_sweeps(tk, "int8", spins, thr, seed=99, counter=4, n=2)
    b, _ = run_sweeps(tk, "multispin", spins, thr, seed=99, counter=4, n=2)
    assert not torch.equal(a, spins) and torch.equal(a, b)


@pytest.mark.parametrize("kernel", KERNELS)
def test_independent_sites_at_zero_coupling(tk, kernel):
    """At K = 0 one heat-bath sweep draws every spin afresh: up with probability q = e^h / (2 cosh h),
    independently. Exact check on L = 48 (3 multispin words of 8 spins per row), all spins down at the start
    (so two sites sharing a random number would end up equal): the number of up spins per chain is
    Binomial(L^2, q) (a quarter of the sites sharing randoms in pairs would raise its variance by 25 %) and
    every site's frequency matches q."""
    L, chains, h = 48, 512, 0.4
    q = math.exp(h) / (2 * math.cosh(h))
    thr = thresholds_from_probabilities(flip_probability_table(0.0, h, "heatbath"))
    start = -torch.ones((chains, L, L), dtype=torch.int8)
    out, _ = run_sweeps(tk, kernel, start, thr, seed=123, counter=0, n=1)
    up = (out > 0).double()
    counts = up.sum(dim=(1, 2)).numpy()
    n = L * L
    assert abs(counts.var(ddof=1) / (n * q * (1 - q)) - 1) < 0.2  # sd of the ratio: sqrt(2 / 512) ~ 0.06
    assert abs(counts.mean() - n * q) < 4 * math.sqrt(n * q * (1 - q) / chains)
    edges = stats.binom.ppf(np.linspace(0, 1, 11)[1:-1], n, q)
    observed = np.bincount(np.searchsorted(edges, counts, side="right"), minlength=10)
    cdf = np.concatenate([[0.0], stats.binom.cdf(edges, n, q), [1.0]])
    assert stats.chisquare(observed, np.diff(cdf) * chains).pvalue > 1e-4
    site_freq = up.mean(dim=0)
    assert float((site_freq - q).abs().max()) < 5 * math.sqrt(q * (1 - q) / chains)


# ---------------------------------------------------------------------------------------------- exact steps
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("L", [2, 6, 8, 12, 48])
def test_matches_reference_for_deterministic_tables(tk, kernel, L):
    """Thresholds 0 or 2^32 make the update deterministic: it must equal the masked torch reference exactly.

    Covers the torus with double bonds (L = 2), L % 4 == 2, 1 to 8 spins per multispin word and the wrap of
    the rows and columns; two sweeps show that colour 1 sees colour 0's new values.
    """
    spins = random_spins((3, L, L), seed=L)
    flips = random_spins((2, 5), seed=100 + L) > 0
    out, counter = run_sweeps(tk, kernel, spins, flips.long() * ALWAYS, seed=1, counter=0, n=2)
    assert counter == 4
    assert torch.equal(out, reference_sweep(reference_sweep(spins, flips), flips))


@pytest.mark.parametrize("kernel", KERNELS)
def test_zero_and_full_thresholds(tk, kernel):
    spins = random_spins((2, 8, 8), seed=3)
    never = torch.zeros((2, 5), dtype=torch.int64)
    out, counter = run_sweeps(tk, kernel, spins, never, seed=9, counter=6, n=2)
    assert counter == 10
    assert torch.equal(out, spins)
    always = torch.full((2, 5), ALWAYS, dtype=torch.int64)
    out, _ = run_sweeps(tk, kernel, spins, always, seed=9, counter=6, n=1)
    assert torch.equal(out, -spins)  # each colour flipped exactly once
    # flip iff s = +1 with nb = +4, from all up: colour 0 flips, then colour 1 sees nb = -4 and stays
    up = torch.ones((2, 6, 6), dtype=torch.int8)
    rule = torch.zeros((2, 5), dtype=torch.int64)
    rule[1, 4] = ALWAYS
    out, _ = run_sweeps(tk, kernel, up, rule, seed=9, counter=0, n=1)
    colour0 = checkerboard_mask(6, 0)
    assert torch.equal(out, torch.where(colour0, -up, up))


@pytest.mark.parametrize("kernel", KERNELS)
def test_reproducible_and_counter_driven(tk, kernel):
    spins = random_spins((2, 4, 4), seed=4)
    thr = thresholds_from_probabilities(np.full((2, 5), 0.5))
    first, c1 = run_sweeps(tk, kernel, spins, thr, seed=7, counter=0, n=1)
    again, _ = run_sweeps(tk, kernel, spins, thr, seed=7, counter=0, n=1)
    assert c1 == 2 and torch.equal(first, again)
    other_counter, _ = run_sweeps(tk, kernel, spins, thr, seed=7, counter=2, n=1)
    other_seed, _ = run_sweeps(tk, kernel, spins, thr, seed=2**40 + 7, counter=0, n=1)
    assert not torch.equal(first, other_counter) and not torch.equal(first, other_seed)
    # resuming with the returned counter continues the same stream
    both, c2 = run_sweeps(tk, kernel, spins, thr, seed=7, counter=0, n=2)
    resumed, _ = run_sweeps(tk, kernel, first, thr, seed=7, counter=c1, n=1)
    assert c2 == 4 and torch.equal(resumed, both)


@pytest.mark.parametrize("kernel", KERNELS)
def test_chains_get_independent_randoms(tk, kernel):
    """Identical chains with flip probability 1/2 all end up different (64 sites: collisions ~ 2^-64)."""
    spins = random_spins((1, 8, 8), seed=5).expand(32, 8, 8).contiguous()
    thr = thresholds_from_probabilities(np.full((2, 5), 0.5))
    out, _ = run_sweeps(tk, kernel, spins, thr, seed=3, counter=0, n=1)
    assert len({tuple(chain.flatten().tolist()) for chain in out}) == 32


# ------------------------------------------------------------------------------------------- tables, layout
@pytest.mark.parametrize("L", [2, 4, 6, 8, 12, 16, 32, 48])
def test_pack_unpack_round_trip(tk, L):
    spins = random_spins((3, L, L), seed=L)
    packed = tk.pack_multispin(spins)
    npw, wm = tk.multispin_layout(L)
    assert npw == math.gcd(8, L // 2) and npw * wm == L // 2
    assert packed.shape == (2, 3, L, wm) and packed.dtype == torch.int32
    assert torch.equal(tk.unpack_multispin(packed), spins)


def test_pack_layout(tk):
    """Site (r, j) of colour c = (r + j) % 2 sits in word m, nibble z with k = j // 2 = z * WM + m."""
    L = 32  # 8 spins per word, WM = 2
    for r, j in [(0, 0), (0, 31), (5, 6), (31, 30), (17, 19)]:
        spins = -torch.ones((1, L, L), dtype=torch.int8)
        spins[0, r, j] = 1
        packed = tk.pack_multispin(spins)
        z, m = divmod(j // 2, 2)
        expected = torch.zeros_like(packed)
        expected[(r + j) % 2, 0, r, m] = 1 << (4 * z)
        assert torch.equal(packed, expected)


def test_argument_validation(tk):
    thr = torch.zeros((2, 5), dtype=torch.int64)
    spins = random_spins((1, 4, 4), seed=0)
    with pytest.raises(ValueError, match="int8"):
        tk.checkerboard_sweeps(spins.float(), thr, 0, 0, 1)
    with pytest.raises(ValueError, match="even"):
        tk.checkerboard_sweeps(random_spins((1, 5, 5), seed=0), thr, 0, 0, 1)
    with pytest.raises(ValueError, match="contiguous"):
        tk.checkerboard_sweeps(random_spins((1, 4, 4), seed=0).transpose(1, 2), thr, 0, 0, 1)
    with pytest.raises(ValueError, match="thresholds"):
        tk.checkerboard_sweeps(spins, thr.view(10), 0, 0, 1)
    with pytest.raises(ValueError, match="thresholds"):
        tk.checkerboard_sweeps(spins, thr.int(), 0, 0, 1)
    with pytest.raises(TypeError, match="thresholds"):
        tk.checkerboard_sweeps(spins, [[0] * 5] * 2, 0, 0, 1)
    with pytest.raises(ValueError, match="seed"):
        tk.checkerboard_sweeps(spins, thr, -1, 0, 1)
    with pytest.raises(TypeError, match="n_sweeps"):
        tk.checkerboard_sweeps(spins, thr, 0, 0, 1.0)
    with pytest.raises(ValueError, match="counter"):
        tk.checkerboard_sweeps(spins, thr, 0, 2**62, 1)
    packed = tk.pack_multispin(spins)
    with pytest.raises(ValueError, match="pack_multispin"):
        tk.multispin_sweeps(packed[:, :, :, :1].repeat(1, 1, 1, 2), thr, 0, 0, 1)
    with pytest.raises(ValueError, match="packed"):
        tk.multispin_sweeps(packed.to(torch.int64), thr, 0, 0, 1)
    assert tk.multispin_sweeps(packed, thr, 0, 5, 0) == 5


def test_cpu_tensors_need_the_interpreter(tk, monkeypatch):
    """Without the interpreter the kernels refuse CPU tensors with a clear error, before any launch."""
    monkeypatch.setattr(tk, "_INTERPRETED", False)
    spins = torch.ones((1, 4, 4), dtype=torch.int8)
    thr = torch.zeros((2, 5), dtype=torch.int64)
    with pytest.raises(ValueError, match="CUDA"):
        tk.checkerboard_sweeps(spins, thr, 0, 0, 1)
    with pytest.raises(ValueError, match="CUDA"):
        tk.multispin_sweeps(tk.pack_multispin(spins), thr, 0, 0, 1)
