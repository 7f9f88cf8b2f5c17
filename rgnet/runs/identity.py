"""What identifies a run: its directory name, the part of its config that decides what it computes, and the
guards of its directory: one run at a time (:func:`lock_run_dir`), never a different config, never a silent
restart over earlier training (:func:`check_run_dir`).

One list, :data:`NON_IDENTITY_KEYS`, says which settings do not change what a run computes (where it runs,
how it logs, whether it resumes): they are left out of both the directory name and the stored identity, so
the two cannot drift apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rgnet.files import sha256_json, sha256_text
from rgnet.runs.config import ConfigError, check_directory

#: Top-level keys (and config groups) whose values do not change what a run computes.
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
#: Callbacks whose settings change a run's measured results (summary.json), not only how it is logged: their
#: overrides name the run and enter its identity (all but the keys in NON_IDENTITY_CALLBACK_KEYS).
MEASUREMENT_CALLBACKS = ("rg_measurement",)
NON_IDENTITY_CALLBACK_KEYS = ("cache_dir",)
#: Keys of the data group that only affect how data are served or shown.
NON_IDENTITY_DATA_KEYS = ("progress", "num_workers", "pin_memory", "cache_dir")
#: Overrides left out of the directory name although they change the config: ``experiment`` chooses
#: ``task_name``, which already names the parent directory.
DIRECTORY_ONLY_KEYS = ("experiment",)
#: Longest run id used verbatim as a directory name; longer ones are shortened and suffixed with a hash.
MAX_RUN_ID = 120
RUN_CONFIG = "run_config.json"
LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
#: Held (flock) by the run training in the directory; it stays on disk, the lock dies with the process.
LOCK = ".lock"
#: Subdirectories whose files show that an earlier run trained here (its checkpoints, its TensorBoard logs).
TRAINING_EVIDENCE = ("checkpoints", "tensorboard")
START_OVER = "delete the run directory to start over, or choose another paths.output_dir or task_name"


class RunDirBusy(ConfigError):
    """Another process holds the run directory's lock."""


def names_identity(key: str) -> bool:
    """Whether overriding ``key`` (``data.K``, ``trainer``, ``hydra/launcher``, ...) changes what
    is computed."""
    parts = key.replace("/", ".").split(".")
    if parts[0] == "callbacks" and len(parts) > 2 and parts[1] in MEASUREMENT_CALLBACKS:
        return parts[2] not in NON_IDENTITY_CALLBACK_KEYS
    if key in DIRECTORY_ONLY_KEYS or parts[0] in NON_IDENTITY_KEYS:
        return False
    return not (parts[0] == "data" and len(parts) == 2 and parts[1] in NON_IDENTITY_DATA_KEYS)


#: Where a setting's group goes in a run's name (then alphabetically): the physics first, so that
#: TensorBoard's sidebar and image cards, which cut long names, show what a sweep varies; measurements last.
_NAME_ORDER = ("data", "model", "seed", "trainer")


def _name_rank(key: str) -> int:
    group = key.lstrip("+~").split(".", 1)[0]
    if group == "callbacks":
        return len(_NAME_ORDER) + 1
    return _NAME_ORDER.index(group) if group in _NAME_ORDER else len(_NAME_ORDER)


def run_id(overrides: Sequence[str]) -> str:
    """Directory name of a run from its command-line overrides (Hydra's ``hydra.overrides.task``).

    The overrides that name the identity (:func:`names_identity`), data and model settings first, then the
    seed, the trainer, other settings and the measurements (``callbacks.*``), each group sorted, joined by
    commas;
    ``default`` when there are none; no path separators; at most :data:`MAX_RUN_ID` characters (longer
    names keep a prefix and a hash of the whole).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    kept = [o for o in parsed if names_identity(o.key_or_group) and o.input_line]
    lines = [o.input_line for o in sorted(kept, key=lambda o: (_name_rank(o.key_or_group), o.input_line))]
    name = ",".join(lines).replace(os.sep, "_").replace("/", "_") or "default"
    if len(name) > MAX_RUN_ID:
        name = f"{name[: MAX_RUN_ID - 13]}~{sha256_text(name)[:12]}"
    return name


def identity(cfg: DictConfig) -> dict[str, Any]:
    """The part of the resolved config that decides what a run computes (compared when resuming)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    callbacks = plain.get("callbacks") or {}
    measurements = {
        name: {k: v for k, v in callbacks[name].items() if k not in NON_IDENTITY_CALLBACK_KEYS}
        for name in MEASUREMENT_CALLBACKS
        if isinstance(callbacks.get(name), dict)
    }
    for key in NON_IDENTITY_KEYS:
        plain.pop(key, None)
    if measurements:
        plain["callbacks"] = measurements
    if isinstance(plain.get("data"), dict):
        for key in NON_IDENTITY_DATA_KEYS:
            plain["data"].pop(key, None)
    return plain


def config_hash(config: Any) -> str:
    """Hex sha256 of a JSON-ready config (sorted keys)."""
    return sha256_json(config)


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for key in keys for d in _differences(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [f"{prefix[:-1]}: {old!r} -> {new!r}"]


def check_writable(run_dir: Path) -> None:
    """``run_dir`` must exist as a writable directory or be creatable (checked before anything is written,
    by :func:`rgnet.runs.config.check_directory`: a probe that leaves nothing behind)."""
    try:
        check_directory(run_dir, "paths.output_dir", label=f"output directory {run_dir}")
    except ConfigError as err:
        raise ConfigError(f"{err} (check paths.output_dir)") from None


def _try_lock(run_dir: Path, *, create: bool) -> int | None:
    """File descriptor of ``run_dir/.lock`` locked exclusively (None: no lock file and not ``create``)."""
    path = run_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o666)
    except FileNotFoundError:
        if create:
            raise
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunDirBusy(
            f"another rgnet-train is running in {run_dir} (it holds {path}); wait for it to end, or run "
            "elsewhere with another paths.output_dir or task_name"
        ) from None
    return fd


@contextlib.contextmanager
def lock_run_dir(run_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock of the existing ``run_dir`` for the ``with`` block; :class:`RunDirBusy` at
    once when another process holds it. The lock (``flock``) ends with the block or with the process."""
    fd = _try_lock(run_dir, create=True)
    try:
        yield
    finally:
        os.close(fd)


def _check_unlocked(run_dir: Path) -> None:
    """:class:`RunDirBusy` when another process holds ``run_dir``'s lock (creates nothing)."""
    fd = _try_lock(run_dir, create=False)
    if fd is not None:
        os.close(fd)


def _trained_here(run_dir: Path) -> Path | None:
    """A file showing that an earlier run trained in ``run_dir`` (a TensorBoard log, a file under
    ``checkpoints/``), or None."""
    for name in TRAINING_EVIDENCE:
        found = next((p for p in sorted((run_dir / name).rglob("*")) if p.is_symlink() or p.is_file()), None)
        if found is not None:
            return found
    return None


def check_checkpoint(checkpoint: Path) -> int:
    """``checkpoint`` must load as a Lightning checkpoint with ``weights_only=True`` (no pickled code runs);
    return its ``global_step``, or raise :class:`ConfigError` naming it (missing, dangling link, empty,
    truncated, unsafe)."""
    import torch

    if checkpoint.is_symlink() and not checkpoint.exists():
        raise ConfigError(f"{checkpoint} links to {os.readlink(checkpoint)}, which does not exist")
    try:
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - whatever a broken file raises, the run must not start on it
        first_line = (str(err).strip() or type(err).__name__).splitlines()[0]
        problem = f"{type(err).__name__}: {first_line}"
        raise ConfigError(f"{checkpoint} cannot be resumed from ({problem})") from None
    if not isinstance(loaded, dict) or "state_dict" not in loaded:
        raise ConfigError(f"{checkpoint} is not a Lightning checkpoint")
    return int(loaded.get("global_step", 0))


def _checkpoint_files(run_dir: Path) -> list[Path]:
    """``checkpoints/last.ckpt`` (file or link, even dangling) first, then the other ``*.ckpt`` there."""
    last = run_dir / LAST_CHECKPOINT
    others = [p for p in sorted(last.parent.glob("*.ckpt")) if p.name != last.name and p.is_file()]
    return ([last] if last.is_file() or last.is_symlink() else []) + others


def newest_checkpoint(candidates: Sequence[Path]) -> Path:
    """The loadable checkpoint of ``candidates`` with the most training steps (the first of equals: list
    ``last.ckpt`` first). A run killed between Lightning's writes (a new top-k file saved, the old one
    removed, last.ckpt not yet re-linked) leaves a dangling or missing last.ckpt beside a good checkpoint,
    and a kill during a write leaves a truncated file beside the previous one: neither loses the run.
    :class:`ConfigError` listing why each failed when none loads."""
    loadable, problems = [], []
    checked: dict[Path, int | str] = {}  # by resolved path: last.ckpt and the file it links to load once
    for candidate in candidates:
        target = candidate.resolve()
        if target not in checked:
            try:
                checked[target] = check_checkpoint(candidate)
            except ConfigError as err:
                checked[target] = str(err).removeprefix(str(candidate))
        outcome = checked[target]
        if isinstance(outcome, int):
            loadable.append((outcome, candidate))
        else:
            problems.append(f"{candidate}{outcome}")
    if not loadable:
        raise ConfigError(f"no checkpoint can be resumed from: {'; '.join(problems)}; {START_OVER}")
    return max(loadable, key=lambda step_path: step_path[0])[1]  # max keeps the first of equal steps


def check_run_dir(cfg: DictConfig, run_dir: Path, *, rank_zero: bool = True) -> Path | None:
    """Check that ``run_dir`` can hold this run; return the checkpoint to resume from (or None).

    Refuses (:class:`ConfigError`) an output directory that cannot be written, a directory that another
    rgnet-train holds (:class:`RunDirBusy`), a directory whose run belongs to a different config (listing
    the differing keys), an existing checkpoint with ``resume=false`` and checkpoints none of which loads
    (:func:`check_checkpoint`: dangling link, empty, truncated, unsafe pickle). The run resumes from the
    loadable checkpoint with the most steps (:func:`newest_checkpoint`: ``last.ckpt`` unless a kill between
    Lightning's writes broke it). A run starts from step 0 only where no earlier training would be lost or
    mixed in: a directory without files under ``checkpoints/`` and ``tensorboard/``, which holds at most
    Hydra's files, ``run_config.json`` and a ``summary.json`` (a failed run, or a finished one with
    checkpoints and TensorBoard off, such as ``debug=fast_dev_run``, whose summary the new run replaces).
    TensorBoard files without a checkpoint (checkpointing off, deleted checkpoints, a run killed before its
    first checkpoint) are refused: restarting would append a second series to the TensorBoard run. Nothing
    is modified. The other ranks of a distributed run (not ``rank_zero``) do not probe the lock, which their
    rank zero holds.
    """
    check_writable(run_dir)
    if rank_zero and run_dir.is_dir():
        _check_unlocked(run_dir)
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
    checkpoints = _checkpoint_files(run_dir)
    if checkpoints and not cfg.resume:
        raise ConfigError(f"{checkpoints[0]} exists and resume=false; resume=true continues that run")
    if checkpoints and not stored.is_file():
        raise ConfigError(
            f"{checkpoints[0]} has no {RUN_CONFIG} beside it; cannot tell whether it fits this config"
        )
    if checkpoints:
        return newest_checkpoint(checkpoints)
    earlier = _trained_here(run_dir)
    if earlier is not None:
        raise ConfigError(
            f"{run_dir} holds earlier training ({earlier}) but no checkpoint to resume from; "
            f"starting again would mix a new run into it: {START_OVER}"
        )
    return None
