"""2D Markov-chain samplers behind one interface (:class:`Sampler`) and the exact 1D chain sampler.

Layout: ``base`` (the Sampler interface), ``kernel`` (the kernel interface and backend resolution),
``tables`` (flip probabilities and integer thresholds, shared by all kernels), one module per algorithm
(``checkerboard``, ``cluster``) and one per (algorithm, backend) variant (``checkerboard_numba``,
``checkerboard_torch``, ``checkerboard_triton`` over ``triton_kernels``; ``cluster_numba``,
``cluster_torch``).
"""

from __future__ import annotations

from typing import Any

from rgnet._checks import check_choice
from rgnet.ising.samplers.base import Sampler
from rgnet.ising.samplers.checkerboard import HeatBathCheckerboard, MetropolisCheckerboard
from rgnet.ising.samplers.cluster import SwendsenWangSampler, WolffSampler
from rgnet.ising.samplers.exact1d import sample_1d
from rgnet.ising.samplers.kernel import ClusterFlipKernel, Kernel, SweepKernel

#: Method name -> sampler class.
SAMPLERS: dict[str, type[Sampler]] = {
    cls.method: cls
    for cls in (MetropolisCheckerboard, HeatBathCheckerboard, WolffSampler, SwendsenWangSampler)
}
METHODS = tuple(SAMPLERS)


def make_sampler(method: str, L: int, K: float, **kwargs: Any) -> Sampler:
    """Construct the sampler for ``method`` (one of :data:`METHODS`); kwargs go to its constructor."""
    check_choice(method, "method", METHODS)
    return SAMPLERS[method](L, K, **kwargs)


__all__ = [
    "METHODS",
    "SAMPLERS",
    "ClusterFlipKernel",
    "HeatBathCheckerboard",
    "Kernel",
    "MetropolisCheckerboard",
    "Sampler",
    "SwendsenWangSampler",
    "SweepKernel",
    "WolffSampler",
    "make_sampler",
    "sample_1d",
]
