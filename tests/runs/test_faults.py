"""kill -9 of rgnet-train at each stage of a run loses nothing already written: while it generates its
training data (no partial dataset in the cache; the rerun generates it whole) and while the end-of-fit
measurement runs (the rerun resumes from the checkpoint and measures). Mid-training kills:
tests/runs/test_training.py; damaged checkpoints and concurrent runs: tests/runs/test_run_dir_safety.py;
killed dataset writers and tampered files: tests/data/test_dataset.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rgnet.data import load_dataset

#: a small rsmi run whose end-of-fit measurement makes datasets of its own (tests/runs/test_experiments.py)
RSMI = [
    "experiment=rsmi",
    "data.L=16",
    "data.progress=false",
    "callbacks.rg_measurement.L=16",
    "callbacks.rg_measurement.n=4000",
    "callbacks.rg_measurement.levels=1",
    "callbacks.rg_measurement.starts=[0.0]",
    "trainer.max_epochs=1",
    "threads=1",
]


def train(root: Path, *args: str, kill_at: int | None = None) -> str:
    """rgnet-train in ``root``; with ``kill_at``: SIGKILL to its whole process group once its log has said
    ``generating dataset`` that many times (then the output so far). Returns stdout and stderr."""
    log = root / f"train{time.monotonic_ns()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "rgnet.cli.train", *args, f"paths.root_dir={root}"],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 240
        try:
            while kill_at is not None and process.poll() is None and time.monotonic() < deadline:
                if log.read_text().count("generating dataset") >= kill_at:
                    time.sleep(0.2)
                    os.killpg(process.pid, signal.SIGKILL)
                    break
                time.sleep(0.05)
            process.wait(timeout=240)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    text = log.read_text()
    if kill_at is None:
        assert process.returncode == 0, text
    else:
        assert process.returncode == -signal.SIGKILL, f"not killed at stage {kill_at}:\n{text}"
    return text


def run_dir(root: Path) -> Path:
    (directory,) = (root / "outputs" / "rsmi").iterdir()
    return directory


def test_a_kill_while_the_training_data_are_generated_leaves_no_partial_dataset(tmp_path):
    args = [*RSMI, "data.n=40000"]  # a few seconds of generation to be killed in
    train(tmp_path, *args, kill_at=1)
    datasets = tmp_path / ".rgnet_cache" / "datasets"
    assert not list(datasets.glob("*.npz"))  # only a temporary file, if any: never a partial dataset
    assert not list(tmp_path.rglob("summary.json"))
    train(tmp_path, *args)
    (made,) = [p for p in datasets.glob("*.npz") if "_n40000_" in p.name]
    spins, metadata = load_dataset(made)  # whole and checksummed
    assert spins.shape == (40000, 16, 16) and metadata["n"] == 40000
    summary = json.loads((run_dir(tmp_path) / "summary.json").read_text())
    assert summary["status"] == "finished"


def test_a_kill_during_the_end_of_fit_measurement_resumes_and_measures(tmp_path):
    args = [*RSMI, "data.n=200"]
    train(tmp_path, *args, kill_at=2)  # the 2nd dataset is the measurement's: training is over
    directory = run_dir(tmp_path)
    assert (directory / "checkpoints" / "last.ckpt").is_file() and not (directory / "summary.json").exists()
    killed = json.loads((directory / "segments.json").read_text())[0]
    train(tmp_path, *args)
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["resumed_from"].endswith("last.ckpt")
    assert summary["global_step"] == killed["end_step"] > 0  # training was over: no step trained again
    assert set(summary["metrics"]["rg_measurement"]) >= {"learned", "majority"}
    (segment, _) = json.loads((directory / "segments.json").read_text())
    assert segment["outcome"] == "killed"
