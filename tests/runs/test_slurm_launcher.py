"""The SLURM launcher's requests follow the trainer: no GPUs for a CPU trainer (a gres request on a node
without GPUs is refused by sbatch), one per device for a GPU trainer; and a CPU sweep runs on a real
slurmctld (``-m slurm``, with ../shared/slurm/start-local-slurm running)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from rgnet.runs.config import CONFIG_MODULE, register_resolvers


@pytest.mark.parametrize(
    ("trainer", "gpus", "tasks"),
    [(["trainer=cpu"], None, 1), (["trainer=gpu"], 1, 1), (["trainer=ddp", "trainer.devices=4"], 4, 4)],
)
def test_gpu_request_follows_the_trainer(trainer, gpus, tasks):
    from hydra import compose, initialize_config_module

    register_resolvers()
    with initialize_config_module(CONFIG_MODULE, version_base=None):
        cfg = compose(
            "train", overrides=["hydra/launcher=submitit_slurm", *trainer], return_hydra_config=True
        )
        launcher = cfg.hydra.launcher
        assert launcher.gpus_per_node == gpus and launcher.tasks_per_node == tasks
        assert launcher.cpus_per_task <= 2 and launcher.mem_gb <= 8  # what a small node can give


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.slurm
@pytest.mark.skipif(not _cluster_up(), reason="no SLURM cluster (../shared/slurm/start-local-slurm)")
def test_a_cpu_sweep_runs_on_slurm(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rgnet.cli.train",
            "-m",
            "hydra/launcher=submitit_slurm",
            "experiment=coupling_flow_1d",
            f"paths.root_dir={tmp_path}",
            "trainer.max_epochs=1",
            "data.n=512",
            "data.n_heldout=128",
            "seed=0,1",
            "hydra.launcher.timeout_min=10",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = sorted((tmp_path / "outputs" / "coupling_flow_1d").glob("*seed=*/summary.json"))
    assert len(summaries) == 2
    assert all(json.loads(path.read_text())["status"] == "finished" for path in summaries)
