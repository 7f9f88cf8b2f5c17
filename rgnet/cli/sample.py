"""``rgnet-sample``: generate (or reuse from the cache) a 2D Ising dataset and check it against exact results.

Composes ``conf/sample.yaml`` (groups ``data`` and ``paths``), validates the dataset parameters before any
sampling, loads or creates the cached dataset, and writes ``summary.json`` (metadata, observables with errors,
exact values, wall time, versions) atomically into the Hydra run directory. Prints a table of the observables
next to the exact values of the finite torus at h = 0 (Kaufman; "n/a" where none is known).

    rgnet-sample                                   # defaults of conf/data/ising2d.yaml
    rgnet-sample data.L=32 data.K=0.42 data.n=5000 data.method=checkerboard
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from rgnet.cli import CONFIG_DIR, check_config_dir, versions
from rgnet.data.dataset import (
    LOADER_OPTIONS,
    DatasetConfig,
    DatasetError,
    atomic_write_json,
    dataset_path,
    get_or_create_dataset,
)
from rgnet.ising.exact import energy_torus, onsager_magnetization, specific_heat_torus
from rgnet.ising.observables import energy_per_site, magnetization_per_site, thermodynamics

log = logging.getLogger(__name__)


#: (key in the results, label in the table) of the reported observables, in table order.
OBSERVABLES = (
    ("energy", "energy e"),
    ("specific_heat", "specific heat C"),
    ("abs_magnetization", "|m|"),
    ("susceptibility", "susceptibility chi"),
    ("binder", "Binder U4"),
)
#: Jackknife blocks for specific heat, susceptibility and Binder cumulant (fewer if there are fewer samples).
N_BLOCKS = 20


#: Keys of the ``data`` group that configure the training data module, not the dataset.
NOT_DATASET_FIELDS = ("_target_", "cache_dir", *LOADER_OPTIONS)


class ConfigError(ValueError):
    """The composed configuration is invalid (the message names the field)."""


def validate_config(cfg: DictConfig) -> DatasetConfig:
    """Check the composed config before any sampling; returns the dataset parameters.

    Raises :class:`ConfigError` naming the offending field (e.g. ``data.L``).
    """
    for group in ("data", "paths"):
        if group not in cfg or not isinstance(cfg[group], DictConfig):
            raise ConfigError(f"config group {group!r} is missing")
    try:
        data = OmegaConf.to_container(cfg.data, resolve=True)
        for key in NOT_DATASET_FIELDS:  # the data module's keys, shared with rgnet-train
            data.pop(key, None)
        dataset = DatasetConfig.from_mapping(data, prefix="data.")
    except (ValueError, TypeError) as err:
        raise ConfigError(str(err)) from err
    if dataset.n < 2:
        raise ConfigError(f"data.n must be >= 2 for error bars, got {dataset.n}")
    if not isinstance(cfg.paths.get("cache_dir"), str) or not cfg.paths.cache_dir:
        raise ConfigError(f"paths.cache_dir must be a directory path, got {cfg.paths.get('cache_dir')!r}")
    for flag in ("progress", "overwrite_corrupt"):
        if not isinstance(cfg.get(flag), bool):
            raise ConfigError(f"{flag} must be true or false, got {cfg.get(flag)!r}")
    return dataset


def measure(spins: torch.Tensor, K: float, chains: int) -> dict[str, tuple[float, float]]:
    """Thermodynamic estimates ``(value, error)`` of int8 spins (n >= 2, L, L) sampled by ``chains`` chains.

    Samples are stored time-major (sample ``i`` is chain ``i % chains`` at time ``i // chains``); they are
    reordered chain by chain so that each chain's samples are consecutive, and the concatenated series goes
    to :func:`rgnet.ising.observables.thermodynamics` (autocorrelation-aware errors, jackknife over
    ``min(20, n)`` blocks). Concatenating independent chains adds no spurious correlation.
    """
    n, L, _ = spins.shape
    index = np.arange(n)
    order = np.lexsort((index // chains, index % chains))
    e = energy_per_site(spins).numpy()[order]
    m = magnetization_per_site(spins).numpy()[order]
    return thermodynamics(e, m, K, L * L, n_blocks=min(N_BLOCKS, n))


def exact_values(L: int, K: float, h: float) -> dict[str, float | None]:
    """Exact values for the L x L torus where known (h = 0: Kaufman energy and specific heat), else None."""
    exact: dict[str, float | None] = {key: None for key, _ in OBSERVABLES}
    if h == 0.0:
        try:
            exact["energy"] = energy_torus(L, L, K)
            exact["specific_heat"] = specific_heat_torus(L, L, K)
        except ValueError as err:  # e.g. K < 0 on an odd torus (frustrated)
            log.info("no exact torus values: %s", err)
    return exact


def format_table(L: int, results: dict[str, tuple[float, float]], exact: dict[str, float | None]) -> str:
    """Fixed-width table: observable, estimate, error, exact value, deviation in units of the error."""
    header = f"{'observable':<20}{'estimate':>14}{'error':>12}{f'exact (L={L} torus)':>22}{'dev/err':>10}"
    lines = [header, "-" * len(header)]
    for key, label in OBSERVABLES:
        value, error = results[key]
        ref = exact[key]
        ref_text = "n/a" if ref is None else f"{ref:.6f}"
        dev_text = "n/a" if ref is None or error == 0.0 else f"{(value - ref) / error:+.2f}"
        lines.append(f"{label:<20}{value:>14.6f}{error:>12.6f}{ref_text:>22}{dev_text:>10}")
    return "\n".join(lines)


def run(cfg: DictConfig, output_dir: str | Path) -> dict[str, Any]:
    """Validate ``cfg``, load or create its dataset, write ``output_dir/summary.json``; return the summary."""
    start = time.perf_counter()
    dataset = validate_config(cfg)
    cache_dir = Path(cfg.paths.cache_dir).expanduser().resolve()
    path = dataset_path(cache_dir, dataset)
    cache_hit = path.is_file()
    log.info("dataset %s (%s)", path, "cached" if cache_hit else "to be generated")
    spins, metadata = get_or_create_dataset(
        dataset, cache_dir, progress=cfg.progress, overwrite_corrupt=cfg.overwrite_corrupt
    )
    results = measure(spins, dataset.K, int(metadata["chains"]))
    exact = exact_values(dataset.L, dataset.K, dataset.h)
    deviation = {
        key: None
        if exact[key] is None or results[key][1] == 0.0
        else (results[key][0] - exact[key]) / results[key][1]
        for key, _ in OBSERVABLES
    }
    onsager = onsager_magnetization(dataset.K) if dataset.h == 0.0 else None
    config = OmegaConf.to_container(cfg, resolve=True)
    summary = {
        "command": "rgnet-sample",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "config_hash": hashlib.sha256(json.dumps(config, sort_keys=True).encode("utf-8")).hexdigest(),
        "dataset": {"path": str(path), "cache_hit": cache_hit, "metadata": metadata},
        "observables": {key: {"value": value, "error": error} for key, (value, error) in results.items()},
        "exact": exact,
        "deviation_in_errors": deviation,
        "reference": {"onsager_magnetization_infinite_lattice": onsager},
        "device": dataset.device,
        "versions": versions(),
        "wall_time_s": time.perf_counter() - start,
    }
    summary_path = atomic_write_json(Path(output_dir) / "summary.json", summary)
    title = (
        f"2D Ising L={dataset.L} K={dataset.K:.10g} h={dataset.h:g}: n={metadata['n']} samples by "
        f"{metadata['method']} ({metadata['chains']} chains, burn-in {metadata['burn_in']}, "
        f"thinning {metadata['thinning']} sweeps)"
    )
    print(f"{title}\n{format_table(dataset.L, results, exact)}")
    if onsager:
        print(f"(|m| of the infinite lattice, Onsager: {onsager:.6f})")
    log.info("wrote %s in %.2f s", summary_path, summary["wall_time_s"])
    return summary


@hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name="sample")
def _hydra_main(cfg: DictConfig) -> None:
    logging.captureWarnings(True)
    try:
        run(cfg, HydraConfig.get().runtime.output_dir)
    except (ConfigError, DatasetError) as err:
        log.error("%s", err)
        raise SystemExit(f"rgnet-sample: {err}") from None


def main() -> None:
    """Console entry point ``rgnet-sample`` (Hydra overrides on the command line)."""
    check_config_dir("rgnet-sample", CONFIG_DIR)
    _hydra_main()


if __name__ == "__main__":
    main()
