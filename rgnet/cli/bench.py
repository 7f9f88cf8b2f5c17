"""``rgnet-bench``: sampler throughput and independent samples per second, as ratios to a naive baseline.

    rgnet-bench                                   # CPU, sizes of conf/bench.yaml
    rgnet-bench device=cuda gpu_kernels=true anchor_dir=../shared/anchors/ising-gpu

Prints the tables and writes them with device and versions to ``summary.json`` in the Hydra run dir.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from rgnet._checks import check_choice, check_device, check_int, check_real
from rgnet.bench.rbm import COLUMNS as RBM_COLUMNS
from rgnet.bench.rbm import cd_throughput_table
from rgnet.bench.samplers import format_table, independent_samples_table, throughput_table
from rgnet.cli import CONFIG_DIR, check_config_dir, device_name, versions
from rgnet.data.dataset import atomic_write_json
from rgnet.ising import METHODS

log = logging.getLogger(__name__)


def validate_config(cfg: DictConfig) -> dict[str, Any]:
    """Checked benchmark settings (raises ValueError naming the field before any timing)."""
    device = check_device(cfg.device)
    sizes = []
    for i, pair in enumerate(cfg.sizes):
        if len(pair) != 2:
            raise ValueError(f"sizes[{i}] must be [L, chains], got {list(pair)}")
        sizes.append(
            (
                check_int(pair[0], f"sizes[{i}].L", minimum=2),
                check_int(pair[1], f"sizes[{i}].chains", minimum=1),
            )
        )
    methods = tuple(check_choice(m, "methods", METHODS) for m in cfg.methods)
    rbm_layers = []
    for i, pair in enumerate(cfg.rbm.layers):
        if len(pair) != 2:
            raise ValueError(f"rbm.layers[{i}] must be [n_visible, n_hidden], got {list(pair)}")
        rbm_layers.append(
            (
                check_int(pair[0], f"rbm.layers[{i}].n_visible", minimum=1),
                check_int(pair[1], f"rbm.layers[{i}].n_hidden", minimum=1),
            )
        )
    return {
        "rbm_layers": tuple(rbm_layers),
        "rbm_batch": check_int(cfg.rbm.batch, "rbm.batch", minimum=1),
        "rbm_ks": tuple(check_int(k, "rbm.ks", minimum=1) for k in cfg.rbm.ks),
        "device": device,
        "K": check_real(cfg.K, "K", minimum=0.0),
        "sizes": tuple(sizes),
        "methods": methods,
        "independent_L": check_int(cfg.independent.L, "independent.L", minimum=2),
        "independent_chains": check_int(cfg.independent.chains, "independent.chains", minimum=1),
        "min_seconds": check_real(cfg.min_seconds, "min_seconds", minimum=0.0),
        "gpu_kernels": bool(cfg.gpu_kernels),
        "anchor_dir": None if cfg.anchor_dir is None else Path(cfg.anchor_dir),
    }


@hydra.main(version_base=None, config_path=str(CONFIG_DIR), config_name="bench")
def _hydra_main(cfg: DictConfig) -> float:
    try:
        settings = validate_config(cfg)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"rgnet-bench: {err}") from None
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    started = time.perf_counter()
    device = settings["device"]
    log.info("benchmarking on %s", device_name(device))

    throughput = throughput_table(
        settings["sizes"], settings["methods"], device, settings["K"], settings["min_seconds"]
    )
    print("\nattempted flips per ns (ratio to naive eager PyTorch checkerboard)")
    print(format_table(throughput, ["method", "backend", "L", "chains", "flips_per_ns", "ratio"]))

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
        format_table(
            independent,
            ["method", "L", "chains", "tau_int", "independent_per_s", "ratio", "ratio_to_best_single_spin"],
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
        print(format_table(rbm, RBM_COLUMNS))

    gpu: dict[str, Any] | None = None
    if settings["gpu_kernels"]:
        if device.type != "cuda":
            raise ValueError("gpu_kernels=true needs device=cuda")
        from rgnet.bench.gpu_kernels import format_table as format_gpu_table
        from rgnet.bench.gpu_kernels import run_gpu_benchmark

        gpu = run_gpu_benchmark(settings["anchor_dir"])
        print("\nGPU kernels")
        print(format_gpu_table(gpu))

    summary = {
        "device": str(device),
        "device_name": device_name(device),
        "versions": versions(),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "throughput": throughput,
        "independent_samples": independent,
        "rbm_cd": rbm,
        "gpu_kernels": gpu,
        "wall_time_s": time.perf_counter() - started,
    }
    atomic_write_json(run_dir / "summary.json", summary)
    log.info("wrote %s", run_dir / "summary.json")
    return max(row["ratio"] for row in throughput if row["method"] == "checkerboard")


def main() -> None:
    """Console entry point ``rgnet-bench`` (Hydra overrides on the command line)."""
    check_config_dir("rgnet-bench", CONFIG_DIR)
    _hydra_main()


if __name__ == "__main__":
    main()
