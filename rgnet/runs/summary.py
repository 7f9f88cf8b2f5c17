"""``summary.json``: one writer for every command (train, sample, bench), with the same fixed keys and one
way of naming the device, so that sweeps and benchmarks aggregate without special cases.

Fixed keys: ``command``, ``status`` (``finished``, ``interrupted`` or ``failed``), ``created`` (UTC, ISO),
``config`` (resolved), ``config_hash``, ``device`` (:func:`device_name`), ``versions``, ``wall_time_s``;
each command adds its results beside them. A failed run records ``error`` and ``traceback`` instead.
``rgnet-train``'s ``wall_time_s`` is that of all the run's segments together (a requeued or resumed run
trains in several processes: :func:`rgnet.runs.segments.segment_fields`), beside ``segment_wall_time_s``.
"""

from __future__ import annotations

import contextlib
import json
import platform
import time
import traceback
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rgnet.files import atomic_write_json, json_ready, sha256_json

SUMMARY = "summary.json"
FAILURE = "failure.json"
#: Keys every summary has, whatever wrote it.
FIXED_KEYS = ("command", "status", "created", "config", "config_hash", "device", "versions", "wall_time_s")


def versions() -> dict[str, str]:
    """Versions of rgnet and of the libraries that decide its numbers."""
    import hydra
    import numpy
    import torch

    import rgnet

    found = {
        "rgnet": rgnet.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "hydra": hydra.__version__,
        "python": platform.python_version(),
    }
    try:
        import lightning

        found["lightning"] = lightning.__version__
    except ImportError:  # the sampling and benchmark commands do not need it
        pass
    return found


def device_name(device: object) -> str:
    """What a torch device is: the GPU's name, or the CPU and torch's thread count."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def new_summary(
    command: str,
    status: str,
    config: Mapping[str, Any],
    *,
    started: float,
    device: object | None,
    config_hash: str | None = None,
    **results: Any,
) -> dict[str, Any]:
    """A summary with the fixed keys (``config_hash`` defaults to the hash of ``config``) and ``results``.

    ``started`` is the ``time.perf_counter()`` of the command's start; ``device`` a torch device (or None
    when the run never chose one).
    """
    return json_ready(
        {
            "command": command,
            "status": status,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": dict(config),
            "config_hash": sha256_json(config) if config_hash is None else config_hash,
            "device": None if device is None else device_name(device),
            "versions": versions(),
            "wall_time_s": time.perf_counter() - started,
            **results,
        },
        lenient=True,
    )


def write_summary(run_dir: str | Path, summary: Mapping[str, Any]) -> Path:
    """Write ``summary`` to ``run_dir/summary.json`` atomically."""
    return atomic_write_json(Path(run_dir) / SUMMARY, summary)


def record_failure(
    command: str, config: Mapping[str, Any], run_dir: Path, err: BaseException, started: float, **fields: Any
) -> Path:
    """Write the error of a failed run: into ``summary.json`` unless that already holds a finished run's
    results (which are kept), else into ``failure.json``. Call from the ``except`` block (the traceback)."""
    summary_path = run_dir / SUMMARY
    target = summary_path
    if summary_path.is_file():
        with contextlib.suppress(ValueError, OSError):
            if json.loads(summary_path.read_text()).get("status") == "finished":
                target = run_dir / FAILURE
    record = new_summary(
        command,
        "failed",
        config,
        started=started,
        device=None,
        run_dir=str(run_dir),
        error=f"{type(err).__name__}: {err}",
        traceback=traceback.format_exc(),
        **fields,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(target, record)
