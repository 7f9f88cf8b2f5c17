"""Coarse-graining and RG analysis shared by all models (plain torch/numpy, no Lightning).

- :mod:`rgnet.rg.recursions`: exact 1D decimation ``(K, h) -> (K', h')``, fixed points, stability, flows.
- :mod:`rgnet.rg.couplings`: fit Ising couplings to configurations (pseudo-likelihood, exact 1D likelihood).
- :mod:`rgnet.rg.blocking`: block-spin transforms (majority rule, decimation) in 1D and 2D, and the
  Potts plurality rule.
- :mod:`rgnet.rg.receptive_fields`: locality, size and centre of receptive fields on a periodic lattice.
- :mod:`rgnet.rg.flow`: measured flows of layered networks (fitted couplings per layer) and their
  verdicts against exact decimation or the majority-rule flow.
- :mod:`rgnet.rg.mcrg`: Monte Carlo RG: the linearized map of any block-spin transform and its exponents.
- :mod:`rgnet.rg.critical`: the critical point and exponents of any block-spin map by two-lattice matching,
  and the scaling dimension of its coarse variable by finite-size scaling.
"""

from rgnet.rg.blocking import (
    decimate_spins_1d,
    decimate_spins_2d,
    majority_1d,
    majority_2d,
    plurality_2d,
    sign_with_coin,
)
from rgnet.rg.couplings import TERMS, CouplingFit, fit_couplings
from rgnet.rg.critical import (
    CriticalPointEstimate,
    MatchingResult,
    ScalingDimensionResult,
    combine_matchings,
    correlation_function,
    match_critical_point,
    scaling_dimension,
)
from rgnet.rg.flow import (
    FIXED_POINT_K,
    FLOW_FIT_METHODS,
    REFERENCE_FLOWS,
    assign_to_lattice,
    check_block_spin_flow,
    check_exact_flow,
    fit_flow,
    fit_lattice_layers,
    fit_layers,
    flow_chi2,
    flow_fit_method,
    flow_geometry,
    flow_verdict,
    lattice_sides,
    on_square_lattice,
)
from rgnet.rg.mcrg import LinearizedMap, MCRGResult, linearized_maps, mcrg_exponents, operator_sums
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
    "scaling_dimension",
    "match_critical_point",
    "correlation_function",
    "combine_matchings",
    "ScalingDimensionResult",
    "MatchingResult",
    "CriticalPointEstimate",
    "FIXED_POINT_K",
    "FLOW_FIT_METHODS",
    "REFERENCE_FLOWS",
    "TERMS",
    "CouplingFit",
    "Decimation",
    "FixedPoint",
    "LinearizedMap",
    "MCRGResult",
    "assign_to_lattice",
    "box_window",
    "check_block_spin_flow",
    "check_exact_flow",
    "correlation_length_1d",
    "coupling_from_correlation_length",
    "decimate_1d",
    "decimate_spins_1d",
    "decimate_spins_2d",
    "decimation_jacobian",
    "exact_decimation_sequence",
    "field_centres",
    "fit_couplings",
    "fit_flow",
    "fit_lattice_layers",
    "fit_layers",
    "fixed_points_1d",
    "flow_1d",
    "flow_chi2",
    "flow_fit_method",
    "flow_geometry",
    "flow_verdict",
    "lattice_side",
    "lattice_sides",
    "linearized_maps",
    "locality",
    "majority_1d",
    "majority_2d",
    "plurality_2d",
    "mcrg_exponents",
    "on_square_lattice",
    "operator_sums",
    "rms_radius",
    "sign_with_coin",
    "stability_1d",
]
