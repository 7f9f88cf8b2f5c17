"""The shared flip-probability tables and integer thresholds (rgnet.ising.samplers.tables)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rgnet.ising.samplers.tables import (
    ALWAYS,
    flip_probability_table,
    probability_to_threshold,
    split_threshold,
    thresholds_from_probabilities,
)


def test_flip_probability_tables() -> None:
    K, h = 0.4, -0.3
    for rule in ("metropolis", "heatbath"):
        p = flip_probability_table(K, h, rule)
        assert p.shape == (2, 5) and p.dtype == np.float64
        for nb_i, nb in enumerate(range(-4, 5, 2)):
            # detailed balance: p(+ -> -) / p(- -> +) = exp(-2 (K nb + h)) at fixed neighbours
            assert p[1, nb_i] / p[0, nb_i] == pytest.approx(math.exp(-2 * (K * nb + h)), rel=1e-12)
        if rule == "metropolis":
            assert np.all(np.max(p, axis=0) == 1.0)
        else:
            np.testing.assert_allclose(p[0] + p[1], 1.0, rtol=1e-12)
    thr = thresholds_from_probabilities(np.array([[0.0, 0.5, 1.0, 0.25, 1e-12]] * 2))
    assert thr.dtype == torch.int64 and thr[0].tolist() == [0, 2**31, 2**32, 2**30, 0]
    with pytest.raises(ValueError, match="rule"):
        flip_probability_table(K, h, "glauber")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        thresholds_from_probabilities(np.full((2, 5), 1.5))
    with pytest.raises(ValueError, match="shape"):
        thresholds_from_probabilities(np.zeros((5, 2)))


def test_thresholds_are_exact_at_the_ends_and_split_into_16_bit_halves() -> None:
    thresholds = probability_to_threshold(np.array([-0.5, 0.0, 2.0**-32, 0.5, 1.0, 1.5]))
    assert thresholds.dtype == np.uint64
    assert thresholds.tolist() == [0, 0, 1, 2**31, ALWAYS, ALWAYS]
    for t in (0, 1, 0xFFFF, 0x10000, 0x9E3779B9, ALWAYS):
        high, low = split_threshold(t)
        assert (high << 16) | low == t and 0 <= low < 2**16
