"""Thin Hydra entry points: they compose configs and call library code (no physics here)."""

import platform
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


def versions() -> dict[str, str]:
    """Versions of rgnet and of the libraries that decide its numbers, for summary.json."""
    import hydra
    import numpy
    import torch

    import rgnet

    found = {
        "rgnet": rgnet.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "hydra": hydra.__version__,
        "python": platform.python_version(),
    }
    try:
        import lightning

        found["lightning"] = lightning.__version__
    except ImportError:  # the sampling and benchmark commands do not need it
        pass
    return found


def device_name(device: object) -> str:
    """What a torch device is, for summaries: the GPU's name, or the CPU and torch's thread count."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"
