"""What identifies a run: its directory name, the part of its config that decides what it computes, and the
guard that keeps one run directory from receiving a different run.

One list, :data:`NON_IDENTITY_KEYS`, says which settings do not change what a run computes (where it runs,
how it logs, whether it resumes): they are left out of both the directory name and the stored identity, so
the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rgnet.files import sha256_json, sha256_text
from rgnet.runs.config import ConfigError

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


def names_identity(key: str) -> bool:
    """Whether overriding ``key`` (``data.K``, ``trainer``, ``hydra/launcher``, ...) changes what
    is computed."""
    parts = key.replace("/", ".").split(".")
    if parts[0] == "callbacks" and len(parts) > 2 and parts[1] in MEASUREMENT_CALLBACKS:
        return parts[2] not in NON_IDENTITY_CALLBACK_KEYS
    if key in DIRECTORY_ONLY_KEYS or parts[0] in NON_IDENTITY_KEYS:
        return False
    return not (parts[0] == "data" and len(parts) == 2 and parts[1] in NON_IDENTITY_DATA_KEYS)


def run_id(overrides: Sequence[str]) -> str:
    """Directory name of a run from its command-line overrides (Hydra's ``hydra.overrides.task``).

    The overrides that name the identity (:func:`names_identity`), sorted and joined by commas;
    ``default`` when there are none; no path separators; at most :data:`MAX_RUN_ID` characters (longer
    names keep a prefix and a hash of the whole).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    lines = sorted(o.input_line for o in parsed if names_identity(o.key_or_group) and o.input_line)
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
    """``run_dir`` must exist as a writable directory or be creatable (checked before anything is written)."""
    existing = next((p for p in [run_dir, *run_dir.parents] if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"output directory {run_dir} cannot be created or written (check paths.output_dir)")


def check_run_dir(cfg: DictConfig, run_dir: Path) -> Path | None:
    """Check that ``run_dir`` can hold this run; return the checkpoint to resume from (or None).

    Refuses (:class:`ConfigError`) an output directory that cannot be written, a directory whose
    checkpoints belong to a different config (listing the differing keys), and existing checkpoints with
    ``resume=false``. Nothing in the directory is modified.
    """
    check_writable(run_dir)
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
