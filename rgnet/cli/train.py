"""``rgnet-train``: compose an experiment, train and test it with Lightning, write ``summary.json``.

    rgnet-train                                          # the default experiment (conf/train.yaml)
    rgnet-train experiment=mehta_schwab trainer=gpu
    rgnet-train -m experiment=mehta_schwab data.K=0.3,0.408,0.4407,0.6

A single run is checked whole (:func:`rgnet.runs.training.check`) before Hydra creates anything. In a sweep a
failing job writes its error into its summary and the sweep goes on (:class:`rgnet.runs.SweepReport`).
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from rgnet.cli import main_with_precheck
from rgnet.runs import training
from rgnet.runs.cluster import log_per_rank
from rgnet.runs.config import CONFIG_PATH, ConfigError, plain_config, register_resolvers
from rgnet.runs.identity import RunDirBusy
from rgnet.runs.segments import progress_of
from rgnet.runs.summary import record_failure

log = logging.getLogger(__name__)
# conf/hydra/launcher/submitit_*.yaml spell out every field of the plugin's schema of the same name, so
# Hydra's deprecated automatic schema matching adds nothing; its warning about it is noise.
warnings.filterwarnings(
    "ignore", message=r"(?s).*is validated against ConfigStore schema", category=UserWarning
)
register_resolvers()


def _is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    import lightning

    logging.captureWarnings(True)
    start = time.perf_counter()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    multirun = _is_multirun()
    rank = lightning.fabric.utilities.rank_zero.rank_zero_only.rank
    log_per_rank(rank)  # the other DDP ranks write train.rank<r>.log beside rank 0's train.log
    try:
        summary = training.run(cfg, run_dir, multirun=multirun)
        return training.optimized_value(cfg, summary)
    except Exception as err:  # noqa: BLE001 - a sweep reports a failed job and goes on
        progress = progress_of(err)  # the step reached, the segments (when training had started)
        out_of_requeues = _out_of_requeues(err)
        if out_of_requeues:
            err = RuntimeError(
                f"{err} (hydra.launcher.max_num_timeout used up) at step {progress.get('global_step', '?')}; "
                "run the same command again to resume from checkpoints/last.ckpt"
            )
        # a run refused by the lock must not write into the directory of the run that holds it
        if rank == 0 and not isinstance(err, RunDirBusy):
            with contextlib.suppress(OSError):
                record_failure(
                    training.COMMAND,
                    plain_config(cfg),
                    run_dir,
                    err,
                    start,
                    task_name=cfg.get("task_name"),
                    **progress,
                )
        log.error("run failed: %s", err, exc_info=not (isinstance(err, ConfigError) or out_of_requeues))
        if not multirun:
            raise SystemExit(f"rgnet-train: {err}") from None
        return float("nan")


def _out_of_requeues(err: BaseException) -> bool:
    """submitit's USR2 handler found max_num_timeout used up (it raises this inside the fit)."""
    return type(err).__name__ == "UncompletedJobError" and "too many times" in str(err)


def main() -> None:
    """Console entry point ``rgnet-train`` (Hydra overrides and flags on the command line)."""
    main_with_precheck(
        training.COMMAND, lambda args: training.check(training.compose_train(args)), _hydra_main
    )


if __name__ == "__main__":
    main()
