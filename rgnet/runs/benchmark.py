"""One benchmark run (``rgnet-bench``): sampler throughput and independent samples per second as ratios to a
naive baseline run in the same process, contrastive-divergence throughput, Monte Carlo RG, the q-state Potts
samplers against the Ising kernels and the exact Potts cylinder IB, and on CUDA the fused kernels
next to NVIDIA's ising-gpu. Prints the tables and writes them to ``summary.json``."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rgnet._checks import check_choice, check_device, check_int, check_real
from rgnet.bench.neighbours import COLUMNS as NEIGHBOUR_COLUMNS
from rgnet.bench.neighbours import WAIT_POLICIES, neighbours_table
from rgnet.bench.potts import (
    CYLINDER_COLUMNS,
    SAMPLER_COLUMNS,
    check_circumference,
    potts_cylinder_table,
    potts_throughput_table,
)
from rgnet.bench.rbm import COLUMNS as RBM_COLUMNS
from rgnet.bench.rbm import cd_throughput_table
from rgnet.bench.rg import COLUMNS as MCRG_COLUMNS
from rgnet.bench.rg import check_mcrg_size, mcrg_table
from rgnet.bench.samplers import independent_samples_table, throughput_table
from rgnet.data.dataset import MAX_COUPLING
from rgnet.ising import METHODS
from rgnet.potts import POTTS_METHODS
from rgnet.runs.config import ConfigError, check_directory, compose, to_plain
from rgnet.runs.summary import device_name, new_summary, write_summary
from rgnet.tables import format_records

log = logging.getLogger(__name__)
COMMAND = "rgnet-bench"


def compose_bench(overrides: list[str] | tuple[str, ...] = (), output_dir: str | None = None) -> DictConfig:
    """``conf/bench.yaml`` composed with ``overrides`` (see :func:`rgnet.runs.config.compose`)."""
    return compose("bench", overrides, output_dir)


def _listed(value: Any, name: str) -> Any:
    """``value`` if it is a list (``methods=wolff`` is a string, iterated letter by letter otherwise)."""
    if not OmegaConf.is_list(value):
        raise TypeError(f"{name} must be a list, e.g. {name}=[...], got {value!r}")
    return value


def _potts_settings(cfg: DictConfig) -> dict[str, Any]:
    """The checked ``potts`` section: keyword arguments of the sampler and cylinder tables."""
    methods = tuple(
        check_choice(m, "potts.methods", POTTS_METHODS) for m in _listed(cfg.methods, "potts.methods")
    )
    L = check_int(cfg.L, "potts.L", minimum=2, maximum=1 << 15)
    if "heatbath" in methods and L % 2:
        raise ValueError(f"potts.L must be even for heatbath (the Ising checkerboard), got {L}")
    return {
        "sampler": {
            "qs": tuple(check_int(q, "potts.q", minimum=2, maximum=127) for q in _listed(cfg.q, "potts.q")),
            "L": L,
            "chains": check_int(cfg.chains, "potts.chains", minimum=1),
            "methods": methods,
        },
        "cylinder": {
            "circumferences": tuple(
                check_circumference(c, f"potts.cylinder_circumferences[{i}]")
                for i, c in enumerate(_listed(cfg.cylinder_circumferences, "potts.cylinder_circumferences"))
            ),
            "separation": check_int(cfg.cylinder_separation, "potts.cylinder_separation", minimum=1),
        },
    }


def _neighbour_settings(cfg: DictConfig) -> dict[str, Any]:
    """The checked ``neighbours`` section: keyword arguments of :func:`neighbours_table`."""
    return {
        "jobs": tuple(
            check_int(count, "neighbours.jobs", minimum=1, maximum=64)
            for count in _listed(cfg.jobs, "neighbours.jobs")
        ),
        "threads": check_int(cfg.threads, "neighbours.threads", minimum=0),
        "repeats": check_int(cfg.repeats, "neighbours.repeats", minimum=1),
        "wait_policies": tuple(
            check_choice(policy, "neighbours.wait_policies", WAIT_POLICIES)
            for policy in _listed(cfg.wait_policies, "neighbours.wait_policies")
        ),
        "L": check_int(cfg.L, "neighbours.L", minimum=4, maximum=1024),
        "n": check_int(cfg.n, "neighbours.n", minimum=1),
        "epochs": check_int(cfg.epochs, "neighbours.epochs", minimum=1),
    }


def _settings(cfg: DictConfig) -> dict[str, Any]:
    device = check_device(cfg.device)
    sizes = []
    for i, pair in enumerate(_listed(cfg.sizes, "sizes")):
        if not OmegaConf.is_list(pair) or len(pair) != 2:
            raise ValueError(f"sizes[{i}] must be [L, chains], got {to_plain(pair)!r}")
        sizes.append(
            (
                check_int(pair[0], f"sizes[{i}].L", minimum=2),
                check_int(pair[1], f"sizes[{i}].chains", minimum=1),
            )
        )
    methods = tuple(check_choice(m, "methods", METHODS) for m in _listed(cfg.methods, "methods"))
    rbm_layers = []
    for i, pair in enumerate(_listed(cfg.rbm.layers, "rbm.layers")):
        if not OmegaConf.is_list(pair) or len(pair) != 2:
            raise ValueError(f"rbm.layers[{i}] must be [n_visible, n_hidden], got {to_plain(pair)!r}")
        rbm_layers.append(
            (
                check_int(pair[0], f"rbm.layers[{i}].n_visible", minimum=1),
                check_int(pair[1], f"rbm.layers[{i}].n_hidden", minimum=1),
            )
        )
    mcrg_n = check_int(cfg.mcrg.n, "mcrg.n", minimum=0)
    if mcrg_n:
        check_mcrg_size(cfg.mcrg.L, cfg.mcrg.levels)
    potts = _potts_settings(cfg.potts)
    if not isinstance(cfg.gpu_kernels, bool):
        raise TypeError(f"gpu_kernels must be true or false, got {cfg.gpu_kernels!r}")
    if cfg.gpu_kernels and device.type != "cuda":
        raise ValueError("gpu_kernels=true needs device=cuda")
    return {
        "rbm_layers": tuple(rbm_layers),
        "rbm_batch": check_int(cfg.rbm.batch, "rbm.batch", minimum=1),
        "rbm_ks": tuple(check_int(k, "rbm.ks", minimum=1) for k in _listed(cfg.rbm.ks, "rbm.ks")),
        "device": device,
        "K": check_real(cfg.K, "K", minimum=0.0, maximum=MAX_COUPLING),
        "sizes": tuple(sizes),
        "methods": methods,
        "independent_L": check_int(cfg.independent.L, "independent.L", minimum=2),
        "independent_chains": check_int(cfg.independent.chains, "independent.chains", minimum=1),
        "min_seconds": check_real(cfg.min_seconds, "min_seconds", minimum=0.0),
        "mcrg": {"L": int(cfg.mcrg.L), "n": mcrg_n, "levels": int(cfg.mcrg.levels)},
        "potts": potts,
        "neighbours": _neighbour_settings(cfg.neighbours),
        "gpu_kernels": bool(cfg.gpu_kernels),
        "anchor_dir": None if cfg.anchor_dir is None else Path(cfg.anchor_dir),
    }


def validate_config(cfg: DictConfig) -> dict[str, Any]:
    """Checked benchmark settings (raises :class:`ConfigError` naming the field before any timing)."""
    try:
        settings = _settings(cfg)
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from None
    check_directory(cfg.paths.get("output_dir"), "paths.output_dir")
    return settings


def run(cfg: DictConfig, run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate ``cfg``, run the benchmarks it asks for, write ``run_dir/summary.json``;
    return the summary."""
    started = time.perf_counter()
    settings = validate_config(cfg)
    device = settings["device"]
    log.info("benchmarking on %s", device_name(device))

    throughput = throughput_table(
        settings["sizes"], settings["methods"], device, settings["K"], settings["min_seconds"]
    )
    print("\nattempted flips per ns (ratio to naive eager PyTorch checkerboard)")
    print(
        format_records(
            throughput, ["method", "backend", "L", "chains", "flips_per_ns", "ratio"], float_format=".4g"
        )
    )

    independent = independent_samples_table(
        settings["independent_L"],
        settings["independent_chains"],
        settings["methods"],
        device,
        settings["K"],
        min_seconds=settings["min_seconds"],
    )
    print(f"\neffectively independent samples per second at K = {settings['K']:.6g}")
    print(
        format_records(
            independent,
            ["method", "L", "chains", "tau_int", "independent_per_s", "ratio", "ratio_to_best_single_spin"],
            float_format=".4g",
        )
    )

    rbm: list[dict[str, Any]] = []
    if settings["rbm_layers"]:
        rbm = cd_throughput_table(
            settings["rbm_layers"],
            settings["rbm_batch"],
            settings["rbm_ks"],
            device=device,
            min_seconds=settings["min_seconds"],
        )
        print(
            "\ncontrastive divergence: training samples per second, step time over its matrix products' time"
        )
        print(format_records(rbm, RBM_COLUMNS, float_format=".4g"))

    mcrg: list[dict[str, Any]] = []
    if settings["mcrg"]["n"]:
        mcrg = mcrg_table(**settings["mcrg"], device=device)
        print(
            "\nMonte Carlo RG (majority rule at K_c), seconds; ratio: numpy baseline's seconds over rgnet's"
        )
        print(format_records(mcrg, MCRG_COLUMNS, float_format=".4g"))

    potts_sampler: list[dict[str, Any]] = []
    sampler_settings = settings["potts"]["sampler"]
    if sampler_settings["qs"] and sampler_settings["methods"]:
        potts_sampler = potts_throughput_table(**sampler_settings, min_seconds=settings["min_seconds"])
        print("\nq-state Potts at K_c(q) (CPU), site updates per ns; ratio: Potts time per site over that of")
        print("the Ising kernel of the same method at the Ising K_c, same L and chains, timed alternately")
        print(format_records(potts_sampler, SAMPLER_COLUMNS, float_format=".4g"))

    potts_cylinder: list[dict[str, Any]] = []
    if settings["potts"]["cylinder"]["circumferences"]:
        potts_cylinder = potts_cylinder_table(**settings["potts"]["cylinder"])
        print("\nexact q = 3 Potts cylinder IB at K_c (potts_cylinder_ib), wall seconds per circumference")
        print(format_records(potts_cylinder, CYLINDER_COLUMNS, float_format=".4g"))

    neighbours: list[dict[str, Any]] = []
    if settings["neighbours"]["jobs"] and settings["neighbours"]["wait_policies"]:
        neighbours = neighbours_table(**settings["neighbours"])
        print("\njobs side by side: mean seconds per job, and the slowdown against one job alone (median of")
        print("the per-round ratios)")
        print(format_records(neighbours, NEIGHBOUR_COLUMNS, float_format=".4g"))

    gpu: dict[str, Any] | None = None
    if settings["gpu_kernels"]:
        from rgnet.bench.gpu_kernels import format_gpu_table, run_gpu_benchmark

        gpu = run_gpu_benchmark(settings["anchor_dir"])
        print("\nGPU kernels")
        print(format_gpu_table(gpu))

    summary = new_summary(
        COMMAND,
        "finished",
        OmegaConf.to_container(cfg, resolve=True),
        started=started,
        device=device,
        throughput=throughput,
        independent_samples=independent,
        rbm_cd=rbm,
        mcrg=mcrg,
        potts_sampler=potts_sampler,
        potts_cylinder=potts_cylinder,
        neighbours=neighbours,
        gpu_kernels=gpu,
    )
    write_summary(run_dir, summary)
    log.info("wrote %s", Path(run_dir) / "summary.json")
    return summary
