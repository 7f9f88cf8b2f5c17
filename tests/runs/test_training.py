"""rgnet-train mechanics on a one-parameter toy model: validation before work, summaries, resume (also after
a kill), incompatible checkpoints, sweeps with a failing job, DDP on the CPU, the submitit local launcher."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rgnet.runs import training
from rgnet.runs.config import ConfigError
from rgnet.runs.identity import MAX_RUN_ID, identity, run_id
from rgnet.runs.summary import FIXED_KEYS, device_name

TOY_CONF = Path(__file__).parent / "toy_conf"
TOY = ["experiment=toy", f"hydra.searchpath=[file://{TOY_CONF}]"]


def toy_overrides(root: Path, *extra: str) -> list[str]:
    return [*TOY, f"paths.root_dir={root}", *extra]


def cli(root: Path, *args: str, timeout: float = 240.0, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real console entry point in ``root`` with the toy model importable."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    result = subprocess.run(
        [sys.executable, "-m", "rgnet.cli.train", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"rgnet-train failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def read_summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.mark.parametrize(
    "extra, message",
    [
        (["data.KK=1"], r"KK"),
        (["experiment=no_such_experiment"], r"no_such_experiment"),
        (["trainer=tpu_pod"], r"tpu_pod"),
    ],
)
def test_composition_errors_name_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        training.compose_train(toy_overrides(tmp_path, *extra))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["data.K=nan"], r"^data: .*K must be finite"),
        (["data.L=1"], r"^data: .*L must be >= 2"),
        (["model.lr=-1"], r"^model: .*lr must be > 0"),
        (["+trainer.max_epoch=3"], r"^trainer: .*max_epoch"),
        (["seed=-1"], r"^seed must be"),
        (["checkpoint_every_n_steps=0"], r"^checkpoint_every_n_steps"),
    ],
)
def test_bad_values_fail_before_any_work(tmp_path, extra, message):
    cfg = training.compose_train(toy_overrides(tmp_path, *extra))
    with pytest.raises(ConfigError, match=message):
        training.run(cfg, cfg.output_dir)
    assert not (tmp_path / "outputs").exists() and not (tmp_path / ".rgnet_cache").exists()


def test_run_id_is_stable_and_safe():
    assert run_id([]) == "default"
    assert run_id(["seed=1", "data.K=0.3"]) == run_id(["data.K=0.3", "seed=1"]) == "data.K=0.3,seed=1"
    assert "/" not in run_id(["data.path=/a/b"])
    long = run_id(["model.x=" + "9" * 500])
    assert len(long) <= MAX_RUN_ID and long != run_id(["model.x=" + "9" * 499])


def test_run_id_leaves_out_what_does_not_change_the_computation():
    """One list (NON_IDENTITY_KEYS) decides both the directory name and the stored identity."""
    same = [
        "experiment=toy",
        "trainer=gpu",
        "trainer.max_epochs=3",
        "+trainer.fast_dev_run=true",
        "logger=none",
        "callbacks.couplings.every_n_epochs=2",
        "paths.root_dir=/x",
        "data.num_workers=4",
        "data.progress=false",
        "resume=false",
        "threads=1",
    ]
    assert run_id(same) == "default"
    assert run_id([*same, "data.K=0.3", "model.lr=0.5"]) == "data.K=0.3,model.lr=0.5"


def test_measurement_settings_name_the_run_and_enter_its_identity(tmp_path):
    """callbacks.rg_measurement changes summary.json's numbers: its settings are identity (but its cache_dir
    is not), so a second measurement gets its own run instead of overwriting the first one's summary."""
    mode = "callbacks.rg_measurement.mode=mean_sign"
    assert run_id([mode, "callbacks.rg_measurement.cache_dir=/c"]) == mode
    base = training.compose_train(["experiment=rsmi", f"paths.root_dir={tmp_path}"])
    other = training.compose_train(["experiment=rsmi", f"paths.root_dir={tmp_path}", mode])
    moved = training.compose_train(
        ["experiment=rsmi", f"paths.root_dir={tmp_path}", "callbacks.rg_measurement.cache_dir=/elsewhere"]
    )
    assert identity(base)["callbacks"]["rg_measurement"]["mode"] == "sample"
    assert "cache_dir" not in identity(base)["callbacks"]["rg_measurement"]
    assert identity(base) != identity(other) and identity(base) == identity(moved)
    assert Path(other.output_dir).name == mode


def test_run_resume_and_incompatible_config(tmp_path):
    cfg = training.compose_train(toy_overrides(tmp_path, "trainer.max_epochs=2"))
    run_dir = Path(cfg.output_dir)
    assert run_dir == tmp_path / "outputs" / "toy" / "default"
    first = training.run(cfg, run_dir)
    on_disk = read_summary(run_dir)
    assert on_disk["status"] == "finished" and on_disk["resumed_from"] is None
    assert set(FIXED_KEYS) <= set(on_disk) and on_disk["device"] == device_name("cpu")
    assert on_disk["epochs"] == 2 and on_disk["global_step"] == 8  # 58 training configurations, batches of 16
    assert set(on_disk["metrics"]) >= {"m_hat", "val/loss", "train/loss"}
    assert on_disk["config_hash"] == first["config_hash"] and "lightning" in on_disk["versions"]
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    events = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    # the same command again: resumes from last.ckpt, nothing more to train, same TensorBoard run
    again = training.run(training.compose_train(toy_overrides(tmp_path, "trainer.max_epochs=2")), run_dir)
    assert again["resumed_from"].endswith("last.ckpt") and again["global_step"] == 8
    assert again["metrics"]["m_hat"] == pytest.approx(first["metrics"]["m_hat"])
    # more epochs continue the run where it stopped
    longer = training.run(training.compose_train(toy_overrides(tmp_path, "trainer.max_epochs=3")), run_dir)
    assert longer["global_step"] == 12 and longer["epochs"] == 3
    assert {p.parent for p in run_dir.rglob("events.out.tfevents.*")} == {run_dir / "tensorboard"}
    # a different model setting in the same directory is refused, and nothing there changes
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    changed = training.compose_train(toy_overrides(tmp_path, "trainer.max_epochs=3"))
    changed.model.lr = 0.5
    with pytest.raises(ConfigError, match=r"incompatible config.*model\.lr: 0\.1 -> 0\.5"):
        training.run(changed, run_dir)
    no_resume = training.compose_train(toy_overrides(tmp_path, "resume=false"))
    with pytest.raises(ConfigError, match=r"resume=false"):
        training.run(no_resume, run_dir)
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()} == before


def test_cli_rejects_bad_input_before_creating_anything(tmp_path):
    result = cli(tmp_path, *toy_overrides(tmp_path, "data.n=0"), check=False)
    assert result.returncode != 0 and "data: n must be >= 1" in result.stderr
    assert not (tmp_path / "outputs").exists()
    blocker = tmp_path / "a_file"  # a file where a directory must be: unwritable even for root
    blocker.write_text("x")
    result = cli(tmp_path, *toy_overrides(tmp_path, f"paths.output_dir={blocker}/out"), check=False)
    assert result.returncode != 0 and "cannot be created or written" in result.stderr


def test_multirun_survives_a_failing_job_and_reports_it(tmp_path):
    result = cli(tmp_path, "-m", *toy_overrides(tmp_path, "model.lr=0.1,0.3,-2"), check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr  # a job did not finish
    sweep = tmp_path / "outputs" / "toy"
    good, bad = read_summary(sweep / "model.lr=0.1"), read_summary(sweep / "model.lr=-2")
    assert good["status"] == "finished" and good["metrics"]["m_hat"] > 0
    assert bad["status"] == "failed" and "lr must be > 0" in bad["error"]
    assert set(FIXED_KEYS) <= set(bad)
    assert "2 of 3 jobs finished" in result.stderr and "FAILED model.lr=-2" in result.stderr
    # rgnet-report aggregates the sweep: table, CSV, a figure of each metric against the swept setting
    report = subprocess.run(
        [sys.executable, "-m", "rgnet.cli.report", str(sweep)], capture_output=True, text=True, timeout=120
    )
    assert report.returncode == 1  # a run failed
    assert "FAILED model.lr=-2" in report.stdout and "2 of 3 runs finished" in report.stdout
    with open(sweep / "report" / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["model.lr"] for row in rows) == ["-2", "0.1", "0.3"]
    by_lr = {row["model.lr"]: row for row in rows}
    assert float(by_lr["0.3"]["m_hat"]) == pytest.approx(
        read_summary(sweep / "model.lr=0.3")["metrics"]["m_hat"]
    )
    assert by_lr["-2"]["status"] == "failed" and by_lr["-2"]["m_hat"] == ""
    figure = sweep / "report" / "m_hat__vs__model.lr.png"
    assert figure.is_file() and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("every", [["checkpoint_every_n_steps=2"], []], ids=["every_2_steps", "every_epoch"])
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, every):
    args = toy_overrides(tmp_path, "trainer.max_epochs=6", *every)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "TOY_STEP_DELAY": "0.25"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rgnet.cli.train", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    run_dir = tmp_path / "outputs" / "toy" / "default"
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 180
    try:
        while not checkpoint.is_file() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert checkpoint.is_file(), "no checkpoint was written before the deadline"
        time.sleep(0.5)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert not (run_dir / "summary.json").exists()  # it really died mid-run
    cli(tmp_path, *args)
    summary = read_summary(run_dir)
    assert summary["status"] == "finished" and summary["resumed_from"] == str(checkpoint)
    assert summary["global_step"] == 24 and summary["epochs"] == 6
    assert {p.parent for p in run_dir.rglob("events.out.tfevents.*")} == {run_dir / "tensorboard"}


def test_ddp_on_cpu_with_two_processes_writes_one_run(tmp_path):
    cli(tmp_path, *toy_overrides(tmp_path, "trainer=ddp_sim", "trainer.max_epochs=1"))
    runs = [p.parent for p in (tmp_path / "outputs").rglob("summary.json")]
    assert runs == [tmp_path / "outputs" / "toy" / "default"]
    summary = read_summary(runs[0])
    assert summary["status"] == "finished"
    assert summary["global_step"] == 2  # 58 configurations over 2 ranks, batches of 16: 2 steps per rank
    assert sorted(p.name for p in (tmp_path / "outputs" / "toy").iterdir()) == ["default"]
    logs = sorted(p.name for p in runs[0].glob("*.log"))
    assert logs == ["train.log", "train_ddp_process_1.log"]  # one log per rank


def test_submitit_local_launcher(tmp_path):
    pytest.importorskip("submitit")
    cli(
        tmp_path,
        "-m",
        "hydra/launcher=submitit_local",
        *toy_overrides(tmp_path, "seed=3", "trainer.max_epochs=1"),
    )
    summary = read_summary(tmp_path / "outputs" / "toy" / "seed=3")
    assert summary["status"] == "finished" and summary["config"]["seed"] == 3
    assert list((tmp_path / "outputs" / "toy" / ".submitit").iterdir())


def test_optuna_search_runs_trials_and_reports_the_best(tmp_path):
    cli(tmp_path, *toy_overrides(tmp_path, "hparams_search=toy_optuna"))
    sweep = tmp_path / "outputs" / "toy"
    trials = [read_summary(p.parent) for p in sweep.glob("*/summary.json")]
    assert len(trials) == 3 and all(t["status"] == "finished" for t in trials)
    results = (sweep / "optimization_results.yaml").read_text()
    best = min(t["metrics"]["val/loss"] for t in trials)
    assert f"best_value: {best}" in results


def test_a_missing_optimized_metric_leaves_the_run_finished(tmp_path):
    """A setting can switch off what produces the optimized metric (e.g. the block-spin control): the finished
    run stays finished, and the sweeper is told NaN with a warning."""
    result = cli(
        tmp_path, *toy_overrides(tmp_path, "trainer.max_epochs=1", "optimized_metric=no.such.metric")
    )
    run_dir = tmp_path / "outputs" / "toy"
    summary = read_summary(next(run_dir.iterdir()))
    assert summary["status"] == "finished" and not list(run_dir.rglob("failure.json"))
    assert "no.such.metric" in result.stdout + result.stderr
