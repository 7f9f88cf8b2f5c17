"""Flip-probability tables and the integer thresholds every kernel compares its random bits against.

Kernels decide an event of probability p exactly as "a uniform 32-bit integer u < t" with the threshold
t = round(p 2^32) in [0, 2^32] (t = 0: never, t = :data:`ALWAYS`: always). The single-spin-flip rules flip
spin s with a probability that depends only on s and its neighbour sum nb in {-4, ..., 4}, so they are one
(2, 5) table indexed by ((s + 1) / 2, (nb + 4) / 2):

- Metropolis: p_flip = min(1, exp(-2 s (K nb + h)))
- heat-bath:  p_flip = 1 / (1 + exp(2 s (K nb + h)))   (the new spin is drawn from its conditional law)

Shared by the numba, torch and Triton kernels; this module imports none of them.
"""

from __future__ import annotations

import numpy as np
import torch

from rgnet._checks import check_choice, check_real

RULES = ("metropolis", "heatbath")
#: Threshold of an event that always happens: u < 2^32 for every 32-bit u.
ALWAYS = 2**32


def flip_probability_table(K: float, h: float, rule: str) -> np.ndarray:
    """Flip probabilities, float64 of shape (2, 5): entry [(s+1)/2, (nb+4)/2] for spin s and neighbour sum nb.

    K, h: dimensionless coupling J/kT and field h/kT; rule: one of :data:`RULES`.
    """
    K = check_real(K, "K")
    h = check_real(h, "h")
    check_choice(rule, "rule", RULES)
    s = np.array([-1.0, 1.0])[:, None]
    nb = np.arange(-4.0, 5.0, 2.0)[None, :]
    delta = 2.0 * s * (K * nb + h)  # beta * energy change of the flip
    if rule == "metropolis":
        return np.exp(-np.maximum(delta, 0.0))
    return 0.5 * (1.0 - np.tanh(0.5 * delta))  # = 1 / (1 + exp(delta)), without overflow


def probability_to_threshold(p: np.ndarray) -> np.ndarray:
    """uint64 thresholds t = round(p 2^32) in [0, 2^32] of probabilities ``p`` (any shape, clipped to [0, 1]),
    so that P(u32 < t) = p for a uniform 32-bit u32."""
    return np.round(np.clip(p, 0.0, 1.0) * 2.0**32).astype(np.uint64)


def thresholds_from_probabilities(
    probabilities: np.ndarray | torch.Tensor, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """int64 thresholds round(p * 2^32) in [0, 2^32], shape (2, 5), on ``device``: P(u32 < t) = p.

    ``probabilities``: (2, 5) array in [0, 1] (e.g. from :func:`flip_probability_table`).
    """
    p = torch.as_tensor(probabilities, dtype=torch.float64).cpu()
    if p.shape != (2, 5):
        raise ValueError(f"probabilities must have shape (2, 5), got {tuple(p.shape)}")
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()) or bool((p > 1).any()):
        raise ValueError("probabilities must be finite and in [0, 1]")
    return torch.from_numpy(probability_to_threshold(p.numpy()).astype(np.int64)).to(device)


def split_threshold(threshold: int) -> tuple[int, int]:
    """A 32-bit threshold t in [0, 2^32] of :func:`probability_to_threshold` as (t >> 16, t & 0xFFFF), for
    :func:`rgnet.ising.samplers._rng.below_threshold16`."""
    return int(threshold) >> 16, int(threshold) & 0xFFFF


__all__ = [
    "ALWAYS",
    "RULES",
    "flip_probability_table",
    "probability_to_threshold",
    "split_threshold",
    "thresholds_from_probabilities",
]
