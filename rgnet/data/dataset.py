"""Ising datasets on disk: one ``.npz`` file per dataset with provenance and checksum, and a parameter cache.

File format (``format = "rgnet.ising2d"``, ``format_version = 1``): a NumPy ``.npz`` archive (an uncompressed
zip) holding two arrays,

- ``spins``: ``storage = "bits"`` (default) -> uint8 ``(n, ceil(L*L/8))``, the row-major sites of each
  configuration bit-packed with ``np.packbits`` (bit 1 = spin +1), 8x smaller than int8; ``storage = "int8"``
  -> int8 ``(n, L, L)`` of +-1;
- ``metadata``: uint8 bytes of a UTF-8 JSON object (sampler provenance, observables, versions, sha256, ...).

Why ``.npz`` rather than a torch file: it is read without unpickling anything (``allow_pickle=False``, so
opening a file cannot execute code), it is readable from plain NumPy without torch, and every zip member
carries a CRC-32 that the reader verifies, so truncated or bit-flipped files are detected on top of the
sha256 of the unpacked spins stored in the metadata.

Files are written atomically (:mod:`rgnet.files`), so a killed writer never leaves a partial file under the
final name; the cache removes temp files of dead writers before every write.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import zipfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rgnet
from rgnet._checks import check_choice, check_device, check_int, check_real
from rgnet.files import (
    atomic_write_bytes,
    clean_stale_temp_files,
    json_default,
    json_ready,
    sha256_json,
)
from rgnet.ising.samplers import METHODS, SAMPLERS
from rgnet.ising.sampling import SampleSet, generate_2d

log = logging.getLogger(__name__)

DATASET_FORMAT = "rgnet.ising2d"
FORMAT_VERSION = 1
STORAGES = ("bits", "int8")

#: Metadata keys written by :func:`save_dataset` itself; ``extra_metadata`` may not override them.
_RESERVED_KEYS = (
    "format",
    "format_version",
    "n",
    "storage",
    "sha256",
    "rgnet_version",
    "torch_version",
    "numpy_version",
    "created",
)


class DatasetError(ValueError):
    """A dataset file is unreadable, corrupted, or does not match what the caller expects."""


# ---------------------------------------------------------------------------------------------- save / load
def spins_sha256(spins: torch.Tensor | np.ndarray) -> str:
    """Hex sha256 of the C-ordered int8 bytes of ``spins`` (any shape)."""
    array = spins.cpu().numpy() if isinstance(spins, torch.Tensor) else np.asarray(spins)
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.int8).tobytes()).hexdigest()


def _pack(spins: np.ndarray) -> np.ndarray:
    """int8 (n, L, L) +-1 -> uint8 (n, ceil(L*L/8)) bits, 1 for +1."""
    return np.packbits(spins.reshape(spins.shape[0], -1) > 0, axis=1)


def _unpack(packed: np.ndarray, L: int) -> np.ndarray:
    """Inverse of :func:`_pack`: uint8 (n, ceil(L*L/8)) -> int8 (n, L, L) +-1."""
    bits = np.unpackbits(packed, axis=1, count=L * L).astype(np.int8)
    return (2 * bits - 1).reshape(packed.shape[0], L, L)


def save_dataset(
    path: str | os.PathLike[str],
    sample_set: SampleSet,
    storage: str = "bits",
    extra_metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``sample_set`` (spins int8 (n, L, L) +-1 and its provenance) to ``path`` atomically.

    The metadata is ``sample_set.metadata()`` plus ``n``, ``storage``, ``sha256`` of the unpacked spins,
    the rgnet/torch/numpy versions, the UTC creation time and ``extra_metadata`` (JSON-serializable; may not
    override those keys). Returns the path written.
    """
    check_choice(storage, "storage", STORAGES)
    spins = sample_set.spins
    if not isinstance(spins, torch.Tensor) or spins.dtype != torch.int8 or spins.dim() != 3:
        raise ValueError("sample_set.spins must be an int8 tensor of shape (n, L, L)")
    metadata = dict(sample_set.metadata())
    n, rows, cols = spins.shape
    if n == 0 or rows != cols or rows != metadata.get("L"):
        raise ValueError(
            f"sample_set.spins has shape {tuple(spins.shape)}, expected (n >= 1, L, L) "
            f"with L = {metadata.get('L')}"
        )
    array = spins.cpu().numpy()
    if not np.all(np.abs(array.astype(np.int16)) == 1):
        raise ValueError("sample_set.spins must contain only -1 and +1")
    extra = dict(extra_metadata or {})
    clash = sorted(set(extra) & set(_RESERVED_KEYS))
    if clash:
        raise ValueError(f"extra_metadata may not set the reserved keys {clash}")
    metadata.update(extra)
    metadata.update(
        format=DATASET_FORMAT,
        format_version=FORMAT_VERSION,
        n=int(n),
        storage=storage,
        sha256=spins_sha256(array),
        rgnet_version=rgnet.__version__,
        torch_version=torch.__version__,
        numpy_version=np.__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    meta_bytes = json.dumps(metadata, sort_keys=True, default=json_default).encode("utf-8")
    stored = _pack(array) if storage == "bits" else np.ascontiguousarray(array)
    meta_array = np.frombuffer(meta_bytes, dtype=np.uint8)
    return atomic_write_bytes(path, lambda handle: np.savez(handle, spins=stored, metadata=meta_array))


def _read_archive(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Raw stored spins and parsed metadata of the archive at ``path`` (DatasetError when unreadable)."""
    unreadable = f"{path} is not a readable rgnet dataset (truncated, corrupted or another format)"
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DatasetError(f"{unreadable}: expected an .npz archive, found a {type(archive).__name__}")
        with archive:
            missing = {"spins", "metadata"} - set(archive.files)
            if missing:
                raise DatasetError(f"{unreadable}: missing arrays {sorted(missing)}")
            stored = archive["spins"]
            meta_bytes = archive["metadata"]
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as err:
        if isinstance(err, DatasetError):
            raise
        raise DatasetError(f"{unreadable}: {err}") from err
    try:
        if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
            raise ValueError("metadata is not a byte array")
        metadata = json.loads(meta_bytes.tobytes().decode("utf-8"))
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not a JSON object")
    except ValueError as err:
        raise DatasetError(f"{unreadable}: bad metadata ({err})") from err
    return stored, metadata


def load_dataset(
    path: str | os.PathLike[str], expect: Mapping[str, Any] | None = None
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Load and verify a dataset written by :func:`save_dataset`.

    Returns ``(spins, metadata)``: spins int8 ``(n, L, L)`` of +-1 on the CPU, the metadata as stored (JSON
    types).
    Raises FileNotFoundError when ``path`` does not exist and :class:`DatasetError` when the file is
    unreadable, truncated or corrupted, its shapes or sha256 disagree with its metadata, or any key of
    ``expect`` is missing from the metadata or differs from it (floats compared exactly, as stored).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    stored, metadata = _read_archive(path)
    if metadata.get("format") != DATASET_FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format {metadata.get('format')!r} version {metadata.get('format_version')!r}, "
            f"this rgnet reads {DATASET_FORMAT!r} version {FORMAT_VERSION}"
        )
    for key in ("L", "n"):
        if not isinstance(metadata.get(key), int) or isinstance(metadata.get(key), bool) or metadata[key] < 1:
            raise DatasetError(
                f"{path}: metadata field {key!r} must be a positive integer, got {metadata.get(key)!r}"
            )
    L, n, storage = metadata["L"], metadata["n"], metadata.get("storage")
    if storage == "bits":
        expected_shape, expected_dtype = (n, (L * L + 7) // 8), np.uint8
    elif storage == "int8":
        expected_shape, expected_dtype = (n, L, L), np.int8
    else:
        raise DatasetError(
            f"{path}: metadata field 'storage' must be one of {list(STORAGES)}, got {storage!r}"
        )
    if stored.shape != expected_shape or stored.dtype != expected_dtype:
        raise DatasetError(
            f"{path}: stored spins are {stored.dtype} {stored.shape}, "
            f"metadata (L={L}, n={n}, storage={storage!r}) "
            f"implies {np.dtype(expected_dtype)} {expected_shape}"
        )
    spins = _unpack(stored, L) if storage == "bits" else stored
    digest = spins_sha256(spins)
    if digest != metadata.get("sha256"):
        raise DatasetError(
            f"{path}: sha256 of the spins is {digest}, metadata says {metadata.get('sha256')!r} (corrupted)"
        )
    check_metadata(metadata, expect or {}, source=str(path))
    return torch.from_numpy(np.ascontiguousarray(spins)), metadata


def check_metadata(metadata: Mapping[str, Any], expect: Mapping[str, Any], source: str = "dataset") -> None:
    """Raise :class:`DatasetError` naming the first key of ``expect`` missing or different in ``metadata``.

    Values are compared as they read back from JSON (tuples as lists; floats exactly).
    """
    for key, value in expect.items():
        if key not in metadata:
            raise DatasetError(
                f"{source}: expected metadata field {key!r} = {value!r}, but there is no {key!r}"
            )
        if json_ready(value) != metadata[key]:
            raise DatasetError(f"{source}: metadata field {key!r} is {metadata[key]!r}, expected {value!r}")


# ---------------------------------------------------------------------------------------------- cache
#: Keyword arguments of :class:`rgnet.data.IsingDataModule` that shape the loaders (the flat ``data``
#: config group puts
#: them next to the dataset parameters, see :meth:`rgnet.data.IsingDataModule.from_fields`).
LOADER_OPTIONS = (
    "expect",
    "val_fraction",
    "batch_size",
    "num_workers",
    "split_seed",
    "shape",
    "drop_last",
    "pin_memory",
    "progress",
)


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """The parameters that generate a 2D dataset with :func:`rgnet.ising.sampling.generate_2d`.

    ``L, K, n, h, method, seed, chains, burn_in, thinning, storage, opts`` identify the dataset (they enter
    the cache key); ``device`` only says where to sample: a dataset generated on another device is the same
    distribution and is reused. ``chains``, ``burn_in``, ``thinning`` = None let the sampler choose (the
    values used are recorded in the metadata). ``seed`` must be an integer: a cached dataset has to be
    reproducible, so there is no "draw a fresh seed" here. ``opts`` are extra sampler options (JSON scalars).
    """

    L: int
    K: float
    n: int
    h: float = 0.0
    method: str = "checkerboard"
    seed: int = 0
    chains: int | None = None
    burn_in: int | None = None
    thinning: int | None = None
    storage: str = "bits"
    device: str = "cpu"
    opts: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        fix = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen dataclass)
        fix("method", check_choice(self.method, "method", METHODS))
        fix("L", check_int(self.L, "L", minimum=2))
        if SAMPLERS[self.method].requires_even_L and self.L % 2:
            raise ValueError(
                f"L must be even for method={self.method!r} (checkerboard colouring), got {self.L}"
            )
        fix("K", check_real(self.K, "K"))
        fix("h", check_real(self.h, "h"))
        fix("n", check_int(self.n, "n", minimum=1))
        if self.seed is None:
            raise ValueError("seed must be an integer for a cached dataset (None would not be reproducible)")
        fix("seed", check_int(self.seed, "seed", minimum=0, maximum=2**63 - 1))
        for name, minimum in (("chains", 1), ("burn_in", 0), ("thinning", 1)):
            if getattr(self, name) is not None:
                fix(name, check_int(getattr(self, name), name, minimum=minimum))
        fix("storage", check_choice(self.storage, "storage", STORAGES))
        fix("device", str(check_device(self.device)))
        if not isinstance(self.opts, Mapping):
            raise TypeError(f"opts must be a mapping of sampler options, got {type(self.opts).__name__}")
        for key, value in self.opts.items():
            if not isinstance(value, (str, int, float, bool)) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                raise TypeError(
                    f"opts.{key} must be a JSON scalar (str, int, finite float, bool), got {value!r}"
                )
        fix("opts", {str(key): value for key, value in self.opts.items()})

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of the dataset parameters, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | DatasetConfig, prefix: str = "") -> DatasetConfig:
        """Build and validate from a dict or OmegaConf mapping; errors name fields as ``prefix + name``."""
        if isinstance(mapping, DatasetConfig):
            return mapping
        if not isinstance(mapping, Mapping):
            raise TypeError(
                f"{prefix or 'config'} must be a mapping of dataset parameters, got {type(mapping).__name__}"
            )
        names = list(cls.field_names())
        unknown = sorted(str(key) for key in set(mapping) - set(names))
        if unknown:
            raise ValueError(
                f"unknown dataset parameter(s) {[prefix + key for key in unknown]}; allowed: {names}"
            )
        missing = [name for name in ("L", "K", "n") if name not in mapping]
        if missing:
            raise ValueError(f"missing dataset parameter(s) {[prefix + name for name in missing]}")
        try:
            return cls(**{str(key): mapping[key] for key in mapping})
        except (TypeError, ValueError) as err:  # every message above starts with the field name
            raise type(err)(f"{prefix}{err}") from None

    def identity(self) -> dict[str, Any]:
        """The parameters that identify the dataset (everything but ``device``), JSON-ready."""
        out = dataclasses.asdict(self)
        del out["device"]
        return out

    def cache_key(self) -> str:
        """Stable hex sha256 of the identifying parameters and the file format version."""
        payload = {"format": DATASET_FORMAT, "format_version": FORMAT_VERSION, **self.identity()}
        return sha256_json(payload)

    def expected_metadata(self) -> dict[str, Any]:
        """Metadata a dataset generated from this config must carry (sampler-chosen None fields excluded)."""
        expect = {key: getattr(self, key) for key in ("L", "K", "h", "n", "method", "seed", "storage")}
        for key in ("chains", "burn_in", "thinning"):
            if getattr(self, key) is not None:
                expect[key] = getattr(self, key)
        expect["cache_key"] = self.cache_key()
        return expect


def dataset_path(cache_dir: str | os.PathLike[str], config: Mapping[str, Any] | DatasetConfig) -> Path:
    """Cache file of ``config`` in ``cache_dir``: readable parameters plus 16 hex digits of the cache key."""
    cfg = DatasetConfig.from_mapping(config)
    readable = f"L{cfg.L}_K{cfg.K:.6g}_h{cfg.h:.3g}_n{cfg.n}_{cfg.method}_seed{cfg.seed}"
    name = f"ising2d_{readable}_{cfg.cache_key()[:16]}.npz"
    return Path(cache_dir) / name


def get_or_create_dataset(
    config: Mapping[str, Any] | DatasetConfig,
    cache_dir: str | os.PathLike[str],
    progress: bool = False,
    overwrite_corrupt: bool = False,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Load the cached dataset of ``config`` or generate it with ``generate_2d`` and cache it.

    Returns ``(spins, metadata)`` as :func:`load_dataset`. A cached file that fails verification raises
    :class:`DatasetError` (so a corrupted dataset is never used and never silently replaced) unless
    ``overwrite_corrupt=True``, which logs a warning and regenerates it. Concurrent writers of the same
    dataset are safe: each renames a complete file onto the name (identical content for the same device).
    """
    cfg = DatasetConfig.from_mapping(config)
    path = dataset_path(cache_dir, cfg)
    expect = cfg.expected_metadata()
    clean_stale_temp_files(path.parent)
    if path.exists():
        try:
            spins, metadata = load_dataset(path, expect)
        except DatasetError as err:
            if not overwrite_corrupt:
                raise DatasetError(
                    f"cached dataset is unusable: {err}. "
                    "Delete it or pass overwrite_corrupt=True to regenerate it."
                ) from err
            log.warning("regenerating unusable cached dataset: %s", err)
        else:
            log.info("loaded cached dataset %s", path)
            return spins, metadata
    log.info("generating dataset %s", path.name)
    sample_set = generate_2d(
        cfg.L,
        cfg.K,
        cfg.n,
        h=cfg.h,
        method=cfg.method,
        seed=cfg.seed,
        device=cfg.device,
        chains=cfg.chains,
        burn_in=cfg.burn_in,
        thinning=cfg.thinning,
        progress=progress,
        **cfg.opts,
    )
    save_dataset(
        path, sample_set, cfg.storage, extra_metadata={"cache_key": cfg.cache_key(), "opts": cfg.opts}
    )
    log.info("saved dataset %s", path)
    return load_dataset(path, expect)
