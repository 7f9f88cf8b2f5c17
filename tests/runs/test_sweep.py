"""rgnet.runs.sweep: the end-of-multirun report of which jobs finished."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from omegaconf import OmegaConf

from rgnet.runs.sweep import SweepReport, record_job


def test_multirun_report_is_printed_once(tmp_path, capsys):
    callback = SweepReport()
    for name, status in (("a", "finished"), ("b", "failed")):
        (tmp_path / name).mkdir()
        summary = {"status": status, "error": "ValueError: bad" if status == "failed" else None}
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    handler = logging.StreamHandler(sys.stdout)  # what Hydra's console logging adds
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        with pytest.raises(SystemExit) as stop:  # a job did not finish: exit status 1
            callback.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
        assert stop.value.code == 1
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    captured = capsys.readouterr()
    assert "1 of 2 jobs finished" in captured.err and "FAILED b: ValueError: bad" in captured.err
    both = captured.out + captured.err
    assert both.count("jobs finished") == 1 and both.count("FAILED b") == 1


def test_two_sweeps_in_one_directory_report_their_own_runs(tmp_path, capsys):
    """Runs of another sweep that share ``outputs/<task>`` (written at the same time, or failed) are not in
    this multirun's report: the launcher names the runs it launched."""
    ours, theirs = SweepReport(), SweepReport()
    ours.on_multirun_start(OmegaConf.create({"hydra": {"launcher": {}}}))
    for name, status in (("seed=0", "finished"), ("seed=1", "finished"), ("seed=9", "failed")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"status": status, "error": "theirs"}))
    record_job(tmp_path / "seed=0", "seed=0")
    record_job(tmp_path / "seed=1", "seed=1")
    record_job(tmp_path / "seed=1", "seed=1")  # a job reported twice counts once
    ours.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    out = capsys.readouterr().out
    assert "2 of 2 jobs finished" in out and "seed=9" not in out
    assert theirs.rows(tmp_path)[-1] == ("seed=9", "failed", "theirs")  # (no launcher word: by time written)


def test_a_job_whose_summary_is_missing_is_not_finished(tmp_path, capsys):
    report = SweepReport()
    report.on_multirun_start(OmegaConf.create({"hydra": {"launcher": {}}}))
    record_job(tmp_path / "seed=2", "seed=2")
    with pytest.raises(SystemExit):
        report.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert "NO SUMMARY seed=2" in capsys.readouterr().err


def test_a_summary_older_than_the_sweep_is_not_this_jobs(tmp_path, capsys):
    """A job refused before it wrote anything (another rgnet-train holds the run) leaves an earlier sweep's
    finished summary in place: the report does not count it as finished."""
    import os

    (tmp_path / "seed=3").mkdir()
    (tmp_path / "seed=3" / "summary.json").write_text(json.dumps({"status": "finished"}))
    os.utime(tmp_path / "seed=3" / "summary.json", (1e9, 1e9))
    report = SweepReport()
    report.on_multirun_start(OmegaConf.create({"hydra": {"launcher": {}}}))
    record_job(tmp_path / "seed=3", "seed=3")
    with pytest.raises(SystemExit):
        report.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert "STALE seed=3: the job wrote no summary" in capsys.readouterr().err
