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


@pytest.fixture
def count_calls(monkeypatch):
    """``count_calls(module, name)`` wraps ``module.name`` for the test and returns the list of its calls,
    each ``(args, kwargs)`` (e.g. to assert that a cached dataset is generated once)."""

    def wrap(module, name: str) -> list:
        calls = []
        real = getattr(module, name)

        def counting(*args, **kwargs):
            calls.append((args, kwargs))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)
        return calls

    return wrap
