"""rgnet: the renormalization group and deep learning on the Ising model."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rgnet")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
