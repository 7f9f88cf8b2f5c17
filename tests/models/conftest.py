"""Fixtures shared by the RBM test modules (test_rbm, test_rbm_stack, test_rbm_training)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch


@pytest.fixture
def spin_data() -> Callable[..., torch.Tensor]:
    """``spin_data(n, n_visible, seed=0)``: independent uniform +-1 configurations, float32 (n, n_visible)."""

    def make(n: int, n_visible: int, seed: int = 0) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.randint(0, 2, (n, n_visible), generator=gen).float() * 2 - 1

    return make
