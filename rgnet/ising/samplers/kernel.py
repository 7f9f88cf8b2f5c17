"""The kernel interface behind the 2D samplers, and the one place where a ``backend=`` name is resolved.

A sampler (the algorithm's interface, :class:`rgnet.ising.samplers.base.Sampler`) holds one kernel: an object
of one (algorithm, backend) variant, chosen once at construction by :func:`resolve_kernel`. The kernel owns
what depends on the backend (compiled tables, its own random streams); the sampler owns the spins, the
torch generator and the sweep count. Life cycle: build (deterministic tables), :meth:`Kernel.prepare`
(random state drawn from the sampler's generator), then updates, with :meth:`Kernel.state_dict` /
:meth:`Kernel.load_state_dict` for exact resumption.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from rgnet._checks import check_choice

#: ``backend="auto"`` picks the first of these that the algorithm has and that runs on the device.
AUTO_ORDER = ("numba", "triton", "torch")


class Kernel(ABC):
    """One backend of one algorithm, for a batch of chains of int8 +-1 spins (chains, L, L)."""

    #: the ``backend=`` name of this variant
    backend: ClassVar[str]

    @classmethod
    def unavailable_reason(cls, device: torch.device) -> str | None:
        """Why this backend cannot run on ``device`` (completing "backend=<name> ..."), or None if it can."""
        return None

    def prepare(self, chains: int) -> None:  # noqa: B027 - a no-op for kernels without random state
        """Draw this kernel's own random state for ``chains`` chains (nothing for kernels without one)."""

    def state_dict(self) -> dict[str, Any]:
        """This kernel's random state; it goes into the ``extra`` entry of the sampler's state."""
        return {}

    def load_state_dict(self, state: dict[str, Any], chains: int) -> None:  # noqa: B027 - as prepare
        """Restore :meth:`state_dict` output for ``chains`` chains (after the sampler's generator)."""


class SweepKernel(Kernel):
    """A kernel whose unit of work is one sweep of every chain."""

    @abstractmethod
    def sweep(self, spins: torch.Tensor, n_sweeps: int) -> torch.Tensor:
        """``n_sweeps`` >= 1 sweeps of int8 spins (chains, L, L); returns the new spins (for kernels that
        update in place: ``spins`` itself, made contiguous)."""


class ClusterFlipKernel(Kernel):
    """A kernel whose unit of work is one single-cluster (Wolff) update of every chain."""

    @abstractmethod
    def flip(self, spins: torch.Tensor, n_flips: int) -> tuple[torch.Tensor, np.ndarray]:
        """``n_flips`` >= 1 cluster updates of every chain of int8 spins (chains, L, L); returns the new spins
        and the summed sizes of the grown clusters (sites, flipped or not), int64 (chains,) on the CPU."""


def resolve_kernel(backend: str, device: torch.device, kernels: Mapping[str, type[Kernel]]) -> type[Kernel]:
    """The kernel class for ``backend`` on ``device``.

    ``backend`` is "auto" or a key of ``kernels`` (one algorithm's variants; every algorithm has "torch",
    which runs anywhere, so "auto" always finds one). Raises ValueError naming ``backend`` and the allowed
    values for an unknown name, or naming the reason when the requested backend cannot run on ``device``.
    """
    allowed = ("auto", *kernels)
    check_choice(backend, "backend", allowed)
    if backend == "auto":
        return next(
            kernels[name]
            for name in AUTO_ORDER
            if name in kernels and kernels[name].unavailable_reason(device) is None
        )
    reason = kernels[backend].unavailable_reason(device)
    if reason is not None:
        raise ValueError(f"backend={backend!r} {reason}; choose another of {list(allowed)}")
    return kernels[backend]


__all__ = ["AUTO_ORDER", "ClusterFlipKernel", "Kernel", "SweepKernel", "resolve_kernel"]
