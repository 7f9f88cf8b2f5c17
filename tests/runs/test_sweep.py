"""rgnet.runs.sweep: the end-of-multirun report of which jobs finished."""

from __future__ import annotations

import json
import logging
import sys

from omegaconf import OmegaConf

from rgnet.runs.sweep import SweepReport


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
        callback.on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    captured = capsys.readouterr()
    assert "1 of 2 jobs finished" in captured.err and "FAILED b: ValueError: bad" in captured.err
    both = captured.out + captured.err
    assert both.count("jobs finished") == 1 and both.count("FAILED b") == 1
