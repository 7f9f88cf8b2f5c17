"""``rgnet-bench``: sampler throughput and independent samples per second, as ratios to a naive baseline.

    rgnet-bench                                   # CPU, sizes of conf/bench.yaml
    rgnet-bench device=cuda gpu_kernels=true anchor_dir=../shared/anchors/ising-gpu

Prints the tables and writes them with device and versions to ``summary.json`` (:mod:`rgnet.runs.benchmark`).
"""

from __future__ import annotations

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rgnet.cli import main_with_precheck
from rgnet.runs import benchmark
from rgnet.runs.config import CONFIG_PATH, ConfigError, register_resolvers

register_resolvers()


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="bench")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        benchmark.run(cfg, HydraConfig.get().runtime.output_dir)
    except ConfigError as err:
        raise SystemExit(f"rgnet-bench: {err}") from None


def main() -> None:
    """Console entry point ``rgnet-bench`` (Hydra overrides on the command line)."""
    main_with_precheck(
        benchmark.COMMAND, lambda args: benchmark.validate_config(benchmark.compose_bench(args)), _hydra_main
    )


if __name__ == "__main__":
    main()
