"""Composing rgnet's Hydra configs: where they live, the resolvers they use, and errors that name the field.

The configs ship inside the package as ``rgnet.conf`` (``conf/`` at the top of the repository, mapped into the
package by setuptools), so a checkout, an editable install and a wheel read the same files through Hydra's
``pkg://rgnet.conf`` source. A user's own config directory (a cluster launcher, say) joins them through
Hydra's search path: ``hydra.searchpath=[file:///path/to/my_conf]``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from rgnet._checks import check_int

CONFIG_MODULE = "rgnet.conf"
#: Hydra's name for the packaged configs (``@hydra.main(config_path=CONFIG_PATH)``).
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"


def config_dir() -> Path:
    """The directory of the installed configs (``conf/`` of a checkout, ``rgnet/conf`` of a wheel)."""
    from importlib.resources import files

    return Path(str(files(CONFIG_MODULE)))


class ConfigError(ValueError):
    """A composed configuration is invalid; the message names the field (or is Hydra's own, with hints)."""


def error_text(err: BaseException) -> str:
    """The whole message of ``err`` (Hydra's and OmegaConf's hint lines included), or its type's name; a
    ConfigError that a resolver raised inside OmegaConf's error (``potts_K_c`` of a bad ``data.q``) speaks
    for itself."""
    from omegaconf.errors import OmegaConfBaseException

    inner = (err.__cause__ or err.__context__) if isinstance(err, OmegaConfBaseException) else None
    while inner is not None:
        if isinstance(inner, ConfigError):
            return error_text(inner)
        inner = inner.__cause__ or inner.__context__
    return str(err).strip() or type(err).__name__


# ------------------------------------------------------------------------------------------ resolvers
def _product(*factors: int) -> int:
    return math.prod(int(f) for f in factors)


def _critical_coupling() -> float:
    """K_c = ln(1 + sqrt 2) / 2 of the 2D square-lattice Ising model (computed, never copied)."""
    from rgnet.ising.exact import K_CRITICAL

    return K_CRITICAL


def _potts_critical_coupling(q: object) -> float:
    """K_c = ln(1 + sqrt q) of the 2D square-lattice q-state Potts model (``${potts_K_c:${data.q}}``)."""
    from rgnet.potts import potts_critical_coupling

    try:
        return potts_critical_coupling(q)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"data.{err} (the Potts K_c needs the number of colours)") from None


#: Lightning accelerators that a SLURM job must request GPUs for.
GPU_ACCELERATORS = ("gpu", "cuda")


def _slurm_gpus(accelerator: str, devices: int) -> int | None:
    """GPUs per node a SLURM job of this trainer requests: ``devices`` on a GPU accelerator, else None (no
    GPU request at all: ``--gpus-per-node`` on a node without GPUs is an invalid gres specification)."""
    return int(devices) if str(accelerator) in GPU_ACCELERATORS else None


def _required(key: str, what: str) -> None:
    """Raise the ConfigError of a setting ``key`` that the command line must give (``what`` it is)."""
    raise ConfigError(f"{key} is required: set {key}=... ({what})")


def register_resolvers() -> None:
    """OmegaConf resolvers of rgnet's configs: ``mul`` (integer product), ``add`` (integer sum), ``sub``
    (a - b), ``len`` (length of
    a list, e.g. ``${len:${model.layers}}``), ``K_c`` (``${K_c:}``, the 2D Ising critical coupling),
    ``potts_K_c`` (``${potts_K_c:${data.q}}``, the q-state Potts one),
    ``slurm_gpus`` (GPUs per node a SLURM job of ``(accelerator, devices)`` requests, :func:`_slurm_gpus`),
    ``required`` (``${required:data.path,what it is}``: a value the command line must set, where ``???``
    would not do because a default beneath it wins the merge, :func:`_required`) and
    ``run_id`` (a run's directory name from its overrides, :func:`rgnet.runs.identity.run_id`)."""
    from rgnet.runs.identity import run_id

    resolvers = (
        ("mul", _product),
        ("add", lambda *terms: sum(int(t) for t in terms)),
        ("sub", lambda a, b: a - b),
        ("len", len),
        ("K_c", _critical_coupling),
        ("potts_K_c", _potts_critical_coupling),
        ("slurm_gpus", _slurm_gpus),
        ("required", _required),
        ("run_id", lambda overrides: run_id(list(overrides))),
    )
    for name, function in resolvers:
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)


# -------------------------------------------------------------------------------------- composition
def compose(
    config_name: str,
    overrides: Sequence[str] = (),
    output_dir: str | os.PathLike[str] | None = None,
) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with Hydra overrides outside a Hydra run
    (tests, notebooks, checks).

    ``output_dir`` replaces the run directory Hydra would choose (``hydra.run.dir``); the returned config
    has no ``hydra`` node and holds the run directory as ``output_dir``. Raises :class:`ConfigError` with
    Hydra's whole message for unknown keys, groups or options.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_resolvers()
    try:
        with initialize_config_module(CONFIG_MODULE, version_base=None, job_name=f"rgnet-{config_name}"):
            cfg = hydra_compose(config_name, overrides=list(overrides), return_hydra_config=True)
            run_dir = output_dir if output_dir is not None else cfg.hydra.run.dir
    except (HydraException, OmegaConfBaseException) as err:
        message = error_text(err)
        if "Could not override 'data.path'" in message:
            message += (
                "\nThis data group is not read from a dataset file: data.path belongs to data=ising2d, "
                "potts2d and ve_pairs (rgnet-sample output); 1D chains and exact cylinder pairs are made "
                "anew."
            )
        raise ConfigError(message) from None
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.output_dir = str(run_dir)
    return cfg


def to_plain(node: Any) -> Any:
    """A config node as plain resolved Python data (dicts and lists); other values unchanged."""
    return (
        OmegaConf.to_container(node, resolve=True)
        if isinstance(node, DictConfig) or OmegaConf.is_list(node)
        else node
    )


def plain_config(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain data, resolved where it can be (a failure may come from a bad interpolation)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:  # noqa: BLE001 - fall back to the unresolved form
        return OmegaConf.to_container(cfg, resolve=False)


def instantiate(node: Any, field: str) -> Any:
    """``hydra.utils.instantiate`` with errors re-raised as :class:`ConfigError` naming ``field``."""
    import hydra
    from hydra.errors import InstantiationException

    try:
        return hydra.utils.instantiate(node, _convert_="all")
    except InstantiationException as err:
        cause = err.__cause__ if err.__cause__ is not None else err
        raise ConfigError(f"{field}: {error_text(cause)}") from None
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{field}: {error_text(err)}") from None


def check_int_setting(
    cfg: DictConfig, key: str, *, minimum: int, maximum: int | None = None, optional: bool = True
) -> None:
    """:func:`rgnet._checks.check_int` on the top-level setting ``key`` (null allowed when ``optional``)."""
    if optional and cfg[key] is None:
        return
    try:
        check_int(cfg[key], key, minimum=minimum, maximum=maximum)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{err}{' (or null)' if optional else ''}") from None


def check_flag(cfg: DictConfig, key: str) -> None:
    """The top-level setting ``key`` must be true or false."""
    if not isinstance(cfg.get(key), bool):
        raise ConfigError(f"{key} must be true or false, got {cfg.get(key)!r}")


def check_groups(cfg: DictConfig, groups: Sequence[str], hint: str = "") -> None:
    """Each config group in ``groups`` must be present (a mapping)."""
    for group in groups:
        if not isinstance(cfg.get(group), DictConfig):
            raise ConfigError(f"config group {group!r} is missing{hint}")


def check_directory(path: object, setting: str, label: str | None = None) -> Path:
    """The directory ``path`` of ``setting`` (``paths.cache_dir``, ...) exists or can be created, and can
    be written; returns it resolved. Probed by creating and removing a temporary directory in it or in its
    nearest existing parent (``os.access`` says yes to ``/proc`` for root, and mkdir there fails), so a bad
    path fails before anything is written and nothing is left behind (the parent's modification time is
    restored). An empty or non-string path is refused
    (``paths.output_dir=`` would put the runs under ``/``). ``label`` names the directory in the message
    (default ``<setting>=<path>``)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ConfigError(f"{setting} must be a directory path, got {path!r}")
    label = label or f"{setting}={path}"
    target = Path(path).expanduser().resolve()
    existing = next(p for p in [target, *target.parents] if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{label} cannot be created or written: {existing} is not a directory")
    try:
        before = existing.stat()
        os.rmdir(tempfile.mkdtemp(prefix=".rgnet-probe-", dir=existing))
        os.utime(existing, ns=(before.st_atime_ns, before.st_mtime_ns))  # the probe leaves no trace
    except OSError as err:
        reason = err.strerror or err
        raise ConfigError(f"{label} cannot be created or written: {existing}: {reason}") from None
    return target
