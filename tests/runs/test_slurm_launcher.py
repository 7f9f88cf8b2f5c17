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


def _slurm_sweep(tmp_path, *overrides: str, timeout: int) -> subprocess.CompletedProcess:
    """``rgnet-train -m hydra/launcher=submitit_slurm`` with outputs under ``tmp_path``."""
    command = [sys.executable, "-m", "rgnet.cli.train", "-m", "hydra/launcher=submitit_slurm"]
    return subprocess.run(
        [*command, f"paths.root_dir={tmp_path}", *overrides], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slurm
@pytest.mark.skipif(not _cluster_up(), reason="no SLURM cluster (../shared/slurm/start-local-slurm)")
def test_a_cpu_sweep_runs_on_slurm(tmp_path):
    result = _slurm_sweep(
        tmp_path,
        "experiment=coupling_flow_1d",
        "trainer.max_epochs=1",
        "data.n=512",
        "data.n_heldout=128",
        "seed=0,1",
        "hydra.launcher.timeout_min=10",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = sorted((tmp_path / "outputs" / "coupling_flow_1d").glob("*seed=*/summary.json"))
    assert len(summaries) == 2
    assert all(json.loads(path.read_text())["status"] == "finished" for path in summaries)


SINFO = "debug* 2 22057 (null)\nhigh 2 22057 (null)\ngpu 64 512000 gpu:h100:4\n"


def test_sinfo_lines_become_node_groups():
    from rgnet.runs.cluster import parse_sinfo

    groups = parse_sinfo(SINFO + "garbage line\n")
    assert [(g.partition, g.default, g.cpus, g.memory_mb, g.gpus) for g in groups] == [
        ("debug", True, 2, 22057, False),
        ("high", False, 2, 22057, False),
        ("gpu", False, 64, 512000, True),
    ]


@pytest.mark.parametrize(
    ("launcher", "message"),
    [
        ({"cpus_per_task": 8, "tasks_per_node": 1, "mem_gb": 8}, "asks for 8 CPUs .* default partition"),
        ({"cpus_per_task": 1, "tasks_per_node": 1, "mem_gb": 64}, "64 GB per node"),
        ({"cpus_per_task": 2, "tasks_per_node": 1, "mem_gb": 8, "gpus_per_node": 1}, "1 GPUs .* no GPUs"),
        ({"partition": "nope", "cpus_per_task": 1}, "partition 'nope' is not on this cluster"),
    ],
)
def test_a_request_no_node_can_satisfy_is_refused(launcher, message):
    from rgnet.runs.cluster import check_slurm_request, parse_sinfo
    from rgnet.runs.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        check_slurm_request(launcher, parse_sinfo(SINFO))


def test_requests_that_fit_pass():
    from rgnet.runs.cluster import check_slurm_request, parse_sinfo

    groups = parse_sinfo(SINFO)
    check_slurm_request({"cpus_per_task": 2, "tasks_per_node": 1, "mem_gb": 8}, groups)  # the defaults
    check_slurm_request(
        {"partition": "gpu", "cpus_per_task": 8, "tasks_per_node": 4, "gpus_per_node": 4}, groups
    )


@pytest.mark.slurm
@pytest.mark.skipif(not _cluster_up(), reason="no SLURM cluster (../shared/slurm/start-local-slurm)")
def test_an_impossible_request_ends_the_sweep_before_submitting(tmp_path):
    result = _slurm_sweep(tmp_path, "hydra.launcher.cpus_per_task=4096", timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "rgnet-train: hydra.launcher: a job asks for 4096 CPUs" in result.stderr
    queue = subprocess.run(["squeue", "-h", "-n", "train"], capture_output=True, text=True, timeout=30)
    assert queue.stdout.strip() == ""
