"""Running under SLURM: what rgnet changes in Lightning there."""

from __future__ import annotations

from typing import Any


def under_slurm() -> bool:
    """Whether this process is a SLURM task (Lightning's detection)."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect()


def cluster_plugins() -> list[Any]:
    """Under SLURM, Lightning's own auto-requeue is switched off: requeueing is submitit's (one mechanism)."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if under_slurm() else []
