"""Segments of a run: every process that trains in a run directory (the first start, a re-run of the same
command, a SLURM requeue after a signal, a preemption or ``scontrol requeue``) is one segment, recorded in
``segments.json`` so that the summary can say how often the run restarted and how long all of it took.

Each segment is written when it starts, every :data:`HEARTBEAT_S` seconds of training and at each checkpoint
(``last_seen``, ``end_step``), and when it ends with its ``outcome``:

- ``finished``: training ran to its end (the run's status is in ``summary.json``);
- ``interrupted``: Ctrl-C or Lightning stopped the fit (``trainer.interrupted``);
- ``requeued``: submitit caught SLURM's USR2 (time limit or ``scancel --signal=USR2``) and requeued the job;
- ``terminated``: SIGTERM (``scontrol requeue``, a preemption, ``scancel``, the hard time limit): Lightning
  stopped at the next batch; SLURM requeues the job itself after a requeue or a preemption;
- ``failed``: an error (among them submitit's ``UncompletedJobError`` when ``max_num_timeout`` ran out);
- ``killed``: the process died without a word (SIGKILL after SLURM's KillWait, OOM, a node lost): the next
  segment finds it unfinished and counts its wall time up to its last heartbeat.

A segment started by SLURM after a requeue has ``slurm_restart_count`` > 0 (SLURM's ``SLURM_RESTART_COUNT``):
:func:`segment_fields` counts those as ``requeues``, the others as ``resumes`` (the command run again).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rgnet.files import atomic_write_json

log = logging.getLogger(__name__)
SEGMENTS = "segments.json"
#: Seconds between heartbeats of a training segment (the wall time a ``killed`` segment can lose).
HEARTBEAT_S = 15.0
#: Outcomes a segment can end with (``running`` while it trains).
OUTCOMES = ("finished", "interrupted", "requeued", "terminated", "failed", "killed")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_segments(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The segments recorded in ``run_dir`` (oldest first; an unreadable or missing file: none)."""
    path = Path(run_dir) / SEGMENTS
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [dict(s) for s in found if isinstance(s, Mapping)] if isinstance(found, list) else []


def outcome_of(err: BaseException | None, *, interrupted: bool = False) -> str:
    """The outcome of a segment whose fit ended with ``err`` (None: it returned)."""
    if err is None:
        return "interrupted" if interrupted else "finished"
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    if isinstance(err, SIGTERMException):
        return "terminated"
    if isinstance(err, SystemExit):  # submitit's handler requeues the job and exits with -1
        return "requeued" if err.code == -1 else "interrupted"
    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    return "failed"


class Segment:
    """The segment this process trains: :meth:`beat` while it trains, :meth:`end` once."""

    def __init__(
        self, run_dir: Path, start_step: int, *, started: float | None = None, clock: Any = time.perf_counter
    ) -> None:
        """``started``: the ``clock()`` reading of the process's start (default: now)."""
        self.run_dir = Path(run_dir)
        self._clock = clock
        self._t0 = clock() if started is None else started
        self._last_write = self._t0
        segments = read_segments(self.run_dir)
        for old in segments:  # a segment that never ended died without a word
            if old.get("outcome") == "running":
                old["outcome"] = "killed"
        self._segments = segments
        self.record: dict[str, Any] = {
            "index": len(segments),
            "started": _now(),
            "last_seen": _now(),
            "wall_time_s": 0.0,
            "start_step": int(start_step),
            "end_step": int(start_step),
            "outcome": "running",
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "slurm_restart_count": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0),
        }
        segments.append(self.record)
        self._write()

    def _write(self) -> None:
        self.record["wall_time_s"] = round(self._clock() - self._t0, 3)
        self.record["last_seen"] = _now()
        atomic_write_json(self.run_dir / SEGMENTS, self._segments)
        self._last_write = self._clock()

    def beat(self, step: int, *, force: bool = False) -> None:
        """Record that the segment is alive at ``step`` (written at most every :data:`HEARTBEAT_S`)."""
        self.record["end_step"] = int(step)
        if force or self._clock() - self._last_write >= HEARTBEAT_S:
            self._write()

    def end(self, outcome: str, step: int | None = None) -> None:
        """Record how the segment ended (one of :data:`OUTCOMES`) and the step it reached."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {list(OUTCOMES)}, got {outcome!r}")
        if step is not None:
            self.record["end_step"] = int(step)
        self.record["outcome"] = outcome
        self._write()

    def callback(self) -> Any:
        """A Lightning callback that beats at training batch ends and checkpoints and, after a restore,
        says when the run resumes mid-epoch (see :func:`mid_epoch_note`)."""
        import lightning

        segment = self

        class SegmentHeartbeat(lightning.Callback):
            def on_train_start(self, trainer: Any, pl_module: Any) -> None:
                segment.record["start_step"] = int(trainer.global_step)
                segment.beat(trainer.global_step, force=True)
                note = mid_epoch_note(trainer)
                if note:
                    log.info(note)

            def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
                segment.beat(trainer.global_step)

            def on_save_checkpoint(self, trainer: Any, *args: Any) -> None:
                segment.beat(trainer.global_step, force=True)

        return SegmentHeartbeat()


def mid_epoch_note(trainer: Any) -> str | None:
    """When a fit resumes from a checkpoint saved inside an epoch (``checkpoint_every_n_steps``), what
    is and is not exact: the model, the optimizer, the step and epoch counts are; the data order is not (the
    rest of the epoch draws its batches from a fresh shuffle of the training set, as rgnet's loaders keep no
    position). Lightning's generic warning about it is silenced by :data:`MID_EPOCH_WARNING`."""
    import math

    batches = trainer.num_training_batches
    if not trainer.ckpt_path or not isinstance(batches, int) or batches <= 0:
        return None
    per_epoch = math.ceil(batches / trainer.accumulate_grad_batches)
    done = trainer.global_step % per_epoch
    if done == 0:
        return None
    return (
        f"resumed inside epoch {trainer.current_epoch} at step {trainer.global_step} ({done} of its "
        f"{per_epoch} steps done): the model, optimizer, step and epoch counts are restored exactly; the "
        f"remaining {per_epoch - done} steps of this epoch draw their batches from a fresh shuffle of the "
        "training set (the data loaders keep no position): the data order differs from an uninterrupted run"
    )


#: Lightning's warning on every mid-epoch resume (rgnet logs :func:`mid_epoch_note` instead).
MID_EPOCH_WARNING = r"(?s).*resuming from a checkpoint that ended before the epoch ended.*"


def segment_fields(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``summary.json`` says of the run's segments: ``segments`` (how many processes trained),
    ``restarts`` (segments after the first), of them ``requeues`` (started by SLURM) and ``resumes`` (the
    command run again), ``wall_time_s`` of all segments together (a killed one up to its last heartbeat),
    ``segment_wall_time_s`` of the last and the outcome of each (``segment_outcomes``). Empty when none is
    recorded."""
    return _fields(read_segments(run_dir))


def _fields(segments: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`segment_fields` of the recorded ``segments``."""
    if not segments:
        return {}
    restarts = segments[1:]
    requeues = sum(1 for s in restarts if int(s.get("slurm_restart_count") or 0) > 0)
    last = segments[-1]
    return {
        "segments": len(segments),
        "restarts": len(restarts),
        "requeues": requeues,
        "resumes": len(restarts) - requeues,
        "wall_time_s": round(sum(float(s.get("wall_time_s") or 0.0) for s in segments), 3),
        "segment_wall_time_s": float(last.get("wall_time_s") or 0.0),
        "segment_outcomes": [str(s.get("outcome")) for s in segments],
    }


def reached_step(run_dir: str | os.PathLike[str]) -> int | None:
    """The step the run's last segment reached (its last heartbeat or its end), None when none recorded."""
    return _reached(read_segments(run_dir))


def _reached(segments: list[dict[str, Any]]) -> int | None:
    return int(segments[-1].get("end_step") or 0) if segments else None


def progress_fields(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """What a failure record of the run needs: :func:`segment_fields` and, when a segment was recorded,
    ``global_step`` (:func:`reached_step`), from one reading of ``segments.json``."""
    segments = read_segments(run_dir)
    fields = _fields(segments)
    step = _reached(segments)
    if step is not None:
        fields["global_step"] = step
    return fields


def attach_progress(err: BaseException, run_dir: str | os.PathLike[str]) -> None:
    """Attach to ``err`` what its failure record needs (:func:`progress_fields`, read by :func:`progress_of`):
    the step, the segments."""
    err.rgnet_progress = progress_fields(run_dir)  # type: ignore[attr-defined]


def progress_of(err: BaseException) -> dict[str, Any]:
    """The fields :func:`attach_progress` attached to ``err`` (none when training never started)."""
    return dict(getattr(err, "rgnet_progress", {}))
