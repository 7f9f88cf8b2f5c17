"""Sweeps: the Hydra callback that reports which jobs of a multirun finished and which failed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig, OmegaConf

from rgnet.runs.cluster import check_slurm_sweep
from rgnet.runs.config import ConfigError
from rgnet.runs.summary import SUMMARY


class SweepReport(HydraCallback):
    """Hydra callback: after a multirun, print how many jobs finished and list the failed jobs with their
    errors, once (on stderr when any failed, else on stdout)."""

    def __init__(self) -> None:
        self.started = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Before any job is submitted: a SLURM request that no node can satisfy ends the sweep with a clear
        message (:func:`rgnet.runs.cluster.check_slurm_sweep`) instead of jobs pending forever."""
        self.started = time.time()
        try:
            check_slurm_sweep(OmegaConf.to_container(config.hydra.launcher, resolve=True))
        except ConfigError as err:
            raise SystemExit(f"rgnet-train: {err}") from None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = []
        for path in sorted(sweep_dir.glob(f"*/{SUMMARY}")):
            if path.stat().st_mtime < self.started - 1.0:
                continue  # a run of an earlier sweep in the same directory
            try:
                summary = json.loads(path.read_text())
            except (ValueError, OSError) as err:
                rows.append((path.parent.name, "unreadable", str(err)))
                continue
            rows.append((path.parent.name, summary.get("status", "?"), summary.get("error", "")))
        failed = [row for row in rows if row[1] != "finished"]
        lines = [f"sweep {sweep_dir}: {len(rows) - len(failed)} of {len(rows)} jobs finished"]
        lines += [f"  FAILED {name}: {error}" for name, _, error in failed]
        # printed once: Hydra's console handler would show a logged copy a second time (on stdout)
        print("\n".join(lines), file=sys.stderr if failed else sys.stdout)
