"""Thin Hydra entry points: they compose configs and call library code (no physics here)."""

from pathlib import Path

#: The repository's Hydra config directory (rgnet is installed editable from the repository).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
if not CONFIG_DIR.is_dir():
    raise ImportError(
        f"rgnet's Hydra configs were not found at {CONFIG_DIR}; install rgnet from a checkout of the "
        "repository with `pip install -e .`"
    )
