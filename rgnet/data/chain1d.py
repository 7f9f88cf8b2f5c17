"""LightningDataModule of exact i.i.d. samples of the 1D Ising chain (no Markov chain, no cache needed).

Samples come from :func:`rgnet.ising.sample_1d` (exact sequential sampling through the transfer matrix), so
generation is cheap and done in :meth:`Chain1DDataModule.setup`; ``__init__`` only validates.
"""

from __future__ import annotations

import lightning
import torch
from torch.utils.data import DataLoader, TensorDataset

from rgnet._checks import check_bool, check_int, check_real
from rgnet.ising import sample_1d


class Chain1DDataModule(lightning.LightningDataModule):
    """Train/validation split plus an independent held-out set of exact chain samples.

    Weight ``exp(K sum_i s_i s_{i+1} + h sum_i s_i)``, ``N`` spins, periodic (bond ``(N-1, 0)``) or open.
    Batches are float32 ``(batch, N)`` of +-1.

    Args:
        N: spins per chain, >= 3.
        K: coupling, > 0 (the flow experiment starts on the ferromagnetic side; ``K = 0`` already is the
            fixed point and an antiferromagnet ``K < 0`` maps onto ``|K|`` by flipping every other spin,
            so neither is accepted here; use :func:`rgnet.rg.flow_1d` for their exact flows).
        h: field (finite).
        n: number of training + validation chains.
        periodic: periodic (default) or open chain. The coupling fits assume periodic chains.
        seed: seed of the training/validation samples; the held-out set uses ``seed + 1``.
        batch_size: chains per batch.
        val_fraction: fraction of the ``n`` chains used for validation, in (0, 1).
        n_heldout: independent chains kept aside for analysis (e.g. coupling fits by callbacks), >= 2.
        num_workers: DataLoader workers.
    """

    def __init__(
        self,
        N: int = 64,
        K: float = 1.0,
        h: float = 0.0,
        n: int = 10000,
        periodic: bool = True,
        seed: int = 0,
        batch_size: int = 256,
        val_fraction: float = 0.1,
        n_heldout: int = 2000,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.N = check_int(N, "N", minimum=3)
        self.K = check_real(K, "K")
        if self.K <= 0.0:
            raise ValueError(
                f"K must be > 0 (ferromagnetic chain), got {self.K}: K = 0 is already the fixed point K* = 0 "
                "and K < 0 maps onto |K| by a gauge flip of every other spin"
            )
        self.h = check_real(h, "h")
        self.n = check_int(n, "n", minimum=2)
        self.periodic = check_bool(periodic, "periodic")
        self.seed = check_int(seed, "seed", minimum=0, maximum=2**62)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.val_fraction = check_real(val_fraction, "val_fraction", minimum=0.0, maximum=1.0)
        n_val = round(self.val_fraction * self.n)
        if not 0.0 < self.val_fraction < 1.0 or n_val < 1 or n_val >= self.n:
            raise ValueError(
                "val_fraction must lie in (0, 1) and leave both parts non-empty, "
                f"got {val_fraction} with n={n}"
            )
        self.n_val = n_val
        self.n_heldout = check_int(n_heldout, "n_heldout", minimum=2)
        self.num_workers = check_int(num_workers, "num_workers", minimum=0)
        self.train_spins: torch.Tensor | None = None
        self.val_spins: torch.Tensor | None = None
        self.heldout: torch.Tensor | None = None
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        """Draw the samples (once): int8 ``(n - n_val, N)``, ``(n_val, N)`` and ``(n_heldout, N)``."""
        if self.train_spins is not None:
            return
        spins = sample_1d(self.N, self.K, self.n, h=self.h, periodic=self.periodic, seed=self.seed)
        self.train_spins, self.val_spins = spins[self.n_val :], spins[: self.n_val]
        self.heldout = sample_1d(
            self.N, self.K, self.n_heldout, h=self.h, periodic=self.periodic, seed=self.seed + 1
        )

    def _loader(self, spins: torch.Tensor | None, shuffle: bool) -> DataLoader:
        if spins is None:
            raise RuntimeError("call setup() before asking for a dataloader")
        dataset = TensorDataset(spins.to(torch.float32))
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=_stack_first,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_spins, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_spins, shuffle=False)

    def heldout_dataloader(self) -> DataLoader:
        return self._loader(self.heldout, shuffle=False)

    def exact_correlation_length(self) -> float:
        """Correlation length of the infinite chain at (K, h), lattice units (``-1/ln tanh K`` at h = 0)."""
        from rgnet.rg import correlation_length_1d

        return correlation_length_1d(self.K, self.h)

    def __repr__(self) -> str:
        return (
            f"Chain1DDataModule(N={self.N}, K={self.K}, h={self.h}, n={self.n}, periodic={self.periodic}, "
            f"seed={self.seed}, xi={self.exact_correlation_length():.3g})"
        )


def _stack_first(items: list[tuple[torch.Tensor]]) -> torch.Tensor:
    """Collate ``TensorDataset`` items into a plain ``(batch, N)`` tensor."""
    return torch.stack([item[0] for item in items])


__all__ = ["Chain1DDataModule"]
