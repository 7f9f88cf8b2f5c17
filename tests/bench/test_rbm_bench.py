"""RBM benchmark: rows, columns and consistency of the CD-k throughput table (tiny layers, short timings)."""

from __future__ import annotations

import math

import pytest
import torch

from rgnet.bench.rbm import COLUMNS, cd_throughput_table, matmul_step
from rgnet.tables import format_records


def test_cd_throughput_table_rows_and_format():
    rows = cd_throughput_table(layers=((64, 16), (16, 4)), batch=20, ks=(1, 2), min_seconds=0.01)
    assert [(r["layer"], r["k"]) for r in rows] == [("64x16", 1), ("64x16", 2), ("16x4", 1), ("16x4", 2)]
    for row in rows:
        assert set(COLUMNS) <= set(row)
        assert row["samples_per_s"] == pytest.approx(row["batch"] / (row["step_ms"] / 1e3))
        assert row["ratio"] == pytest.approx(row["step_ms"] / row["matmul_ms"])
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0
    assert format_records(rows, COLUMNS).splitlines()[0].split() == COLUMNS
    pcd = cd_throughput_table(layers=((16, 4),), batch=10, ks=(1,), persistent=True, min_seconds=0.01)
    assert pcd[0]["method"] == "pcd"


def test_matmul_baseline_does_the_products_of_a_cd_step():
    # 2k + 2 calls: 2k + 1 products of batch x n_visible x n_hidden and the gradient, of twice the batch
    run = matmul_step(32, 8, 10, 3, torch.device("cpu"))
    with torch.profiler.profile() as prof:
        run(1)
    calls = {e.key: e.count for e in prof.key_averages()}
    assert calls.get("aten::addmm", 0) + calls.get("aten::mm", 0) == 2 * 3 + 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="k must be >= 1"):
        cd_throughput_table(layers=((4, 2),), ks=(0,))
    with pytest.raises(ValueError, match="batch must be >= 1"):
        cd_throughput_table(batch=0)
