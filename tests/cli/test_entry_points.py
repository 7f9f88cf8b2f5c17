"""The console entry points as a user meets them: Hydra's own messages shown whole, without a traceback,
and nothing created by a command that fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_command(module: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RGNET_ROOT": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", f"rgnet.cli.{module}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("module", "args", "hints"),
    [
        # Hydra's hint for a key that is not in the config
        ("train", ["trainer.fast_dev_run=true"], ["To append to your config use +trainer.fast_dev_run=true"]),
        # Hydra's list of the options of a group
        (
            "train",
            ["trainer=tpu"],
            ["Could not find 'trainer/tpu'", "Available options in 'trainer'", "ddp_sim"],
        ),
        ("sample", ["data=no_such_data"], ["Could not find 'data/no_such_data'", "ising2d"]),
        ("bench", ["sizess=[[8,2]]"], ["To append to your config use +sizess"]),
    ],
)
def test_hydra_errors_are_shown_whole_and_create_nothing(tmp_path, module, args, hints):
    result = run_command(module, tmp_path, *args)
    assert result.returncode != 0
    assert f"rgnet-{module}: " in result.stderr and "Traceback" not in result.stderr
    for hint in hints:
        assert hint in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_value_errors_name_the_field(tmp_path):
    result = run_command("train", tmp_path, "data.K=-1")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "rgnet-train: data: K must be > 0" in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_users_config_directory_joins_the_packaged_configs(tmp_path):
    """A cluster launcher config of the user's own, found through Hydra's search path (README, SLURM)."""
    launcher = tmp_path / "my_conf" / "hydra" / "launcher"
    launcher.mkdir(parents=True)
    (launcher / "my_cluster.yaml").write_text("defaults:\n  - submitit_slurm\npartition: my_partition\n")
    work = tmp_path / "work"
    work.mkdir()
    result = run_command(
        "train",
        work,
        f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]",
        "hydra/launcher=my_cluster",
        "--cfg",
        "hydra",
    )
    assert result.returncode == 0, result.stderr
    assert "partition: my_partition" in result.stdout and "SlurmLauncher" in result.stdout
    assert list(work.iterdir()) == []
