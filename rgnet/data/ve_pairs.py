"""(V, E) pairs cut from 2D Ising or q-state Potts configurations: the block and its environment for IB / RSMI
encoders.

Geometries on the periodic ``L x L`` lattice (offsets wrap around):

* ``"shell"`` (RSMI, Koch-Janusz & Ringel 2018): V is a ``block x block`` square; around it a buffer ring of
  width ``buffer`` is discarded; E is the ring of width ``env_width`` around the buffer. Needs
  ``block + 2 (buffer + env_width) <= L``.
* ``"slab"`` (Gordon et al. 2021, the cylinder geometry on the torus): V is ``block`` consecutive full rows,
  E is ``env_width`` consecutive full rows starting ``buffer + 1`` rows after V's last row (``separation =
  buffer + 1`` lattice spacings; 1 = adjacent). Needs ``block + env_width + 2 buffer <= L`` so that E is at
  least as far from V across the periodic wrap as on the near side.

Batches: ``(v, e)`` float32 +-1 of shapes ``(batch, dim_v)`` and ``(batch, dim_e)`` (sites in row-major order
of the lattice, relative to the cut's offset); for Potts data (``q`` colours) one-hot in colour-major order,
``(batch, q * sites)`` with ``v.reshape(batch, q, sites)[:, a, i] = delta(s_i, a)``
(:mod:`rgnet.ib.operators`). The configurations come from :class:`IsingDataModule`'s cache
(generated in :meth:`prepare_data`); ``pairs_per_config`` cuts at seeded random offsets.
"""

from __future__ import annotations

import os
from typing import Any

import lightning
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from rgnet._checks import check_choice, check_int, check_real
from rgnet.data.datamodule import IsingDataModule
from rgnet.ib.operators import one_hot_blocks

GEOMETRIES = ("shell", "slab")


def ve_site_indices(
    L: int, geometry: str, block: int, buffer: int, env_width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat site indices (int64) of V and E for the cut at offset (0, 0); validates the geometry."""
    L = check_int(L, "L", minimum=2)
    geometry = check_choice(geometry, "geometry", GEOMETRIES)
    block = check_int(block, "block", minimum=1)
    if not isinstance(buffer, bool) and isinstance(buffer, int) and buffer < 0:
        raise ValueError(f"buffer must be >= 0 (a negative buffer would overlap the block), got {buffer}")
    buffer = check_int(buffer, "buffer", minimum=0)
    env_width = check_int(env_width, "env_width", minimum=1)
    rows = torch.arange(L)[:, None].expand(L, L)
    cols = torch.arange(L)[None, :].expand(L, L)
    if geometry == "shell":
        outer = block + 2 * (buffer + env_width)
        if outer > L:
            raise ValueError(
                f"shell geometry does not fit: block + 2 (buffer + env_width) = {outer} > L = {L} "
                f"(block={block}, buffer={buffer}, env_width={env_width})"
            )
        # Chebyshev distance from the block at rows/cols [s, s + block), s = buffer + env_width
        s = buffer + env_width
        dr = torch.clamp(torch.maximum(s - rows, rows - (s + block - 1)), min=0)
        dc = torch.clamp(torch.maximum(s - cols, cols - (s + block - 1)), min=0)
        dist = torch.maximum(dr, dc)
        inside = (rows < outer) & (cols < outer)
        v_mask = inside & (dist == 0)
        e_mask = inside & (dist > buffer) & (dist <= buffer + env_width)
    else:
        if block + env_width + 2 * buffer > L:
            raise ValueError(
                f"slab geometry does not fit: block + env_width + 2 buffer = "
                f"{block + env_width + 2 * buffer} > "
                f"L = {L} (E must not come closer to V across the periodic wrap)"
            )
        v_mask = rows < block
        e_mask = (rows >= block + buffer) & (rows < block + buffer + env_width)
    flat = torch.arange(L * L).reshape(L, L)
    return flat[v_mask], flat[e_mask]


def _reference(
    L: int, K: float, separation: int, h: float, q: int | None = None, rows: int | None = None
) -> dict[str, Any]:
    """Exact first IB transitions of two rings ``separation`` spacings apart on the infinite cylinder of
    circumference ``L`` (``rows`` None) or on the ``L x rows`` torus: all operators, and the symmetric sector
    at h = 0 (Z2-even for Ising, ``q`` None; S_q-invariant for q-state Potts, whose references need h = 0)."""
    from rgnet.ib.cylinder import predicted_beta_c
    from rgnet.potts.cylinder import potts_predicted_beta_c

    geometry = "cylinder" if rows is None else "torus"
    if q is not None:
        return {
            "beta_c_exact": potts_predicted_beta_c(L, q, K, separation, rows=rows),
            "beta_c_exact_symmetric": potts_predicted_beta_c(L, q, K, separation, invariant=True, rows=rows),
            "beta_c_exact_geometry": geometry,
        }
    out: dict[str, Any] = {
        "beta_c_exact": predicted_beta_c(L, K, separation, h, rows=rows),
        "beta_c_exact_geometry": geometry,
    }
    if h == 0.0:
        out["beta_c_exact_symmetric"] = predicted_beta_c(L, K, separation, z2_even=True, rows=rows)
    return out


def check_full_batch(n_train: int, batch_size: int) -> None:
    """Training batches are full (drop_last: the InfoNCE bound depends on the batch size), so a training set
    smaller than one batch would train on nothing; raise instead, naming both numbers."""
    if n_train < batch_size:
        raise ValueError(
            f"the training set has {n_train} (V, E) pairs, fewer than batch_size={batch_size}: no full batch "
            "to train on; lower batch_size or add data"
        )


class VEPairsDataModule(lightning.LightningDataModule):
    """(V, E) pairs from one cached 2D Ising or q-state Potts dataset (``q`` in the fields: one-hot blocks).

    Args:
        cache_dir: dataset cache directory.
        geometry, block, buffer, env_width: see the module docstring (validated here, before any sampling).
        pairs_per_config: cuts per configuration at random periodic offsets (seeded by ``split_seed``).
        **fields: the dataset and loader fields of :meth:`IsingDataModule.from_fields` (``L, K, h, n, method,
            seed, batch_size, val_fraction, ...``, or ``path``: the configurations of a dataset file); the
            train/validation split is by configuration.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        geometry: str = "shell",
        block: int = 2,
        buffer: int = 1,
        env_width: int = 2,
        pairs_per_config: int = 1,
        **fields: Any,
    ) -> None:
        super().__init__()
        if fields.get("shape", "flat") != "flat":
            raise ValueError(
                f"shape={fields['shape']!r}: (V, E) pairs are served as flat vectors (batch, dim_v) and "
                "(batch, dim_e); only shape='flat' applies"
            )
        self.spins = IsingDataModule.from_fields(cache_dir, **fields)
        #: colours of Potts data (one-hot blocks), None for Ising spins
        self.q: int | None = self.spins.q
        self.geometry = geometry
        self.buffer = buffer
        self.v_index, self.e_index = ve_site_indices(self.spins.L, geometry, block, buffer, env_width)
        L = self.spins.L
        #: V as an image: (rows, cols, cols periodic) -- row-major order of the v features
        self.block_shape = (block, block, False) if geometry == "shell" else (block, L, True)
        self.pairs_per_config = check_int(pairs_per_config, "pairs_per_config", minimum=1)
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    @property
    def dim_v(self) -> int:
        """Features of V: its sites (Ising) or q per site (one-hot Potts)."""
        return int(self.v_index.numel()) * (self.q or 1)

    @property
    def dim_e(self) -> int:
        """Features of E: its sites (Ising) or q per site (one-hot Potts)."""
        return int(self.e_index.numel()) * (self.q or 1)

    def prepare_data(self) -> None:
        self.spins.prepare_data()

    def reference_beta_c(self) -> dict[str, Any]:
        """The exact first IB transition of the matching geometry, where there is one.

        Slab geometry with V and E single rows (``block = env_width = 1``) and at most
        ``MAX_FULL_JOINT_STATES`` ring states (Ising L <= 12, q = 3 Potts L <= 7): the exact value of this
        very ``L x L`` torus, where E sees V both ways round (``rgnet.ib.predicted_beta_c(..., rows=L)``,
        ``rgnet.potts.potts_predicted_beta_c(..., rows=L)``), ``"beta_c_exact_geometry": "torus"``. Other
        slabs: the infinite cylinder of circumference ``L`` at the same separation ``buffer + 1``
        (``L <= 20``; Potts: ``q**L`` within ``MAX_POTTS_CYLINDER_STATES``), ``"cylinder"``: a reference, not
        the torus value (the wrap adds correlation and lowers beta_c). Both with ``beta_c_exact_symmetric``
        (the symmetric sector's, for symmetric encoders) at ``h = 0``; Potts needs h = 0. Configurations
        from the cache or from a dataset file (``path``) alike. Shell geometry: ``{}``.
        """
        from rgnet.ib.cylinder import MAX_FULL_JOINT_STATES
        from rgnet.ising.exact import MAX_CYLINDER_CIRCUMFERENCE
        from rgnet.potts.cylinder import MAX_POTTS_CYLINDER_STATES

        L, K, h, q = self.spins.L, self.spins.K, self.spins.h, self.q
        fits = L <= MAX_CYLINDER_CIRCUMFERENCE if q is None else q**L <= MAX_POTTS_CYLINDER_STATES
        if self.geometry != "slab" or not fits or (q is not None and h != 0.0):
            return {}
        rings = self.v_index.numel() == L and self.e_index.numel() == L
        torus = rings and (q or 2) ** L <= MAX_FULL_JOINT_STATES
        return _reference(L, K, self.buffer + 1, h, q, rows=L if torus else None)

    def _cut(self, spins: torch.Tensor, generator: torch.Generator) -> TensorDataset:
        """Pairs from ``spins`` int8 (n, L, L) (+-1, or colours 0..q-1), each configuration rolled to
        ``pairs_per_config`` offsets."""
        L = spins.shape[-1]
        configs = spins.repeat_interleave(self.pairs_per_config, dim=0)
        offsets = torch.randint(0, L, (configs.shape[0], 2), generator=generator)
        # site (r, c) of the cut at offset (o_r, o_c) is lattice site ((r + o_r) % L, (c + o_c) % L)
        rows = (self.v_index.new_tensor(range(L))[None, :, None] + offsets[:, 0, None, None]) % L
        cols = (self.v_index.new_tensor(range(L))[None, None, :] + offsets[:, 1, None, None]) % L
        flat = (rows * L + cols).reshape(configs.shape[0], -1)
        values = configs.reshape(configs.shape[0], -1)
        v, e = (torch.gather(values, 1, flat[:, index]) for index in (self.v_index, self.e_index))
        if self.q is None:
            return TensorDataset(v.to(torch.float32), e.to(torch.float32))
        return TensorDataset(one_hot_blocks(v, self.q), one_hot_blocks(e, self.q))

    def setup(self, stage: str | None = None) -> None:
        """Load the configurations (checked to be +-1, or colours 0..q-1) and cut the pairs; idempotent."""
        if self.train_set is not None:
            return
        self.spins.setup(stage)
        generator = torch.Generator().manual_seed(self.spins.split_seed)
        sets = []
        for part in (self.spins.train_set, self.spins.val_set):
            spins = part.spins
            if self.q is None and not bool(((spins == 1) | (spins == -1)).all()):
                raise ValueError("dataset configurations must contain only +1 and -1 (found other values)")
            if self.q is not None and not bool(((spins >= 0) & (spins < self.q)).all()):
                raise ValueError(f"dataset configurations must hold colours 0..{self.q - 1} (found others)")
            sets.append(self._cut(spins, generator))
        self.train_set, self.val_set = sets
        check_full_batch(len(self.train_set), self.spins.batch_size)

    def _loader(self, dataset: TensorDataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() before asking for dataloaders")
        return DataLoader(dataset, batch_size=self.spins.batch_size, shuffle=train, drop_last=train)

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches ``(v, e)`` float32 (+-1 or one-hot), ``(batch, dim_v)``, ``(batch, dim_e)``."""
        return self._loader(self.train_set, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False)


class CylinderPairsDataModule(lightning.LightningDataModule):
    """Exact (V, E) ring pairs of the infinite cylinder (the geometry of Gordon et al. 2021, no Monte Carlo).

    V is one ring of ``L`` sites, E the ring ``separation`` lattice spacings further along the axis; pairs
    are i.i.d. draws from the exact joint law of the two rings
    (:func:`rgnet.ib.cylinder.cylinder_boundary_joint` for Ising,
    :func:`rgnet.potts.potts_boundary_joint` for q-state Potts with ``q`` set; thicker slabs add no
    information, see :mod:`rgnet.ib.cylinder`), so a VIB encoder trained on them can be compared with the
    exact IB (``rgnet.ib.ising_cylinder_ib``, ``rgnet.potts.potts_cylinder_ib``: ``beta_c`` and the encoder).
    Batches ``(v, e)`` float32 ``(batch, L)`` of +-1, or one-hot ``(batch, q * L)`` (colour-major). Drawn in
    :meth:`setup` (cheap: one categorical draw per pair).
    """

    def __init__(
        self,
        L: int,
        K: float,
        separation: int = 1,
        h: float = 0.0,
        n: int = 20000,
        seed: int = 0,
        batch_size: int = 256,
        val_fraction: float = 0.1,
        q: int | None = None,
    ) -> None:
        super().__init__()
        from rgnet.ib import check_cylinder_geometry

        if q is not None:
            from rgnet.potts.cylinder import potts_ring_states

            q = check_int(q, "q", minimum=2, maximum=127)
            potts_ring_states(L, q)  # validates L and the q**L limit (cheap next to the transfer matrix)
            if h != 0.0:
                raise ValueError(f"h={h}: the exact Potts ring pairs are drawn at h = 0 (set data.h: 0.0)")
        self.q = q
        self.L, self.K, self.h, self.separation = check_cylinder_geometry(L, K, h, separation)
        self.n = check_int(n, "n", minimum=2)
        self.seed = check_int(seed, "seed", minimum=0)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        val_fraction = check_real(val_fraction, "val_fraction")
        self.n_val = round(val_fraction * self.n)
        if not 0.0 < val_fraction < 1.0 or not 1 <= self.n_val < self.n:
            raise ValueError(
                f"val_fraction must be in (0, 1) and leave both parts non-empty, got {val_fraction}"
            )
        self.block_shape = (1, self.L, True)
        self.dim_v = self.dim_e = self.L * (q or 1)
        self._exact: tuple[torch.Tensor, np.ndarray] | None = None
        self.train_set: TensorDataset | None = None
        self.val_set: TensorDataset | None = None

    def reference_beta_c(self) -> dict[str, Any]:
        """The exact first IB transition of these pairs, ``(lambda_0/|lambda_1|)^(2 separation)``
        (``rgnet.ib.predicted_beta_c``, ``rgnet.potts.potts_predicted_beta_c``, which the exact IB solvers
        reproduce): ``{"beta_c_exact": float, "beta_c_exact_geometry": "cylinder"}``, plus
        ``beta_c_exact_symmetric`` (the Z2-even or S_q-invariant sector's, for symmetric encoders) at
        ``h = 0``."""
        return _reference(self.L, self.K, self.separation, self.h, self.q)

    def exact_joint(self) -> tuple[torch.Tensor, np.ndarray]:
        """The exact law the pairs are drawn from: every ring state, float32 ``(n_states, dim_v)`` (+-1 rows
        of :func:`rgnet.ising.exact.cylinder_ring_states`, or one-hot rows of
        :func:`rgnet.potts.potts_ring_states`), and ``P(V = state i, E = state j)``, float64 ``(n_states,
        n_states)``."""
        if self._exact is None:
            if self.q is None:
                from rgnet.ib.cylinder import cylinder_boundary_joint
                from rgnet.ising.exact import cylinder_ring_states

                states = torch.from_numpy(cylinder_ring_states(self.L)).to(torch.float32)
                joint = cylinder_boundary_joint(self.L, self.K, self.separation, self.h)
            else:
                from rgnet.potts.cylinder import potts_boundary_joint, potts_ring_states

                states = one_hot_blocks(torch.from_numpy(potts_ring_states(self.L, self.q)), self.q)
                joint = potts_boundary_joint(self.L, self.q, self.K, self.separation)
            self._exact = (states, joint)
        return self._exact

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        from rgnet.ib.cylinder import draw_from_joint

        states, joint = self.exact_joint()
        rows, cols = draw_from_joint(joint, self.n, self.seed)
        v, e = states[torch.from_numpy(rows)], states[torch.from_numpy(cols)]
        self.val_set = TensorDataset(v[: self.n_val], e[: self.n_val])
        self.train_set = TensorDataset(v[self.n_val :], e[self.n_val :])
        check_full_batch(len(self.train_set), self.batch_size)

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None:
            raise RuntimeError("call setup() before asking for dataloaders")
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        if self.val_set is None:
            raise RuntimeError("call setup() before asking for dataloaders")
        return DataLoader(self.val_set, batch_size=self.batch_size)


__all__ = ["GEOMETRIES", "CylinderPairsDataModule", "VEPairsDataModule", "ve_site_indices"]
