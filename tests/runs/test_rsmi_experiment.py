"""experiment=rsmi end to end at a reduced size: the learned filter is majority rule's uniform filter, and its
map, measured by callbacks.rg_measurement, has the exact Ising critical point and exponents within errors."""

from __future__ import annotations

import math

import pytest

from rgnet.callbacks.rg_measurement import EXACT
from rgnet.runs import training

REDUCED = [
    "data.n=1000",
    "data.progress=false",
    "trainer.max_epochs=3",
    "threads=1",
    "logger=none",
    "callbacks.progress_bar=null",
    "callbacks.rg_measurement.L=32",
    "callbacks.rg_measurement.n=4000",
    "callbacks.rg_measurement.levels=3",
    "callbacks.rg_measurement.flow_starts=[0.0]",
    "callbacks.rg_measurement.flow_samples=500",
]


@pytest.fixture(scope="module")
def rsmi_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("rsmi")
    cfg = training.compose_train(["experiment=rsmi", f"paths.root_dir={root}", *REDUCED])
    return training.run(cfg, cfg.output_dir)


def test_rsmi_learns_the_uniform_filter(rsmi_run):
    metrics = rsmi_run["metrics"]
    assert rsmi_run["status"] == "finished"
    assert metrics["same_sign"] and metrics["uniformity"] > 0.99
    assert 0.2 < metrics["val_mi_bound_max"] < math.log(2)


def test_the_learned_map_has_the_ising_critical_point_and_exponents(rsmi_run):
    """Matching (32 x 32 against 16 x 16, three starts) and MCRG at K_c of the learned map: K_c within 4 sigma
    (plus the finite-size shift of 2e-4 seen for majority rule) and 1%, nu and y_h within 4 sigma of 1 and
    15/8 at the deepest level; majority rule on the same data passes the same checks."""
    rg = rsmi_run["metrics"]["rg_measurement"]
    for name in ("learned", "majority"):
        best = rg[name]["matching"]
        assert best["level"] == 3
        assert (
            abs(best["K_c"] - EXACT["K_c"]) < 4 * best["K_c_err"] + 2e-4
            and abs(best["K_c"] / EXACT["K_c"] - 1) < 0.01
        )
        assert abs(best["nu"] - EXACT["nu"]) < 4 * best["nu_err"]
        assert abs(best["y_h"] - EXACT["y_h"]) < 4 * best["y_h_err"] + 1e-3
        deepest = rg[name]["mcrg"]["levels"][-1]
        assert abs(deepest["y_h"] - EXACT["y_h"]) < 4 * deepest["y_h_err"] + 2e-3
        assert abs(deepest["y_t"] - EXACT["y_t"]) < 4 * deepest["y_t_err"] + 0.02
    assert len(rg["setup"]["datasets"]) == 3
