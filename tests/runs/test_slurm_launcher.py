"""The SLURM launcher's requests follow the trainer: no GPUs for a CPU trainer (a gres request on a node
without GPUs is refused by sbatch), one per device for a GPU trainer; and on a real slurmctld (``-m slurm``,
with ../shared/slurm/start-local-slurm running; skipped without one): a CPU sweep, a USR2 requeue by
submitit, SLURM's own requeue after a preemption and after ``scontrol requeue``, a hard time-limit kill and
max_num_timeout used up, each resuming with exact step counts or ending the sweep with one clear line.
Each requeue test waits out SLURM's requeue delay (about two minutes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

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


#: Tests marked slurm submit jobs only when a cluster answers (sinfo asked once, at collection).
cluster = pytest.mark.skipif(not _cluster_up(), reason="no SLURM cluster (../shared/slurm/start-local-slurm)")


def _slurm_sweep(tmp_path, *overrides: str, timeout: int) -> subprocess.CompletedProcess:
    """``rgnet-train -m hydra/launcher=submitit_slurm`` with outputs under ``tmp_path``."""
    command = [sys.executable, "-m", "rgnet.cli.train", "-m", "hydra/launcher=submitit_slurm"]
    return subprocess.run(
        [*command, f"paths.root_dir={tmp_path}", *overrides], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slurm
@cluster
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


TOY_CONF = Path(__file__).parent / "toy_conf"
#: A toy run of 8 epochs of 4 steps, a checkpoint every 2 steps, one CPU: about 16 s at 0.5 s a step.
TOY_SLURM = [
    "experiment=toy",
    f"hydra.searchpath=[file://{TOY_CONF}]",
    "trainer.max_epochs=8",
    "checkpoint_every_n_steps=2",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=1",
]


def _start_toy_sweep(tmp_path: Path, *overrides: str, **env: str) -> subprocess.Popen:
    """A one-job toy sweep on SLURM in the background (the toy model slowed to 0.5 s a step)."""
    command = [sys.executable, "-m", "rgnet.cli.train", "-m", "hydra/launcher=submitit_slurm"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "TOY_STEP_DELAY": "0.5", **env}
    return subprocess.Popen(
        [*command, f"paths.root_dir={tmp_path}", *TOY_SLURM, *overrides],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _job_when_checkpointed(process: subprocess.Popen, run_dir: Path, timeout: float = 180) -> str:
    """The SLURM job id of the sweep's one job, once its run has written checkpoints/last.ckpt."""
    deadline = time.monotonic() + timeout
    while not (run_dir / "checkpoints" / "last.ckpt").is_file():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint before the deadline"
        time.sleep(0.5)
    return next(p.name for p in (run_dir.parent / ".submitit").iterdir() if p.name.isdigit())


def _finish(process: subprocess.Popen, timeout: float = 420) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, err


def _read(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slurm
@cluster
def test_usr2_requeue_by_submitit_resumes_with_exact_steps(tmp_path):
    """USR2 (as SLURM sends it signal_delay_s before the time limit): submitit requeues the job, SLURM
    starts it again under the same id, and the run resumes from last.ckpt to exactly 8 epochs of 4 steps."""
    process = _start_toy_sweep(tmp_path, "seed=21")
    run_dir = tmp_path / "outputs" / "toy" / "seed=21"
    job = _job_when_checkpointed(process, run_dir)
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
    code, err = _finish(process)
    assert code == 0 and "Traceback" not in err, err[-3000:]
    summary = _read(run_dir)
    assert summary["status"] == "finished" and summary["global_step"] == 32 and summary["epochs"] == 8
    assert summary["segment_outcomes"] == ["requeued", "finished"]
    assert summary["restarts"] == 1 and summary["requeues"] == 1
    assert summary["wall_time_s"] > summary["segment_wall_time_s"] > 0
    log = next((tmp_path / "outputs" / "toy" / ".submitit" / job).glob("*_0_log.out")).read_text()
    assert "Caught signal SIGUSR2" in log and f"Requeued job {job}" in log
    assert {p.parent for p in run_dir.rglob("events.out.tfevents.*")} == {run_dir / "tensorboard"}


@pytest.mark.slurm
@cluster
@pytest.mark.parametrize("how", ["preemption", "scontrol_requeue"])
def test_slurm_requeues_the_job_itself_and_it_resumes(tmp_path, how):
    """A job of partition high preempts the running job (PreemptMode=REQUEUE), or ``scontrol requeue``:
    SLURM sends SIGTERM (submitit ignores it, Lightning stops at the next batch) and requeues the job; it
    resumes from last.ckpt with exact step counts, without using up max_num_timeout."""
    process = _start_toy_sweep(tmp_path, "seed=22")
    run_dir = tmp_path / "outputs" / "toy" / "seed=22"
    job = _job_when_checkpointed(process, run_dir)
    high = None
    try:
        if how == "preemption":  # needs both CPUs of the node, one of which the toy job holds
            high = subprocess.run(
                [
                    "sbatch",
                    "--parsable",
                    "-p",
                    "high",
                    "-c",
                    "2",
                    "--mem=1G",
                    "-J",
                    "rgnet-high",
                    "--wrap",
                    "sleep 5",
                ],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout.strip()
        else:
            subprocess.run(["scontrol", "requeue", job], check=True, timeout=30)
        code, err = _finish(process)
    finally:
        if high:
            subprocess.run(["scancel", high], timeout=30)
    assert code == 0 and "Traceback" not in err, err[-3000:]
    summary = _read(run_dir)
    assert summary["status"] == "finished" and summary["global_step"] == 32 and summary["epochs"] == 8
    assert summary["segment_outcomes"] == ["terminated", "finished"] and summary["requeues"] == 1
    states = subprocess.run(
        ["sacct", "-n", "-X", "-D", "-j", job, "-o", "State"], capture_output=True, text=True, timeout=30
    ).stdout.split()
    assert states[0] == ("PREEMPTED" if how == "preemption" else "REQUEUED")  # (sacct lags for the last)


@pytest.mark.slurm
@cluster
def test_a_hard_time_limit_kill_ends_the_sweep_cleanly_and_resumes(tmp_path):
    """The time limit with no USR2 acted on (the toy ignores it, as a process busy in native code cannot
    act on it): SIGTERM, state TIMEOUT, no requeue. The driver prints one line naming the job, its state,
    the step and how to resume, exits 1 without a traceback; the same run then resumes from its checkpoint."""
    overrides = ["seed=23", "trainer.max_epochs=100", "hydra.launcher.timeout_min=1"]
    process = _start_toy_sweep(tmp_path, *overrides, TOY_IGNORE_USR2="1")
    run_dir = tmp_path / "outputs" / "toy" / "seed=23"
    job = _job_when_checkpointed(process, run_dir)
    code, err = _finish(process)
    assert code == 1 and "Traceback" not in err, err[-3000:]
    line = next(line for line in err.splitlines() if "UNFINISHED seed=23" in line)
    assert f"SLURM job {job} (seed=23) ended TIMEOUT" in line and "run the same command again" in line
    summary = _read(run_dir)
    assert summary["status"] == "failed" and summary["slurm"]["state"] == "TIMEOUT"
    reached = summary["global_step"]
    assert reached > 0 and f"at step {reached}" in line
    epochs = reached // 4 + 2  # resume here (trainer settings do not change the run) for two more epochs
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "rgnet.cli.train",
            *TOY_SLURM[:2],
            f"paths.root_dir={tmp_path}",
            "seed=23",
            f"trainer.max_epochs={epochs}",
            "checkpoint_every_n_steps=2",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = _read(run_dir)
    assert summary["status"] == "finished" and summary["global_step"] == 4 * epochs
    assert summary["segments"] == 2 and summary["resumes"] == 1 and summary["requeues"] == 0


@pytest.mark.slurm
@cluster
def test_max_num_timeout_used_up_fails_with_the_step_reached(tmp_path):
    """USR2 at the time limit with max_num_timeout=0: submitit does not requeue; the run ends failed with
    the step it reached, and the sweep says so and exits 1."""
    overrides = ["seed=24", "trainer.max_epochs=100", "hydra.launcher.timeout_min=1"]
    overrides += ["hydra.launcher.max_num_timeout=0", "hydra.launcher.signal_delay_s=30"]
    process = _start_toy_sweep(tmp_path, *overrides)
    run_dir = tmp_path / "outputs" / "toy" / "seed=24"
    code, err = _finish(process)
    assert code == 1 and "Traceback" not in err, err[-3000:]
    summary = _read(run_dir)
    assert summary["status"] == "failed" and "timed-out too many times" in summary["error"]
    # the step it reached is recorded; it may be 0: SLURM's signal timer is coarse and on a loaded node USR2
    # has come (at ~30 s) before the first step (measured: 1 of 4 runs)
    assert summary["global_step"] >= 0 and f"at step {summary['global_step']}" in summary["error"]
    assert summary["segment_outcomes"] == ["failed"]
    assert "FAILED seed=24" in err and "run the same command again" in err


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
@cluster
def test_an_impossible_request_ends_the_sweep_before_submitting(tmp_path):
    result = _slurm_sweep(tmp_path, "hydra.launcher.cpus_per_task=4096", timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "rgnet-train: hydra.launcher: a job asks for 4096 CPUs" in result.stderr
    queue = subprocess.run(["squeue", "-h", "-n", "train"], capture_output=True, text=True, timeout=30)
    assert queue.stdout.strip() == ""


def test_each_ddp_rank_writes_its_own_log_file(tmp_path):
    """Hydra opens train.log in every rank: rank 0 keeps it, rank 1 writes train.rank1.log."""
    import logging

    from rgnet.runs.cluster import log_per_rank

    root = logging.getLogger()
    handler = logging.FileHandler(tmp_path / "train.log")
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        log_per_rank(0)
        assert handler in root.handlers
        log_per_rank(1)  # srun started the ranks: same job name in each
        assert handler not in root.handlers
        logging.getLogger("rgnet.test").info("from rank 1")
    finally:
        for h in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
            if Path(h.baseFilename).parent == tmp_path:
                root.removeHandler(h)
                h.close()
        root.setLevel(level)
    assert (tmp_path / "train.rank1.log").read_text() == "[INFO] from rank 1\n"
    assert (tmp_path / "train.log").read_text() == ""
