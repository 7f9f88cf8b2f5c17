"""One training run: validate, build, train and test with Lightning, summarize.

A run lives in ``<paths.output_dir>/<task_name>/<run id>`` (:func:`rgnet.runs.identity.run_id`). Running the
same command again resumes the same run from ``checkpoints/last.ckpt`` and logs to the same TensorBoard run:
an interrupted job, a re-run and a requeued SLURM job all continue where they stopped.

Everything is validated before any sampling or training: the config is composed in struct mode (a typo in a
key is an error naming it), then the data module, the model and the callbacks are instantiated (their
constructors check values and name the field), and the run directory is checked
(:func:`rgnet.runs.identity.check_run_dir`): it must be writable and not held by another rgnet-train, a
directory of a different config is refused, and so is earlier training without a checkpoint that loads
(missing, dangling, truncated or unsafe) rather than restarted from step 0; a ``last.ckpt`` broken by a kill
between checkpoint writes gives way to the newest checkpoint beside it that loads. Rank zero then holds the
directory's lock (``.lock``, :func:`rgnet.runs.identity.lock_run_dir`) for the whole run, so a second
identical command fails at once; checkpoints load with ``weights_only=True`` (no pickled code runs). Each
run writes ``run_config.json`` (what identifies it) and ``summary.json`` (:mod:`rgnet.runs.summary`)
atomically.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import time
import warnings
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rgnet._logging import quiet_loggers
from rgnet.contracts import ChecksDataModule, ChecksModel, ReportsSummaryMetrics
from rgnet.files import atomic_write_json
from rgnet.runs.config import (
    ConfigError,
    check_directory,
    check_flag,
    check_groups,
    check_int_setting,
    compose,
    error_text,
    instantiate,
    plain_config,
    to_plain,
)
from rgnet.runs.identity import (
    LAST_CHECKPOINT,
    RUN_CONFIG,
    check_run_dir,
    config_hash,
    identity,
    lock_run_dir,
)
from rgnet.runs.report import CONSTANT_METRICS, flatten, is_finite_number, metric_rank, same_quantity
from rgnet.runs.segments import MID_EPOCH_WARNING, Segment, attach_progress, outcome_of, segment_fields
from rgnet.runs.summary import new_summary, write_summary

log = logging.getLogger(__name__)
COMMAND = "rgnet-train"


def compose_train(
    overrides: Sequence[str] = (), output_dir: str | os.PathLike[str] | None = None
) -> DictConfig:
    """``conf/train.yaml`` composed with ``overrides`` (see :func:`rgnet.runs.config.compose`)."""
    return compose("train", overrides, output_dir)


#: Top-level settings and config groups of a composed ``conf/train.yaml`` (``+seeed=1`` is an error).
TOP_LEVEL_KEYS = (
    "task_name",
    "output_dir",
    "seed",
    "threads",
    "resume",
    "test",
    "optimized_metric",
    "checkpoint_every_n_steps",
    "paths",
    "data",
    "model",
    "trainer",
    "logger",
    "callbacks",
)


def check_top_level(cfg: DictConfig) -> None:
    """The run's own settings (seed, flags, task name, thread and checkpoint counts, paths) and its groups."""
    unknown = sorted(str(key) for key in cfg if key not in TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown} of {COMMAND}; allowed: {list(TOP_LEVEL_KEYS)}")
    check_groups(
        cfg,
        ("paths", "data", "model", "trainer", "logger", "callbacks"),
        " (choose an experiment, e.g. experiment=mehta_schwab)",
    )
    for key in ("output_dir", "cache_dir"):
        value = cfg.paths.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"paths.{key} must be a directory path, got {value!r}")
    check_int_setting(cfg, "seed", minimum=0, maximum=2**32 - 1, optional=False)
    for flag in ("resume", "test"):
        check_flag(cfg, flag)
    if not isinstance(cfg.task_name, str) or not cfg.task_name or "/" in cfg.task_name:
        raise ConfigError(f"task_name must be a non-empty name without '/', got {cfg.task_name!r}")
    check_int_setting(cfg, "threads", minimum=1)
    check_int_setting(cfg, "checkpoint_every_n_steps", minimum=1)
    if cfg.optimized_metric is not None and not isinstance(cfg.optimized_metric, str):
        raise ConfigError(f"optimized_metric must be null or a metric name, got {cfg.optimized_metric!r}")


def build(cfg: DictConfig, *, multirun: bool = False) -> dict[str, Any]:
    """Instantiate the data module, model, callbacks and loggers of ``cfg`` (cheap: nothing is sampled).

    Returns ``{"datamodule", "model", "callbacks": {name: callback}, "loggers": [...],
    "trainer_kwargs"}``. Raises :class:`ConfigError` naming the offending field. ``multirun``: the run is
    one job of a local sweep (which cannot start DDP ranks by re-running the command).
    """
    from omegaconf.errors import OmegaConfBaseException

    try:
        return _build(cfg, multirun=multirun)
    except OmegaConfBaseException as err:  # a missing value (data=ising2d_file without data.path), ...
        raise ConfigError(error_text(err)) from None


def _cache_dirs(cfg: DictConfig) -> list[tuple[str, Any]]:
    """(setting, directory) of each dataset cache the run uses: the data's and the callbacks'."""
    nodes = [("data", cfg.data)] + [(f"callbacks.{name}", node) for name, node in cfg.callbacks.items()]
    found = []
    for prefix, node in nodes:
        if isinstance(node, DictConfig) and "cache_dir" in node:
            value = node.cache_dir
            setting = "paths.cache_dir" if value == cfg.paths.cache_dir else f"{prefix}.cache_dir"
            found.append((setting, value))
    return found


def _build(cfg: DictConfig, *, multirun: bool) -> dict[str, Any]:
    import lightning

    from rgnet.runs.cluster import under_slurm

    check_top_level(cfg)
    for setting, directory in _cache_dirs(cfg):
        check_directory(directory, setting)
    datamodule = instantiate(cfg.data, "data")
    model = instantiate(cfg.model, "model")
    if isinstance(model, ChecksDataModule):  # sizes that do not fit the data, caught before the data are made
        try:
            model.check_datamodule(datamodule)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"model: {error_text(err)}") from None
    callbacks = {
        name: instantiate(node, f"callbacks.{name}")
        for name, node in cfg.callbacks.items()
        if node is not None
    }
    for name, callback in callbacks.items():  # a measurement that cannot serve the model or the data: before
        try:  # any data is made
            if isinstance(callback, ChecksModel):
                callback.check_model(model)
            if isinstance(callback, ChecksDataModule):
                callback.check_datamodule(datamodule)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"callbacks.{name}: {error_text(err)}") from None
    loggers = [instantiate(node, f"logger.{name}") for name, node in cfg.logger.items() if node is not None]
    for name, logger in zip([n for n, node in cfg.logger.items() if node is not None], loggers, strict=True):
        _check_logger_options(logger, f"logger.{name}")
    trainer_kwargs = to_plain(cfg.trainer)
    if not isinstance(trainer_kwargs, dict):
        raise ConfigError(f"trainer must be a mapping of Trainer settings, got {trainer_kwargs!r}")
    for key in ("callbacks", "logger", "plugins"):
        if key in trainer_kwargs:
            raise ConfigError(f"trainer.{key} is set by rgnet-train (the {key} group), not in trainer")
    try:  # unknown Trainer arguments fail here, before any data is made
        inspect.signature(lightning.Trainer).bind(**trainer_kwargs)
    except TypeError as err:
        raise ConfigError(f"trainer: {err}") from None
    check_trainer_settings(trainer_kwargs)
    if trainer_kwargs.get("strategy") == "ddp" and multirun and not under_slurm():
        raise ConfigError(
            "trainer.strategy=ddp starts its ranks by re-running the command, which a local multirun "
            "cannot do; sweep with trainer.strategy=ddp_spawn, or submit the sweep with "
            "hydra/launcher=submitit_slurm"
        )
    trainer = make_trainer(trainer_kwargs, list(callbacks.values()), loggers)
    return {
        "datamodule": datamodule,
        "model": model,
        "callbacks": callbacks,
        "loggers": loggers,
        "trainer_kwargs": trainer_kwargs,
        "trainer": trainer,
    }


def _check_logger_options(logger: Any, field: str) -> None:
    """A TensorBoard logger hands its unknown keyword arguments to the event writer, which fails on them only
    at the first logged value (mid-training): they are checked here against the writer's signature."""
    from lightning.pytorch.loggers import TensorBoardLogger

    if not isinstance(logger, TensorBoardLogger):
        return
    from torch.utils.tensorboard import SummaryWriter

    extra = dict(getattr(logger, "_kwargs", {}))
    try:
        inspect.signature(SummaryWriter).bind(**extra)
    except TypeError:
        allowed = [p for p in inspect.signature(SummaryWriter).parameters if p != "log_dir"]
        raise ConfigError(
            f"{field}: unknown option(s) {sorted(extra)} of the TensorBoard logger; besides "
            f"TensorBoardLogger's own it takes {allowed}"
        ) from None


#: Lightning accelerators rgnet runs on.
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
#: Trainer flags that must be true or false (Lightning takes any truthy value and fails later, or not at all).
TRAINER_FLAGS = (
    "enable_checkpointing",
    "enable_model_summary",
    "enable_progress_bar",
    "sync_batchnorm",
    "use_distributed_sampler",
    "inference_mode",
    "detect_anomaly",
    "barebones",
)


def _trainer_int(kwargs: Mapping[str, Any], key: str, minimum: int, *, extra: tuple[Any, ...] = ()) -> None:
    """``trainer.<key>``, when set, is an integer >= ``minimum`` or one of the values ``extra``."""
    if key not in kwargs:
        return
    value = kwargs[key]
    if any(value is e or (value == e and not isinstance(value, bool)) for e in extra):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = " or ".join([f"an integer >= {minimum}", *("null" if e is None else str(e) for e in extra)])
        raise ConfigError(f"trainer.{key} must be {allowed}, got {value!r}")


def check_trainer_settings(kwargs: Mapping[str, Any]) -> None:
    """The Trainer settings that Lightning accepts and fails on only later, mid-training, or with a message
    that does not name the setting (``max_epochs=abc``: a bare AssertionError; ``max_epochs=0``: a run
    that trains nothing; ``log_every_n_steps=0``: a division by zero at the first step; ``trainer=gpu`` on
    a machine without a GPU). Raises :class:`ConfigError` naming the setting and the allowed values."""
    import torch

    _trainer_int(kwargs, "max_epochs", 1, extra=(-1, None))
    _trainer_int(kwargs, "max_steps", 1, extra=(-1,))
    for key in ("min_epochs", "min_steps", "reload_dataloaders_every_n_epochs"):
        _trainer_int(kwargs, key, 0, extra=(None,))
    for key in ("num_nodes", "log_every_n_steps", "accumulate_grad_batches"):
        _trainer_int(kwargs, key, 1)
    _trainer_int(kwargs, "check_val_every_n_epoch", 1, extra=(None,))
    for key in TRAINER_FLAGS:
        if key in kwargs and not isinstance(kwargs[key], bool):
            raise ConfigError(f"trainer.{key} must be true or false, got {kwargs[key]!r}")
    if kwargs.get("benchmark") is not None and not isinstance(kwargs["benchmark"], bool):
        raise ConfigError(f"trainer.benchmark must be true, false or null, got {kwargs['benchmark']!r}")
    deterministic = kwargs.get("deterministic")
    if deterministic is not None and not isinstance(deterministic, bool) and deterministic != "warn":
        raise ConfigError(f"trainer.deterministic must be true, false, 'warn' or null, got {deterministic!r}")
    fast = kwargs.get("fast_dev_run", False)
    if not isinstance(fast, bool) and (not isinstance(fast, int) or fast < 0):
        raise ConfigError(f"trainer.fast_dev_run must be true, false or an integer >= 0, got {fast!r}")
    clip = kwargs.get("gradient_clip_val")
    if clip is not None and (isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip >= 0):
        raise ConfigError(f"trainer.gradient_clip_val must be a number >= 0 or null, got {clip!r}")
    interval = kwargs.get("val_check_interval")
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, (int, float))
        or (isinstance(interval, int) and interval < 1)
        or (isinstance(interval, float) and not 0.0 < interval <= 1.0)
    ):
        raise ConfigError(
            "trainer.val_check_interval must be an integer >= 1 (batches), a fraction in (0, 1] of an epoch "
            f"or null, got {interval!r}"
        )
    max_time = kwargs.get("max_time")
    if max_time is not None and not (
        isinstance(max_time, dict)
        or (isinstance(max_time, str) and re.fullmatch(r"\d+:\d{1,2}:\d{1,2}:\d{1,2}", max_time))
    ):
        raise ConfigError(
            "trainer.max_time must be 'DD:HH:MM:SS' (e.g. '00:12:00:00'), a mapping such as {hours: 12} "
            f"or null, got {max_time!r}"
        )
    root = kwargs.get("default_root_dir")
    if root is not None and (not isinstance(root, str) or not root.strip()):
        raise ConfigError(f"trainer.default_root_dir must be a directory path or null, got {root!r}")
    accelerator = kwargs.get("accelerator", "auto")
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"trainer.accelerator must be one of {list(ACCELERATORS)}, got {accelerator!r}")
    devices = kwargs.get("devices", "auto")
    valid_devices = (
        (isinstance(devices, int) and not isinstance(devices, bool) and (devices >= 1 or devices == -1))
        or devices == "auto"
        or (isinstance(devices, str) and devices.replace(",", "").replace(" ", "").isdigit())
        or (
            isinstance(devices, list)
            and bool(devices)
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in devices)
        )
    )
    if not valid_devices:
        raise ConfigError(
            "trainer.devices must be a number of devices >= 1, -1 (all), 'auto' or a list of device indices, "
            f"got {devices!r}"
        )
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator={accelerator!r}: no CUDA GPU is available on this machine; use trainer=cpu "
            "(or trainer=ddp_sim for DDP on the CPU)"
        )
    if accelerator in ("gpu", "cuda") and isinstance(devices, int) and devices > torch.cuda.device_count():
        raise ConfigError(
            f"trainer.devices={devices} but this machine has {torch.cuda.device_count()} CUDA GPU(s)"
        )


@contextlib.contextmanager
def _quiet_lightning() -> Any:
    """Lightning's notes at Trainer construction (GPU available, tips) are shown by the run, not the check."""
    import lightning.pytorch  # noqa: F401 - its import sets its loggers' levels: before they are raised here

    with quiet_loggers("lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        yield


def make_trainer(trainer_kwargs: Mapping[str, Any], callbacks: list[Any], loggers: list[Any]) -> Any:
    """The run's ``lightning.Trainer`` (cheap: nothing is written until it fits); Lightning's own refusals
    (``precision=banana``, ``strategy=fsdp`` on the CPU, ``max_time=forever``) become a
    :class:`ConfigError` naming the trainer settings."""
    import lightning

    from rgnet.runs.cluster import cluster_plugins

    plugins = cluster_plugins()
    try:
        return lightning.Trainer(
            **trainer_kwargs, callbacks=callbacks, logger=loggers or False, plugins=plugins or None
        )
    except Exception as err:  # noqa: BLE001 - Lightning raises many types (Misconfiguration, Value, Import)
        raise ConfigError(f"trainer: {error_text(err)}") from None


def check(cfg: DictConfig) -> None:
    """Everything :func:`run` checks before it starts work, without starting it (raises ConfigError)."""
    with _quiet_lightning():
        build(cfg)
    check_run_dir(cfg, Path(cfg.output_dir).resolve())


# ------------------------------------------------------------------------------------------- metrics
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
    """Final metrics: logged scalars, ``model.summary_metrics()``, then each callback's under its name."""
    metrics: dict[str, Any] = _scalar_metrics(trainer.callback_metrics)
    if isinstance(model, ReportsSummaryMetrics):
        metrics.update(model.summary_metrics())
    for name, callback in callbacks.items():
        if isinstance(callback, ReportsSummaryMetrics):
            metrics[name] = callback.summary_metrics()
    return metrics


def optimized_value(cfg: DictConfig, summary: Mapping[str, Any]) -> float | None:
    """The value of ``cfg.optimized_metric`` in the summary's metrics (for Hydra sweepers), or None.

    A finished run whose metrics lack it (a setting switched off what produces it, e.g. the block-spin
    control) stays finished: the sweeper gets NaN, which Optuna records as a failed trial, and a warning
    says why.
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


# ------------------------------------------------------------------------------------------- the run
def run(cfg: DictConfig, output_dir: str | os.PathLike[str], *, multirun: bool = False) -> dict[str, Any]:
    """Validate, train, test and summarize one run of ``cfg`` in ``output_dir``; returns the summary.

    The summary (also written to ``output_dir/summary.json`` by rank zero) holds the fixed keys of
    :func:`rgnet.runs.summary.new_summary` (``config_hash`` of :func:`identity`), ``metrics`` (see
    :func:`collect_metrics`), ``epochs``, ``global_step``, ``tested``, the checkpoint resumed from and the
    exported figures.
    """
    import lightning

    from rgnet._threads import set_threads

    start = time.perf_counter()
    run_dir = Path(output_dir).resolve()
    check_top_level(cfg)  # the seed among them
    if cfg.threads is not None:
        set_threads(cfg.threads)
    lightning.seed_everything(cfg.seed, workers=True, verbose=False)  # before the model draws its weights
    parts = build(cfg, multirun=multirun)
    rank_zero = lightning.fabric.utilities.rank_zero.rank_zero_only.rank == 0
    resume_from = check_run_dir(cfg, run_dir, rank_zero=rank_zero)
    run_dir.mkdir(parents=True, exist_ok=True)
    with lock_run_dir(run_dir) if rank_zero else contextlib.nullcontext():  # the ranks of one run share it
        return _train(cfg, parts, run_dir, resume_from, start, rank_zero=rank_zero)


def _train(
    cfg: DictConfig,
    parts: dict[str, Any],
    run_dir: Path,
    resume_from: Path | None,
    start: float,
    *,
    rank_zero: bool,
) -> dict[str, Any]:
    """The work of :func:`run` once ``run_dir`` is checked and held."""
    run_identity = identity(cfg)
    if rank_zero and not (run_dir / RUN_CONFIG).is_file():
        atomic_write_json(run_dir / RUN_CONFIG, run_identity)
    trainer = parts["trainer"]
    model, datamodule = parts["model"], parts["datamodule"]
    if resume_from is not None and resume_from.name != LAST_CHECKPOINT.name:
        log.warning(
            "resuming from %s, the loadable checkpoint with the most steps, not from %s (a kill between "
            "checkpoint writes left it broken or behind)",
            resume_from,
            LAST_CHECKPOINT,
        )
    elif resume_from is not None:
        log.info("resuming from %s", resume_from)
    # no pickled code runs from a checkpoint whatever torch's default (check_checkpoint loaded it so too)
    safe = {"weights_only": True} if "weights_only" in inspect.signature(trainer.fit).parameters else {}
    segment = _start_segment(trainer, run_dir, start) if rank_zero else None  # this process's part of the run
    tested = False
    try:
        with warnings.catch_warnings():  # rgnet says what a mid-epoch resume restores (mid_epoch_note)
            warnings.filterwarnings("ignore", message=MID_EPOCH_WARNING)
            ckpt_path = str(resume_from) if resume_from else None
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, **safe)
        if cfg.test and _has_test_loop(model, datamodule) and not trainer.fast_dev_run:
            trainer.test(model, datamodule=datamodule, verbose=False)
            tested = True
    except BaseException as err:  # a signal, a requeue, an error: the segment records how far it got
        if segment is not None:
            segment.end(outcome_of(err), trainer.global_step)
            attach_progress(err, run_dir)
        raise
    if segment is not None:
        segment.end(outcome_of(None, interrupted=trainer.interrupted), trainer.global_step)
    metrics = collect_metrics(trainer, model, parts["callbacks"])
    summary = new_summary(
        COMMAND,
        "finished" if not trainer.interrupted else "interrupted",
        plain_config(cfg),
        started=start,
        device=trainer.strategy.root_device,
        config_hash=config_hash(run_identity),
        task_name=cfg.task_name,
        run_dir=str(run_dir),
        metrics=metrics,
        epochs=trainer.current_epoch,
        global_step=trainer.global_step,
        tested=tested,
        resumed_from=None if resume_from is None else str(resume_from),
        **(segment_fields(run_dir) if segment is not None else {}),  # restarts, wall time of all segments
    )
    if trainer.is_global_zero:
        _log_hparams(parts["loggers"], cfg, summary, parts["callbacks"])
        summary["figures"] = [str(path) for path in _export_figures(parts["loggers"], run_dir / "figures")]
        write_summary(run_dir, summary)
        log.info("wrote %s", run_dir / "summary.json")
    return summary


def _start_segment(trainer: Any, run_dir: Path, start: float) -> Segment:
    """Record this process's segment of the run (segments.json, from ``start``, its ``perf_counter``);
    its heartbeat rides on the trainer's callbacks."""
    segment = Segment(run_dir, trainer.global_step, started=start)
    trainer.callbacks.append(segment.callback())
    return segment


def _has_test_loop(model: Any, datamodule: Any) -> bool:
    import lightning

    overridden = type(model).test_step is not lightning.LightningModule.test_step
    return (
        overridden and type(datamodule).test_dataloader is not lightning.LightningDataModule.test_dataloader
    )


def _log_hparams(
    loggers: list[Any], cfg: DictConfig, summary: Mapping[str, Any], callbacks: Mapping[str, Any]
) -> None:
    """TensorBoard's HParams session of the run: its settings (:func:`hparam_settings`, those given on the
    command line marked as the ones that vary) and the tags of its final physics (:func:`hparam_metrics`).
    Tags missing from the run's event files (the model's summary values, a step metric Lightning had not
    written yet) are logged once at the final step; other loggers get the settings and every value."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from rgnet.callbacks._tensorboard import scalar_tags, write_hparams

    params = hparam_settings(cfg, summary)
    step = summary["global_step"]
    for logger in loggers:
        if not isinstance(logger, TensorBoardLogger):
            metrics, _ = hparam_metrics(summary["metrics"], callbacks, ())
            logger.log_hyperparams(params)
            logger.log_metrics({tag: float(value) for tag, value in metrics.items()}, step=step)
            continue
        logger.experiment.flush()
        metrics, missing = hparam_metrics(summary["metrics"], callbacks, scalar_tags(logger.log_dir))
        for tag in missing:
            logger.experiment.add_scalar(tag, float(metrics[tag]), step)
        logger.experiment.flush()
        differs = {*_override_keys(cfg), "epochs"} & set(params)
        write_hparams(logger.log_dir, params, list(metrics), differs=differs, status=summary["status"])


def hparam_settings(cfg: DictConfig, summary: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that identify the run (:func:`rgnet.runs.identity.identity`, flattened, lists as JSON
    text) and how far it trained: ``epochs`` and ``global_step``."""
    params = {key: value for key, value in flatten(identity(cfg)).items() if not key.endswith("_target_")}
    return params | {"epochs": int(summary["epochs"]), "global_step": int(summary["global_step"])}


def _override_keys(cfg: DictConfig) -> set[str]:
    """The settings that vary between the runs this one is compared with: in a Hydra sweep the swept ones
    (the sweep overrides of the sweep's ``multirun.yaml``, e.g. ``data.K=0.3,0.408``, and the sweeper's
    ``params``); in a single rgnet-train run its command-line overrides (Hydra's, else those the run
    directory's name spells out, :func:`rgnet.runs.identity.run_id`)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    parser = OverridesParser.create()
    if not HydraConfig.initialized():
        return set(re.findall(r"(?:^|,)([A-Za-z_][\w.]*)=", Path(str(cfg.output_dir)).name))
    hydra = HydraConfig.get()
    sweep = Path(str(hydra.sweep.dir)) / "multirun.yaml" if hydra.mode == RunMode.MULTIRUN else None
    if sweep is not None and sweep.is_file():
        unreadable = (OSError, ValueError, AttributeError, HydraException, OmegaConfBaseException)
        with contextlib.suppress(*unreadable):  # then the job's own overrides, below
            swept = OmegaConf.load(sweep).hydra
            overrides = parser.parse_overrides(list(swept.overrides.task))
            keys = {o.key_or_group for o in overrides if o.is_sweep_override()}
            keys |= set((swept.sweeper.get("params") or {}).keys())
            return {key.replace("/", ".") for key in keys}
    return {o.key_or_group.replace("/", ".") for o in parser.parse_overrides(list(hydra.overrides.task))}


#: Plain lists of numbers in a model's summary and what their index counts (lists ``<name>_per_<unit>``
#: count ``<unit>``s; any other list its items).
LIST_INDEX = {
    "prior_K": "layer",
    "prior_h": "layer",
    "units_sharing_a_site": "layer",
    "filter_norm": "variable",
}


def _flat_scalars(metrics: Mapping[str, Any]) -> dict[str, float | bool]:
    """Every finite number and bool of a (model's) summary under a ``/``-separated tag: lists of records with
    a ``layer`` or ``level`` become ``<name>/layer{n}/<field>``, lists of numbers ``<name>/<index><i>``
    (:data:`LIST_INDEX`); nested lists (weights, histories) are left out."""
    out: dict[str, float | bool] = {}
    for key, value in flatten(metrics).items():
        if CONSTANT_METRICS.search(key):
            continue
        tag = key if "/" in key else key.replace(".", "/")  # Lightning's tags as logged
        if isinstance(value, bool) or is_finite_number(value):
            out[tag] = value
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            index = next((k for k in ("layer", "level") if all(k in v for v in value)), None)
            if index is None or len({v[index] for v in value}) < len(value):
                continue
            for record in value:
                for field, item in record.items():
                    if field != index and (isinstance(item, bool) or is_finite_number(item)):
                        out[f"{tag}/{index}{record[index]}/{field}"] = item
        elif isinstance(value, list) and all(isinstance(v, bool) or is_finite_number(v) for v in value):
            base, _, unit = tag.partition("_per_")
            unit = unit or LIST_INDEX.get(tag, "item")
            out.update({f"{base}/{unit}{i + 1}": item for i, item in enumerate(value)})
    return out


def hparam_metrics(
    metrics: Mapping[str, Any], callbacks: Mapping[str, Any], logged: Collection[str]
) -> tuple[dict[str, float | bool], list[str]]:
    """The run's final results as TensorBoard tags for HParams, one tag per quantity, and those of them
    that are not among the ``logged`` scalar tags.

    Callbacks that report their own (:class:`rgnet.callbacks._tensorboard.ReportsHParamMetrics`: per-layer
    couplings and their references, verdicts, exponents per level, ...) give their tags as they are; the rest
    of ``metrics`` (Lightning's logged metrics, the model's summary, other callbacks) is flattened
    (:func:`_flat_scalars`), leaving out non-finite values, settings and constants
    (:data:`rgnet.runs.report.CONSTANT_METRICS`: exact values, ln 2, K0, h0, epochs, beta, ...) and values
    another tag already holds (the model's copy of a callback's measurement, ``train_x`` of ``train/x``:
    :func:`rgnet.runs.report.same_quantity`). Ordered verdicts first (0/1), then the callbacks' physics, the
    model's, and the training curves (:func:`rgnet.runs.report.metric_rank`)."""
    from rgnet.callbacks._tensorboard import ReportsHParamMetrics

    reporting = {name: cb for name, cb in callbacks.items() if isinstance(cb, ReportsHParamMetrics)}
    chosen: dict[str, tuple[float | bool, float]] = {}  # tag -> (value, rank)
    for callback in reporting.values():
        for tag, value in callback.hparam_metrics().items():
            if isinstance(value, bool) or is_finite_number(value):
                chosen.setdefault(tag, (value, 0 if isinstance(value, bool) else 1))
    rest = {key: value for key, value in metrics.items() if key not in reporting}
    logged_first = sorted(_flat_scalars(rest).items(), key=lambda item: item[0] not in logged)
    for tag, value in logged_first:
        if tag in chosen or CONSTANT_METRICS.search(tag):
            continue
        if any(same_quantity(tag, [float(value)], other, [float(v)]) for other, (v, _) in chosen.items()):
            continue
        rank = metric_rank(tag, verdict=isinstance(value, bool))
        chosen[tag] = (value, 1.5 if rank == 1 else rank)  # the model's physics after the callbacks'
    order = sorted(chosen, key=lambda tag: chosen[tag][1])  # stable: the callbacks' own order within a rank
    return {tag: chosen[tag][0] for tag in order}, [tag for tag in order if tag not in logged]


def _export_figures(loggers: list[Any], out_dir: Path) -> list[Path]:
    """The latest TensorBoard images of the run as PNG files in ``out_dir`` (export_tensorboard_images)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    from rgnet.runs.report import export_tensorboard_images

    written: list[Path] = []
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.flush()
            written += export_tensorboard_images(logger.log_dir, out_dir)
    return written
