"""Coupling fits: recovery of known (K, h) from exact 1D samples and 2D Monte Carlo samples within error bars,
calibration of the error bars, power against wrong couplings, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rgnet.ising import sample_1d, sample_2d
from rgnet.rg import fit_couplings


@pytest.mark.parametrize("method", ["pseudo", "exact"])
@pytest.mark.parametrize("K, h", [(1.0, 0.0), (0.5, 0.3), (-0.4, 0.1)])
def test_recovers_chain_couplings(K, h, method):
    s = sample_1d(32, K, 2000, h=h, seed=11)
    fit = fit_couplings(s, method=method)
    assert fit.converged
    for term, true in (("K", K), ("h", h)):
        assert abs(fit[term] - true) < 4 * fit.errors[term], (term, fit.values, fit.errors)
    # power: a 10 % wrong coupling is excluded
    assert abs(fit["K"] - 1.1 * K) > 4 * fit.errors["K"]


def test_exact_is_at_least_as_precise_and_bootstrap_agrees():
    s = sample_1d(16, 0.8, 1500, h=0.2, seed=2)
    pseudo = fit_couplings(s, method="pseudo", bootstrap=30, seed=1)
    exact = fit_couplings(s, method="exact")
    assert exact.errors["K"] <= pseudo.errors["K"] * 1.05
    for term in ("K", "h"):
        ratio = pseudo.bootstrap_errors[term] / pseudo.errors[term]
        assert 0.6 < ratio < 1.5, (term, ratio)


def test_error_bars_are_calibrated():
    """Over independent data sets the standardized errors (fit - true) / error have mean square ~ 1."""
    pulls = {"pseudo": [], "exact": []}
    for seed in range(16):
        s = sample_1d(16, 0.7, 400, seed=100 + seed)
        for method, values in pulls.items():
            fit = fit_couplings(s, terms=("K",), method=method)
            values.append((fit["K"] - 0.7) / fit.errors["K"])
    for method, values in pulls.items():
        chi2 = float(np.sum(np.square(values)))
        # chi-square with 16 degrees of freedom: 0.1 % and 99.9 % quantiles are about 4.3 and 39.3
        assert 4.3 < chi2 < 39.3, (method, chi2)


def test_next_nearest_term_is_zero_for_a_nearest_neighbour_chain():
    s = sample_1d(32, 0.9, 2000, seed=4)
    fit = fit_couplings(s, terms=("K", "h", "K2"))
    assert abs(fit["K2"]) < 4 * fit.errors["K2"]
    assert abs(fit["K"] - 0.9) < 4 * fit.errors["K"]


@pytest.mark.filterwarnings("ignore:integrated_autocorrelation_time")
@pytest.mark.parametrize("K", [0.2, 0.3, 0.4])
def test_recovers_square_lattice_coupling(K):
    s = sample_2d(8, K, 800, method="wolff", seed=int(K * 100))
    fit = fit_couplings(s, terms=("K", "h", "K2", "Kp") if K == 0.3 else ("K", "h"))
    assert abs(fit["K"] - K) < 4 * fit.errors["K"], (fit.values, fit.errors)
    assert abs(fit["h"]) < 4 * fit.errors["h"]
    if K == 0.3:
        assert abs(fit["K2"]) < 4 * fit.errors["K2"] and abs(fit["Kp"]) < 4 * fit.errors["Kp"]
    assert abs(fit["K"] - 1.15 * K) > 4 * fit.errors["K"]


def test_independent_spins_give_zero_coupling():
    gen = torch.Generator().manual_seed(0)
    s = 2 * torch.randint(0, 2, (1000, 20), generator=gen) - 1
    fit = fit_couplings(s, method="exact")
    assert abs(fit["K"]) < 4 * fit.errors["K"] and abs(fit["h"]) < 4 * fit.errors["h"]
    assert fit.as_dict()["values"]["K"] == fit["K"]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"spins": torch.zeros((10, 8))}, ValueError, r"\+1 and -1"),
        ({"spins": torch.ones((10, 8, 4))}, ValueError, "shape"),
        ({"spins": torch.ones((1, 8))}, ValueError, "at least 2"),
        ({"spins": torch.ones((10, 8)), "terms": ("K", "Kp")}, ValueError, "plaquette"),
        ({"spins": torch.ones((10, 8)), "terms": ("J",)}, ValueError, "terms"),
        ({"spins": torch.ones((10, 8)), "terms": ()}, ValueError, "terms"),
        ({"spins": torch.ones((10, 4)), "terms": ("K", "K2")}, ValueError, "linear size"),
        ({"spins": torch.ones((10, 2, 2))}, ValueError, "linear size"),
        ({"spins": torch.ones((10, 4, 4)), "method": "exact"}, ValueError, "exact"),
        ({"spins": torch.ones((10, 8)), "method": "ml"}, ValueError, "method"),
        ({"spins": torch.ones((10, 8)), "bootstrap": -1}, ValueError, "bootstrap"),
        ({"spins": np.ones((10, 8))}, TypeError, "torch.Tensor"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fit_couplings(**kwargs)


def test_exact_fit_of_perfectly_ordered_chains_reports_no_convergence():
    """All spins up: the likelihood grows without bound in (K, h); the fit says so instead of crashing."""
    fit = fit_couplings(torch.ones(100, 8), method="exact")
    assert not fit.converged and all(np.isinf(e) for e in fit.errors.values())
