"""Exact i.i.d. sampling of the 1D Ising chain (no Markov chain), open or periodic.

Weight of a configuration: exp(K sum_i s_i s_{i+1} + h sum_i s_i), with the bond (N-1, 0) included when
periodic (for N = 2 the ring then has two bonds between the pair, for N = 1 one self-bond s_0 s_0).
Sites are drawn left to right from their exact conditional laws, computed with the symmetric transfer
matrix T(s, s') = exp(K s s' + h (s + s') / 2) and normalized "backward" messages, so the cost is O(N)
vectorized over the samples.
"""

from __future__ import annotations

import torch

from rgnet._checks import check_bool, check_device, check_int, check_real, make_generator


def _transfer_matrix(K: float, h: float) -> torch.Tensor:
    """T[a, b] for spins (-1, +1) -> indices (0, 1); float64 (2, 2), scaled by its largest entry."""
    s = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    log_t = K * s[:, None] * s[None, :] + 0.5 * h * (s[:, None] + s[None, :])
    return torch.exp(log_t - log_t.max())


def _backward_messages(T: torch.Tensor, end: torch.Tensor, N: int) -> torch.Tensor:
    """B[i] = T^(N-1-i) @ end, each normalized, for i = 0..N-1; shape (N, 2, end.shape[1])."""
    messages = [end / end.sum(dim=0, keepdim=True)]
    for _ in range(N - 1):
        nxt = T @ messages[-1]
        messages.append(nxt / nxt.sum(dim=0, keepdim=True))
    return torch.stack(messages[::-1])


def _scaled_power(T: torch.Tensor, N: int) -> torch.Tensor:
    """T^N up to one positive scalar factor (repeated squaring with rescaling, no overflow)."""
    result = torch.eye(2, dtype=T.dtype)
    base = T
    while N:
        if N & 1:
            result = result @ base
            result = result / result.max()
        base = base @ base
        base = base / base.max()
        N >>= 1
    return result


def sample_1d(
    N: int,
    K: float,
    n: int,
    *,
    h: float = 0.0,
    periodic: bool = True,
    seed: int | None = None,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Draw ``n`` independent exact samples of the N-site chain; int8 (n, N) of +-1 on ``device``."""
    N = check_int(N, "N", minimum=1)
    K = check_real(K, "K")
    n = check_int(n, "n", minimum=1)
    h = check_real(h, "h")
    check_bool(periodic, "periodic")
    dev = check_device(device)
    generator, _ = make_generator(seed, torch.device("cpu"))

    T = _transfer_matrix(K, h)
    field_half = torch.exp(0.5 * h * torch.tensor([-1.0, 1.0], dtype=torch.float64))
    uniforms = torch.rand((N, n), generator=generator, dtype=torch.float64)
    out = torch.empty((N, n), dtype=torch.int64)
    if periodic:
        # Conditioned on s_0 = a, site i sees the rest of the ring through (T^(N-i))[:, a].
        B = _backward_messages(T, T.clone(), N)  # B[i][:, a] ~ T^(N-i)[:, a]
        p_first = torch.diagonal(_scaled_power(T, N))
        p_first = p_first / p_first.sum()
        out[0] = (uniforms[0] < p_first[1]).to(torch.int64)
        first = out[0]
        for i in range(1, N):
            weights = T[out[i - 1]] * B[i][:, first].T  # (n, 2)
            out[i] = (uniforms[i] * weights.sum(dim=1) < weights[:, 1]).to(torch.int64)
    else:
        # Free ends: each end site carries half of its field through ``field_half``.
        B = _backward_messages(T, field_half[:, None], N)[..., 0]  # (N, 2)
        weights0 = field_half * B[0]
        out[0] = (uniforms[0] * weights0.sum() < weights0[1]).to(torch.int64)
        for i in range(1, N):
            weights = T[out[i - 1]] * B[i]
            out[i] = (uniforms[i] * weights.sum(dim=1) < weights[:, 1]).to(torch.int64)
    spins = (2 * out - 1).to(torch.int8).T.contiguous()
    return spins.to(dev)


__all__ = ["sample_1d"]
