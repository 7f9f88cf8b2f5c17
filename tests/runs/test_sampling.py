"""rgnet-sample (rgnet.runs.sampling): config validation, summary.json, cache reuse, the entry point (bad
commands: the table of tests/cli/test_bad_commands.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import rgnet.data.dataset as ds
from rgnet.data import dataset_path, load_dataset, save_dataset
from rgnet.ising.exact import K_CRITICAL, energy_torus, specific_heat_torus
from rgnet.ising.sampling import SampleSet
from rgnet.runs import sampling as sample
from rgnet.runs.summary import FIXED_KEYS, device_name

TINY = ["data.L=4", "data.n=64", "data.chains=8", "data.method=checkerboard"]


def make_cfg(tmp_path, *overrides):
    return sample.compose_sample([f"paths.root_dir={tmp_path}", *overrides])


def forbid_sampling(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("generate_2d must not be called")

    monkeypatch.setattr(ds, "generate_2d", fail)


def test_default_config_is_valid(tmp_path):
    cfg = make_cfg(tmp_path)
    dataset = sample.validate_config(cfg)
    assert dataset.K == K_CRITICAL and dataset.h == 0.0 and dataset.seed == 0
    assert cfg.paths.cache_dir.startswith(str(tmp_path)) and cfg.paths.output_dir == f"{tmp_path}/outputs"


@pytest.mark.filterwarnings(
    "ignore:.*(too short|shorter than).*:RuntimeWarning"
)  # 64 samples: tiny by design
def test_run_writes_summary_and_reuses_cache(tmp_path, monkeypatch, capsys):
    cfg = make_cfg(tmp_path, *TINY)
    summary = sample.run(cfg, tmp_path / "run1")
    on_disk = json.loads((tmp_path / "run1" / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    K = K_CRITICAL
    assert on_disk["exact"]["energy"] == pytest.approx(energy_torus(4, 4, K), rel=1e-12)
    assert on_disk["exact"]["specific_heat"] == pytest.approx(specific_heat_torus(4, 4, K), rel=1e-12)
    assert on_disk["exact"]["abs_magnetization"] is None and on_disk["exact"]["binder"] is None
    assert set(on_disk["observables"]) >= {
        "energy",
        "specific_heat",
        "abs_magnetization",
        "susceptibility",
        "binder",
    }
    energy = on_disk["observables"]["energy"]
    assert abs(energy["value"] - on_disk["exact"]["energy"]) < 5 * energy["error"]
    assert on_disk["dataset"]["cache_hit"] is False
    meta = on_disk["dataset"]["metadata"]
    assert meta["L"] == 4 and meta["n"] == 64 and meta["chains"] == 8 and meta["method"] == "checkerboard"
    assert on_disk["config"]["data"]["L"] == 4 and len(on_disk["config_hash"]) == 64
    assert set(FIXED_KEYS) <= set(on_disk) and on_disk["status"] == "finished"
    assert on_disk["wall_time_s"] > 0 and on_disk["device"] == device_name("cpu")
    assert "torch" in on_disk["versions"]
    spins, stored = load_dataset(
        on_disk["dataset"]["path"], expect=sample.validate_config(cfg).expected_metadata()
    )
    assert spins.shape == (64, 4, 4) and stored == meta
    out = capsys.readouterr().out
    assert (
        "energy e" in out
        and "Binder U4" in out
        and "n/a" in out
        and f"{on_disk['exact']['energy']:.6f}" in out
    )

    forbid_sampling(monkeypatch)
    again = sample.run(cfg, tmp_path / "run2")
    assert again["dataset"]["cache_hit"] is True
    assert again["observables"] == summary["observables"]


def test_exact_values_only_at_zero_field():
    at_zero = sample.exact_values(6, 0.3, 0.0)
    assert at_zero["energy"] == energy_torus(6, 6, 0.3) and at_zero["specific_heat"] == specific_heat_torus(
        6, 6, 0.3
    )
    assert all(value is None for value in sample.exact_values(6, 0.3, 0.1).values())
    table = sample.observables_table(
        6, {key: (1.0, 0.5) for key, _ in sample.OBSERVABLES}, sample.exact_values(6, 0.3, 0.1)
    )
    assert all(line.rstrip().endswith("n/a") for line in table.splitlines()[2:])


def test_console_entry_point(tmp_path):
    """The real entry point (Hydra run dir, log file, summary); its dataset is pre-cached to skip sampling."""
    cfg = make_cfg(tmp_path, *TINY)
    dataset = sample.validate_config(cfg)
    gen = torch.Generator().manual_seed(0)
    spins = (torch.randint(0, 2, (64, 4, 4), generator=gen, dtype=torch.int8) * 2 - 1).to(torch.int8)
    cached = SampleSet(
        spins=spins,
        L=4,
        K=dataset.K,
        h=0.0,
        method="checkerboard",
        seed=0,
        device="cpu",
        chains=8,
        burn_in=100,
        thinning=3,
    )
    save_dataset(
        dataset_path(cfg.paths.cache_dir, dataset),
        cached,
        extra_metadata={"cache_key": dataset.cache_key(), "opts": {}},
    )
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rgnet.cli.sample",
            *TINY,
            f"paths.root_dir={tmp_path}",
            f"hydra.run.dir={run_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["dataset"]["cache_hit"] is True and summary["dataset"]["metadata"]["burn_in"] == 100
    assert "energy e" in result.stdout and "n/a" in result.stdout
    assert "summary.json" in (run_dir / "sample.log").read_text()


@pytest.mark.filterwarnings("ignore:.*(too short|shorter than).*:RuntimeWarning")
def test_threads_size_the_pools_before_sampling(tmp_path, monkeypatch):
    sized = []
    monkeypatch.setattr(sample, "set_threads", sized.append)
    sample.run(make_cfg(tmp_path, *TINY, "threads=1"), tmp_path / "run")
    assert sized == [1]
    sample.run(make_cfg(tmp_path, *TINY), tmp_path / "run2")  # null: the defaults stay
    assert sized == [1]
