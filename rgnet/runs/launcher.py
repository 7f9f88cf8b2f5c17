"""A sweep driver for hydra-submitit-launcher that ends cleanly whatever became of its jobs.

The plugin's launcher waits for each job's result and raises submitit's ``UncompletedJobError`` (a traceback
that ends the sweep and hides the other jobs' outcomes) when a job ended without one: killed at the hard time
limit before submitit's USR2 came (SLURM state ``TIMEOUT``), cancelled, out of memory, its node lost.
:func:`clean_launch`, installed in the plugin's launchers by :func:`install_clean_driver`, waits for every
job, turns such an outcome into one line naming the job, its SLURM state and how to resume
(:func:`unfinished_message`), writes it into the run's ``summary.json`` (status ``failed``, the step it
reached and its segments: :func:`rgnet.runs.segments.progress_fields`), and tells the sweep report
(:class:`rgnet.runs.sweep.SweepReport`) exactly which runs this multirun launched, so that two sweeps in
one ``outputs/<task>`` never mix their reports. The report ends the sweep with a nonzero exit status when a
job did not finish.

Requeues are not the driver's business: a job requeued by submitit (USR2) or by SLURM (``scontrol requeue``,
preemption) keeps its job id, and the driver keeps waiting for it (states PENDING, REQUEUED, PREEMPTED).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher as plugin

log = logging.getLogger(__name__)

#: What a SLURM state that ends a job without a result means.
STATE_MEANING = {
    "TIMEOUT": "killed at its time limit before it finished (no USR2 in time, or max_num_timeout used up)",
    "CANCELLED": "cancelled",
    "OUT_OF_MEMORY": "killed for exceeding its memory (raise hydra.launcher.mem_gb)",
    "NODE_FAIL": "lost with its node",
    "FAILED": "ended with an error outside the run (see its submitit log)",
    "PREEMPTED": "preempted and not requeued",
    "BOOT_FAIL": "never started (its node failed to boot)",
    "DEADLINE": "past its deadline",
}


def unfinished_message(job_id: str, state: str, run_dir: Path | None, folder: Path | None = None) -> str:
    """One line: the job, its SLURM state and what that means, where it stopped and how to resume."""
    word = state.split()[0].upper() if state.strip() else "UNKNOWN"
    meaning = STATE_MEANING.get(word, "ended without a result")
    where = f" ({run_dir.name})" if run_dir is not None else ""
    text = f"SLURM job {job_id}{where} ended {state}: {meaning}"
    if run_dir is not None:
        from rgnet.runs.segments import reached_step

        step = reached_step(run_dir)
        if step is not None:
            text += f", at step {step}"
    text += "; run the same command again to resume it from its checkpoints/last.ckpt"
    if word == "TIMEOUT":
        text += " (raise hydra.launcher.timeout_min or signal_delay_s)"
    if folder is not None:
        text += f"; log: {folder}"
    return text


def _record_unfinished(sweep_config: Any, run_dir: Path, message: str, slurm: dict[str, str]) -> None:
    """Write the job's outcome into its run's summary (or failure.json beside a finished run's summary)."""
    import json

    from rgnet.files import atomic_write_json
    from rgnet.runs.config import plain_config
    from rgnet.runs.segments import progress_fields
    from rgnet.runs.summary import FAILURE, SUMMARY, new_summary

    target = run_dir / SUMMARY
    try:
        if json.loads(target.read_text()).get("status") == "finished":
            target = run_dir / FAILURE
    except (OSError, ValueError):
        pass
    from omegaconf import OmegaConf

    run_config = OmegaConf.masked_copy(sweep_config, [key for key in sweep_config if key != "hydra"])
    fields = progress_fields(run_dir)
    if "segment_outcomes" in fields:  # the job is over: a segment that never ended was killed
        fields["segment_outcomes"] = [o.replace("running", "killed") for o in fields["segment_outcomes"]]
    record = new_summary(
        "rgnet-train",
        "failed",
        plain_config(run_config),
        started=0.0,
        device=None,
        task_name=sweep_config.get("task_name"),
        run_dir=str(run_dir),
        error=message,
        slurm=slurm,
        **fields,
    )
    if "wall_time_s" not in fields:
        record["wall_time_s"] = None  # nothing recorded it
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(target, record)


def _run_dir(launcher: Any, overrides: Sequence[str]) -> tuple[Any, Path | None]:
    """The job's composed config and run directory (what the job itself computes), or (None, None)."""
    try:
        config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
        return config, Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
    except Exception as err:  # noqa: BLE001 - the job reports its own config errors
        log.debug("cannot compose the run directory of %s: %s", overrides, err)
        return None, None


def clean_launch(
    self: plugin.BaseSubmititLauncher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> Sequence[JobReturn]:
    """``BaseSubmititLauncher.launch`` of hydra-submitit-launcher 1.2, waiting for every job without raising:
    a job without a result is recorded (:func:`unfinished_message`) and returns NaN to the sweeper."""
    import submitit
    from hydra.core.singleton import Singleton
    from omegaconf import OmegaConf

    from rgnet.runs.sweep import record_job

    assert self.config is not None and len(job_overrides) > 0
    executor_name = self._EXECUTOR
    init_params = {"folder": self.params["submitit_folder"]}
    if "max_num_timeout" in self.params:
        init_params[f"{executor_name}_max_num_timeout"] = self.params["max_num_timeout"]
    executor = submitit.AutoExecutor(cluster=executor_name, **init_params)
    baseparams = set(OmegaConf.structured(plugin.BaseQueueConf).keys())
    executor.update_parameters(
        **{
            key if key in baseparams else f"{executor_name}_{key}": value
            for key, value in self.params.items()
            if key not in ("max_num_timeout", "submitit_folder")
        }
    )
    sweep_dir = Path(str(self.config.hydra.sweep.dir))
    log.info(f"Submitit '{executor_name}' sweep output dir : {sweep_dir}")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    params = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
    jobs = executor.map_array(self, *zip(*params, strict=True))
    returns = []
    for job, overrides in zip(jobs, job_overrides, strict=True):
        config, run_dir = _run_dir(self, overrides)
        label = " ".join(filter_overrides(overrides))
        try:
            result = job.results()[0]
        except submitit.core.utils.UncompletedJobError:
            job_id, state = str(job.job_id), str(job.state)
            message = unfinished_message(job_id, state, run_dir, Path(str(job.paths.stdout)).parent)
            if run_dir is not None and config is not None:
                try:
                    _record_unfinished(config, run_dir, message, {"job_id": job_id, "state": state})
                except Exception as err:  # noqa: BLE001 - the report still says it; the sweep goes on
                    log.warning("could not record the outcome of job %s in %s: %s", job_id, run_dir, err)
            record_job(run_dir, label, ("unfinished", message))
            result = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=math.nan)
        else:
            record_job(run_dir, label, None)
        returns.append(result)
    return returns


def install_clean_driver() -> None:
    """Give hydra-submitit-launcher's launchers (``submitit_slurm``, ``submitit_local``) :func:`clean_launch`.

    Hydra instantiates launchers only from its ``hydra_plugins`` package, so rgnet does not ship a launcher
    of its own: :class:`rgnet.runs.sweep.SweepReport` calls this in the sweep driver before any job is
    submitted. The jobs themselves run the plugin's code unchanged (``__call__``, ``checkpoint``)."""
    plugin.BaseSubmititLauncher.launch = clean_launch  # type: ignore[method-assign]
