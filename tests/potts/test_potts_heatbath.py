"""The heat-bath alias tables: every conditional law they realize is the exact one within 2^-32 per colour
(direct and generic layouts, K = 0 and strong coupling, with and without a field on colour 0)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rgnet.potts.kernels_numba import HEATBATH_DIRECT_MAX_Q, heatbath_table

TOLERANCE = 8 * 2.0**-32 + 1e-15  # the generic layout's 6 outcomes each carry <= 2^-32 rounding


def _exact_law(neighbours: np.ndarray, q: int, K: float, h: float) -> np.ndarray:
    """P(a) ∝ exp(K n_a + h delta(a, 0)) for neighbour colourings (rows, 4); float64 (rows, q)."""
    counts = (neighbours[:, :, None] == np.arange(q)).sum(axis=1)
    log_w = K * counts + h * (np.arange(q) == 0)
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def _realized_law(neighbours: np.ndarray, q: int, K: float, h: float, direct: bool) -> np.ndarray:
    """The colour law the table gives each neighbour colouring (rows, 4); float64 (rows, q)."""
    table = heatbath_table(K, q, h, direct=direct)
    assert table.direct == direct
    p = table.probabilities()
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-12, rtol=0)
    assert np.all(p >= 0)
    a = neighbours.astype(np.int64)
    if direct:
        rows = a[:, 0] + q * (a[:, 1] + q * (a[:, 2] + q * a[:, 3]))
        law = p[rows]
        assert np.all(law[:, q:] == 0)  # padding columns are never drawn
        return law[:, :q]
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    code = sum((a[:, i] == a[:, k]).astype(np.int64) << bit for bit, (i, k) in enumerate(pairs))
    code |= sum((a[:, k] == 0).astype(np.int64) << (6 + k) for k in range(4))
    outcome = p[code]
    law = np.zeros((a.shape[0], q))
    rows = np.arange(a.shape[0])
    for k in range(4):
        np.add.at(law, (rows, a[:, k]), outcome[:, k])
    law += outcome[:, 4:5] / q
    special = np.arange(table.lo, table.lo + table.span)
    law[:, special] += outcome[:, 5:6] / table.span
    assert np.all(outcome[:, 6:] == 0)
    return law


def _colourings(q: int) -> np.ndarray:
    if q**4 <= 5000:
        return np.array(list(itertools.product(range(q), repeat=4)))
    rng = np.random.default_rng(0)
    return np.concatenate([rng.integers(0, q, (2000, 4)), rng.integers(0, 3, (200, 4))])


@pytest.mark.parametrize("h", [0.0, 0.5, -0.3, 3.0, -4.0])
@pytest.mark.parametrize("K", [0.0, 1.0049, 1.8, 40.0])
@pytest.mark.parametrize(
    ("q", "direct"), [(2, True), (3, True), (4, True), (3, False), (4, False), (9, False)]
)
def test_tables_give_the_exact_conditional_law(q: int, direct: bool, K: float, h: float) -> None:
    neighbours = _colourings(q)
    law = _realized_law(neighbours, q, K, h, direct)
    np.testing.assert_allclose(law, _exact_law(neighbours, q, K, h), atol=TOLERANCE, rtol=0)


def test_zero_coupling_is_uniform_exactly() -> None:
    """q = 4, K = 0: every colour gets exactly 2^30 of 2^32 (the alias columns are full, no alias used)."""
    table = heatbath_table(0.0, 4)
    assert table.direct and table.bits == 2
    entries = table.table.reshape(-1, 4)
    assert np.all(entries == np.arange(4, dtype=np.uint64) << np.uint64(32) | np.uint64(1 << 30))
    np.testing.assert_array_equal(table.probabilities(), np.full((256, 4), 0.25))


def test_layout_choice() -> None:
    assert heatbath_table(1.0, HEATBATH_DIRECT_MAX_Q).direct
    assert not heatbath_table(1.0, HEATBATH_DIRECT_MAX_Q + 1).direct
    assert heatbath_table(1.0, 3, direct=False).bits == 3
