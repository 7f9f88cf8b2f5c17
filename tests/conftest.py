"""Fixtures shared across the test packages."""

from __future__ import annotations

import warnings

import pytest
import torch


@pytest.fixture
def one_thread():
    """Small matrices run several times faster on one intra-op thread on a shared 2-core CPU (no spin-waiting
    between time-shared threads); also silences Lightning's hint about data-loader workers."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        yield
    torch.set_num_threads(threads)
