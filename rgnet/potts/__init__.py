"""The 2D q-state Potts model: H = -K sum_<ij> delta(s_i, s_j) - h sum_i delta(s_i, 0), the sibling of
rgnet.ising (h: optional field on colour 0, h = 0 by default).

Conventions: spins are int8 tensors of colours 0..q-1, shape (batch, L, L) (L x M for the exact tiny-lattice
results), periodic boundaries, each nearest-neighbour bond counted once (2 N bonds on N sites). K = J/kT is
dimensionless; K_c = ln(1 + sqrt q). Energies are per site, e = -(1/N) sum_<ij> delta in units of J (in
[-2, 0]); specific heat per site C = K^2 N var(e). q = 2 is the Ising model with K_Ising = K / 2 and
e_Potts = (e_Ising - 2) / 2.

* exact: :func:`potts_critical_coupling`, :func:`potts_critical_energy` (infinite lattice at K_c),
  :func:`potts_enumeration` (density of states of tiny tori in (bonds, colour-0 count) -> ln Z, energy,
  specific heat, colour-0 fraction, distributions, at any K and h), :func:`potts_colour_fraction_exact`,
  :func:`potts_torus_observables` (exact torus energy and specific heat where known);
* sampling: :func:`sample_potts_2d` / :func:`generate_potts_2d` (Swendsen-Wang, Wolff, heat bath; CPU numba;
  automatic burn-in and thinning), :class:`PottsSampler` (chains advanced in place);
* observables: :func:`potts_energy`, :func:`potts_magnetization`, :func:`potts_order_parameter`;
* cylinder: :func:`potts_cylinder_transfer_matrix` (ring-to-ring, q**L states, :func:`potts_ring_states`,
  :func:`potts_ring_index`), :func:`potts_cylinder_spectrum` by S_q sector (all / trivial / spin, with
  :func:`potts_colour_orbits`), :func:`potts_cylinder_dimensions` (x_sigma, x_epsilon from the gaps), and the
  exact IB of two rings: :func:`potts_boundary_joint`, :func:`potts_predicted_beta_c`,
  :func:`potts_cylinder_ib` (:class:`PottsCylinderIBResult`).
"""

from rgnet.potts.cylinder import (
    MAX_POTTS_CYLINDER_STATES,
    PottsCylinderIBResult,
    potts_boundary_joint,
    potts_colour_orbits,
    potts_cylinder_dimensions,
    potts_cylinder_ib,
    potts_cylinder_spectrum,
    potts_cylinder_transfer_matrix,
    potts_predicted_beta_c,
    potts_ring_index,
    potts_ring_states,
)
from rgnet.potts.exact import (
    PottsDensityOfStates,
    potts_colour_fraction_exact,
    potts_critical_coupling,
    potts_critical_energy,
    potts_energy_exact,
    potts_enumeration,
    potts_log_partition,
    potts_specific_heat_exact,
    potts_torus_observables,
)
from rgnet.potts.observables import (
    colour_fractions,
    potts_energy,
    potts_magnetization,
    potts_order_parameter,
    satisfied_bonds,
)
from rgnet.potts.sampling import (
    POTTS_METHODS,
    PottsSampler,
    PottsSampleSet,
    generate_potts_2d,
    sample_potts_2d,
)

__all__ = [
    "MAX_POTTS_CYLINDER_STATES",
    "POTTS_METHODS",
    "PottsCylinderIBResult",
    "PottsDensityOfStates",
    "PottsSampleSet",
    "PottsSampler",
    "colour_fractions",
    "generate_potts_2d",
    "potts_boundary_joint",
    "potts_colour_fraction_exact",
    "potts_colour_orbits",
    "potts_critical_coupling",
    "potts_critical_energy",
    "potts_cylinder_dimensions",
    "potts_cylinder_ib",
    "potts_cylinder_spectrum",
    "potts_cylinder_transfer_matrix",
    "potts_energy",
    "potts_energy_exact",
    "potts_enumeration",
    "potts_log_partition",
    "potts_magnetization",
    "potts_order_parameter",
    "potts_predicted_beta_c",
    "potts_ring_index",
    "potts_ring_states",
    "potts_specific_heat_exact",
    "potts_torus_observables",
    "sample_potts_2d",
    "satisfied_bonds",
]
