"""Spin datasets on disk: one ``.npz`` file per dataset with provenance and checksums, and a parameter cache.

A dataset holds 2D Ising configurations (spins +-1) or, when its metadata has ``q``, q-state Potts
configurations (colours 0..q-1; :mod:`rgnet.potts`).

File format (``format = "rgnet.ising2d"``, ``format_version = 2``): a NumPy ``.npz`` archive (an uncompressed
zip) holding two arrays,

- ``spins``: ``storage = "bits"`` (default for Ising) -> uint8 ``(n, ceil(L*L/8))``, the row-major sites of
  each configuration bit-packed with ``np.packbits`` (bit 1 = spin +1), 8x smaller than int8;
  ``storage = "int8"`` -> int8 ``(n, L, L)`` of +-1, or of colours 0..q-1 (the only storage for Potts);
- ``metadata``: uint8 bytes of a UTF-8 JSON object (sampler provenance, observables, versions, sha256, ...).

Two checksums: ``sha256`` of the unpacked int8 spins and ``metadata_sha256`` of the metadata itself (its
sorted-key JSON without that key), so an edited coupling is caught as surely as an edited spin. On top of
them the reader validates what the metadata says: a finite K and h, positive integer L and n, and spins in
the declared alphabet (+-1, or 0..q-1). Version-1 files (written before the metadata checksum) are still
read, with the same validation but no metadata checksum.

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
import inspect
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
from rgnet.ising.samplers.base import START_STATES
from rgnet.ising.samplers.kernel import resolve_kernel
from rgnet.ising.sampling import SampleSet, generate_2d
from rgnet.potts.sampling import POTTS_METHODS, generate_potts_2d

log = logging.getLogger(__name__)

DATASET_FORMAT = "rgnet.ising2d"
FORMAT_VERSION = 2
#: Format versions this rgnet reads (1: no metadata checksum).
READABLE_VERSIONS = (1, 2)
STORAGES = ("bits", "int8")
#: Sampler options (``opts``) of the Potts datasets (keyword arguments of generate_potts_2d).
POTTS_OPTIONS = ("flips_per_sweep", "max_sweeps")
#: Largest |K| and |h| of a dataset: far beyond it every sampler is frozen in its ground state, and the
#: estimators overflow (the specific heat's K**2 near 1e154).
MAX_COUPLING = 100.0
#: Sampler options (``opts``) of the Ising datasets besides the sampler's own keyword arguments.
ISING_SCHEDULE_OPTIONS = ("max_sweeps",)
METADATA_CHECKSUM = "metadata_sha256"

#: Metadata keys written by :func:`save_dataset` itself; ``extra_metadata`` may not override them.
_RESERVED_KEYS = (
    "format",
    "format_version",
    "n",
    "storage",
    "sha256",
    METADATA_CHECKSUM,
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


def _alphabet(q: int | None) -> str:
    return "-1 and +1 (Ising spins)" if q is None else f"colours 0..{q - 1} (q={q} Potts)"


def _in_alphabet(spins: np.ndarray, q: int | None) -> bool:
    """Whether int8 ``spins`` hold only +-1 (``q`` None) or only colours 0..q-1."""
    if q is None:
        return bool(np.all(np.abs(spins.astype(np.int16)) == 1))
    return bool(spins.size == 0 or (spins.min() >= 0 and spins.max() < q))


def save_dataset(
    path: str | os.PathLike[str],
    sample_set: SampleSet,
    storage: str = "bits",
    extra_metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``sample_set`` (spins int8 (n, L, L) and its provenance) to ``path`` atomically.

    Spins are +-1, or colours 0..q-1 when the sample set has ``q`` (:class:`rgnet.potts.PottsSampleSet`;
    those need ``storage="int8"``). The metadata is ``sample_set.metadata()`` plus ``n``, ``storage``,
    ``sha256`` of the unpacked spins, the rgnet/torch/numpy versions, the UTC creation time and
    ``extra_metadata`` (JSON-serializable; may not override those keys), sealed by ``metadata_sha256``.
    Returns the path written.
    """
    check_choice(storage, "storage", STORAGES)
    spins = sample_set.spins
    if not isinstance(spins, torch.Tensor) or spins.dtype != torch.int8 or spins.dim() != 3:
        raise ValueError("sample_set.spins must be an int8 tensor of shape (n, L, L)")
    metadata = dict(sample_set.metadata())
    q = metadata.get("q")
    if q is not None and storage == "bits":
        raise ValueError(f"storage='bits' packs +-1 Ising spins; q={q} Potts colours need storage='int8'")
    n, rows, cols = spins.shape
    if n == 0 or rows != cols or rows != metadata.get("L"):
        raise ValueError(
            f"sample_set.spins has shape {tuple(spins.shape)}, expected (n >= 1, L, L) "
            f"with L = {metadata.get('L')}"
        )
    array = spins.cpu().numpy()
    if not _in_alphabet(array, q):
        raise ValueError(f"sample_set.spins must contain only {_alphabet(q)}")
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
    metadata = json.loads(json.dumps(metadata, default=json_default))  # as it will read back
    metadata[METADATA_CHECKSUM] = metadata_sha256(metadata)
    meta_bytes = json.dumps(metadata, sort_keys=True).encode("utf-8")
    stored = _pack(array) if storage == "bits" else np.ascontiguousarray(array)
    meta_array = np.frombuffer(meta_bytes, dtype=np.uint8)
    return atomic_write_bytes(path, lambda handle: np.savez(handle, spins=stored, metadata=meta_array))


def metadata_sha256(metadata: Mapping[str, Any]) -> str:
    """Hex sha256 of a dataset's metadata as read back from JSON, without its ``metadata_sha256`` key."""
    return sha256_json({key: value for key, value in metadata.items() if key != METADATA_CHECKSUM})


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
    return stored, _decode_metadata(meta_bytes, unreadable)


def _decode_metadata(meta_bytes: np.ndarray, unreadable: str) -> dict[str, Any]:
    """The JSON object stored as the archive's ``metadata`` bytes (DatasetError naming ``unreadable``)."""
    try:
        if meta_bytes.dtype != np.uint8 or meta_bytes.ndim != 1:
            raise ValueError("metadata is not a byte array")
        metadata = json.loads(meta_bytes.tobytes().decode("utf-8"))
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not a JSON object")
    except ValueError as err:
        raise DatasetError(f"{unreadable}: bad metadata ({err})") from err
    return metadata


def _check_header(path: Path, metadata: Mapping[str, Any]) -> None:
    """Format, metadata checksum and the validity of what the metadata declares (DatasetError otherwise)."""
    version = metadata.get("format_version")
    if metadata.get("format") != DATASET_FORMAT or version not in READABLE_VERSIONS:
        raise DatasetError(
            f"{path}: format {metadata.get('format')!r} version {version!r}, "
            f"this rgnet reads {DATASET_FORMAT!r} versions {list(READABLE_VERSIONS)}"
        )
    if version >= 2 and metadata.get(METADATA_CHECKSUM) != metadata_sha256(metadata):
        raise DatasetError(
            f"{path}: the metadata do not match their checksum {METADATA_CHECKSUM} (edited or corrupted)"
        )
    for key in ("L", "n"):
        if not isinstance(metadata.get(key), int) or isinstance(metadata.get(key), bool) or metadata[key] < 1:
            raise DatasetError(
                f"{path}: metadata field {key!r} must be a positive integer, got {metadata.get(key)!r}"
            )
    for key in ("K", "h"):
        value = metadata.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise DatasetError(f"{path}: metadata field {key!r} must be a finite number, got {value!r}")
    q = metadata.get("q")
    if q is not None and (not isinstance(q, int) or isinstance(q, bool) or not 2 <= q <= 127):
        raise DatasetError(f"{path}: metadata field 'q' must be null or an integer in 2..127, got {q!r}")
    storage = metadata.get("storage")
    allowed = STORAGES if q is None else ("int8",)
    if storage not in allowed:
        raise DatasetError(
            f"{path}: metadata field 'storage' must be one of {list(allowed)}, got {storage!r}"
        )


def read_dataset_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of the dataset file at ``path``, checked as :func:`load_dataset` checks them (format,
    metadata checksum, valid declared values) without reading the spins: cheap, for checks before any work.
    Raises FileNotFoundError or :class:`DatasetError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    unreadable = f"{path} is not a readable rgnet dataset (truncated, corrupted or another format)"
    try:
        with np.load(path, allow_pickle=False) as archive:  # an NpzFile reads a member only when asked
            meta_bytes = archive["metadata"]
    except (OSError, EOFError, ValueError, KeyError, AttributeError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{unreadable}: {err}") from err
    metadata = _decode_metadata(meta_bytes, unreadable)
    _check_header(path, metadata)
    return metadata


def load_dataset(
    path: str | os.PathLike[str], expect: Mapping[str, Any] | None = None
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Load and verify a dataset written by :func:`save_dataset`.

    Returns ``(spins, metadata)``: spins int8 ``(n, L, L)`` on the CPU (+-1, or colours 0..q-1 when the
    metadata has ``q``), the metadata as stored (JSON types).
    Raises FileNotFoundError when ``path`` does not exist and :class:`DatasetError` when the file is
    unreadable, truncated or corrupted, its metadata fail their checksum or declare invalid values (see the
    module docstring), its shapes, alphabet or sha256 disagree with its metadata, or any key of ``expect`` is
    missing from the metadata or differs from it (floats compared exactly, as stored).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    stored, metadata = _read_archive(path)
    _check_header(path, metadata)
    L, n, storage, q = metadata["L"], metadata["n"], metadata["storage"], metadata.get("q")
    if storage == "bits":
        expected_shape, expected_dtype = (n, (L * L + 7) // 8), np.uint8
    else:
        expected_shape, expected_dtype = (n, L, L), np.int8
    if stored.shape != expected_shape or stored.dtype != expected_dtype:
        raise DatasetError(
            f"{path}: stored spins are {stored.dtype} {stored.shape}, "
            f"metadata (L={L}, n={n}, storage={storage!r}) "
            f"implies {np.dtype(expected_dtype)} {expected_shape}"
        )
    spins = _unpack(stored, L) if storage == "bits" else stored
    if not _in_alphabet(spins, q):
        raise DatasetError(f"{path}: the spins are not all {_alphabet(q)}, as the metadata declare")
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
    """The parameters that generate a 2D dataset with :func:`rgnet.ising.sampling.generate_2d` (Ising) or,
    when ``q`` is an integer, :func:`rgnet.potts.generate_potts_2d` (q-state Potts, colours 0..q-1;
    methods :data:`rgnet.potts.POTTS_METHODS`, h the field on colour 0, device cpu, storage int8).

    ``L, K, n, h, method, seed, chains, burn_in, thinning, storage, opts`` and ``q`` identify the dataset
    (they enter the cache key; ``q`` only when set, so Ising cache keys do not depend on it); ``device``
    only says where to sample: a dataset generated on another device is the same distribution and is
    reused. ``chains``, ``burn_in``, ``thinning`` = None let the sampler choose (the
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
    q: int | None = None

    def __post_init__(self) -> None:
        fix = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen dataclass)
        if self.q is not None:
            fix("q", check_int(self.q, "q", minimum=2, maximum=127))
        fix("method", check_choice(self.method, "method", METHODS if self.q is None else POTTS_METHODS))
        fix("L", check_int(self.L, "L", minimum=2))
        if self.q is None and SAMPLERS[self.method].requires_even_L and self.L % 2:
            raise ValueError(
                f"L must be even for method={self.method!r} (checkerboard colouring), got {self.L}"
            )
        fix("K", check_real(self.K, "K", minimum=-MAX_COUPLING, maximum=MAX_COUPLING))
        fix("h", check_real(self.h, "h", minimum=-MAX_COUPLING, maximum=MAX_COUPLING))
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
        if self.q is not None:
            self._check_potts()
        else:
            self._check_ising()

    def _check_ising(self) -> None:
        """What the Ising sampler of ``method`` takes (before any work): K >= 0 for the cluster methods,
        its own options (``backend``, ``start``, Wolff's ``flips_per_sweep``) and ``max_sweeps``."""
        sampler = SAMPLERS[self.method]
        if self.method in ("wolff", "swendsen_wang") and self.K < 0:
            raise ValueError(
                f"K must be >= 0 for method={self.method!r} (Fortuin-Kasteleyn clusters need a ferromagnetic "
                f"coupling; use method=checkerboard or heatbath for K < 0), got {self.K}"
            )
        given = ("self", "L", "K", "h", "chains", "seed", "device")
        allowed = [
            name for name in inspect.signature(sampler.__init__).parameters if name not in given
        ] + list(ISING_SCHEDULE_OPTIONS)
        unknown = sorted(set(self.opts) - set(allowed))
        if unknown:
            raise ValueError(
                f"opts {unknown} are not options of method={self.method!r}; allowed: {sorted(allowed)}"
            )
        if "backend" in self.opts:
            try:
                resolve_kernel(self.opts["backend"], torch.device(self.device), sampler.kernels)
            except ValueError as err:
                raise ValueError(f"opts.{err}") from None
        if "start" in self.opts:
            check_choice(self.opts["start"], "opts.start", START_STATES)
        for name in ("flips_per_sweep", "max_sweeps"):
            if name in self.opts:
                check_int(self.opts[name], f"opts.{name}", minimum=1)

    def _check_potts(self) -> None:
        """What the Potts samplers support (before any work): K >= 0, CPU, int8 storage, their opts (any
        finite h: the field on colour 0)."""
        if self.K < 0:
            raise ValueError(f"K must be >= 0 for the Potts samplers (ferromagnet), got {self.K}")
        if self.storage != "int8":
            raise ValueError(
                f"storage must be 'int8' for q={self.q} Potts colours ('bits' packs +-1 spins), "
                f"got {self.storage!r}"
            )
        if self.device != "cpu":  # normalized by check_device above
            raise ValueError(f"device must be 'cpu' for the Potts samplers (numba), got {self.device!r}")
        unknown = sorted(set(self.opts) - set(POTTS_OPTIONS))
        if unknown:
            raise ValueError(
                f"opts {unknown} are not options of the Potts samplers; allowed: {list(POTTS_OPTIONS)}"
            )

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
        if self.q is None:
            del out["q"]
        return out

    def cache_key(self) -> str:
        """Stable hex sha256 of the identifying parameters and the file format version."""
        payload = {"format": DATASET_FORMAT, "format_version": FORMAT_VERSION, **self.identity()}
        return sha256_json(payload)

    def expected_metadata(self) -> dict[str, Any]:
        """Metadata a dataset generated from this config must carry (sampler-chosen None fields excluded)."""
        expect = {key: getattr(self, key) for key in ("L", "K", "h", "n", "method", "seed", "storage")}
        if self.q is not None:
            expect["q"] = self.q
        for key in ("chains", "burn_in", "thinning"):
            if getattr(self, key) is not None:
                expect[key] = getattr(self, key)
        expect["cache_key"] = self.cache_key()
        return expect


def dataset_path(cache_dir: str | os.PathLike[str], config: Mapping[str, Any] | DatasetConfig) -> Path:
    """Cache file of ``config`` in ``cache_dir``: readable parameters plus 16 hex digits of the cache key."""
    cfg = DatasetConfig.from_mapping(config)
    readable = f"L{cfg.L}_K{cfg.K:.6g}_h{cfg.h:.3g}_n{cfg.n}_{cfg.method}_seed{cfg.seed}"
    model = "ising2d" if cfg.q is None else f"potts{cfg.q}_2d"
    name = f"{model}_{readable}_{cfg.cache_key()[:16]}.npz"
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
                    f"cached dataset is unusable: {err}. Delete the file, or regenerate it with the same "
                    "data settings and rgnet-sample overwrite_corrupt=true"
                ) from err
            log.warning("regenerating unusable cached dataset: %s", err)
        else:
            log.info("loaded cached dataset %s", path)
            return spins, metadata
    log.info("generating dataset %s", path.name)
    schedule = dict(seed=cfg.seed, chains=cfg.chains, burn_in=cfg.burn_in, thinning=cfg.thinning)
    if cfg.q is None:
        sample_set = generate_2d(
            cfg.L,
            cfg.K,
            cfg.n,
            h=cfg.h,
            method=cfg.method,
            device=cfg.device,
            progress=progress,
            **schedule,
            **cfg.opts,
        )
    else:
        sample_set = generate_potts_2d(
            cfg.L,
            cfg.K,
            cfg.n,
            cfg.q,
            h=cfg.h,
            method=cfg.method,
            progress=progress,
            **schedule,
            **cfg.opts,
        )
    save_dataset(
        path, sample_set, cfg.storage, extra_metadata={"cache_key": cfg.cache_key(), "opts": cfg.opts}
    )
    log.info("saved dataset %s", path)
    return load_dataset(path, expect)
