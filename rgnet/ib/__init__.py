"""Information bottleneck: exact discrete IB, IB relevance on the Ising cylinder, Gaussian IB, MI estimators,
and the block operators a code is measured against (:mod:`rgnet.ib.operators`).

Plain numpy/torch (no Lightning): usable from notebooks. Informations are in nats.
"""

from rgnet.ib.cylinder import (
    CylinderIBResult,
    check_cylinder_geometry,
    cylinder_boundary_joint,
    cylinder_joint,
    ib_scaling_dimension,
    ising_cylinder_ib,
    predicted_beta_c,
    sample_boundary_pairs,
    scaling_dimension,
)
from rgnet.ib.discrete import (
    IBResult,
    IBScan,
    critical_beta_spectral,
    gaussian_code_informations,
    ib_scan,
    solve_ib,
)
from rgnet.ib.estimators import (
    ConcatCritic,
    SeparableCritic,
    infonce_lower_bound,
    mi_lower_bound,
    nwj_lower_bound,
)
from rgnet.ib.gaussian import GaussianIB, gaussian_ib, gaussian_mutual_information
from rgnet.ib.operators import (
    BlockShape,
    block_bond_sum,
    block_bonds,
    code_operator_overlaps,
    colour_permutations,
    filter_boundary_ratio,
    filter_sign_purity,
    multiple_correlation,
    order_parameter,
    permute_colours,
    symmetrized_code,
)

__all__ = [
    "BlockShape",
    "ConcatCritic",
    "CylinderIBResult",
    "GaussianIB",
    "IBResult",
    "IBScan",
    "SeparableCritic",
    "block_bond_sum",
    "block_bonds",
    "check_cylinder_geometry",
    "code_operator_overlaps",
    "colour_permutations",
    "critical_beta_spectral",
    "cylinder_boundary_joint",
    "cylinder_joint",
    "filter_boundary_ratio",
    "filter_sign_purity",
    "multiple_correlation",
    "order_parameter",
    "permute_colours",
    "symmetrized_code",
    "gaussian_code_informations",
    "gaussian_ib",
    "gaussian_mutual_information",
    "ib_scaling_dimension",
    "ib_scan",
    "infonce_lower_bound",
    "ising_cylinder_ib",
    "mi_lower_bound",
    "nwj_lower_bound",
    "predicted_beta_c",
    "sample_boundary_pairs",
    "scaling_dimension",
    "solve_ib",
]
