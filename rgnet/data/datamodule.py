"""Lightning data module serving 2D configurations: Ising spins as float32 +-1, Potts colours one-hot."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning
import torch
from torch.utils.data import DataLoader, Dataset

from rgnet._checks import check_bool, check_choice, check_int, check_real
from rgnet.data.dataset import (
    LOADER_OPTIONS,
    DatasetConfig,
    check_metadata,
    get_or_create_dataset,
    load_dataset,
    read_dataset_metadata,
)
from rgnet.potts.observables import check_potts_spins

SHAPES = ("flat", "image")
#: Dataset parameters that models and measurements read from the data config (``${data.L}``, ``${data.K}``):
#: with a dataset file each one given must be the file's.
FILE_PARAMETERS = ("q", "L", "K", "h")
#: Settings of other data groups, with what serves them, for the message when they reach a 2D dataset.
_OTHER_GROUPS = {
    "geometry": "(V, E) pairs (data=ve_pairs)", "block": "(V, E) pairs (data=ve_pairs)",
    "buffer": "(V, E) pairs (data=ve_pairs)", "env_width": "(V, E) pairs (data=ve_pairs)",
    "pairs_per_config": "(V, E) pairs (data=ve_pairs)",
    "separation": "exact ring pairs of the infinite cylinder (data=cylinder_pairs), which no file holds",
    "N": "1D chains (data=chain1d), which no 2D dataset file holds",
}  # fmt: skip


def item_shape(L: int, shape: str, q: int | None = None) -> tuple[int, ...]:
    """Shape of one served configuration: Ising (L*L,) or (1, L, L); Potts (q*L*L,) or (q, L, L)."""
    channels = 1 if q is None else q
    return (channels * L * L,) if shape == "flat" else (channels, L, L)


class SpinDataset(Dataset):
    """Configurations ``spins`` int8 (n, L, L) served one at a time as float32.

    Ising (``q`` None): spins +-1 as float32 +-1. Potts (``q`` given): colours 0..q-1 one-hot, channel ``a``
    is 1.0 where the site has colour ``a``, else 0.0. ``shape = "flat"`` gives items of shape (L*L,) or
    (q*L*L,) (channel-major, then row-major sites: the image flattened), ``"image"`` gives (1, L, L) or
    (q, L, L).
    """

    def __init__(self, spins: torch.Tensor, shape: str = "flat", q: int | None = None) -> None:
        if spins.dtype != torch.int8 or spins.dim() != 3 or spins.shape[1] != spins.shape[2]:
            raise ValueError(f"spins must be int8 of shape (n, L, L), got {spins.dtype} {tuple(spins.shape)}")
        self.shape = check_choice(shape, "shape", SHAPES)
        self.q = None if q is None else check_int(q, "q", minimum=2)
        if self.q is not None:
            check_potts_spins(spins, self.q)
        self.spins = spins

    def __len__(self) -> int:
        return self.spins.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        spins = self.spins[index]
        if self.q is None:
            item = spins.to(torch.float32).unsqueeze(0)
        else:
            item = torch.nn.functional.one_hot(spins.long(), self.q).permute(2, 0, 1).to(torch.float32)
        return item.reshape(-1) if self.shape == "flat" else item


def _file_expectation(
    metadata: Mapping[str, Any], path: str | os.PathLike[str], fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The metadata a dataset file must carry: each of :data:`FILE_PARAMETERS` in ``fields`` (``q`` None
    for Ising), checked now against the file's header ``metadata``; ValueError naming ``data.<field>`` and
    the file's value otherwise."""
    expect: dict[str, Any] = {}
    for name in FILE_PARAMETERS:
        if name not in fields:
            continue
        given, stored = fields[name], metadata.get(name)
        same = (
            given == stored
            if name in ("L", "q") or given is None or stored is None
            else math.isclose(float(given), float(stored), rel_tol=1e-12, abs_tol=1e-15)
        )
        if not same:
            raise ValueError(
                f"data.{name}={given!r}, but the dataset file {path} holds {name}={stored!r}: set "
                f"data.{name}={stored!r} (models and measurements take it from the data config) or use "
                "another file"
            )
        if stored is not None:
            expect[name] = stored
    return expect


class IsingDataModule(lightning.LightningDataModule):
    """Train/validation split of one 2D Ising dataset, batches of float32 +-1, or of one q-state Potts
    dataset (``config.q`` set, or a file whose metadata has ``q``), batches of one-hot float32 colours.

    Give exactly one of ``path`` (a file written by :func:`rgnet.data.save_dataset`, optionally checked
    against ``expect``; its metadata are read at once, its spins in :meth:`setup`) or ``config`` (dataset
    parameters, see :class:`rgnet.data.DatasetConfig`) together with ``cache_dir``; the latter is generated
    in :meth:`prepare_data` if not cached yet.

    Args:
        val_fraction: fraction of the configurations held out for validation, in (0, 1); both parts must
            end up non-empty.
        batch_size: configurations per batch.
        num_workers: DataLoader worker processes (0 loads in the main process).
        split_seed: seed of the random train/validation permutation.
        shape: ``"flat"`` -> batches (batch, L*L), Potts (batch, q*L*L); ``"image"`` -> batches
            (batch, 1, L, L), Potts (batch, q, L, L) (see :class:`SpinDataset`).
        drop_last: drop the last incomplete training batch.
        pin_memory: pin batches in page-locked memory (faster host-to-GPU copies).
        progress: show a progress bar while generating a dataset.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        config: Mapping[str, Any] | DatasetConfig | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        expect: Mapping[str, Any] | None = None,
        val_fraction: float = 0.1,
        batch_size: int = 128,
        num_workers: int = 0,
        split_seed: int = 0,
        shape: str = "flat",
        drop_last: bool = False,
        pin_memory: bool = False,
        progress: bool = False,
    ) -> None:
        super().__init__()
        if (path is None) == (config is None):
            raise ValueError("give exactly one of path (a dataset file) or config (dataset parameters)")
        self.path = None if path is None else Path(path)
        #: the file's metadata, checked (its header now, the spins against them in setup); None for config
        self.metadata: dict[str, Any] | None = None
        if self.path is not None:
            if cache_dir is not None:
                raise ValueError("cache_dir is only used with config, not with path")
            self.metadata = read_dataset_metadata(self.path)
        self.config = None if config is None else DatasetConfig.from_mapping(config, prefix="config.")
        if self.config is not None and cache_dir is None:
            raise ValueError("cache_dir is required when the dataset is given by config")
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        if expect is not None and not isinstance(expect, Mapping):
            raise TypeError(f"expect must be a mapping of metadata values, got {type(expect).__name__}")
        self.expect = dict(expect or {})
        self.val_fraction = check_real(val_fraction, "val_fraction")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.num_workers = check_int(num_workers, "num_workers", minimum=0)
        self.split_seed = check_int(split_seed, "split_seed", minimum=0, maximum=2**63 - 1)
        self.shape = check_choice(shape, "shape", SHAPES)
        for name, flag in (("drop_last", drop_last), ("pin_memory", pin_memory), ("progress", progress)):
            check_bool(flag, name)
        self.drop_last, self.pin_memory, self.progress = drop_last, pin_memory, progress
        if self.config is not None:
            n_val = self._n_val(self.config.n)
            self._check_split(self.config.n, n_val)
        self.train_set: SpinDataset | None = None
        self.val_set: SpinDataset | None = None

    @classmethod
    def from_fields(
        cls, cache_dir: str | os.PathLike[str], path: str | os.PathLike[str] | None = None, **fields: Any
    ) -> IsingDataModule:
        """Data module from one flat mapping, as the Hydra ``data`` group (``data.K``, ``data.batch_size``).

        ``fields`` holds the dataset parameters (the fields of :class:`rgnet.data.DatasetConfig`) and the
        loader options (:data:`LOADER_OPTIONS`) side by side; anything else is an error naming the field.
        The dataset itself is generated or loaded later, in :meth:`prepare_data` / :meth:`setup`. With
        ``path`` the configurations are those of that dataset file instead (``rgnet-sample`` output): its
        metadata are read now (not its spins), each of :data:`FILE_PARAMETERS` given must equal the file's
        (configs size models and references from them), and the generation settings (n, method, seed, ...)
        are the file's own.
        """
        dataset_names = DatasetConfig.field_names()
        unknown = sorted(set(fields) - set(dataset_names) - set(LOADER_OPTIONS))
        if unknown:
            served = sorted({_OTHER_GROUPS[name] for name in unknown if name in _OTHER_GROUPS})
            if served:
                raise ValueError(
                    f"the data settings {unknown} belong to {' and '.join(served)}, not to a 2D dataset of "
                    "whole configurations; to read a dataset file keep the experiment's data group and pass "
                    "data.path=FILE"
                )
            raise ValueError(
                f"unknown data field(s) {unknown}; allowed: dataset parameters {list(dataset_names)} and "
                f"loader options {list(LOADER_OPTIONS)}"
            )
        loader = {k: v for k, v in fields.items() if k in LOADER_OPTIONS}
        if path is not None:
            module = cls(path, **loader)  # reads the file's header (its metadata), not its spins
            module.expect |= _file_expectation(module.metadata, path, fields)
            return module
        dataset = DatasetConfig.from_mapping({k: v for k, v in fields.items() if k in dataset_names})
        return cls(config=dataset, cache_dir=cache_dir, **loader)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], L: int, expect: Mapping[str, Any] | None = None, **loader: Any
    ) -> IsingDataModule:
        """Data module of a dataset file that must hold L x L configurations (and match ``expect``).

        Giving ``L`` up front lets configs size models from it (``${data.L}``) before the file is read; the
        file's metadata is checked against it in :meth:`setup`.
        """
        L = check_int(L, "L", minimum=2)
        if expect is not None and not isinstance(expect, Mapping):
            raise TypeError(f"expect must be a mapping of metadata values, got {type(expect).__name__}")
        return cls(path, expect={**(expect or {}), "L": L}, **loader)

    def _n_val(self, n: int) -> int:
        return math.floor(self.val_fraction * n + 0.5)

    def _check_split(self, n: int, n_val: int) -> None:
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"val_fraction={self.val_fraction} splits n={n} configurations into {n - n_val} for training "
                f"and {n_val} for validation; both must be >= 1"
            )

    def prepare_data(self) -> None:
        """Generate and cache the dataset of ``config`` if needed (Lightning calls this on one process)."""
        if self.config is not None:
            get_or_create_dataset(self.config, self.cache_dir, progress=self.progress)

    def setup(self, stage: str | None = None) -> None:
        """Load (and verify) the dataset and split it; idempotent."""
        if self.train_set is not None:
            return
        if self.config is not None:
            spins, metadata = get_or_create_dataset(self.config, self.cache_dir, progress=self.progress)
            check_metadata(metadata, self.expect, source=f"dataset of config {self.config}")
        else:
            spins, metadata = load_dataset(self.path, self.expect)
        n = spins.shape[0]
        n_val = self._n_val(n)
        self._check_split(n, n_val)
        generator = torch.Generator().manual_seed(self.split_seed)
        order = torch.randperm(n, generator=generator)
        self.metadata = metadata
        q = metadata.get("q")
        self.val_set = SpinDataset(spins[order[:n_val]], self.shape, q)
        self.train_set = SpinDataset(spins[order[n_val:]], self.shape, q)

    def _parameter(self, name: str) -> Any:
        """Dataset parameter ``name`` (``L``, ``K``, ``h``, ``q``) from ``config``, or from the file's
        metadata (``q`` absent: None, an Ising dataset)."""
        if self.config is not None:
            return getattr(self.config, name)
        if name == "q":
            return self.metadata.get("q")
        if name not in self.metadata:
            raise ValueError(f"the metadata of the dataset file {self.path} has no {name!r}")
        return self.metadata[name]

    @property
    def L(self) -> int:
        """Linear lattice size of the dataset (from ``config`` or the file's metadata)."""
        return int(self._parameter("L"))

    @property
    def K(self) -> float:
        """Coupling ``K = J / kT`` of the dataset (from ``config`` or the file's metadata)."""
        return float(self._parameter("K"))

    @property
    def h(self) -> float:
        """Field ``h`` of the dataset (from ``config`` or the file's metadata)."""
        return float(self._parameter("h"))

    @property
    def q(self) -> int | None:
        """Potts colours q of the dataset, None for Ising (from ``config`` or the file's metadata)."""
        return self._parameter("q")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one item (:func:`item_shape`): Ising (L*L,) or (1, L, L); Potts (q*L*L,) or (q, L, L)."""
        return item_shape(self.L, self.shape, self.q)

    def _loader(self, dataset: SpinDataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for dataloaders")
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=self.drop_last and train,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches, float32 of shape (batch, *input_shape)."""
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        """Validation batches in a fixed order, float32 of shape (batch, *input_shape)."""
        return self._loader(self.val_set, train=False)
