"""RBM flow (Iso, Shiba & Yokoo, PRE 97, 053304 (2018)): iterate ``v -> h -> v`` with a trained RBM and track
the temperature of the generated configurations.

An RBM trained on Ising configurations from many temperatures defines a map on configurations: one block-Gibbs
step ``v -> h ~ p(h | v) -> v' ~ p(v | h)``. Iso et al. found that, started from configurations at any
temperature, the generated configurations drift towards the critical temperature (the RBM's "flow" goes to
K_c, unlike an RG flow, which runs away from it). :func:`rbm_flow` measures this: the coupling of the batch
of configurations after each step, by two estimators of an L x L periodic nearest-neighbour Ising model

* ``K_pl``: maximum pseudo-likelihood fit of ``H = -K sum_<ij> s_i s_j`` (:func:`rgnet.rg.fit_couplings`),
  with its sandwich standard error; it uses the full conditional statistics of every spin;
* ``K_energy``: the coupling whose exact finite-size energy per site (:func:`rgnet.ising.exact.energy_torus`)
  equals the batch's mean energy per site (:func:`coupling_from_energy`).

Both recover the K of exact samples (tests/models/test_rbm_flow.py); they disagree when the generated
configurations are not Ising-distributed, which is itself informative.

Measured (8 x 8, CD-1 RBM trained 20 epochs on 1000 Wolff samples at each of K = 0.15, 0.25, 0.33, 0.38,
0.42, 0.46, 0.5, 0.6, 0.8; flows of 500 configurations started at K = 0.15, 0.25, 0.42, 0.6, 0.8): every flow
reaches the same point within a few steps and stays there, from above and from below. With 64 hidden units
it sits at K_pl = 0.41 +- 0.005, K_energy = 0.467 +- 0.003 (|m| = 0.90), within 20 steps; with 16 hidden
units at K_pl = 0.345, K_energy = 0.428 (|m| = 0.84; flows from K = 0.15 still creep up after 20 steps).
K_c = 0.4407 lies between the two estimators, as Iso et al. found (the flow goes near K_c); the estimators'
disagreement shows that the fixed point's configurations are not exactly Ising-distributed (too magnetized
for their energy).

Example (CPU, seconds)::

    import torch
    from rgnet.ising import sample_2d
    from rgnet.models import train_rbm
    from rgnet.models.rbm_flow import rbm_flow

    data = torch.cat([sample_2d(6, K, 300, method="wolff", seed=i) for i, K in enumerate((0.25, 0.45, 0.7))])
    rbm = train_rbm(data.reshape(-1, 36).float(), 36, epochs=5, lr=0.01, k=1, progress=False)
    flow = rbm_flow(rbm, data[:300].reshape(-1, 36).float(), steps=20)
    print(flow.K_pl[0], flow.K_pl[-1])   # the K of the starting batch and after 20 steps
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.optimize import brentq

from rgnet._checks import check_int, check_real
from rgnet.ising.exact import energy_torus
from rgnet.ising.observables import energy_per_site
from rgnet.models.rbm import RBM, check_configurations
from rgnet.rg import fit_couplings
from rgnet.rg.receptive_fields import lattice_side

#: :func:`coupling_from_energy` searches ``|K| <= K_MAX`` (beyond it the energy is -2 to ~1e-8).
K_MAX = 5.0


def coupling_from_energy(energy: float, L: int) -> float:
    """The coupling K of the L x L periodic Ising model whose exact energy per site equals ``energy`` (in J).

    ``energy_torus(L, L, K)`` decreases from 2 to -2 as K goes from -inf to inf; the root is found in
    ``[-K_MAX, K_MAX]``, and energies beyond those of the interval's ends return ``+-K_MAX``.
    """
    energy = check_real(energy, "energy", minimum=-2.0, maximum=2.0)
    L = check_int(L, "L", minimum=2)
    low, high = energy_torus(L, L, K_MAX), energy_torus(L, L, -K_MAX)
    if energy <= low:
        return K_MAX
    if energy >= high:
        return -K_MAX
    return float(brentq(lambda K: energy_torus(L, L, K) - energy, -K_MAX, K_MAX, xtol=1e-10))


@dataclass(frozen=True)
class RBMFlow:
    """Couplings of the configurations along an RBM flow; index 0 is the starting batch, ``t`` after ``t``
    steps.

    ``K_pl``, ``K_pl_err``: pseudo-likelihood K and its standard error; ``K_energy``: K from the mean energy;
    ``energy``: mean energy per site (J); ``abs_magnetization``: mean |m| per site; ``converged``: whether
    each pseudo-likelihood fit converged (it diverges on perfectly ordered batches).
    """

    K_pl: list[float]
    K_pl_err: list[float]
    K_energy: list[float]
    energy: list[float]
    abs_magnetization: list[float]
    converged: list[bool]

    def as_dict(self) -> dict[str, list]:
        """JSON-serializable lists."""
        return {key: list(getattr(self, key)) for key in self.__dataclass_fields__}


def measure_coupling(spins: torch.Tensor) -> dict[str, float | bool]:
    """Coupling estimates of a batch of L x L configurations ``spins`` (batch >= 2, L, L) of +-1.

    Returns ``K_pl``, ``K_pl_err``, ``converged`` (pseudo-likelihood), ``K_energy`` (exact-energy inversion),
    ``energy`` (mean per site, J) and ``abs_magnetization``.
    """
    fit = fit_couplings(spins, ("K",))
    s = spins.to(torch.float32)
    e = float(energy_per_site(s).double().mean())
    L = spins.shape[-1]
    return {
        "K_pl": fit.values["K"],
        "K_pl_err": fit.errors["K"],
        "converged": fit.converged,
        "K_energy": coupling_from_energy(e, L),
        "energy": e,
        "abs_magnetization": float(s.mean(dim=(1, 2)).abs().mean()),
    }


def rbm_flow(
    rbm: RBM, v0: torch.Tensor, steps: int, *, every: int = 1, generator: torch.Generator | None = None
) -> RBMFlow:
    """Iterate ``v -> h -> v`` (sampled block-Gibbs steps) from ``v0`` and measure the coupling along the way.

    Args:
        rbm: an RBM whose visible layer is an L x L lattice (row-major sites) with +-1 inputs.
        v0: starting configurations, float (batch >= 2, L*L) of +-1.
        steps: number of ``v -> h -> v`` steps (>= 1).
        every: measure after every this many steps (and at step 0 and at the end).
        generator: random numbers of the sampling (None: torch's global generator).
    Returns:
        :class:`RBMFlow` with one entry per measured step.
    """
    if not isinstance(rbm, RBM):
        raise TypeError(f"rbm must be an rgnet.models.rbm.RBM, got {type(rbm).__name__}")
    L = lattice_side(rbm.n_visible)
    if L is None or L < 3:
        raise ValueError(f"rbm_flow needs n_visible = L*L with L >= 3, got n_visible={rbm.n_visible}")
    if rbm.inputs != "spin":
        raise ValueError("rbm_flow needs an RBM with +-1 inputs (inputs='spin')")
    v = check_configurations(v0, rbm.n_visible, "spin", name="v0")
    if v.shape[0] < 2:
        raise ValueError(f"v0 must hold at least 2 configurations, got {v.shape[0]}")
    steps = check_int(steps, "steps", minimum=1)
    every = check_int(every, "every", minimum=1)
    v = v.to(rbm.W.device)
    rows = [measure_coupling(v.reshape(-1, L, L).cpu())]
    for step in range(1, steps + 1):
        v = rbm.gibbs(v, 1, generator=generator)
        if step % every == 0 or step == steps:
            rows.append(measure_coupling(v.reshape(-1, L, L).cpu()))
    return RBMFlow(**{key: [row[key] for row in rows] for key in RBMFlow.__dataclass_fields__})


__all__ = ["K_MAX", "RBMFlow", "coupling_from_energy", "measure_coupling", "rbm_flow"]
