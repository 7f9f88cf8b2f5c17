"""Observables of Ising configurations and their thermodynamic estimates with error bars.

Spins are tensors of +-1 (``int8`` by convention; any integer or floating dtype holding exactly +-1 is
accepted) of shape ``(batch, L, L)`` (square lattice, periodic) or ``(batch, N)`` (chain), on any device.
Per-configuration observables are float64 tensors of shape ``(batch,)`` on the spins' device.
Energies are interaction energies per site in units of J, ``e = -(1/N) sum_<ij> s_i s_j`` (each bond
counted once); magnetizations are per site.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from rgnet._checks import check_bool, check_int, check_real
from rgnet.ising.lattice import bond_sum
from rgnet.ising.stats import (
    _as_series,
    chain_major_order,
    integrated_autocorrelation_time,
    jackknife,
    mean_and_error,
)

__all__ = [
    "energy_per_site",
    "energy_per_site_1d",
    "magnetization_per_site",
    "thermodynamics",
    "dataset_thermodynamics",
    "correlation_function",
    "correlation_function_1d",
    "structure_factor",
    "binder_cumulant",
]

#: Jackknife blocks shorter than this many integrated autocorrelation times trigger a warning.
_MIN_BLOCK_TAUS = 10.0
#: Configurations per chunk in :func:`structure_factor` are chosen to keep about this many complex sites.
_FFT_CHUNK_SITES = 1 << 22


def _check_spins(spins: object, name: str, *, ndim: int | None = None, min_ndim: int = 2) -> torch.Tensor:
    """Validate a +-1 spin tensor (type, number of dimensions, values)."""
    if not isinstance(spins, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of +-1, got {type(spins).__name__}")
    if spins.dtype == torch.bool or spins.is_complex():
        raise TypeError(
            f"{name} must have an integer or floating dtype (int8 by convention), got {spins.dtype}"
        )
    if ndim is not None and spins.dim() != ndim:
        shapes = {2: "(batch, N)", 3: "(batch, L, L)"}
        raise ValueError(f"{name} must have shape {shapes[ndim]}, got {tuple(spins.shape)}")
    if spins.dim() < min_ndim:
        raise ValueError(
            f"{name} must have shape (batch, ...) with at least one site axis, got {tuple(spins.shape)}"
        )
    if spins.numel() and not bool(torch.all((spins == 1) | (spins == -1))):
        raise ValueError(f"{name} must contain only +1 and -1")
    return spins


def _sum_dtype(spins: torch.Tensor) -> torch.dtype:
    """Exact accumulator for sums of +-1 products: int64 for integer spins, float64 otherwise."""
    return torch.float64 if spins.dtype.is_floating_point else torch.int64


def energy_per_site(spins: torch.Tensor) -> torch.Tensor:
    """``e = -(1/N) sum_<ij> s_i s_j`` of each periodic ``(batch, L, M)`` configuration; float64 ``(batch,)``.

    Uses :func:`rgnet.ising.lattice.bond_sum` (``2N`` bonds; for a side of 2 both bonds between a pair are
    counted, the torus convention). For chains ``(batch, N)`` use :func:`energy_per_site_1d`.
    """
    spins = _check_spins(spins, "spins", ndim=3)
    L, M = spins.shape[-2:]
    if L < 2 or M < 2:
        raise ValueError(f"spins must have lattice sides >= 2, got {L} x {M}")
    return -bond_sum(spins).to(torch.float64) / (L * M)


def energy_per_site_1d(spins: torch.Tensor, periodic: bool = True) -> torch.Tensor:
    """``e = -(1/N) sum_i s_i s_{i+1}`` of each chain ``(batch, N)``; float64 ``(batch,)``.

    Periodic chains have ``N`` bonds (for ``N = 2`` both bonds between the pair), open chains ``N - 1``;
    either way the sum is divided by the number of sites ``N``.
    """
    spins = _check_spins(spins, "spins", ndim=2)
    check_bool(periodic, "periodic")
    N = spins.shape[1]
    if N < 2:
        raise ValueError(f"spins must have N >= 2 sites per chain, got {N}")
    nxt = torch.roll(spins, -1, 1) if periodic else spins[:, 1:]
    bonds = (spins[:, : nxt.shape[1]] * nxt).sum(dim=1, dtype=_sum_dtype(spins))
    return -bonds.to(torch.float64) / N


def magnetization_per_site(spins: torch.Tensor) -> torch.Tensor:
    """``m = (1/N) sum_i s_i`` over all site axes of a ``(batch, ...)`` tensor; float64 ``(batch,)``."""
    spins = _check_spins(spins, "spins")
    n_sites = math.prod(spins.shape[1:])
    total = spins.flatten(1).sum(dim=1, dtype=_sum_dtype(spins))
    return total.to(torch.float64) / n_sites


def binder_cumulant(m: object) -> float:
    """Binder cumulant ``U = 1 - <m^4> / (3 <m^2>^2)`` of magnetization samples (all entries pooled).

    ``m``: numpy array or torch tensor of shape ``(T,)`` or ``(T, chains)``. ``U = 2/3`` in a perfectly
    ordered phase and ``0`` for Gaussian fluctuations. Raises ``ValueError`` if every sample is zero.
    """
    arr = _as_series(m, "m", min_length=1)
    m2 = float(np.mean(arr**2))
    if m2 == 0.0:
        raise ValueError("binder_cumulant is undefined when every magnetization sample is 0")
    return 1.0 - float(np.mean(arr**4)) / (3.0 * m2**2)


def thermodynamics(
    energy: object,
    magnetization: object,
    K: float,
    n_sites: int,
    *,
    n_blocks: int = 20,
) -> dict[str, tuple[float, float]]:
    """Thermodynamic estimates ``(value, error)`` from per-site energy and magnetization series.

    Args:
        energy: ``e`` per site (units of J), shape ``(T,)`` or ``(T, chains)``, numpy or torch.
        magnetization: ``m`` per site, same shape; row ``t`` of both is the same measurement.
        K: coupling J/kT of the run (enters the specific heat).
        n_sites: number of sites ``N`` of each configuration.
        n_blocks: number of time blocks of the jackknife for the nonlinear quantities.

    Returns a dict with keys
        ``"energy"`` ``<e>``; ``"abs_magnetization"`` ``<|m|>``; ``"m2"`` ``<m^2>``;
        ``"specific_heat"`` ``K^2 N (<e^2> - <e>^2)`` (per site, in units of k_B);
        ``"susceptibility"`` ``N (<m^2> - <|m|>^2)``: the finite-size convention, which uses ``<|m|>``
        because ``<m> = 0`` on a finite lattice at ``h = 0``; it is the response to the dimensionless
        field ``h`` (no factor K);
        ``"binder"`` ``1 - <m^4> / (3 <m^2>^2)``.

    Means get autocorrelation-aware errors from :func:`rgnet.ising.stats.mean_and_error`; the nonlinear
    quantities from :func:`rgnet.ising.stats.jackknife` over ``n_blocks`` time blocks (chains pooled; the
    point estimate uses all data). A ``RuntimeWarning`` is issued when a block is shorter than 10 times the
    largest integrated autocorrelation time of ``e, e^2, |m|, m^2, m^4``, since the jackknife errors are
    then underestimated.
    """
    e = _as_series(energy, "energy")
    m = _as_series(magnetization, "magnetization")
    if e.shape != m.shape:
        raise ValueError(f"energy and magnetization must have the same shape, got {e.shape} and {m.shape}")
    K = check_real(K, "K")
    n_sites = check_int(n_sites, "n_sites", minimum=1)
    T = e.shape[0]
    n_blocks = check_int(n_blocks, "n_blocks", minimum=2, maximum=T)

    abs_m, m2 = np.abs(m), m**2
    taus = {
        name: max(integrated_autocorrelation_time(series)[0], 0.5)
        for name, series in (("e", e), ("e2", e**2), ("abs_m", abs_m), ("m2", m2), ("m4", m2**2))
    }
    tau_max = max(taus.values())
    if T // n_blocks < _MIN_BLOCK_TAUS * tau_max:
        warnings.warn(
            f"thermodynamics: jackknife blocks of {T // n_blocks} measurements are shorter than "
            f"{_MIN_BLOCK_TAUS:g} tau_int = {_MIN_BLOCK_TAUS * tau_max:.3g}; errors of specific_heat, "
            "susceptibility and binder are underestimated (use fewer blocks or longer runs)",
            RuntimeWarning,
            stacklevel=2,
        )

    def specific_heat(e_kept: np.ndarray) -> float:
        return K**2 * n_sites * (np.mean(e_kept**2) - np.mean(e_kept) ** 2)

    def susceptibility(m_kept: np.ndarray) -> float:
        return n_sites * (np.mean(m_kept**2) - np.mean(np.abs(m_kept)) ** 2)

    return {
        "energy": mean_and_error(e, tau=taus["e"]),
        "abs_magnetization": mean_and_error(abs_m, tau=taus["abs_m"]),
        "m2": mean_and_error(m2, tau=taus["m2"]),
        "specific_heat": jackknife(specific_heat, e, n_blocks=n_blocks),
        "susceptibility": jackknife(susceptibility, m, n_blocks=n_blocks),
        "binder": jackknife(binder_cumulant, m, n_blocks=n_blocks),
    }


def dataset_thermodynamics(
    spins: torch.Tensor, K: float, chains: int, *, n_blocks: int = 20
) -> dict[str, tuple[float, float]]:
    """:func:`thermodynamics` of a dataset: int8 spins ``(n, L, L)`` (n >= 2) sampled by ``chains`` chains
    and stored time-major (sample ``i`` is chain ``i % chains`` at time ``i // chains``).

    The samples are put chain by chain (:func:`rgnet.ising.stats.chain_major_order`) and the concatenated
    series is analysed with jackknife errors over ``min(n_blocks, n)`` blocks.
    """
    spins = _check_spins(spins, "spins", ndim=3)
    n, L, M = spins.shape
    order = chain_major_order(n, chains)
    e = energy_per_site(spins).cpu().numpy()[order]
    m = magnetization_per_site(spins).cpu().numpy()[order]
    return thermodynamics(e, m, K, L * M, n_blocks=min(n_blocks, n))


def _check_max_r(max_r: int | None, largest: int) -> int:
    if max_r is None:
        return largest
    return check_int(max_r, "max_r", minimum=0, maximum=largest)


def correlation_function(
    spins: torch.Tensor, max_r: int | None = None, connected: bool = False
) -> torch.Tensor:
    """Spin-spin correlation ``G(r) = <s_x s_{x+r}>`` of periodic ``(batch, L, L)`` configurations.

    Averaged over all sites ``x``, both lattice axes (``r`` along one axis) and the batch; ``r = 0..max_r``
    with ``max_r <= L // 2`` (default ``L // 2``). ``connected=True`` subtracts ``<s>^2``, the squared mean
    spin over the batch and all sites (at ``h = 0`` it is zero in expectation on a finite lattice).
    Returns float64 ``(max_r + 1,)`` on the spins' device.
    """
    spins = _check_spins(spins, "spins", ndim=3)
    B, L, M = spins.shape
    if L != M:
        raise ValueError(f"spins must be square (batch, L, L), got {tuple(spins.shape)}")
    if B == 0:
        raise ValueError("spins must hold at least one configuration")
    max_r = _check_max_r(max_r, L // 2)
    acc = _sum_dtype(spins)
    sums = [
        (spins * torch.roll(spins, -r, -1)).sum(dtype=acc)
        + (spins * torch.roll(spins, -r, -2)).sum(dtype=acc)
        for r in range(max_r + 1)
    ]
    G = torch.stack(sums).to(torch.float64) / (2 * B * L * L)
    if connected:
        G = G - (spins.sum(dtype=acc).to(torch.float64) / (B * L * L)) ** 2
    return G


def correlation_function_1d(
    spins: torch.Tensor, max_r: int | None = None, periodic: bool = True, connected: bool = False
) -> torch.Tensor:
    """Spin-spin correlation ``G(r) = <s_i s_{i+r}>`` of chains ``(batch, N)``; float64 ``(max_r + 1,)``.

    Periodic: averaged over all ``N`` sites and the batch, ``max_r <= N // 2`` (default ``N // 2``).
    Open: averaged over the ``N - r`` pairs that exist and the batch, ``max_r <= N - 1`` (default
    ``N - 1``). ``connected=True`` subtracts ``<s>^2``, the squared mean spin over the batch and all sites.
    """
    spins = _check_spins(spins, "spins", ndim=2)
    check_bool(periodic, "periodic")
    B, N = spins.shape
    if B == 0 or N == 0:
        raise ValueError(f"spins must hold at least one chain of at least one site, got {tuple(spins.shape)}")
    max_r = _check_max_r(max_r, N // 2 if periodic else N - 1)
    acc = _sum_dtype(spins)
    if periodic:
        sums = [(spins * torch.roll(spins, -r, 1)).sum(dtype=acc) for r in range(max_r + 1)]
        pairs = torch.full((max_r + 1,), float(B * N), dtype=torch.float64, device=spins.device)
    else:
        sums = [(spins[:, : N - r] * spins[:, r:]).sum(dtype=acc) for r in range(max_r + 1)]
        pairs = B * (N - torch.arange(max_r + 1, dtype=torch.float64, device=spins.device))
    G = torch.stack(sums).to(torch.float64) / pairs
    if connected:
        G = G - (spins.sum(dtype=acc).to(torch.float64) / (B * N)) ** 2
    return G


def structure_factor(spins: torch.Tensor) -> torch.Tensor:
    """``S(q) = (1/N) <|sum_x s_x e^{-i q.x}|^2>`` of periodic ``(batch, L, M)`` configurations.

    Averaged over the batch; float64 ``(L, M)`` on the spins' device. Entry ``[k1, k2]`` is
    ``q = (2 pi k1 / L, 2 pi k2 / M)`` (``torch.fft`` ordering; ``torch.fft.fftshift`` centres ``q = 0``).
    ``S(0) = N <m^2>`` and, for +-1 spins, the mean of ``S`` over all ``q`` is exactly 1 (Parseval).
    """
    spins = _check_spins(spins, "spins", ndim=3)
    B, L, M = spins.shape
    if B == 0:
        raise ValueError("spins must hold at least one configuration")
    chunk = max(1, _FFT_CHUNK_SITES // (L * M))
    total = torch.zeros((L, M), dtype=torch.float64, device=spins.device)
    for start in range(0, B, chunk):
        amplitude = torch.fft.fft2(spins[start : start + chunk].to(torch.float64))
        total += (amplitude.real**2 + amplitude.imag**2).sum(dim=0)
    return total / (B * L * M)
