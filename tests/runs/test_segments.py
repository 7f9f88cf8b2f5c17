"""rgnet.runs.segments: every process that trains in a run directory is a segment; the summary counts the
restarts (SLURM requeues and re-runs) and the wall time of all segments together."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from rgnet.runs import segments
from rgnet.runs.segments import (
    SEGMENTS,
    Segment,
    attach_progress,
    mid_epoch_note,
    outcome_of,
    progress_of,
    reached_step,
    segment_fields,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_restarts_and_wall_time_accumulate_across_segments(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    first = Segment(tmp_path, 0, clock=clock)  # started by hand
    clock.now += 10.0
    first.end("requeued", 6)  # submitit requeued the job on USR2
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # SLURM starts the requeued job
    second = Segment(tmp_path, 6, clock=clock)
    clock.now += segments.HEARTBEAT_S + 5.0
    second.beat(14)  # written: a heartbeat is due
    clock.now += 3.0
    second.beat(16)  # not written (too soon): a kill now loses these 3 s and 2 steps
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")  # then SIGKILL, and the command is run again by hand
    third = Segment(tmp_path, 14, started=clock.now - 2.0, clock=clock)  # the process started 2 s ago
    clock.now += 4.0
    third.end("finished", 32)
    recorded = json.loads((tmp_path / SEGMENTS).read_text())
    assert [s["outcome"] for s in recorded] == ["requeued", "killed", "finished"]
    assert [s["end_step"] for s in recorded] == [6, 14, 32]
    fields = segment_fields(tmp_path)
    assert fields == {
        "segments": 3,
        "restarts": 2,
        "requeues": 1,
        "resumes": 1,
        "wall_time_s": pytest.approx(10.0 + segments.HEARTBEAT_S + 5.0 + 6.0),
        "segment_wall_time_s": pytest.approx(6.0),
        "segment_outcomes": ["requeued", "killed", "finished"],
    }
    assert reached_step(tmp_path) == 32


def test_no_segments_no_fields(tmp_path):
    assert segment_fields(tmp_path) == {} and reached_step(tmp_path) is None
    (tmp_path / SEGMENTS).write_text("{not json")
    assert segment_fields(tmp_path) == {}


def test_an_unknown_outcome_is_refused(tmp_path):
    with pytest.raises(ValueError, match="outcome must be one of"):
        Segment(tmp_path, 0).end("exploded")


def test_outcomes_of_the_ways_a_fit_ends():
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    assert outcome_of(None) == "finished"
    assert outcome_of(None, interrupted=True) == "interrupted"
    assert outcome_of(SIGTERMException()) == "terminated"  # scontrol requeue, preemption, time limit
    assert outcome_of(SystemExit(-1)) == "requeued"  # submitit's USR2 handler after its requeue
    assert outcome_of(SystemExit(1)) == "interrupted"  # Lightning after Ctrl-C
    assert outcome_of(KeyboardInterrupt()) == "interrupted"
    assert outcome_of(RuntimeError("Job not requeued because: timed-out too many times.")) == "failed"


def test_a_failure_carries_the_step_it_reached(tmp_path):
    segment = Segment(tmp_path, 0)
    segment.end("failed", 22)
    err = RuntimeError("timed-out too many times")
    attach_progress(err, tmp_path)
    progress = progress_of(err)
    assert progress["global_step"] == 22 and progress["segments"] == 1
    assert progress_of(ValueError("before training")) == {}


def _trainer(step: int, batches: int = 4, ckpt: str | None = "last.ckpt") -> SimpleNamespace:
    return SimpleNamespace(
        ckpt_path=ckpt,
        num_training_batches=batches,
        accumulate_grad_batches=1,
        global_step=step,
        current_epoch=1,
    )


def test_a_mid_epoch_resume_says_what_is_exact():
    note = mid_epoch_note(_trainer(6))
    assert (
        "step 6 (2 of its 4 steps done)" in note and "remaining 2 steps" in note and "fresh shuffle" in note
    )
    assert mid_epoch_note(_trainer(8)) is None  # an epoch-end checkpoint: nothing differs
    assert mid_epoch_note(_trainer(6, ckpt=None)) is None  # not a resume


def test_lightning_mid_epoch_warning_is_matched():
    import re
    import warnings

    message = (
        "You're resuming from a checkpoint that ended before the epoch ended and your dataloader is not "
        "resumable. This can cause unreliable results if further training is done."
    )
    assert re.match(segments.MID_EPOCH_WARNING, message, re.IGNORECASE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message=segments.MID_EPOCH_WARNING)
        warnings.warn(message, UserWarning, stacklevel=1)
    assert caught == []
