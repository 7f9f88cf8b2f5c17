"""Potts benchmark: rows and fields of the sampler and cylinder tables (tiny sizes), and the validation of the
``potts`` section of rgnet-bench (before any work)."""

from __future__ import annotations

import math
import re

import pytest

from rgnet.bench.potts import (
    CYLINDER_COLUMNS,
    SAMPLER_COLUMNS,
    check_circumference,
    potts_cylinder_table,
    potts_throughput_table,
)
from rgnet.potts import POTTS_METHODS
from rgnet.runs.benchmark import compose_bench, validate_config
from rgnet.runs.config import ConfigError
from rgnet.tables import format_records


def test_throughput_table_has_one_row_per_q_and_method():
    rows = potts_throughput_table(qs=(3, 4), L=8, chains=2, methods=POTTS_METHODS, min_seconds=0.001)
    assert [(r["q"], r["method"]) for r in rows] == [(q, m) for q in (3, 4) for m in POTTS_METHODS]
    for row in rows:
        assert set(row) == set(SAMPLER_COLUMNS) and (row["L"], row["chains"]) == (8, 2)
        assert row["potts_sites_per_ns"] > 0 and row["ising_sites_per_ns"] > 0
        assert row["ratio"] == pytest.approx(row["ising_sites_per_ns"] / row["potts_sites_per_ns"])
    assert format_records(rows, SAMPLER_COLUMNS).splitlines()[0].split() == SAMPLER_COLUMNS


def test_cylinder_table_times_the_exact_ib():
    rows = potts_cylinder_table(circumferences=(2, 3), separation=1)
    assert [(r["circumference"], r["states"]) for r in rows] == [(2, 9), (3, 27)]
    for row in rows:
        assert set(row) == set(CYLINDER_COLUMNS) and row["q"] == 3 and row["seconds"] > 0
        assert math.isfinite(row["beta_c"]) and row["beta_c_predicted"] > 1


def test_the_default_config_is_valid():
    potts = validate_config(compose_bench())["potts"]
    assert potts["sampler"] == {"qs": (3, 4), "L": 64, "chains": 8, "methods": POTTS_METHODS}
    assert potts["cylinder"]["circumferences"][-1] >= 7
    skipped = validate_config(compose_bench(["potts.q=[]", "potts.cylinder_circumferences=[]"]))["potts"]
    assert skipped["sampler"]["qs"] == () and skipped["cylinder"]["circumferences"] == ()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("potts.q=[1]", "potts.q must be >= 2"),
        ("potts.q=[3.5]", "potts.q must be an integer"),
        ("potts.L=1", "potts.L must be >= 2"),
        ("potts.L=7", "potts.L must be even for heatbath"),
        ("potts.chains=0", "potts.chains must be >= 1"),
        ("potts.methods=[metropolis]", "potts.methods must be one of"),
        ("potts.cylinder_circumferences=[5,9]", "potts.cylinder_circumferences[1]: 9 gives 3**9 ring states"),
        ("potts.cylinder_circumferences=[1]", "potts.cylinder_circumferences[0] must be >= 2"),
        ("potts.cylinder_separation=0", "potts.cylinder_separation must be >= 1"),
    ],
)
def test_bad_potts_config_is_named(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(compose_bench([override]))


def test_odd_L_is_fine_without_heatbath():
    cfg = compose_bench(["potts.L=7", "potts.methods=[wolff,swendsen_wang]"])
    assert validate_config(cfg)["potts"]["sampler"]["L"] == 7


def test_check_circumference_names_the_argument():
    assert check_circumference(8, "c") == 8
    with pytest.raises(ValueError, match="c: 9 gives 3\\*\\*9"):
        check_circumference(9, "c")
