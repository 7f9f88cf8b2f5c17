"""Thin Hydra entry points over :mod:`rgnet.runs` and the libraries: they parse the command line, call one
run function, and turn a :class:`rgnet.runs.ConfigError` into a one-paragraph message without a traceback."""
