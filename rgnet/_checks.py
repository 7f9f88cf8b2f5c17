"""Argument validation shared by the public API: every check names the argument and the allowed values."""

from __future__ import annotations

import math
import numbers
import os

import torch


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` if it is a bool, else raise naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool (True or False), got {value!r}")
    return value


def check_int(value: object, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise naming ``name`` and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(
    value: object, name: str, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """Return ``value`` as a finite float, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_choice(value: object, name: str, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return str(value)


def check_device(device: str | torch.device | None) -> torch.device:
    """Resolve ``device`` and make sure it exists on this machine (before any work is done on it)."""
    try:
        dev = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda:0', got {device!r}") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r}: CUDA is not available on this machine; use device='cpu'")
        index = 0 if dev.index is None else dev.index
        count = torch.cuda.device_count()
        if index >= count:
            raise ValueError(
                f"device={device!r}: only {count} CUDA device(s) exist (cuda:0..cuda:{count - 1})"
            )
        dev = torch.device("cuda", index)
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'cpu' or a CUDA device, got {device!r}")
    return dev


def make_generator(seed: int | None, device: torch.device) -> tuple[torch.Generator, int]:
    """A torch generator on ``device`` seeded with ``seed`` (a fresh random seed when None).

    Returns the generator and the seed actually used, so it can be recorded as provenance.
    """
    if seed is None:
        seed = int.from_bytes(os.urandom(8), "little") >> 2
    seed = check_int(seed, "seed", minimum=0, maximum=2**63 - 1)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen, seed
