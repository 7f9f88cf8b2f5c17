"""Datasets on disk (with provenance and checksums), the parameter-hash cache, and Lightning data modules.

The data modules (``IsingDataModule``, ``Chain1DDataModule``, ``VEPairsDataModule``, ...) are imported on
first use, so that ``rgnet.data`` (and the sampling CLI) does not pay for importing Lightning.
"""

from __future__ import annotations

from typing import Any

from rgnet.data.dataset import (
    DatasetConfig,
    DatasetError,
    check_metadata,
    dataset_path,
    get_or_create_dataset,
    load_dataset,
    read_dataset_metadata,
    save_dataset,
    spins_sha256,
)

#: Lightning data modules, imported on first use: name -> module under rgnet.data.
_LAZY = {
    "IsingDataModule": "datamodule",
    "SpinDataset": "datamodule",
    "Chain1DDataModule": "chain1d",
    "VEPairsDataModule": "ve_pairs",
    "CylinderPairsDataModule": "ve_pairs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"rgnet.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'rgnet.data' has no attribute {name!r}")


__all__ = [
    "Chain1DDataModule",
    "CylinderPairsDataModule",
    "DatasetConfig",
    "DatasetError",
    "IsingDataModule",
    "SpinDataset",
    "VEPairsDataModule",
    "check_metadata",
    "dataset_path",
    "get_or_create_dataset",
    "load_dataset",
    "read_dataset_metadata",
    "save_dataset",
    "spins_sha256",
]
