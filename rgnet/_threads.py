"""CPU threads that share a machine well: sized from the job's allocation, idle ones asleep.

rgnet's compiled samplers run on numba's OpenMP threading layer and torch on its own OpenMP runtime. Two
defaults make several jobs on one machine (sweeps, SLURM jobs packed on a node) starve each other:

* idle OpenMP threads spin at every barrier; with more threads than free cores, a spinning thread holds
  the core another job's thread needs (the slowdown of jobs side by side is measured by ``rgnet-bench``'s
  neighbours table, docs/benchmarks.md). :data:`GOOD_NEIGHBOUR_ENV` makes them sleep
  (``OMP_WAIT_POLICY=PASSIVE``);
* numba starts one thread per core of the machine, not of the job's CPU set (a SLURM allocation, taskset):
  ``NUMBA_NUM_THREADS`` defaults to :func:`allowed_cpus`.

Both are set by :func:`use_good_neighbour_defaults` when rgnet is imported, unless the environment already
sets them (so a user's choice wins), and only take effect for runtimes loaded afterwards (the command-line
tools import rgnet first). :func:`set_threads` sizes both pools from one number (the ``threads`` setting).
"""

from __future__ import annotations

import os

#: Environment defaults for a good neighbour (each applied only when unset).
GOOD_NEIGHBOUR_ENV = ("OMP_WAIT_POLICY", "NUMBA_NUM_THREADS")


def allowed_cpus() -> int:
    """Number of CPUs this process may run on (its affinity mask: a SLURM allocation, taskset), >= 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def use_good_neighbour_defaults() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` and ``NUMBA_NUM_THREADS=allowed_cpus()`` where they are unset."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("NUMBA_NUM_THREADS", str(allowed_cpus()))


def set_threads(threads: int) -> None:
    """Use ``threads`` (>= 1) CPU threads in torch's intra-op pool and in numba's parallel kernels (capped
    at numba's pool size, ``NUMBA_NUM_THREADS``)."""
    import numba
    import torch

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


__all__ = ["GOOD_NEIGHBOUR_ENV", "allowed_cpus", "set_threads", "use_good_neighbour_defaults"]
