"""Coarse-graining and RG analysis shared by all models (plain torch/numpy, no Lightning).

- :mod:`rgnet.rg.recursions`: exact 1D decimation ``(K, h) -> (K', h')``, fixed points, stability, flows.
- :mod:`rgnet.rg.couplings`: fit Ising couplings to configurations (pseudo-likelihood, exact 1D likelihood).
- :mod:`rgnet.rg.blocking`: block-spin transforms (majority rule, decimation) in 1D and 2D.
- :mod:`rgnet.rg.receptive_fields`: locality, size and centre of receptive fields on a periodic lattice.
"""

from rgnet.rg.blocking import decimate_spins_1d, decimate_spins_2d, majority_1d, majority_2d
from rgnet.rg.couplings import TERMS, CouplingFit, fit_couplings
from rgnet.rg.receptive_fields import box_window, field_centres, lattice_side, locality, rms_radius
from rgnet.rg.recursions import (
    Decimation,
    FixedPoint,
    correlation_length_1d,
    coupling_from_correlation_length,
    decimate_1d,
    decimation_jacobian,
    exact_decimation_sequence,
    fixed_points_1d,
    flow_1d,
    stability_1d,
)

__all__ = [
    "TERMS",
    "CouplingFit",
    "Decimation",
    "FixedPoint",
    "box_window",
    "correlation_length_1d",
    "coupling_from_correlation_length",
    "decimate_1d",
    "decimate_spins_1d",
    "decimate_spins_2d",
    "decimation_jacobian",
    "exact_decimation_sequence",
    "field_centres",
    "fit_couplings",
    "fixed_points_1d",
    "flow_1d",
    "lattice_side",
    "locality",
    "majority_1d",
    "majority_2d",
    "rms_radius",
    "stability_1d",
]
