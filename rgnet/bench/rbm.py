"""RBM training throughput: CD-k samples per second per layer, and the cost of a CD-k step relative to the
matrix multiplications it has to do, both measured in the same process (these machines are noisy).

A CD-k step on a batch of B configurations (:meth:`rgnet.models.rbm.RBM.cd_gradients` + the SGD update) does
``2k + 3`` matrix products of size B x n_visible x n_hidden: ``x0 W`` (positive phase), ``2k - 1`` for the
Gibbs chain (the first hidden sample reuses ``x0 W``), ``xk W`` for the negative hidden means, and the weight
gradient ``[x0; xk]^T [ph0; phk]`` (one product of twice the batch). The baseline runs exactly these products
on preallocated tensors; ``ratio = step time / matmul time`` (target < 2: sampling, penalties, the update and
bookkeeping must be cheap next to the products).
"""

from __future__ import annotations

from typing import Any

import torch

from rgnet._checks import check_device, check_int
from rgnet.bench.samplers import interleaved_seconds
from rgnet.models.rbm import RBM

#: (n_visible, n_hidden) of Mehta & Schwab's stack 1600-400-100-25.
DEFAULT_LAYERS: tuple[tuple[int, int], ...] = ((1600, 400), (400, 100), (100, 25))


def matmul_step(n_visible: int, n_hidden: int, batch: int, k: int, device: torch.device):
    """A callable ``run(n)`` doing ``n`` times the ``2k + 3`` products of one CD-k step, and nothing else."""
    gen = torch.Generator(device=device).manual_seed(0)
    W = torch.randn(n_visible, n_hidden, generator=gen, device=device)
    b, c = torch.zeros(n_visible, device=device), torch.zeros(n_hidden, device=device)
    x = torch.randn(batch, n_visible, generator=gen, device=device)
    h = torch.randn(batch, n_hidden, generator=gen, device=device)
    xx = torch.randn(2 * batch, n_visible, generator=gen, device=device)
    hh = torch.randn(2 * batch, n_hidden, generator=gen, device=device)

    def run(n: int) -> None:
        for _ in range(n):
            torch.addmm(c, x, W)  # positive phase
            for _ in range(k):
                torch.addmm(b, h, W.t())  # h -> v
            for _ in range(k):
                torch.addmm(c, x, W)  # v -> h (k - 1 chain steps + the negative hidden means)
            xx.t() @ hh  # weight gradient

    return run


def cd_step(n_visible: int, n_hidden: int, batch: int, k: int, persistent: bool, device: torch.device):
    """A callable ``run(n)`` doing ``n`` full CD-k (or PCD) updates of an RBM with L1 (Mehta & Schwab)."""
    torch.manual_seed(0)
    rbm = RBM(n_visible, n_hidden, k=k, persistent=persistent, n_chains=batch, l1=2e-4, lr=0.01).to(device)
    optimizer = rbm.make_optimizer()
    v = (2 * torch.randint(0, 2, (batch, n_visible), device=device) - 1).to(torch.float32)

    def run(n: int) -> None:
        for _ in range(n):
            rbm.cd_gradients(v)
            optimizer.step()

    return run


def cd_throughput_table(
    layers: tuple[tuple[int, int], ...] = DEFAULT_LAYERS,
    batch: int = 100,
    ks: tuple[int, ...] = (1, 5),
    persistent: bool = False,
    device: str | torch.device = "cpu",
    min_seconds: float = 0.3,
) -> list[dict[str, Any]]:
    """One row per (layer, k): ``samples_per_s`` (training configurations per second), ``step_ms``,
    ``matmul_ms`` (the step's products alone, timed alternately with the step) and
    ``ratio = step_ms / matmul_ms``.
    Uses torch's current number of threads (``torch.set_num_threads``)."""
    dev = check_device(device)
    batch = check_int(batch, "batch", minimum=1)
    rows = []
    for n_visible, n_hidden in layers:
        for k in ks:
            k = check_int(k, "k", minimum=1)
            step, products = interleaved_seconds(
                cd_step(n_visible, n_hidden, batch, k, persistent, dev),
                matmul_step(n_visible, n_hidden, batch, k, dev),
                dev,
                min_seconds,
            )
            rows.append(
                {
                    "layer": f"{n_visible}x{n_hidden}",
                    "batch": batch,
                    "k": k,
                    "method": "pcd" if persistent else "cd",
                    "samples_per_s": batch / step,
                    "step_ms": 1e3 * step,
                    "matmul_ms": 1e3 * products,
                    "ratio": step / products,
                }
            )
    return rows


#: Columns of the CD throughput table (:func:`rgnet.tables.format_records`).
COLUMNS = ["layer", "method", "k", "batch", "samples_per_s", "step_ms", "matmul_ms", "ratio"]
