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


def test_neighbours_table_times_jobs_against_one_alone_in_each_round(monkeypatch):
    """The slowdown is the median of the per-round ratios (a round: one job alone, then the counts): with
    job times faked, round 1 (alone 2 s, two jobs 3 s) and round 2 (alone 4 s, two jobs 5 s) give ratios
    1.5 and 1.25, median 1.375 (the ratio of the medians, 4/3, would mix the rounds' loads)."""
    import rgnet.bench.neighbours as neighbours

    fake = iter([[2.0], [3.0, 3.0], [4.0], [5.0, 5.0]])
    monkeypatch.setattr(neighbours, "run_jobs", lambda *args: next(fake))
    rows = neighbours_table([1, 2], 1, wait_policies=["PASSIVE"], repeats=2)
    assert [(r["jobs"], r["seconds"], r["slowdown"]) for r in rows] == [(1, 3.0, 1.0), (2, 4.0, 1.375)]
    assert all(set(r) == set(COLUMNS) and r["repeats"] == 2 for r in rows)
