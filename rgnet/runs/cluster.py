"""Running under SLURM: what rgnet changes in Lightning there; whether a sweep's request fits the cluster;
one log file per rank of a distributed run."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rgnet.runs.config import ConfigError


def under_slurm() -> bool:
    """Whether this process is a SLURM task (Lightning's detection)."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect()


def cluster_plugins() -> list[Any]:
    """Under SLURM, Lightning's own auto-requeue (a SIGUSR1 handler that requeues the job) is switched off:
    submitit handles USR2 (requeue), SLURM requeues preempted and ``scontrol requeue``-d jobs itself, and
    Lightning's SIGTERM handler stops the fit at the next batch (see the README's "GPUs and SLURM")."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if under_slurm() else []


@dataclass(frozen=True)
class NodeGroup:
    """One line of ``sinfo``: a partition's nodes of one kind (CPUs, memory in MB, whether they have GPUs)."""

    partition: str
    default: bool
    cpus: int
    memory_mb: int
    gpus: bool


def parse_sinfo(text: str) -> list[NodeGroup]:
    """Node groups from ``sinfo -h -o "%P %c %m %G"`` output (the default partition is starred)."""
    groups = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 4:
            continue
        name, cpus, memory, gres = fields
        groups.append(
            NodeGroup(
                partition=name.rstrip("*"),
                default=name.endswith("*"),
                cpus=int(cpus.rstrip("+")),
                memory_mb=int(memory.rstrip("+")),
                gpus="gpu" in gres,
            )
        )
    return groups


def check_slurm_request(launcher: Mapping[str, Any], groups: list[NodeGroup]) -> None:
    """Raise :class:`ConfigError` when no node of the launcher's partition can ever run one job of the
    request (CPUs = cpus_per_task x tasks_per_node, mem_gb, GPUs): SLURM would keep such a job pending
    (reason PartitionConfig) and the sweep would wait without a word."""
    partition = launcher.get("partition")
    nodes = [g for g in groups if (g.partition == partition if partition else g.default)]
    where = f"partition {partition!r}" if partition else "the default partition"
    if not nodes:
        known = sorted({g.partition for g in groups})
        raise ConfigError(f"hydra.launcher.partition: {where} is not on this cluster (sinfo lists {known})")
    cpus = int(launcher.get("cpus_per_task") or 1) * int(launcher.get("tasks_per_node") or 1)
    memory_mb = 1024 * float(launcher.get("mem_gb") or 0)
    gpus = int(launcher.get("gpus_per_node") or 0)
    if any(g.cpus >= cpus and g.memory_mb >= memory_mb and (g.gpus or not gpus) for g in nodes):
        return
    largest = max(nodes, key=lambda g: (g.cpus, g.memory_mb))
    asked = f"{cpus} CPUs (cpus_per_task x tasks_per_node), {memory_mb / 1024:g} GB"
    asked += f" and {gpus} GPUs" if gpus else ""
    has = f"{largest.cpus} CPUs, {largest.memory_mb / 1024:.0f} GB, {'GPUs' if largest.gpus else 'no GPUs'}"
    raise ConfigError(
        f"hydra.launcher: a job asks for {asked} per node, but no node of {where} has that (largest: {has}); "
        "SLURM would keep the jobs pending forever. Lower hydra.launcher.cpus_per_task / mem_gb / "
        "trainer.devices or choose another hydra.launcher.partition"
    )


def check_slurm_sweep(launcher: Mapping[str, Any]) -> None:
    """:func:`check_slurm_request` against this machine's cluster (``sinfo``), for a SLURM launcher; nothing
    when the launcher is not SLURM's or ``sinfo`` is not available (submitting from elsewhere)."""
    if "SlurmLauncher" not in str(launcher.get("_target_", "")) or shutil.which("sinfo") is None:
        return
    listed = subprocess.run(["sinfo", "-h", "-o", "%P %c %m %G"], capture_output=True, text=True, timeout=60)
    if listed.returncode == 0:
        check_slurm_request(launcher, parse_sinfo(listed.stdout))


def log_per_rank(rank: int) -> None:
    """Every rank of a distributed run runs the command, and Hydra opens the same ``<job>.log``
    (``train.log``) in each when srun starts the ranks: ranks other than 0 write ``<job>.rank<r>.log``
    beside it instead. (Lightning's own DDP launcher already names its ranks' jobs
    ``<job>_ddp_process_<r>``: those logs are kept.)"""
    if rank == 0:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, logging.FileHandler):
            continue
        path = Path(handler.baseFilename)
        if path.stem.endswith((f".rank{rank}", f"_process_{rank}")):  # Lightning's DDP launcher names it
            continue
        own = logging.FileHandler(
            path.with_name(f"{path.stem}.rank{rank}{path.suffix}"),
            mode=handler.mode,
            encoding=handler.encoding,
        )
        own.setLevel(handler.level)
        own.setFormatter(handler.formatter)
        for log_filter in handler.filters:
            own.addFilter(log_filter)
        root.removeHandler(handler)
        handler.close()
        root.addHandler(own)
