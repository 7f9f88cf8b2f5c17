"""rgnet.runs.launcher: the sweep driver waits for every job and ends without a traceback when one left no
result (killed at the time limit, cancelled): one line naming the job, its SLURM state and how to resume,
recorded in the run's summary; the sweep exits with status 1. Fake submitit jobs, no cluster."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from hydra_plugins.hydra_submitit_launcher import submitit_launcher as plugin
from omegaconf import OmegaConf

from rgnet.runs import launcher as rgnet_launcher
from rgnet.runs.segments import Segment
from rgnet.runs.sweep import SweepReport


class FakeJob:
    def __init__(self, job_id: str, folder: Path, state: str, value: float | None) -> None:
        self.job_id, self.state, self.value = job_id, state, value
        self.paths = SimpleNamespace(stdout=folder / f"{job_id}_0_log.out")

    def results(self) -> list:
        import submitit

        if self.value is None:
            raise submitit.core.utils.UncompletedJobError(
                f"Job {self.job_id} (task: 0) has not produced any output (state: {self.state})"
            )
        return [JobReturn(overrides=[], status=JobStatus.COMPLETED, _return_value=self.value)]


class FakeExecutor:
    jobs: list = []

    def __init__(self, **kwargs) -> None:
        pass

    def update_parameters(self, **kwargs) -> None:
        pass

    def map_array(self, *args):
        return FakeExecutor.jobs


def _launcher(sweep_dir: Path) -> rgnet_launcher.SlurmLauncher:
    def load_sweep_config(config, overrides):
        seed = overrides[0].split("=")[1]
        return OmegaConf.create(
            {
                "task_name": "toy",
                "seed": int(seed),
                "hydra": {
                    "sweep": {"dir": str(sweep_dir), "subdir": f"seed={seed}"},
                    "mode": RunMode.MULTIRUN,
                },
            }
        )

    rgnet_launcher.install_clean_driver()
    launcher = plugin.SlurmLauncher(submitit_folder=str(sweep_dir / ".submitit/%j"), max_num_timeout=3)
    launcher.config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}})
    launcher.hydra_context = SimpleNamespace(
        config_loader=SimpleNamespace(load_sweep_config=load_sweep_config)
    )
    return launcher


def test_a_job_killed_at_the_time_limit_ends_the_sweep_cleanly(tmp_path, monkeypatch, capsys):
    import submitit

    sweep = tmp_path / "outputs" / "toy"
    (sweep / "seed=0").mkdir(parents=True)
    (sweep / "seed=0" / "summary.json").write_text(json.dumps({"status": "finished"}))
    killed = sweep / "seed=1"
    killed.mkdir()
    Segment(killed, 0).beat(14, force=True)  # its heartbeat at step 14, then SIGKILL
    FakeExecutor.jobs = [FakeJob("41", sweep, "COMPLETED", 0.5), FakeJob("42", sweep, "TIMEOUT", None)]
    monkeypatch.setattr(submitit, "AutoExecutor", FakeExecutor)
    report = SweepReport()
    report.on_multirun_start(OmegaConf.create({"hydra": {"launcher": {"_target_": "local"}}}))
    returns = _launcher(sweep).launch([["seed=0"], ["seed=1"]], initial_job_idx=0)
    assert returns[0].return_value == 0.5
    assert (
        returns[1].status == JobStatus.COMPLETED and returns[1].return_value != returns[1].return_value
    )  # NaN
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["global_step"] == 14 and summary["segments"] == 1
    assert summary["segment_outcomes"] == ["killed"]
    assert summary["slurm"] == {"job_id": "42", "state": "TIMEOUT"} and "hydra" not in summary["config"]
    assert "SLURM job 42 (seed=1) ended TIMEOUT: killed at its time limit" in summary["error"]
    with pytest.raises(SystemExit) as stop:
        report.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "1 of 2 jobs finished" in err and "Traceback" not in err
    line = next(line for line in err.splitlines() if "UNFINISHED seed=1" in line)
    assert "at step 14; run the same command again to resume it from its checkpoints/last.ckpt" in line


def test_unfinished_message_names_state_and_remedy(tmp_path):
    text = rgnet_launcher.unfinished_message("7", "CANCELLED by 0", tmp_path / "seed=3")
    assert text.startswith("SLURM job 7 (seed=3) ended CANCELLED by 0: cancelled;")
    assert "resume" in text and "timeout_min" not in text
    assert "raise hydra.launcher.mem_gb" in rgnet_launcher.unfinished_message("8", "OUT_OF_MEMORY", None)


def test_the_sweep_report_gives_the_launchers_the_clean_driver(monkeypatch):
    monkeypatch.setattr(plugin.BaseSubmititLauncher, "launch", lambda *args: None)
    SweepReport().on_multirun_start(OmegaConf.create({"hydra": {"launcher": {}}}))
    assert plugin.SlurmLauncher.launch is rgnet_launcher.clean_launch
    assert plugin.LocalLauncher.launch is rgnet_launcher.clean_launch
