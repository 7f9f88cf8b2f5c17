"""Jobs side by side: the slowdown of N identical jobs started together against one job alone, run in
the same benchmark (these machines are noisy), with idle OpenMP threads sleeping (rgnet's default,
``OMP_WAIT_POLICY=PASSIVE``, :mod:`rgnet._threads`) and spinning (``ACTIVE``) for contrast.

A job is a fresh Python process doing what a small training run does: it imports rgnet, samples a 2D Ising
dataset with Swendsen-Wang (numba's parallel kernels) and trains an RBM on it for a few epochs (torch), with
``threads`` threads for both. A round times one job alone, then each count of jobs together; ``seconds`` is
the median over ``repeats`` rounds of the mean over the N jobs of each job's own wall time (imports
included), ``slowdown`` the median over the rounds of that mean over the same round's one-job time (the
ratio within a round, as the machine's load drifts between rounds). The target (issue 15): two jobs take at
most 1.5x the time of one alone when each has its share of the cores.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

#: Columns of :func:`neighbours_table`.
COLUMNS = ["wait_policy", "jobs", "threads", "repeats", "seconds", "slowdown"]
#: OpenMP wait policies compared (rgnet's default first).
WAIT_POLICIES = ("PASSIVE", "ACTIVE")


def job(L: int, n: int, epochs: int, threads: int) -> None:
    """One job (module docstring) in this process: ``n`` L x L configurations at K_c, an RBM with L*L/4
    hidden units trained ``epochs`` epochs of batches of 100; ``threads`` 0 keeps the defaults (one thread
    per allowed CPU in both pools, what a job that sets nothing gets)."""
    from rgnet._threads import set_threads
    from rgnet.ising.exact import K_CRITICAL
    from rgnet.ising.sampling import generate_2d
    from rgnet.models.rbm import RBM

    if threads:
        set_threads(threads)
    samples = generate_2d(
        L, K_CRITICAL, n, method="swendsen_wang", seed=0, chains=16, burn_in=100, thinning=2
    )
    visible = samples.spins.reshape(n, -1).float()
    rbm = RBM(L * L, L * L // 4, k=1, n_chains=100, l1=2e-4, lr=0.01)
    optimizer = rbm.make_optimizer()
    for _ in range(epochs):
        for batch in visible.split(100):
            optimizer.zero_grad()
            rbm.cd_gradients(batch)
            optimizer.step()


#: A job's process: its wall time from the interpreter's first line, imports included, on stdout.
_CHILD = (
    "import time; started = time.perf_counter(); import sys; from rgnet.bench.neighbours import job; "
    "job(*map(int, sys.argv[1:])); print(time.perf_counter() - started)"
)


def run_jobs(jobs: int, wait_policy: str, L: int, n: int, epochs: int, threads: int) -> list[float]:
    """Start ``jobs`` identical jobs together under ``wait_policy``; each one's wall time (s)."""
    env = {**os.environ, "OMP_WAIT_POLICY": wait_policy}
    args = [sys.executable, "-c", _CHILD, str(L), str(n), str(epochs), str(threads)]
    children = [
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(jobs)
    ]
    seconds = []
    for child in children:
        out, err = child.communicate()
        if child.returncode:
            raise RuntimeError(f"a benchmark job failed (exit {child.returncode}): {err.strip()[-2000:]}")
        seconds.append(float(out.strip().splitlines()[-1]))
    return seconds


def neighbours_table(
    jobs: Sequence[int],
    threads: int,
    *,
    L: int = 32,
    n: int = 2000,
    epochs: int = 5,
    wait_policies: Sequence[str] = WAIT_POLICIES,
    repeats: int = 1,
) -> list[dict[str, Any]]:
    """Rows of :data:`COLUMNS`: per wait policy, one job alone, then each count in ``jobs`` side by side
    (``repeats`` rounds, module docstring)."""
    counts = [count for count in jobs if count != 1]
    rows = []
    for policy in wait_policies:
        alone: list[float] = []
        together: dict[int, list[float]] = {count: [] for count in counts}
        for _ in range(repeats):
            alone.append(sum(run_jobs(1, policy, L, n, epochs, threads)))
            for count in counts:
                times = run_jobs(count, policy, L, n, epochs, threads)
                together[count].append(sum(times) / len(times))
        for count in [1, *counts]:
            seconds = alone if count == 1 else together[count]
            rows.append(
                {
                    "wait_policy": policy,
                    "jobs": count,
                    "threads": threads,
                    "repeats": repeats,
                    "seconds": statistics.median(seconds),
                    "slowdown": statistics.median(t / a for t, a in zip(seconds, alone, strict=True)),
                }
            )
    return rows
