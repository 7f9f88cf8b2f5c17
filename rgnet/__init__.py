"""rgnet: the renormalization group and deep learning on the Ising model."""

from importlib.metadata import PackageNotFoundError, version

from rgnet._threads import use_good_neighbour_defaults

use_good_neighbour_defaults()  # before numba's OpenMP runtime loads: idle threads sleep, pool = allowed CPUs

try:
    __version__ = version("rgnet")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
