"""The run library that the command-line entry points and the notebooks share.

- :mod:`rgnet.runs.config`: the packaged Hydra configs, resolvers, composition, errors that name the field;
- :mod:`rgnet.runs.identity`: run directory names, run identity and hash, the run-directory guard;
- :mod:`rgnet.runs.summary`: ``summary.json`` (one writer, fixed keys, one device naming) and failure records;
- :mod:`rgnet.runs.training`, :mod:`rgnet.runs.sampling`, :mod:`rgnet.runs.benchmark`: one run of
  ``rgnet-train``, ``rgnet-sample`` and ``rgnet-bench``;
- :mod:`rgnet.runs.sweep`, :mod:`rgnet.runs.report`, :mod:`rgnet.runs.cluster`: sweeps, their reports,
  and what changes under SLURM.

    from rgnet.runs import compose_train, run_training
    cfg = compose_train(["experiment=coupling_flow_1d", "trainer.max_epochs=2"], output_dir="outputs/try")
    summary = run_training(cfg, cfg.output_dir)
"""

from rgnet.runs.config import CONFIG_PATH, ConfigError, compose, register_resolvers
from rgnet.runs.identity import check_run_dir, config_hash, identity, run_id
from rgnet.runs.summary import device_name, new_summary, record_failure, versions, write_summary
from rgnet.runs.sweep import SweepReport
from rgnet.runs.training import build, compose_train
from rgnet.runs.training import run as run_training

__all__ = [
    "CONFIG_PATH",
    "ConfigError",
    "SweepReport",
    "build",
    "check_run_dir",
    "compose",
    "compose_train",
    "config_hash",
    "device_name",
    "identity",
    "new_summary",
    "record_failure",
    "register_resolvers",
    "run_id",
    "run_training",
    "versions",
    "write_summary",
]
