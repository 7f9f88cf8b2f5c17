"""The console entry points as a user meets them: a user's own config directory joins the packaged configs.
Bad commands (Hydra's own messages shown whole, without a traceback, and nothing created by a command that
fails) are the table of tests/cli/test_bad_commands.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
