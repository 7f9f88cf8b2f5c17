"""Thin Hydra entry points: they compose configs and call library code (no physics here)."""

from pathlib import Path

#: The repository's Hydra config directory (rgnet is installed editable from the repository).
CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


def check_config_dir(command: str, config_dir: Path) -> None:
    """Stop ``command`` with a clear message when the Hydra config directory is missing."""
    if not config_dir.is_dir():
        raise SystemExit(
            f"{command}: config directory {config_dir} not found; rgnet must be installed editable from its "
            "repository (pip install -e .) so that conf/ sits next to the rgnet/ package"
        )
