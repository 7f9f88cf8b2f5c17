"""Information bottleneck: exact discrete IB, IB relevance on the Ising cylinder, Gaussian IB, MI estimators.

Plain numpy/torch (no Lightning): usable from notebooks. Informations are in nats.
"""

from rgnet.ib.cylinder import (
    CylinderIBResult,
    cylinder_boundary_joint,
    cylinder_joint,
    ising_cylinder_ib,
    predicted_beta_c,
    scaling_dimension,
)
from rgnet.ib.discrete import IBResult, IBScan, critical_beta_spectral, ib_scan, solve_ib

__all__ = [
    "CylinderIBResult",
    "IBResult",
    "IBScan",
    "critical_beta_spectral",
    "cylinder_boundary_joint",
    "cylinder_joint",
    "ib_scan",
    "ising_cylinder_ib",
    "predicted_beta_c",
    "scaling_dimension",
    "solve_ib",
]
