"""Good-neighbour threads (rgnet._threads) and the jobs-side-by-side benchmark (rgnet.bench.neighbours)."""

from __future__ import annotations

import os
import subprocess
import sys

from rgnet._threads import allowed_cpus, set_threads
from rgnet.bench.neighbours import COLUMNS, neighbours_table


def _child_env(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "NUMBA_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_rgnet_sets_sleeping_threads_sized_to_the_affinity_mask():
    code = "import os, rgnet, numba; print(os.environ['OMP_WAIT_POLICY'], numba.config.NUMBA_NUM_THREADS)"
    assert _child_env(code) == f"PASSIVE {allowed_cpus()}"
    assert _child_env(code, OMP_WAIT_POLICY="ACTIVE", NUMBA_NUM_THREADS="1") == "ACTIVE 1"  # the user wins


def test_set_threads_sizes_both_pools():
    import numba
    import torch

    before = torch.get_num_threads(), numba.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])


def test_neighbours_table_times_jobs_against_one_alone():
    rows = neighbours_table([1, 2], 1, L=8, n=64, epochs=1, wait_policies=["PASSIVE"])
    assert [(r["wait_policy"], r["jobs"]) for r in rows] == [("PASSIVE", 1), ("PASSIVE", 2)]
    assert all(set(r) == set(COLUMNS) and r["seconds"] > 0 for r in rows)
    assert rows[0]["slowdown"] == 1.0 and rows[1]["slowdown"] > 0
