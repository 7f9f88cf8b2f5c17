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
from rgnet.runs.config import CONFIG_PATH, ConfigError, plain_config, register_resolvers
from rgnet.runs.identity import RunDirBusy
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
    try:
        summary = training.run(cfg, run_dir, multirun=multirun)
        return training.optimized_value(cfg, summary)
    except Exception as err:  # noqa: BLE001 - a sweep reports a failed job and goes on
        # a run refused by the lock must not write into the directory of the run that holds it
        if lightning.fabric.utilities.rank_zero.rank_zero_only.rank == 0 and not isinstance(err, RunDirBusy):
            with contextlib.suppress(OSError):
                record_failure(
                    training.COMMAND, plain_config(cfg), run_dir, err, start, task_name=cfg.get("task_name")
                )
        log.error("run failed: %s", err, exc_info=not isinstance(err, ConfigError))
        if not multirun:
            raise SystemExit(f"rgnet-train: {err}") from None
        return float("nan")


def main() -> None:
    """Console entry point ``rgnet-train`` (Hydra overrides and flags on the command line)."""
    main_with_precheck(
        training.COMMAND, lambda args: training.check(training.compose_train(args)), _hydra_main
    )


if __name__ == "__main__":
    main()
