"""Fixtures of the sampler tests: the Triton kernels under Triton's CPU interpreter."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

TRITON_KERNELS = "rgnet.ising.samplers.triton_kernels"


@pytest.fixture(scope="module")
def interpreted_triton_kernels() -> Iterator[ModuleType]:
    """rgnet.ising.samplers.triton_kernels imported afresh with TRITON_INTERPRET=1, for one test module.

    Triton reads the flag when the kernels are decorated and when they run, so it stays set until the module's
    tests are done; then the environment and the previously imported kernel module (if any) are restored.
    """
    pytest.importorskip("triton")
    import rgnet.ising.samplers as package

    saved = sys.modules.pop(TRITON_KERNELS, None)
    had_attr = hasattr(package, "triton_kernels")
    saved_attr = getattr(package, "triton_kernels", None)
    patch = pytest.MonkeyPatch()
    patch.setenv("TRITON_INTERPRET", "1")
    try:
        module = importlib.import_module(TRITON_KERNELS)
        assert module._INTERPRETED
        yield module
    finally:
        patch.undo()
        if saved is not None:
            sys.modules[TRITON_KERNELS] = saved
        else:
            sys.modules.pop(TRITON_KERNELS, None)
        if had_attr:
            package.triton_kernels = saved_attr
        elif hasattr(package, "triton_kernels"):
            delattr(package, "triton_kernels")
