"""``rgnet-sample``: generate (or reuse from the cache) a 2D Ising dataset and check it against exact results.

    rgnet-sample                                   # defaults of conf/data/ising2d.yaml
    rgnet-sample data.L=32 data.K=0.42 data.n=5000 data.method=checkerboard

See :mod:`rgnet.runs.sampling` for what is measured and written.
"""

from __future__ import annotations

import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rgnet.cli import main_with_precheck
from rgnet.data.dataset import DatasetError
from rgnet.runs import sampling
from rgnet.runs.config import CONFIG_PATH, ConfigError, register_resolvers

log = logging.getLogger(__name__)
register_resolvers()


@hydra.main(version_base=None, config_path=CONFIG_PATH, config_name="sample")
def _hydra_main(cfg: DictConfig) -> None:
    logging.captureWarnings(True)
    try:
        sampling.run(cfg, HydraConfig.get().runtime.output_dir)
    except (ConfigError, DatasetError) as err:
        log.error("%s", err)
        raise SystemExit(f"rgnet-sample: {err}") from None


def main() -> None:
    """Console entry point ``rgnet-sample`` (Hydra overrides on the command line)."""
    main_with_precheck(
        sampling.COMMAND, lambda args: sampling.validate_config(sampling.compose_sample(args)), _hydra_main
    )


if __name__ == "__main__":
    main()
