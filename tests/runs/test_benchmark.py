"""rgnet-bench (rgnet.runs.benchmark) end to end on tiny sizes, and its config validation."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from rgnet.bench.samplers import NaiveCheckerboard, seconds_per_sweep, throughput_table
from rgnet.runs.benchmark import compose_bench, validate_config
from rgnet.runs.config import ConfigError
from rgnet.runs.summary import FIXED_KEYS, device_name
from rgnet.tables import format_records

TINY = [
    "sizes=[[8,2]]",
    "independent.L=8",
    "independent.chains=4",
    "min_seconds=0.001",
    "rbm.layers=[[16,4]]",
    "rbm.ks=[1]",
    "mcrg.L=16",
    "mcrg.n=200",
    "mcrg.levels=2",
    "potts.q=[3]",
    "potts.L=8",
    "potts.chains=2",
    "potts.methods=[swendsen_wang]",
    "potts.cylinder_circumferences=[3]",
    "neighbours.jobs=[2]",
    "neighbours.L=8",
    "neighbours.n=64",
    "neighbours.epochs=1",
    "neighbours.repeats=1",
]


def _bench(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "rgnet.cli.bench",
            *overrides,
            f"paths.output_dir={tmp_path}",
            f"hydra.run.dir={tmp_path}/run",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_bench_writes_summary_with_ratios(tmp_path):
    result = _bench(tmp_path, *TINY, "methods=[checkerboard,swendsen_wang]")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    # the bench process's own thread count (this test process's may have been resized by earlier tests)
    assert set(FIXED_KEYS) <= set(summary)
    assert re.fullmatch(re.escape(device_name("cpu").split(" (")[0]) + r" \(\d+ threads\)", summary["device"])
    rows = summary["throughput"]
    assert [r["method"] for r in rows] == ["naive_torch", "checkerboard", "swendsen_wang"]
    assert rows[0]["ratio"] == 1.0 and all(r["flips_per_ns"] > 0 for r in rows)
    independent = {r["method"]: r for r in summary["independent_samples"]}
    assert independent["checkerboard"]["tau_int"] >= 0.5
    assert independent["naive_torch"]["ratio"] == pytest.approx(1.0)
    assert "attempted flips per ns" in result.stdout
    (cd,) = summary["rbm_cd"]
    assert cd["layer"] == "16x4" and cd["k"] == 1 and cd["samples_per_s"] > 0 and cd["ratio"] > 0
    assert "contrastive divergence" in result.stdout
    assert [r["task"] for r in summary["mcrg"]] == ["mcrg_exponents", "match_critical_point"]
    assert (
        all(r["seconds"] > 0 and r["ratio"] > 0 for r in summary["mcrg"])
        and "Monte Carlo RG" in result.stdout
    )
    assert [(r["method"], r["q"]) for r in summary["potts_sampler"]] == [("swendsen_wang", 3)]
    assert [r["circumference"] for r in summary["potts_cylinder"]] == [3]
    neighbours = summary["neighbours"]
    assert [(r["wait_policy"], r["jobs"]) for r in neighbours] == [("PASSIVE", 1), ("PASSIVE", 2)]
    assert neighbours[0]["slowdown"] == 1.0 and neighbours[1]["slowdown"] > 0
    assert "q-state Potts" in result.stdout and "cylinder IB" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("methods=[metropolis]", "methods must be one of"),
        ("sizes=[[1,4]]", "sizes[0].L must be >= 2"),
        ("K=nan", "K must be finite"),
        ("device=cuda:9", "device"),
        ("gpu_kernels=true", "gpu_kernels=true needs device=cuda"),
        ("independent.chains=0", "independent.chains"),
        ("rbm.layers=[[16]]", "rbm.layers[0] must be"),
        ("rbm.ks=[0]", "rbm.ks must be >= 1"),
        ("mcrg.L=24", "mcrg.L=24 must be divisible by 2**mcrg.levels = 16"),
        ("mcrg.n=-1", "mcrg.n must be >= 0"),
    ],
)
def test_bad_config_is_named(override, message):
    cfg = compose_bench([override])
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(cfg)


def test_bad_config_stops_the_command_before_timing(tmp_path):
    result = _bench(tmp_path, *TINY, "methods=[metropolis]")
    assert result.returncode != 0
    assert "rgnet-bench: methods must be one of" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_baseline_and_timer():
    import torch

    baseline = NaiveCheckerboard(8, 0.0, 2, torch.device("cpu"))
    before = baseline.spins.clone()
    baseline.step(1)  # K = 0: every flip is accepted, so each colour flips once per sweep
    assert torch.equal(baseline.spins, -before)
    assert seconds_per_sweep(baseline.step, torch.device("cpu"), min_seconds=0.001) > 0
    rows = throughput_table(sizes=((8, 2),), methods=("heatbath",), min_seconds=0.001)
    assert "heatbath" in format_records(rows, ["method", "ratio"])
