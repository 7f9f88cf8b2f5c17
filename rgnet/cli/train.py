"""``rgnet-train``: compose an experiment, train and test it with Lightning, write ``summary.json``.

    rgnet-train                                          # the default experiment (conf/train.yaml)
    rgnet-train experiment=mehta_schwab trainer=gpu
    rgnet-train -m experiment=mehta_schwab data.K=0.3,0.408,0.4407,0.6

A run lives in ``<paths.output_dir>/<task_name>/<run id>``, the run id being its command-line overrides
(``default`` when there are none; settings that do not change what is computed, such as ``trainer`` or
``resume``, are left out). Running the same command again therefore resumes the same run from
``checkpoints/last.ckpt`` and logs to the same TensorBoard run (``tensorboard/version_0``): an interrupted
job, a re-run, and a requeued SLURM job all continue where they stopped.

Everything is validated before any sampling or training: the config is composed in struct mode (a typo in a
key is an error naming it), then the data module, the model and the callbacks are instantiated (their
constructors check values and name the field), the run directory is checked for writability, and a run
directory that already holds checkpoints of a different config is refused. Each run writes
``run_config.json`` (what identifies it) and ``summary.json`` (status, metrics, config, config hash,
versions, device, wall time) atomically. In a sweep a failing job writes its error into its summary and the
sweep goes on; :class:`SweepReport` lists the failures at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback as HydraCallback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from rgnet._checks import check_int
from rgnet.cli import CONFIG_DIR, check_config_dir, device_name, versions
from rgnet.data.dataset import atomic_write_json
from rgnet.report import flatten, is_finite_number

log = logging.getLogger(__name__)
# conf/hydra/launcher/submitit_*.yaml spell out every field of the plugin's schema of the same name, so
# Hydra's deprecated automatic schema matching adds nothing; its warning about it is noise.
warnings.filterwarnings(
    "ignore", message=r"(?s).*is validated against ConfigStore schema", category=UserWarning
)

#: Top-level keys whose values do not change what a run computes; they may differ when a run is resumed.
NON_IDENTITY_KEYS = (
    "trainer",
    "logger",
    "callbacks",
    "debug",
    "hparams_search",
    "paths",
    "output_dir",
    "resume",
    "test",
    "optimized_metric",
    "checkpoint_every_n_steps",
    "threads",
    "hydra",
)
#: Keys of the data group that only affect how data are served or shown.
NON_IDENTITY_DATA_KEYS = ("progress", "num_workers", "pin_memory", "cache_dir")
#: Longest run id used verbatim as a directory name; longer ones are shortened and suffixed with a hash.
MAX_RUN_ID = 120
RUN_CONFIG = "run_config.json"
SUMMARY = "summary.json"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"


class ConfigError(ValueError):
    """The composed configuration is invalid (the message names the field)."""


# ------------------------------------------------------------------------------------------ resolvers
def _product(*factors: int) -> int:
    return math.prod(int(f) for f in factors)


def run_id(override_dirname: str) -> str:
    """Directory name of a run from Hydra's ``override_dirname``: ``default`` when empty, no path separators,
    at most :data:`MAX_RUN_ID` characters (longer ones keep a prefix and a hash of the whole)."""
    name = override_dirname.replace(os.sep, "_").replace("/", "_") or "default"
    if len(name) > MAX_RUN_ID:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
        name = f"{name[: MAX_RUN_ID - 13]}~{digest}"
    return name


def register_resolvers() -> None:
    """OmegaConf resolvers used by the configs: ``mul`` (integer product), ``sub`` (a - b), ``len`` (length
    of a list, e.g. ``${len:${model.layers}}``), ``run_id``."""
    resolvers = (
        ("mul", _product),
        ("sub", lambda a, b: a - b),
        ("len", len),
        ("run_id", run_id),
    )
    for name, function in resolvers:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)


register_resolvers()


# -------------------------------------------------------------------------------------- composition
def compose(
    overrides: list[str] | tuple[str, ...] = (), output_dir: str | os.PathLike[str] | None = None
) -> DictConfig:
    """Compose ``conf/train.yaml`` with Hydra overrides, outside a Hydra run (tests, notebooks, checks).

    ``output_dir`` replaces the run directory Hydra would choose (``hydra.run.dir``); the returned config
    has no ``hydra`` node. Raises :class:`ConfigError` for unknown keys, groups or options.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(version_base=None, config_dir=str(CONFIG_DIR), job_name="rgnet-train"):
            cfg = hydra_compose("train", overrides=list(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(_first_line(err)) from None
    run_dir = output_dir if output_dir is not None else cfg.hydra.run.dir
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.output_dir = str(run_dir)
    return cfg


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _to_plain(node: Any) -> Any:
    return (
        OmegaConf.to_container(node, resolve=True)
        if isinstance(node, DictConfig) or OmegaConf.is_list(node)
        else node
    )


def _instantiate(node: Any, field: str) -> Any:
    """``hydra.utils.instantiate`` with errors re-raised as :class:`ConfigError` naming ``field``."""
    from hydra.errors import InstantiationException

    try:
        return hydra.utils.instantiate(node, _convert_="all")
    except InstantiationException as err:
        cause = err.__cause__ if err.__cause__ is not None else err
        raise ConfigError(f"{field}: {_first_line(cause)}") from None
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{field}: {_first_line(err)}") from None


def _check_int_setting(
    cfg: DictConfig, key: str, *, minimum: int, maximum: int | None = None, optional: bool = True
) -> None:
    """:func:`rgnet._checks.check_int` on the top-level setting ``key`` (null allowed when ``optional``)."""
    if optional and cfg[key] is None:
        return
    try:
        check_int(cfg[key], key, minimum=minimum, maximum=maximum)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{err}{' (or null)' if optional else ''}") from None


def _check_top_level(cfg: DictConfig) -> None:
    for group in ("paths", "data", "model", "trainer"):
        if cfg.get(group) is None:
            raise ConfigError(
                f"config group {group!r} is missing (choose an experiment, e.g. experiment=mehta_schwab)"
            )
    _check_int_setting(cfg, "seed", minimum=0, maximum=2**32 - 1, optional=False)
    for flag in ("resume", "test"):
        if not isinstance(cfg[flag], bool):
            raise ConfigError(f"{flag} must be true or false, got {cfg[flag]!r}")
    if not isinstance(cfg.task_name, str) or not cfg.task_name or "/" in cfg.task_name:
        raise ConfigError(f"task_name must be a non-empty name without '/', got {cfg.task_name!r}")
    _check_int_setting(cfg, "threads", minimum=1)
    _check_int_setting(cfg, "checkpoint_every_n_steps", minimum=1)
    if cfg.optimized_metric is not None and not isinstance(cfg.optimized_metric, str):
        raise ConfigError(f"optimized_metric must be null or a metric name, got {cfg.optimized_metric!r}")


def build(cfg: DictConfig) -> dict[str, Any]:
    """Instantiate the data module, model, callbacks and loggers of ``cfg`` (cheap: nothing is sampled).

    Returns ``{"datamodule", "model", "callbacks": {name: callback}, "loggers": [...],
    "trainer_kwargs"}``. Raises :class:`ConfigError` naming the offending field.
    """
    _check_top_level(cfg)
    datamodule = _instantiate(cfg.data, "data")
    model = _instantiate(cfg.model, "model")
    if hasattr(model, "check_datamodule"):  # sizes that do not fit the data, caught before the data are made
        try:
            model.check_datamodule(datamodule)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"model: {_first_line(err)}") from None
    callbacks = {
        name: _instantiate(node, f"callbacks.{name}")
        for name, node in cfg.callbacks.items()
        if node is not None
    }
    loggers = [_instantiate(node, f"logger.{name}") for name, node in cfg.logger.items() if node is not None]
    trainer_kwargs = _to_plain(cfg.trainer)
    for key in ("callbacks", "logger"):
        if key in trainer_kwargs:
            raise ConfigError(f"trainer.{key} is set by the {key} group, not in trainer")
    import lightning

    try:  # unknown Trainer arguments fail here, before any data is made
        import inspect

        inspect.signature(lightning.Trainer).bind(**trainer_kwargs)
    except TypeError as err:
        raise ConfigError(f"trainer: {err}") from None
    if trainer_kwargs.get("strategy") == "ddp" and _is_multirun() and not _under_slurm():
        raise ConfigError(
            "trainer.strategy=ddp starts its ranks by re-running the command, which a local multirun cannot do; "
            "sweep with trainer.strategy=ddp_spawn, or submit the sweep with hydra/launcher=submitit_slurm"
        )
    return {
        "datamodule": datamodule,
        "model": model,
        "callbacks": callbacks,
        "loggers": loggers,
        "trainer_kwargs": trainer_kwargs,
    }


def identity(cfg: DictConfig) -> dict[str, Any]:
    """The part of the resolved config that decides what a run computes (compared when resuming)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    for key in NON_IDENTITY_KEYS:
        plain.pop(key, None)
    if isinstance(plain.get("data"), dict):
        for key in NON_IDENTITY_DATA_KEYS:
            plain["data"].pop(key, None)
    return plain


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of a JSON-ready mapping with sorted keys."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for key in keys for d in _differences(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [f"{prefix[:-1]}: {old!r} -> {new!r}"]


def check_run_dir(cfg: DictConfig, run_dir: Path) -> Path | None:
    """Check that ``run_dir`` can hold this run; return the checkpoint to resume from (or None).

    Refuses (:class:`ConfigError`) an output directory that cannot be written, a directory whose
    checkpoints belong to a different config (listing the differing keys), and existing checkpoints with
    ``resume=false``. Nothing in the directory is modified.
    """
    existing = next((p for p in [run_dir, *run_dir.parents] if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"output directory {run_dir} cannot be created or written (check paths.output_dir)")
    checkpoint = run_dir / LAST_CHECKPOINT
    stored = run_dir / RUN_CONFIG
    if stored.is_file():
        previous = json.loads(stored.read_text())
        differences = _differences(previous, identity(cfg))
        if differences:
            raise ConfigError(
                f"{run_dir} holds a run of a different config, which this run would overwrite "
                f"(checkpoint from an incompatible config): {'; '.join(differences[:5])}"
                f"{' ...' if len(differences) > 5 else ''}. Use another paths.output_dir or task_name."
            )
    if checkpoint.is_file() and not cfg.resume:
        raise ConfigError(f"{checkpoint} exists and resume=false; resume=true continues that run")
    if checkpoint.is_file() and not stored.is_file():
        raise ConfigError(
            f"{checkpoint} has no {RUN_CONFIG} beside it; cannot tell whether it fits this config"
        )
    return checkpoint if checkpoint.is_file() else None


# ------------------------------------------------------------------------------------------- the run
def _scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        with contextlib.suppress(TypeError, ValueError, RuntimeError):
            out[key] = float(value)
    return out


def lookup(metrics: Mapping[str, Any], dotted: str) -> Any:
    """``metrics["a"]["b"]`` for ``"a.b"``, or ``metrics["a.b"]`` when that key exists; KeyError otherwise."""
    if dotted in metrics:
        return metrics[dotted]
    node: Any = metrics
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"metric {dotted!r} not in the run's metrics {sorted(flatten(metrics))}")
        node = node[part]
    return node


def collect_metrics(trainer: Any, model: Any, callbacks: Mapping[str, Any]) -> dict[str, Any]:
    """Final metrics: logged scalars, then ``model.summary_metrics()``, then each callback's under its name."""
    metrics: dict[str, Any] = _scalar_metrics(trainer.callback_metrics)
    if hasattr(model, "summary_metrics"):
        metrics.update(model.summary_metrics())
    for name, callback in callbacks.items():
        if hasattr(callback, "summary_metrics"):
            metrics[name] = callback.summary_metrics()
    return metrics


def _json_ready(value: Any) -> Any:
    """Make ``value`` JSON-serializable (tensors and numpy scalars to Python numbers, NaN kept as NaN)."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def run(cfg: DictConfig, output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate, train, test and summarize one run of ``cfg`` in ``output_dir``; returns the summary.

    The summary (also written to ``output_dir/summary.json`` by rank zero) holds ``status``, ``metrics``
    (see :func:`collect_metrics`), ``config``, ``config_hash`` (of :func:`identity`), the checkpoint resumed
    from, the device, versions and the wall time in seconds.
    """
    import lightning

    start = time.perf_counter()
    run_dir = Path(output_dir).resolve()
    _check_top_level(cfg)  # the seed among them
    if cfg.threads is not None:
        import torch

        torch.set_num_threads(cfg.threads)
    lightning.seed_everything(cfg.seed, workers=True, verbose=False)  # before the model draws its weights
    parts = build(cfg)
    resume_from = check_run_dir(cfg, run_dir)
    run_identity = identity(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    if lightning.fabric.utilities.rank_zero.rank_zero_only.rank == 0 and not (run_dir / RUN_CONFIG).is_file():
        atomic_write_json(run_dir / RUN_CONFIG, run_identity)
    plugins = _cluster_plugins()
    trainer = lightning.Trainer(
        **parts["trainer_kwargs"],
        callbacks=list(parts["callbacks"].values()),
        logger=parts["loggers"] or False,
        plugins=plugins or None,
    )
    model, datamodule = parts["model"], parts["datamodule"]
    if resume_from is not None:
        log.info("resuming from %s", resume_from)
    trainer.fit(model, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None)
    tested = False
    if cfg.test and _has_test_loop(model, datamodule) and not trainer.fast_dev_run:
        trainer.test(model, datamodule=datamodule, verbose=False)
        tested = True
    metrics = _json_ready(collect_metrics(trainer, model, parts["callbacks"]))
    summary = {
        "command": "rgnet-train",
        "status": "finished" if not trainer.interrupted else "interrupted",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task_name": cfg.task_name,
        "run_dir": str(run_dir),
        "metrics": metrics,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "tested": tested,
        "resumed_from": None if resume_from is None else str(resume_from),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "config_hash": config_hash(run_identity),
        "device": device_name(trainer.strategy.root_device),
        "versions": versions(),
        "wall_time_s": time.perf_counter() - start,
    }
    if trainer.is_global_zero:
        _log_hparams(parts["loggers"], cfg, metrics)
        summary["figures"] = [str(path) for path in _export_figures(parts["loggers"], run_dir / "figures")]
        atomic_write_json(run_dir / SUMMARY, summary)
        log.info("wrote %s", run_dir / SUMMARY)
    return summary


def _has_test_loop(model: Any, datamodule: Any) -> bool:
    import lightning

    overridden = type(model).test_step is not lightning.LightningModule.test_step
    return (
        overridden and type(datamodule).test_dataloader is not lightning.LightningDataModule.test_dataloader
    )


def _under_slurm() -> bool:
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect()


def _cluster_plugins() -> list[Any]:
    """Under SLURM, Lightning's own auto-requeue is switched off: requeueing is submitit's job (one mechanism)."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if _under_slurm() else []


def _log_hparams(loggers: list[Any], cfg: DictConfig, metrics: Mapping[str, Any]) -> None:
    """Write the run's scalar settings with its real final scalar metrics to every logger (TensorBoard hparams)."""
    params = {
        key: value
        for key, value in flatten(identity(cfg)).items()
        if isinstance(value, (int, float, str, bool)) and not key.endswith("_target_")
    }
    finals = {
        f"final/{key}": float(value) for key, value in flatten(metrics).items() if is_finite_number(value)
    }
    for logger in loggers:
        logger.log_hyperparams(params, metrics=finals)


def _export_figures(loggers: list[Any], out_dir: Path) -> list[Path]:
    """The latest TensorBoard images of the run as PNG files in ``out_dir`` (see export_tensorboard_images)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from rgnet.report import export_tensorboard_images

    written: list[Path] = []
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.flush()
            written += export_tensorboard_images(logger.log_dir, out_dir)
    return written


def _failure_summary(cfg: DictConfig, run_dir: Path, err: BaseException, start: float) -> dict[str, Any]:
    return {
        "command": "rgnet-train",
        "status": "failed",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task_name": cfg.get("task_name"),
        "run_dir": str(run_dir),
        "error": f"{type(err).__name__}: {err}",
        "traceback": traceback.format_exc(),
        "config": _container(cfg),
        "versions": versions(),
        "wall_time_s": time.perf_counter() - start,
    }


def _container(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data, resolved where it can be (a failure may come from a bad interpolation)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - fall back to the unresolved form
        return OmegaConf.to_container(cfg, resolve=False)


def record_failure(cfg: DictConfig, run_dir: Path, err: BaseException, start: float) -> Path:
    """Write the error of a failed run: into ``summary.json`` unless that already holds a finished run's
    results (which are kept), then into ``failure.json``."""
    summary_path = run_dir / SUMMARY
    target = summary_path
    if summary_path.is_file():
        with contextlib.suppress(ValueError, OSError):
            if json.loads(summary_path.read_text()).get("status") == "finished":
                target = run_dir / "failure.json"
    run_dir.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(target, _failure_summary(cfg, run_dir, err, start))


def optimized_value(cfg: DictConfig, summary: Mapping[str, Any]) -> float | None:
    """The value of ``cfg.optimized_metric`` in the summary's metrics (for Hydra sweepers), or None.

    A finished run whose metrics lack it (a setting switched off what produces it, e.g. the block-spin control)
    stays finished: the sweeper gets NaN, which Optuna records as a failed trial, and a warning says why.
    """
    if cfg.optimized_metric is None:
        return None
    try:
        return float(lookup(summary["metrics"], cfg.optimized_metric))
    except KeyError:
        log.warning(
            "optimized_metric %r is not among this run's metrics: the sweeper gets NaN", cfg.optimized_metric
        )
        return float("nan")


# ------------------------------------------------------------------------------------------- sweeps
class SweepReport(HydraCallback):
    """Hydra callback: after a multirun, print each job's status and list the failed ones with their errors."""

    def __init__(self) -> None:
        self.started = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()

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
        message = "\n".join(lines)
        print(message, file=sys.stderr if failed else sys.stdout)
        (log.error if failed else log.info)("%s", message)


# ----------------------------------------------------------------------------------------- entry point
def _is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    logging.captureWarnings(True)
    start = time.perf_counter()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        summary = run(cfg, run_dir)
        return optimized_value(cfg, summary)
    except Exception as err:  # noqa: BLE001 - a sweep reports a failed job and goes on
        import lightning

        if lightning.fabric.utilities.rank_zero.rank_zero_only.rank == 0:
            with contextlib.suppress(OSError):
                record_failure(cfg, run_dir, err, start)
        log.error("run failed: %s", err, exc_info=not isinstance(err, ConfigError))
        if not _is_multirun():
            raise SystemExit(f"rgnet-train: {err}") from None
        return float("nan")


def precheck(overrides: list[str]) -> None:
    """Validate a single run's command line before Hydra creates its directory (exits with the error)."""
    try:
        cfg = compose(overrides)
        build(cfg)
        check_run_dir(cfg, Path(cfg.output_dir).resolve())
    except ConfigError as err:
        raise SystemExit(f"rgnet-train: {err}") from None


def main() -> None:
    """Console entry point ``rgnet-train`` (Hydra overrides and flags on the command line)."""
    check_config_dir("rgnet-train", CONFIG_DIR)
    arguments = sys.argv[1:]
    if all(not arg.startswith("-") for arg in arguments) and "hydra.output_subdir=null" not in arguments:
        precheck(arguments)  # single run (not a DDP rank re-launched by Lightning): fail before any output
    _hydra_main()


if __name__ == "__main__":
    main()
