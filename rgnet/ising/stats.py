"""Error analysis of Monte Carlo time series: autocorrelation times, blocking and jackknife error bars.

A *series* is a float64 array of shape ``(T,)`` or ``(T, chains)``: measurements along axis 0 (one per
measurement interval), independent Markov chains of the same process along axis 1. Every function accepts
numpy arrays, torch tensors (any device; copied to the CPU) or nested sequences, and returns Python floats
or numpy arrays. Times are in units of the measurement interval.

Conventions (A. D. Sokal, "Monte Carlo methods in statistical mechanics", Cargese lectures 1996):
``tau_int = 1/2 + sum_{t>=1} rho(t)``, so uncorrelated data have ``tau_int = 1/2`` and ``T`` measurements
are worth ``T / (2 tau_int)`` independent ones; the error of a mean is ``sqrt(2 tau_int var / T)``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.special import chdtri

from rgnet._checks import check_bool, check_int, check_real

__all__ = [
    "autocorrelation",
    "integrated_autocorrelation_time",
    "tau_int_error",
    "mean_and_error",
    "blocking_error",
    "jackknife",
    "chain_major_order",
]

#: Significance level of the test that decides where the blocking plateau starts (Jonsson 2018).
_BLOCKING_ALPHA = 0.01
#: Series shorter than this many tau_int make integrated_autocorrelation_time warn.
_MIN_LENGTH_TAUS = 50.0
#: Fewer blocks than this at the chosen blocking level means the error estimate is itself uncertain by >~18%.
_BLOCKING_MIN_BLOCKS = 16


def _as_series(x: object, name: str, *, min_length: int = 2) -> np.ndarray:
    """``x`` as a float64 ``(T, chains)`` array with ``T >= min_length`` and finite entries."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(f"{name} must be real, got a complex tensor ({x.dtype})")
        arr = x.detach().to("cpu", torch.float64).numpy()
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as err:
            msg = f"{name} must be a numpy array or torch tensor of shape (T,) or (T, chains)"
            raise TypeError(msg) from err
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (T,) or (T, chains), got shape {arr.shape}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] < min_length or arr.shape[1] < 1:
        raise ValueError(
            f"{name} needs at least {min_length} measurements and 1 chain, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values (nan or inf)")
    return arr


def _is_constant(arr: np.ndarray) -> bool:
    return bool(np.all(arr == arr.flat[0]))


def autocorrelation(x: object) -> np.ndarray:
    """Normalized autocorrelation function ``rho(t)``, ``t = 0..T-1``; float64 array of shape ``(T,)``.

    ``C(t) = (1 / (chains (T - t))) sum_chains sum_{i=0}^{T-1-t} d_i d_{i+t}`` with ``d = x - mean(x)``, the
    mean taken over *all* entries (all chains), and ``rho(t) = C(t) / C(0)``; computed by FFT. Centring on
    the overall mean (rather than each chain's own) removes no chain-to-chain variance: chains stuck in
    different states (e.g. +m and -m below T_c) show up as a ``rho`` that does not decay, i.e. as a long
    autocorrelation time, which is the honest error model for the pooled mean. ``rho(t)`` at ``t`` close
    to ``T`` averages few products and is noisy. An exactly constant series has ``rho = (1, 0, 0, ...)``
    (treated as uncorrelated).
    """
    arr = _as_series(x, "x")
    T, chains = arr.shape
    rho = np.zeros(T)
    rho[0] = 1.0
    if _is_constant(arr):
        return rho
    d = arr - arr.mean()
    n_fft = 1 << (2 * T - 1).bit_length()
    f = np.fft.rfft(d, n=n_fft, axis=0)
    lagged_sums = np.fft.irfft(f.real**2 + f.imag**2, n=n_fft, axis=0)[:T].sum(axis=1)
    acov = lagged_sums / (chains * (T - np.arange(T)))
    return acov / acov[0]


def integrated_autocorrelation_time(x: object, c: float = 5.0) -> tuple[float, int]:
    """Integrated autocorrelation time with Sokal's automatic window; returns ``(tau_int, W)``.

    ``tau(W) = 1/2 + sum_{t=1}^{W} rho(t)`` (``rho`` from :func:`autocorrelation`), ``W`` the smallest window
    with ``W >= c * tau(W)``. ``tau_int = 1/2`` for uncorrelated data; it can fall below 1/2 for
    anticorrelated series. Units: measurement intervals. ``c`` = 4..10 is usual (5 for roughly exponential
    decay). An exactly constant series gives ``tau_int = 1/2``. If no window up to ``T - 1`` satisfies the
    criterion, ``tau(T - 1)`` is returned with a ``RuntimeWarning``; a warning is also issued when
    ``T < 50 tau_int`` (chain length ``T``): such series are too short for a trustworthy estimate
    (Sokal recommends ``T >~ 1000 tau``; the estimate is biased low by the centring on the sample mean).
    For the statistical error of the estimate see :func:`tau_int_error`.
    """
    c = check_real(c, "c")
    if c <= 0:
        raise ValueError(f"c must be > 0, got {c}")
    rho = autocorrelation(x)
    T = rho.shape[0]
    windows = np.arange(1, T)
    taus = 0.5 + np.cumsum(rho[1:])
    ok = windows >= c * taus
    if ok.any():
        i = int(np.argmax(ok))
        tau, W = float(taus[i]), int(windows[i])
        if T < _MIN_LENGTH_TAUS * tau:
            warnings.warn(
                f"integrated_autocorrelation_time: the series is too short ({T} measurements < "
                f"{_MIN_LENGTH_TAUS:g} tau_int = {_MIN_LENGTH_TAUS * tau:.4g}); the estimate "
                f"tau_int = {tau:.4g} is not trustworthy (biased low; aim for T >~ 1000 tau)",
                RuntimeWarning,
                stacklevel=2,
            )
        return tau, W
    warnings.warn(
        f"integrated_autocorrelation_time: no window W < T = {T} satisfies W >= {c} tau(W); the series is "
        f"too short for its autocorrelation time (returning tau({T - 1}) = {taus[-1]:.4g}, an underestimate)",
        RuntimeWarning,
        stacklevel=2,
    )
    return float(taus[-1]), int(T - 1)


def tau_int_error(tau: float, W: int, T: int) -> float:
    """Statistical error of ``tau_int`` measured with window ``W`` from ``T`` measurements (Madras-Sokal).

    ``sqrt(2 (2 W + 1) / T) * |tau|``; for ``(T, chains)`` input pass ``T * chains``, the total count.
    """
    tau = check_real(tau, "tau")
    W = check_int(W, "W", minimum=0)
    T = check_int(T, "T", minimum=1)
    return math.sqrt(2.0 * (2 * W + 1) / T) * abs(tau)


def mean_and_error(x: object, tau: float | None = None) -> tuple[float, float]:
    """Mean of all entries of a series and its autocorrelation-aware standard error.

    ``error^2 = 2 tau var / (T chains)`` with ``var`` the sample variance of all entries. ``tau=None``
    measures ``tau`` with :func:`integrated_autocorrelation_time` (default ``c``) and floors it at the i.i.d.
    value 1/2, so an anticorrelated series never gets an error below the naive one; an explicit ``tau``
    (> 0, in measurement intervals) is used as given.
    """
    arr = _as_series(x, "x")
    if tau is None:
        tau = max(integrated_autocorrelation_time(arr)[0], 0.5)
    else:
        tau = check_real(tau, "tau")
        if tau <= 0:
            raise ValueError(f"tau must be > 0 (measurement intervals), got {tau}")
    mean = float(arr.mean())
    if _is_constant(arr):
        return mean, 0.0
    var = float(arr.var(ddof=1))
    return mean, math.sqrt(2.0 * tau * var / arr.size)


def blocking_error(x: object) -> float:
    """Standard error of the mean of a series by Flyvbjerg-Petersen blocking.

    The series is repeatedly replaced by the averages of consecutive pairs (each chain separately; an odd
    last entry is dropped). At level ``k`` there are ``n_k`` blocks in all chains together, with biased
    variance ``s_k^2`` and lag-1 autocovariance ``g_k`` of neighbouring blocks (centred on the overall
    mean), and the error estimate is ``sqrt(s_k^2 / (n_k - 1))``; these estimates grow with ``k`` and level
    off once blocks are much longer than the autocorrelation time.

    Plateau rule (M. Jonsson, Phys. Rev. E 98, 043304 (2018)): the chosen level is the first ``k`` at which
    ``M_k = sum_{j>=k} n_j (g_j / s_j^2)^2`` lies below the 99% quantile of chi-square with as many degrees
    of freedom as levels summed, i.e. from level ``k`` on no level shows significant correlation between
    neighbouring blocks. A ``RuntimeWarning`` says when no level qualifies (the last one is used) or when the
    chosen level has fewer than 16 blocks (the series is too short for a reliable error). An exactly
    constant series has error 0.
    """
    arr = _as_series(x, "x")
    if _is_constant(arr):
        return 0.0
    counts, variances, lag1 = [], [], []
    blocks = arr
    while blocks.shape[0] >= 2:
        d = blocks - blocks.mean()
        counts.append(d.size)
        variances.append(float(np.mean(d**2)))
        lag1.append(float(np.sum(d[:-1] * d[1:]) / d.size))
        half = blocks.shape[0] // 2
        blocks = 0.5 * (blocks[0 : 2 * half : 2] + blocks[1 : 2 * half : 2])
    n = np.array(counts, dtype=np.float64)
    s2 = np.array(variances)
    g = np.array(lag1)
    ratio = np.divide(g, s2, out=np.zeros_like(g), where=s2 > 0)
    stat = np.cumsum((n * ratio**2)[::-1])[::-1]
    dof = np.arange(len(n), 0, -1)
    passed = stat < chdtri(dof, _BLOCKING_ALPHA)
    k = int(np.argmax(passed)) if passed.any() else len(n) - 1
    if not passed.any() or n[k] < _BLOCKING_MIN_BLOCKS:
        warnings.warn(
            f"blocking_error: the plateau is reached only with {int(n[k])} blocks "
            f"(level {k} of {len(n) - 1}{'' if passed.any() else ', no level passed the test'}); "
            "the series is too short for a reliable error estimate",
            RuntimeWarning,
            stacklevel=2,
        )
    return math.sqrt(s2[k] / (n[k] - 1))


def jackknife(
    estimator: Callable[..., float],
    *series: object,
    n_blocks: int = 20,
    bias_corrected: bool = False,
) -> tuple[float, float]:
    """Delete-one-block jackknife estimate and error of a (nonlinear) statistic of one or more series.

    Args:
        estimator: called as ``estimator(*samples)`` with one 1D float64 array per series: the kept
            measurements with chains pooled (flattened); returns a real scalar. For example the specific
            heat ``lambda e: K**2 * N * (np.mean(e**2) - np.mean(e)**2)`` or the Binder cumulant
            ``lambda m: 1 - np.mean(m**4) / (3 * np.mean(m**2) ** 2)``.
        *series: arrays of one common shape ``(T,)`` or ``(T, chains)``; row ``t`` of every series must
            belong to the same measurement.
        n_blocks: the time axis is cut into this many contiguous blocks (sizes differ by at most one; all
            chains of a time block go together) and each is left out in turn. Blocks must be much longer
            than the integrated autocorrelation time (>~ 10 tau), otherwise the error is underestimated;
            20 blocks give the error to about 16%.
        bias_corrected: return ``n theta - (n - 1) mean_i theta_(i)`` instead of ``theta`` (the estimator on
            all data), removing the O(1/T) bias.

    Returns ``(estimate, error)`` with ``error^2 = (n - 1)/n sum_i (theta_(i) - mean theta_(.))^2``.
    """
    if not callable(estimator):
        raise TypeError(f"estimator must be callable, got {type(estimator).__name__}")
    if not series:
        raise ValueError("jackknife needs at least one series after the estimator")
    arrays = [_as_series(s, f"series[{i}]") for i, s in enumerate(series)]
    shape = arrays[0].shape
    for i, a in enumerate(arrays[1:], start=1):
        if a.shape != shape:
            raise ValueError(
                f"all series must have the same shape; series[0] is {shape}, series[{i}] is {a.shape}"
            )
    T = shape[0]
    n_blocks = check_int(n_blocks, "n_blocks", minimum=2, maximum=T)
    check_bool(bias_corrected, "bias_corrected")

    def evaluate(samples: list[np.ndarray]) -> float:
        value = estimator(*samples)
        if np.ndim(value) != 0:
            raise TypeError(f"estimator must return a scalar, got shape {np.shape(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"estimator returned a non-finite value ({value}) on a jackknife sample")
        return value

    full = evaluate([a.ravel() for a in arrays])
    edges = [(i * T) // n_blocks for i in range(n_blocks + 1)]
    partial = np.array(
        [
            evaluate([np.concatenate([a[:lo], a[hi:]]).ravel() for a in arrays])
            for lo, hi in itertools.pairwise(edges)
        ]
    )
    mean_partial = float(partial.mean())
    error = math.sqrt((n_blocks - 1) / n_blocks * float(np.sum((partial - mean_partial) ** 2)))
    estimate = n_blocks * full - (n_blocks - 1) * mean_partial if bias_corrected else full
    return float(estimate), error


def chain_major_order(n: int, chains: int) -> np.ndarray:
    """Indices that reorder ``n`` time-major samples (sample ``i`` is chain ``i % chains`` at time
    ``i // chains``) chain by chain, each chain's samples consecutive and in time order: int64 ``(n,)``.

    Concatenating independent chains this way adds no spurious correlation to a time series, so its
    autocorrelation time and blocked errors stay those of one chain.
    """
    n = check_int(n, "n", minimum=0)
    chains = check_int(chains, "chains", minimum=1)
    index = np.arange(n)
    return np.lexsort((index // chains, index % chains))
