"""One sampling run (``rgnet-sample``): validate the dataset parameters, load or create the cached dataset,
measure its observables against exact results, write ``summary.json`` and print a table.

Ising datasets (``data=ising2d``) are compared with Kaufman's torus (energy, specific heat) and Onsager's
magnetization; q-state Potts datasets (``data=potts2d``) with :func:`rgnet.potts.potts_torus_observables`
(q = 2 by Kaufman at K / 2, tiny tori by enumeration) and, at K_c, the infinite lattice's critical energy.
For Potts, ``|m|`` is the order parameter m = (q max_a rho_a - 1) / (q - 1) (:func:`potts_magnetization`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from rgnet._threads import set_threads
from rgnet.data.dataset import LOADER_OPTIONS, DatasetConfig, dataset_path, get_or_create_dataset
from rgnet.ising.exact import onsager_magnetization, torus_observables
from rgnet.ising.observables import dataset_thermodynamics, thermodynamics
from rgnet.ising.stats import chain_major_order
from rgnet.potts import (
    potts_critical_coupling,
    potts_critical_energy,
    potts_energy,
    potts_magnetization,
    potts_torus_observables,
)
from rgnet.runs.config import (
    ConfigError,
    check_directory,
    check_flag,
    check_groups,
    check_int_setting,
    compose,
    error_text,
    plain_config,
)
from rgnet.runs.summary import new_summary, write_summary
from rgnet.tables import format_table

log = logging.getLogger(__name__)
COMMAND = "rgnet-sample"

#: (key in the results, label in the table) of the reported observables, in table order.
OBSERVABLES = (
    ("energy", "energy e"),
    ("specific_heat", "specific heat C"),
    ("abs_magnetization", "|m|"),
    ("susceptibility", "susceptibility chi"),
    ("binder", "Binder U4"),
)
#: Top-level settings and config groups of a composed ``conf/sample.yaml``.
TOP_LEVEL_KEYS = ("paths", "data", "progress", "overwrite_corrupt", "threads", "output_dir")
#: The data modules whose datasets rgnet-sample makes (``data=ising2d``, ``data=potts2d``).
DATASET_TARGETS = ("rgnet.data.datamodule.IsingDataModule.from_fields",)
#: Keys of the ``data`` group that configure the training data module, not the dataset.
NOT_DATASET_FIELDS = ("_target_", "cache_dir", *LOADER_OPTIONS)


def compose_sample(overrides: list[str] | tuple[str, ...] = (), output_dir: str | None = None) -> DictConfig:
    """``conf/sample.yaml`` composed with ``overrides`` (see :func:`rgnet.runs.config.compose`)."""
    return compose("sample", overrides, output_dir)


def validate_config(cfg: DictConfig) -> DatasetConfig:
    """Check the composed config before any sampling; returns the dataset parameters.

    Raises :class:`ConfigError` naming the offending field (e.g. ``data.L``).
    """
    from omegaconf.errors import OmegaConfBaseException

    unknown = sorted(str(key) for key in cfg if key not in TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown} of {COMMAND}; allowed: {list(TOP_LEVEL_KEYS)}")
    check_groups(cfg, ("data", "paths"))
    if "_target_" in cfg.data and cfg.data.get("_target_") not in DATASET_TARGETS:
        raise ConfigError(
            f"data: rgnet-sample makes the 2D datasets of data=ising2d and data=potts2d only, not those of "
            f"{cfg.data._target_}"
        )
    if OmegaConf.to_container(cfg.data, resolve=False).get("path") is not None:  # unresolved: no error yet
        raise ConfigError(
            "data.path: rgnet-sample generates a dataset into the cache (data=ising2d or data=potts2d, "
            "data.path null); a dataset file is read by rgnet-train (data.path=FILE)"
        )
    try:
        data = OmegaConf.to_container(cfg.data, resolve=True)
        data.pop("path", None)
        for key in NOT_DATASET_FIELDS:  # the data module's keys, shared with rgnet-train
            data.pop(key, None)
        dataset = DatasetConfig.from_mapping(data, prefix="data.")
    except (ValueError, TypeError, OmegaConfBaseException) as err:
        raise ConfigError(error_text(err)) from None
    if dataset.n < 2:
        raise ConfigError(f"data.n must be >= 2 for error bars, got {dataset.n}")
    for flag in ("progress", "overwrite_corrupt"):
        check_flag(cfg, flag)
    check_int_setting(cfg, "threads", minimum=1)
    for key in ("cache_dir", "output_dir"):
        check_directory(cfg.paths.get(key), f"paths.{key}")
    return dataset


def exact_values(L: int, K: float, h: float, q: int | None = None) -> dict[str, float | None]:
    """Exact values of :data:`OBSERVABLES` for the L x L torus where known (Kaufman, h = 0; Potts:
    :func:`rgnet.potts.potts_torus_observables`), else None."""
    exact = torus_observables(L, K, h) if q is None else potts_torus_observables(L, q, K, h)
    return {key: None for key, _ in OBSERVABLES} | exact


def measure(spins: torch.Tensor, dataset: DatasetConfig, chains: int) -> dict[str, tuple[float, float]]:
    """(value, error) of each of :data:`OBSERVABLES` for the dataset's int8 spins (n, L, L), stored
    time-major by ``chains`` chains (Ising: :func:`dataset_thermodynamics`; Potts: the same estimators of
    the Potts energy and order parameter)."""
    if dataset.q is None:
        return dataset_thermodynamics(spins, dataset.K, chains)
    order = chain_major_order(spins.shape[0], chains)
    energy = potts_energy(spins, dataset.q).numpy()[order]
    m = potts_magnetization(spins, dataset.q).numpy()[order]
    return thermodynamics(energy, m, dataset.K, dataset.L**2, n_blocks=min(20, spins.shape[0]))


def references(dataset: DatasetConfig) -> dict[str, float | None]:
    """Infinite-lattice references: Onsager's |m| (Ising, h = 0), the critical energy (Potts at K_c)."""
    if dataset.q is None:
        onsager = onsager_magnetization(dataset.K) if dataset.h == 0.0 else None
        return {"onsager_magnetization_infinite_lattice": onsager}
    at_kc = dataset.K == potts_critical_coupling(dataset.q)
    return {"critical_energy_infinite_lattice": potts_critical_energy(dataset.q) if at_kc else None}


def observables_table(L: int, results: dict[str, tuple[float, float]], exact: dict[str, float | None]) -> str:
    """Observable, estimate, error, exact value and deviation in units of the error, one row each."""
    rows = []
    for key, label in OBSERVABLES:
        value, error = results[key]
        reference = exact[key]
        deviation = None if reference is None or error == 0.0 else f"{(value - reference) / error:+.2f}"
        rows.append([label, value, error, reference, deviation])
    header = ["observable", "estimate", "error", f"exact (L={L} torus)", "dev/err"]
    return format_table(header, rows, float_format=".6f")


def run(cfg: DictConfig, output_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``cfg``, load or create its dataset, write ``output_dir/summary.json``; return the summary."""
    import time

    start = time.perf_counter()
    dataset = validate_config(cfg)
    if cfg.threads is not None:
        set_threads(cfg.threads)
    cache_dir = Path(cfg.paths.cache_dir).expanduser().resolve()
    path = dataset_path(cache_dir, dataset)
    cache_hit = path.is_file()
    log.info("dataset %s (%s)", path, "cached" if cache_hit else "to be generated")
    spins, metadata = get_or_create_dataset(
        dataset, cache_dir, progress=cfg.progress, overwrite_corrupt=cfg.overwrite_corrupt
    )
    results = measure(spins, dataset, int(metadata["chains"]))
    exact = exact_values(dataset.L, dataset.K, dataset.h, dataset.q)
    deviation = {
        key: None
        if exact[key] is None or results[key][1] == 0.0
        else (results[key][0] - exact[key]) / results[key][1]
        for key, _ in OBSERVABLES
    }
    reference = references(dataset)
    summary = new_summary(
        COMMAND,
        "finished",
        plain_config(cfg),
        started=start,
        device=dataset.device,
        dataset={"path": str(path), "cache_hit": cache_hit, "metadata": metadata},
        observables={key: {"value": value, "error": error} for key, (value, error) in results.items()},
        exact=exact,
        deviation_in_errors=deviation,
        reference=reference,
    )
    summary_path = write_summary(output_dir, summary)
    model = "Ising" if dataset.q is None else f"q={dataset.q} Potts"
    title = (
        f"2D {model} L={dataset.L} K={dataset.K:.10g} h={dataset.h:g}: n={metadata['n']} samples by "
        f"{metadata['method']} ({metadata['chains']} chains, burn-in {metadata['burn_in']}, "
        f"thinning {metadata['thinning']} sweeps)"
    )
    print(f"{title}\n{observables_table(dataset.L, results, exact)}")
    onsager = reference.get("onsager_magnetization_infinite_lattice")
    if onsager:
        print(f"(|m| of the infinite lattice, Onsager: {onsager:.6f})")
    if reference.get("critical_energy_infinite_lattice") is not None:
        e_c = reference["critical_energy_infinite_lattice"]
        print(f"(energy of the infinite lattice at K_c: {e_c:.6f}; |m| is the Potts order parameter)")
    elif dataset.q is not None:
        print("(|m| is the Potts order parameter (q max_a rho_a - 1) / (q - 1))")
    log.info("wrote %s in %.2f s", summary_path, summary["wall_time_s"])
    return summary
