"""MCRG benchmark: the numpy baseline computes the same operator sums; table rows; bad sizes fail first."""

from __future__ import annotations

import math

import pytest
import torch

from rgnet.bench.rg import COLUMNS, check_mcrg_size, mcrg_table, naive_operator_sums
from rgnet.rg.mcrg import SQUARE_EVEN, SQUARE_ODD, operator_sums


def test_naive_baseline_computes_the_same_operator_sums():
    spins = (2 * torch.randint(0, 2, (30, 8, 8), generator=torch.Generator().manual_seed(0)) - 1).to(
        torch.int8
    )
    operators = {**SQUARE_EVEN, **SQUARE_ODD}
    assert (naive_operator_sums(spins.numpy(), operators) == operator_sums(spins, operators).numpy()).all()


def test_mcrg_table_rows():
    rows = mcrg_table(L=16, n=200, levels=2, rounds=1)
    assert [row["task"] for row in rows] == ["mcrg_exponents", "match_critical_point"]
    for row in rows:
        assert set(COLUMNS) <= set(row) and row["device"] == "cpu"
        assert math.isfinite(row["ratio"]) and row["ratio"] == pytest.approx(
            row["baseline_seconds"] / row["seconds"]
        )


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="mcrg.L=24 must be divisible by 2\\*\\*mcrg.levels = 16"):
        check_mcrg_size(24, 4)
    with pytest.raises(ValueError, match="mcrg.levels"):
        check_mcrg_size(64, 0)
