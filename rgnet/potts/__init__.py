"""The 2D q-state Potts model: H = -K sum_<ij> delta(s_i, s_j), the sibling of rgnet.ising.

Conventions: spins are int8 tensors of colours 0..q-1, shape (batch, L, L) (L x M for the exact tiny-lattice
results), periodic boundaries, each nearest-neighbour bond counted once (2 N bonds on N sites). K = J/kT is
dimensionless; K_c = ln(1 + sqrt q). Energies are per site, e = -(1/N) sum_<ij> delta in units of J (in
[-2, 0]); specific heat per site C = K^2 N var(e). q = 2 is the Ising model with K_Ising = K / 2 and
e_Potts = (e_Ising - 2) / 2.

* exact: :func:`potts_critical_coupling`, :func:`potts_critical_energy` (infinite lattice at K_c),
  :func:`potts_enumeration` (density of states of tiny tori -> ln Z, energy, specific heat, distribution);
* sampling: :func:`sample_potts_2d` / :func:`generate_potts_2d` (Swendsen-Wang, Wolff, heat bath; CPU numba;
  automatic burn-in and thinning), :class:`PottsSampler` (chains advanced in place);
* observables: :func:`potts_energy`, :func:`potts_magnetization`, :func:`potts_order_parameter`.
"""

from rgnet.potts.exact import (
    PottsDensityOfStates,
    potts_critical_coupling,
    potts_critical_energy,
    potts_energy_exact,
    potts_enumeration,
    potts_log_partition,
    potts_specific_heat_exact,
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
    "POTTS_METHODS",
    "PottsDensityOfStates",
    "PottsSampleSet",
    "PottsSampler",
    "colour_fractions",
    "generate_potts_2d",
    "potts_critical_coupling",
    "potts_critical_energy",
    "potts_energy",
    "potts_energy_exact",
    "potts_enumeration",
    "potts_log_partition",
    "potts_magnetization",
    "potts_order_parameter",
    "potts_specific_heat_exact",
    "sample_potts_2d",
    "satisfied_bonds",
]
