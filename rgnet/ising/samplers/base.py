"""The interface every 2D Markov-chain sampler implements.

A sampler holds a batch of independent chains, ``spins`` of shape ``(chains, L, L)`` int8 +-1 on
``device``, at dimensionless coupling ``K = J/kT`` and field ``h`` (H = -K sum_<ij> s_i s_j - h sum_i s_i,
periodic boundaries, each bond counted once). ``step(n)`` advances every chain by ``n`` sweeps; what a sweep
is depends on the algorithm and is stated by each subclass. Observables are computed on the fly.

The backend work is done by one kernel (rgnet.ising.samplers.kernel), picked from the algorithm's
:attr:`Sampler.kernels` once, at construction; a sampler never branches on the backend name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from rgnet._checks import check_choice, check_device, check_int, check_real, make_generator
from rgnet.ising.exact import K_CRITICAL
from rgnet.ising.lattice import bond_sum, random_spins
from rgnet.ising.samplers._rng import bond_and_spin_sums
from rgnet.ising.samplers.kernel import Kernel, resolve_kernel

START_STATES = ("auto", "random", "ordered")


class MeasuredChains(ABC):
    """Energy and order-parameter series of a batch of chains, from its ``step`` and
    ``energy_and_magnetization`` (shared by the Ising samplers and rgnet.potts.sampling.PottsSampler)."""

    @abstractmethod
    def step(self, n_sweeps: int = 1) -> None:
        """Advance every chain by ``n_sweeps`` sweeps (in place)."""

    @abstractmethod
    def energy_and_magnetization(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy per site and order parameter of each chain, float64 (chains,) each."""

    def run(self, n_measurements: int, every: int = 1) -> dict[str, torch.Tensor]:
        """Measure energy and magnetization ``n_measurements`` times, ``every`` sweeps apart.

        Returns ``{"energy": e, "magnetization": m}``, each float64 of shape (n_measurements, chains), on CPU.
        """
        n_measurements = check_int(n_measurements, "n_measurements", minimum=1)
        every = check_int(every, "every", minimum=1)
        energies, mags = [], []
        for _ in range(n_measurements):
            self.step(every)
            energy, magnetization = self.energy_and_magnetization()
            energies.append(energy)
            mags.append(magnetization)
        return {"energy": torch.stack(energies).cpu(), "magnetization": torch.stack(mags).cpu()}


class Sampler(MeasuredChains):
    """Batch of independent Markov chains on ``L x L`` periodic square lattices.

    Args:
        L: linear size (>= 2; even for checkerboard methods).
        K: coupling J/kT (finite; any sign).
        h: field in units of kT (finite).
        chains: number of independent chains run together as one tensor.
        seed: seed of the chains' random numbers; None draws one (recorded in ``self.seed``).
        device: torch device the state lives on.
        start: ``"random"`` (infinite temperature), ``"ordered"`` (all spins equal; the sign is
            sign(h), or random per chain when h = 0), or ``"auto"``: ordered for K > K_c, random otherwise.
        backend: a key of :attr:`kernels`, or ``"auto"``: numba on the CPU; on CUDA triton where the
            algorithm has it and Triton is installed, else torch.
    """

    method: ClassVar[str]
    requires_even_L: ClassVar[bool] = False
    #: backend name -> kernel class of this algorithm
    kernels: ClassVar[Mapping[str, type[Kernel]]]

    def __init__(
        self,
        L: int,
        K: float,
        *,
        h: float = 0.0,
        chains: int = 1,
        seed: int | None = None,
        device: str | torch.device = "cpu",
        start: str = "auto",
        backend: str = "auto",
    ) -> None:
        self.L = check_int(L, "L", minimum=2)
        if self.requires_even_L and self.L % 2:
            raise ValueError(
                f"L must be even for method={self.method!r} (checkerboard colouring), got {self.L}"
            )
        self.K = check_real(K, "K")
        self.h = check_real(h, "h")
        self.chains = check_int(chains, "chains", minimum=1)
        check_choice(start, "start", START_STATES)
        self.device = check_device(device)
        kernel_class = resolve_kernel(backend, self.device, self.kernels)
        self.generator, self.seed = make_generator(seed, self.device)
        self.spins = self._initial_state(start)
        self.sweeps_done = 0
        self.kernel = self._build_kernel(kernel_class)
        self.kernel.prepare(self.chains)

    @abstractmethod
    def _build_kernel(self, kernel_class: type[Kernel]) -> Kernel:
        """An instance of ``kernel_class`` (one of :attr:`kernels`) for this sampler's L, K, h, generator."""

    @property
    def backend(self) -> str:
        """Name of the backend the kernel runs on ("numba", "torch" or "triton")."""
        return self.kernel.backend

    @property
    def n_sites(self) -> int:
        return self.L * self.L

    def _initial_state(self, start: str) -> torch.Tensor:
        shape = (self.chains, self.L, self.L)
        if start == "auto":
            start = "ordered" if self.K > K_CRITICAL else "random"
        if start == "random":
            return random_spins(shape, self.generator, self.device)
        if self.h != 0.0:
            signs = torch.full((self.chains,), 1 if self.h > 0 else -1, dtype=torch.int8, device=self.device)
        else:
            signs = random_spins((self.chains,), self.generator, self.device)
        return signs[:, None, None].expand(shape).contiguous()

    def step(self, n_sweeps: int = 1) -> None:
        """Advance every chain by ``n_sweeps`` sweeps (in place)."""
        n_sweeps = check_int(n_sweeps, "n_sweeps", minimum=0)
        if n_sweeps:
            self._advance(n_sweeps)
            self.sweeps_done += n_sweeps

    @abstractmethod
    def _advance(self, n_sweeps: int) -> None:
        """Perform ``n_sweeps`` >= 1 sweeps on ``self.spins`` in place."""

    # ------------------------------------------------------------------ observables on the fly
    def energy(self) -> torch.Tensor:
        """Interaction energy per site in units of J, e = -(1/N) sum_<ij> s_i s_j; float64 (chains,)."""
        return -bond_sum(self.spins).to(torch.float64) / self.n_sites

    def magnetization(self) -> torch.Tensor:
        """Magnetization per site m = (1/N) sum_i s_i; shape (chains,), float64."""
        return self.spins.sum(dim=(-2, -1), dtype=torch.int64).to(torch.float64) / self.n_sites

    def energy_and_magnetization(self) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`energy` and :meth:`magnetization` in one pass (fused compiled kernel on the CPU)."""
        if self.device.type != "cpu":
            return self.energy(), self.magnetization()
        bonds, totals = bond_and_spin_sums(self.spins.numpy())
        return (
            torch.from_numpy(-bonds.astype(np.float64) / self.n_sites),
            torch.from_numpy(totals.astype(np.float64) / self.n_sites),
        )

    # ------------------------------------------------------------------ resumable long runs
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the chains exactly: spins, random state, sweep count."""
        return {
            "method": self.method,
            "L": self.L,
            "K": self.K,
            "h": self.h,
            "seed": self.seed,
            "spins": self.spins.cpu().clone(),
            "generator": self.generator.get_state(),
            "sweeps_done": self.sweeps_done,
            "extra": {**self.kernel.state_dict(), **self._extra_state()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict` of the same method, L, K and h."""
        for key in ("method", "L", "K", "h"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"state was saved with {key}={state[key]!r}, this sampler has {getattr(self, key)!r}"
                )
        spins = state["spins"]
        if spins.dim() != 3 or spins.shape[1:] != (self.L, self.L):
            raise ValueError(
                f"state spins have shape {tuple(spins.shape)}, expected (chains, {self.L}, {self.L})"
            )
        # a copy: kernels update spins in place, which must not change ``state``
        self.spins = spins.to(self.device, torch.int8, copy=True).contiguous()
        self.chains = spins.shape[0]
        self.seed = state["seed"]
        self.generator.set_state(state["generator"])
        self.sweeps_done = int(state["sweeps_done"])
        self.kernel.load_state_dict(state["extra"], self.chains)
        self._load_extra_state(state["extra"])

    def _extra_state(self) -> dict[str, Any]:
        """Algorithm state beyond the kernel's (e.g. Wolff's flips per sweep); overridden where any."""
        return {}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:  # noqa: B027 - a no-op where there is none
        """Inverse of :meth:`_extra_state`."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(L={self.L}, K={self.K}, h={self.h}, chains={self.chains}, "
            f"device={str(self.device)!r}, sweeps_done={self.sweeps_done}, backend={self.backend!r})"
        )
