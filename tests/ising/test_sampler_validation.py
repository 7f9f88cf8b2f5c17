"""Every 2D sampler against exact results: Kaufman's finite torus, Binder at K_c; the exact 1D sampler.

Error bars account for autocorrelation (rgnet.ising.observables.thermodynamics); tolerances are 4 sigma.
The chi-square tests against exact enumeration of tiny tori, for every backend: test_sampler_backends.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rgnet.ising import K_CRITICAL, METHODS, exact, make_sampler
from rgnet.ising.observables import thermodynamics
from rgnet.ising.stats import jackknife, mean_and_error

# Sweeps (after burn-in) and chains per method, enough for ~1-2% errors on the specific heat at L = 16.
RUN = {
    "checkerboard": dict(chains=256, burn_in=1000, sweeps=2000),
    "heatbath": dict(chains=256, burn_in=1000, sweeps=2000),
    "wolff": dict(chains=64, burn_in=100, sweeps=1000),
    "swendsen_wang": dict(chains=64, burn_in=100, sweeps=1000),
}


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, CUDA])]


def _series(method: str, L: int, K: float, h: float = 0.0, seed: int = 0, device: str = "cpu", **overrides):
    run = {**RUN[method], **overrides}
    sampler = make_sampler(method, L, K, h=h, chains=run["chains"], seed=seed, device=device)
    sampler.step(run["burn_in"])
    return sampler.run(run["sweeps"])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("L", [8, 16])
@pytest.mark.parametrize("K", [0.35, K_CRITICAL, 0.5])
def test_energy_and_specific_heat_match_kaufman(method: str, L: int, K: float, device: str) -> None:
    energy = _series(method, L, K, seed=L * 1000 + int(K * 100), device=device)["energy"].numpy()
    e, de = mean_and_error(energy)
    c, dc = jackknife(lambda x: K**2 * L * L * x.var(), energy, n_blocks=10)
    e_exact = exact.energy_torus(L, L, K)
    c_exact = exact.specific_heat_torus(L, L, K)
    assert abs(e - e_exact) < 4 * de, f"energy {e:.5f} +- {de:.5f} vs exact {e_exact:.5f}"
    assert abs(c - c_exact) < 4 * dc, f"specific heat {c:.4f} +- {dc:.4f} vs exact {c_exact:.4f}"
    assert de < 0.01 * abs(e_exact) and dc < 0.05 * c_exact  # the test has power


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("L", [8, 16, 32])
def test_binder_cumulant_at_criticality(L: int, device: str) -> None:
    """U4(L) at K_c approaches U4* ~ 0.6107 (Salas & Sokal 2000); corrections are below 0.005 for L >= 8."""
    series = _series("swendsen_wang", L, K_CRITICAL, seed=L, chains=64, sweeps=1500, device=device)
    binder, error = thermodynamics(series["energy"], series["magnetization"], K_CRITICAL, L * L)["binder"]
    assert abs(binder - 0.6107) < 0.005 + 4 * error, f"U4({L}) = {binder:.4f} +- {error:.4f}"
    assert error < 0.005


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("h", [0.0, 0.25])
def test_exact_1d_sampler_reproduces_correlations(periodic: bool, h: float) -> None:
    from rgnet.ising import sample_1d

    N, K, n = 12, 0.8, 200_000
    spins = sample_1d(N, K, n, h=h, periodic=periodic, seed=3).to(torch.float64)
    for r in range(1, N):
        measured = (spins[:, 0] * spins[:, r]).mean().item()
        if periodic:
            expected = exact.chain_correlation(N, K, r, h=h, periodic=True)
        else:
            expected = exact.chain_correlation_open(N, K, 0, r, h=h)
        sigma = np.sqrt(max(1.0 - expected**2, 1e-12) / n)
        assert abs(measured - expected) < 4 * sigma, f"r={r}: {measured:.4f} vs {expected:.4f}"
