"""Thin Hydra entry points over :mod:`rgnet.runs` and the libraries: they parse the command line, call one
run function, and turn a :class:`rgnet.runs.ConfigError` into a one-paragraph message without a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rgnet.runs.config import ConfigError


def main_with_precheck(
    command: str, precheck: Callable[[list[str]], object], hydra_main: Callable[[], object]
) -> None:
    """Run ``hydra_main`` after ``precheck(overrides)`` has validated a single run's command line.

    The check runs only for a plain single run (no Hydra flags such as ``-m`` or ``--cfg``, and not a DDP
    rank that Lightning re-launched with ``hydra.output_subdir=null``), so that its bad input fails before
    Hydra creates a run directory; a failed check exits with ``<command>: <message>``.
    """
    arguments = sys.argv[1:]
    if all(not arg.startswith("-") for arg in arguments) and "hydra.output_subdir=null" not in arguments:
        try:
            precheck(arguments)
        except ConfigError as err:
            raise SystemExit(f"{command}: {err}") from None
    hydra_main()
