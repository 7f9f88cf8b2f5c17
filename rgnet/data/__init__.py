"""Datasets on disk (with provenance and checksums), the parameter-hash cache, and Lightning data modules.

``IsingDataModule`` and ``SpinDataset`` are imported on first use, so that ``rgnet.data`` (and the sampling
CLI) does not pay for importing Lightning.
"""

from __future__ import annotations

from typing import Any

from rgnet.data.dataset import (
    DatasetConfig,
    DatasetError,
    atomic_write_json,
    check_metadata,
    clean_stale_temp_files,
    dataset_path,
    get_or_create_dataset,
    load_dataset,
    save_dataset,
    spins_sha256,
)

_LAZY = {"IsingDataModule", "SpinDataset"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from rgnet.data import datamodule

        return getattr(datamodule, name)
    raise AttributeError(f"module 'rgnet.data' has no attribute {name!r}")


__all__ = [
    "DatasetConfig",
    "DatasetError",
    "IsingDataModule",
    "SpinDataset",
    "atomic_write_json",
    "check_metadata",
    "clean_stale_temp_files",
    "dataset_path",
    "get_or_create_dataset",
    "load_dataset",
    "save_dataset",
    "spins_sha256",
]
