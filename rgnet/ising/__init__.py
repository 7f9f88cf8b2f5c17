"""The physics of the data: lattices, samplers, observables, exact results, statistics (no torch.nn here)."""

from rgnet.ising import exact
from rgnet.ising.exact import K_CRITICAL
from rgnet.ising.samplers import METHODS, SAMPLERS, Sampler, make_sampler, sample_1d
from rgnet.ising.sampling import SampleSet, generate_2d, sample_2d

__all__ = [
    "K_CRITICAL",
    "METHODS",
    "SAMPLERS",
    "SampleSet",
    "Sampler",
    "exact",
    "generate_2d",
    "make_sampler",
    "sample_1d",
    "sample_2d",
]
