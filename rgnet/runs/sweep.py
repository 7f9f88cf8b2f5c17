"""Sweeps: the Hydra callback that reports which jobs of a multirun finished and which did not.

The report covers the runs of this multirun only, even when another sweep writes into the same
``outputs/<task>`` at the same time: the launcher tells it which run directories it launched
(:func:`record_job`: the submitit launchers through the driver of :mod:`rgnet.runs.launcher`, Hydra's
in-process basic launcher through :meth:`SweepReport.on_job_end`). With another launcher it falls back to
the runs whose ``summary.json`` was written since the multirun started. A multirun in which any job did not
finish exits with status 1 after its report.
"""

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

#: The jobs of the multirun in progress in this process: (run dir or None, overrides, outcome or None).
#: An outcome ``(status, message)`` is the launcher's word on a job that left no summary of its own.
_JOBS: list[tuple[Path | None, str, tuple[str, str] | None]] = []


def record_job(run_dir: Path | None, overrides: str, outcome: tuple[str, str] | None = None) -> None:
    """Tell the sweep report that this multirun launched the job of ``overrides`` into ``run_dir``;
    ``outcome`` (status, message) when the launcher knows how it ended and its summary cannot say."""
    _JOBS.append((None if run_dir is None else Path(run_dir), overrides, outcome))


def _row(run_dir: Path, since: float | None = None) -> tuple[str, str, str]:
    """(run, status, error) from the run's summary; one older than ``since`` was not written by this job."""
    path = run_dir / SUMMARY
    try:
        summary = json.loads(path.read_text())
        written = path.stat().st_mtime
    except FileNotFoundError:
        return (run_dir.name, "no summary", f"{path} was not written (see the job's log)")
    except (ValueError, OSError) as err:
        return (run_dir.name, "unreadable", str(err))
    if since is not None and written < since - 1.0:
        return (run_dir.name, "stale", f"the job wrote no summary ({path} is older than this sweep)")
    return (run_dir.name, str(summary.get("status", "?")), str(summary.get("error") or ""))


class SweepReport(HydraCallback):
    """Hydra callback: after a multirun, print how many of its jobs finished and list the others with
    their errors, once (on stderr when any did not finish, else on stdout); exit status 1 if any did not."""

    def __init__(self) -> None:
        self.started = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Before any job is submitted: a SLURM request that no node can satisfy ends the sweep with a clear
        message (:func:`rgnet.runs.cluster.check_slurm_sweep`) instead of jobs pending forever."""
        from rgnet.runs.launcher import install_clean_driver

        self.started = time.time()
        _JOBS.clear()
        install_clean_driver()  # submitit's launchers: no traceback from a job that left no result
        try:
            check_slurm_sweep(OmegaConf.to_container(config.hydra.launcher, resolve=True))
        except ConfigError as err:
            raise SystemExit(f"rgnet-train: {err}") from None

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        """A job that runs in this process (Hydra's basic launcher) names its run directory."""
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized() and HydraConfig.get().mode is not None:
            from hydra.types import RunMode

            if HydraConfig.get().mode == RunMode.MULTIRUN:
                record_job(Path(HydraConfig.get().runtime.output_dir), " ".join(job_return.overrides or []))

    def rows(self, sweep_dir: Path) -> list[tuple[str, str, str]]:
        """(run, status, error) of each job of this multirun."""
        if not _JOBS:  # a launcher that does not say: the summaries written since the multirun started
            return [
                _row(path.parent)
                for path in sorted(sweep_dir.glob(f"*/{SUMMARY}"))
                if path.stat().st_mtime >= self.started - 1.0
            ]
        rows, seen = [], set()
        for run_dir, overrides, outcome in _JOBS:
            key = run_dir or overrides
            if key in seen:
                continue
            seen.add(key)
            name = run_dir.name if run_dir is not None else overrides
            if outcome is not None:
                rows.append((name, *outcome))
            elif run_dir is None:
                rows.append((name, "unknown", "its run directory could not be composed"))
            else:
                rows.append(_row(run_dir, since=self.started))
        return sorted(rows)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = self.rows(sweep_dir)
        failed = [row for row in rows if row[1] != "finished"]
        lines = [f"sweep {sweep_dir}: {len(rows) - len(failed)} of {len(rows)} jobs finished"]
        lines += [f"  {status.upper()} {name}: {error}" for name, status, error in failed]
        # printed once: Hydra's console handler would show a logged copy a second time (on stdout)
        print("\n".join(lines), file=sys.stderr if failed else sys.stdout)
        _JOBS.clear()
        if failed:
            raise SystemExit(1)
