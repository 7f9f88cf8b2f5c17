"""Files that survive crashes and content hashes: the one place rgnet writes atomically and hashes JSON.

A file is written to a temp file ``.<name>.<random>.tmp`` in the same directory, fsync'ed and then
``os.replace``'d onto its final name (and the directory fsync'ed), so a killed writer never leaves a partial
file under the final name. Temp files of dead writers are never read; :func:`clean_stale_temp_files` removes
those untouched for an hour. Datasets, run summaries, run identities and reports all go through here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

log = logging.getLogger(__name__)

TMP_SUFFIX = ".tmp"
#: Temp files untouched for this long (seconds) are taken to belong to a dead writer.
STALE_TEMP_AGE_S = 3600.0


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()


@contextlib.contextmanager
def _atomic_open(path: Path) -> Iterator[IO[bytes]]:
    """Binary file handle whose content appears at ``path`` only once the ``with`` block completes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(handle)`` on a temp file next to ``path``, fsync it and rename it onto ``path``."""
    path = Path(path)
    with _atomic_open(path) as handle:
        write(handle)
    return path


def json_default(obj: Any) -> Any:
    """``json.dumps`` default: numpy/torch arrays and scalars to (nested lists of) Python numbers, paths to
    strings; anything else is a ``TypeError``."""
    if isinstance(obj, (np.ndarray, np.generic, torch.Tensor)):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def _lenient_default(obj: Any) -> Any:
    try:
        return json_default(obj)
    except TypeError:
        return str(obj)


def json_ready(obj: Any, *, lenient: bool = False) -> Any:
    """``obj`` as it reads back from JSON (tuples -> lists, arrays -> lists, NaN kept); ``lenient`` writes
    objects JSON cannot hold as their ``str`` instead of raising ``TypeError``."""
    return json.loads(json.dumps(obj, default=_lenient_default if lenient else json_default))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON with sorted keys to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n"
    return atomic_write_bytes(path, lambda handle: handle.write(text.encode("utf-8")))


def sha256_json(obj: Any) -> str:
    """Hex sha256 of ``obj`` as compact JSON with sorted keys (a stable hash of configs and parameters)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=json_default).encode("utf-8")).hexdigest()


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clean_stale_temp_files(
    directory: str | os.PathLike[str], max_age_s: float = STALE_TEMP_AGE_S
) -> list[Path]:
    """Delete temp files of dead writers (``.*.tmp`` unmodified for ``max_age_s`` seconds); return them."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    now = time.time()
    removed = []
    for tmp in directory.glob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            if now - tmp.stat().st_mtime >= max_age_s:
                tmp.unlink()
                removed.append(tmp)
                log.info("removed stale temp file %s", tmp)
    return removed
