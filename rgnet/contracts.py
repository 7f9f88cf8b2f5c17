"""What one layer of rgnet must offer the next: ``typing.Protocol`` classes, checked with ``isinstance``
where they are used (runtime-checkable protocols check that the methods exist, not their signatures).

A required capability is checked with :func:`require` (a ``TypeError`` naming who needs it, the class that
lacks it and the missing members); an optional one with a plain ``isinstance``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import torch
    from torch.utils.data import TensorDataset

P = TypeVar("P")


@runtime_checkable
class ChecksDataModule(Protocol):
    """A model that can tell, before any data is made, whether a data module's sizes fit it."""

    def check_datamodule(self, datamodule: Any) -> None:
        """Raise ``ValueError`` naming the mismatched size when ``datamodule`` does not fit the model."""
        ...


@runtime_checkable
class ChecksModel(Protocol):
    """A callback that can tell, before any data is made, whether it can work with a model."""

    def check_model(self, model: Any) -> Any:
        """Raise ``ValueError``/``TypeError`` naming the setting when the callback cannot serve ``model``."""
        ...


@runtime_checkable
class ReportsSummaryMetrics(Protocol):
    """A model or callback whose final results go into a run's ``summary.json``."""

    def summary_metrics(self) -> dict[str, Any]:
        """JSON-ready final metrics (numbers, lists, nested dicts)."""
        ...


# ---------------------------------------------------------------- models, as the callbacks use them
@runtime_checkable
class HasLayerOutputs(Protocol):
    """A stack of layers whose outputs are spins, one tensor per layer (FlowDNN, RBMStack)."""

    def layer_outputs(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Sampled +-1 units of every layer, float32 ``(batch, n_l)`` for l = 1, 2, ..., for inputs ``x``
        float32 ``(batch, n_visible)`` of +-1; ``generator`` makes the sampling reproducible."""
        ...


@runtime_checkable
class HasLayerPositions(Protocol):
    """Layers whose units sit at known places of the input lattice (RBMStack: receptive-field centres)."""

    def layer_positions(self) -> list[torch.Tensor]:
        """Per layer, every unit's position in input lattice units: ``(n_l,)`` on a chain or ``(n_l, 2)``
        (row, column) on a square lattice, float."""
        ...


@runtime_checkable
class HasLatticeSide(Protocol):
    """A model or data module of ``L x L`` lattices (RBMStack, IsingDataModule)."""

    #: side of the square input lattice, None when the input is not a square lattice
    L: int | None


@runtime_checkable
class ServesChains(Protocol):
    """A data module of periodic chains (Chain1DDataModule)."""

    #: spins per chain
    N: int


#: How a block-spin map draws its coarse variables: from the model's P(h | v), or its most likely state.
BLOCK_SPIN_MODES = ("sample", "mean_sign")


@runtime_checkable
class HasBlockSpinMap(Protocol):
    """A model that defines a block-spin transform (RSMICoarseGrainer, RBMStack). A model whose map acts on
    q-state Potts colours says so with an attribute ``colours = q`` (absent or None: +-1 spins)."""

    def block_spin_map(
        self, mode: str = "sample", generator: torch.Generator | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        """The map ``(batch, m, m) -> (batch, m / b, m / b)`` of +-1 spins or colours (``mode`` in
        :data:`BLOCK_SPIN_MODES`, random draws from ``generator``) for :func:`rgnet.rg.mcrg_exponents`."""
        ...


@runtime_checkable
class TiedToSides(Protocol):
    """A block-spin map that applies only to given lattice sides, one map per level (the RBM stack's)."""

    #: the lattice side at depths 0, 1, ... (the input side first)
    sides: list[int]


@runtime_checkable
class HasBlockFilters(Protocol):
    """A model with a linear filter per coarse variable of a square block (RSMICoarseGrainer)."""

    def filters(self) -> torch.Tensor:
        """float32 ``(n_variables, b, b)``, oriented by the model's convention."""
        ...


@runtime_checkable
class EncodesBlocks(Protocol):
    """An encoder of blocks ``v`` into a code ``mu(v)`` with readable weights (VIBEncoder)."""

    #: whether the code is restricted to symmetry-invariant functions of the block (Z2-even for Ising,
    #: S_q-invariant for Potts; an Ising code then has no linear filter)
    symmetric: bool
    #: q of one-hot Potts blocks (colour-major, ``(batch, q*sites)``), None for +-1 Ising blocks
    colours: int | None

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        """Mean code ``mu(v)``, float32 ``(batch, dim_h)``, of blocks ``v``, float32 ``(batch, dim_v)``."""
        ...

    def filters(self) -> torch.Tensor:
        """The code's linear filter (or input gradient at v = 0), float32 ``(dim_h, dim_v)``."""
        ...

    def quadratic_kernel(self) -> torch.Tensor:
        """The code's weight on each product ``v_i v_j``, float32 ``(dim_h, dim_v, dim_v)``."""
        ...


# ---------------------------------------------------------------- data modules, as the callbacks use them
@runtime_checkable
class HasCouplings(Protocol):
    """Data drawn at known couplings ``H = -K sum_<ij> s_i s_j - h sum_i s_i`` (dimensionless)."""

    K: float
    h: float


def check_couplings_match(datamodule: object, **given: tuple[str, float | None]) -> None:
    """Raise ``ValueError`` when a coupling a measurement was given differs from the one its data were drawn
    at (a :class:`HasCouplings` data module; others pass): ``given`` maps the data's coupling (``K``, ``h``)
    to ``(setting, value)`` of the measurement (value None: not given, taken from the data)."""
    if not isinstance(datamodule, HasCouplings):
        return
    for coupling, (setting, value) in given.items():
        actual = float(getattr(datamodule, coupling))
        if value is not None and not math.isclose(float(value), actual, rel_tol=1e-12, abs_tol=1e-15):
            raise ValueError(
                f"{setting}={value}, but the data were drawn at {coupling}={actual}: a measurement refers "
                f"to its data's couplings (set {setting} to ${{data.{coupling}}})"
            )


@runtime_checkable
class HasHeldout(Protocol):
    """Data with configurations kept aside for analysis, apart from training and validation (Chain1D)."""

    #: int8 or float ``(n, N)`` of +-1; None before ``setup()``
    heldout: torch.Tensor | None


@runtime_checkable
class HasBlockPairs(Protocol):
    """(V, E) pairs whose blocks V are images (VEPairsDataModule, CylinderPairsDataModule)."""

    #: V as an image: ``(rows, cols, cols periodic)``, the row-major order of the v features
    block_shape: tuple[int, int, bool]
    #: validation pairs ``(v, e)``, float32 ``(n, dim_v)`` and ``(n, dim_e)``; None before ``setup()``
    val_set: TensorDataset | None


@runtime_checkable
class HasReferenceBetaC(Protocol):
    """Pairs whose exact first IB transition is known."""

    def reference_beta_c(self) -> dict[str, Any]:
        """``{"beta_c_exact": float, ...}`` (optionally ``beta_c_exact_symmetric``: the transition of codes
        restricted to the symmetric sector), or ``{}`` where unknown."""
        ...


@runtime_checkable
class HasExactJoint(Protocol):
    """Pairs drawn from a known discrete law (CylinderPairsDataModule)."""

    def exact_joint(self) -> tuple[torch.Tensor, np.ndarray]:
        """Every block state, float32 ``(n_states, dim_v)`` of +-1, and ``P(V = state i, E = state j)``,
        float64 ``(n_states, n_states)``."""
        ...


def require(obj: object, protocol: type[P], needed_by: str) -> P:
    """``obj`` itself when it satisfies ``protocol``; else ``TypeError`` naming ``needed_by`` (who asks), the
    class of ``obj`` and the members of ``protocol`` it lacks."""
    if isinstance(obj, protocol):
        return obj
    members = sorted(
        name
        for name in {*vars(protocol), *getattr(protocol, "__annotations__", {})}
        if not name.startswith("_") or name == "__call__"
    )
    missing = [name for name in members if not hasattr(obj, name)] or members
    raise TypeError(
        f"{needed_by} needs {protocol.__name__} (rgnet.contracts): {type(obj).__name__} has no "
        f"{', '.join(missing)}"
    )
