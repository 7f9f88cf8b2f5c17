"""rgnet as a wheel: every package is listed in pyproject.toml, the configs ship inside the package, and the
console scripts of a wheel installed into a fresh virtual environment run from an empty directory."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    tomllib = pytest.importorskip("tomllib")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set(find_packages(str(ROOT), include=["rgnet*"])) | {"rgnet.conf"}
    assert listed == found


def test_configs_are_read_from_the_package():
    from rgnet.runs.config import config_dir

    assert (config_dir() / "train.yaml").is_file() and (config_dir() / "experiment").is_dir()


def test_wheel_runs_from_an_empty_directory(tmp_path):
    """Build the wheel, install it (without dependencies: they come from this environment) into a new venv,
    and run ``rgnet-train debug=fast_dev_run`` and ``rgnet-sample`` with bad input from an empty directory."""
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("rgnet-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    site = Path(
        subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # this environment's libraries after the wheel's own site-packages (a path line in a .pth file; the .pth
    # files of that directory, such as an editable rgnet's, are not run)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RGNET_ROOT")}

    def in_empty_dir(*command: str | Path) -> subprocess.CompletedProcess:
        args = [str(part) for part in command]
        return subprocess.run(args, cwd=empty, env=env, capture_output=True, text=True, timeout=600)

    where = in_empty_dir(python, "-c", "import rgnet, rgnet.conf; print(rgnet.__file__, rgnet.conf.__file__)")
    assert where.returncode == 0 and all(str(site) in path for path in where.stdout.split()), where.stdout
    train = in_empty_dir(env_dir / "bin" / "rgnet-train", "debug=fast_dev_run")
    assert train.returncode == 0, train.stderr[-3000:]
    bad = in_empty_dir(env_dir / "bin" / "rgnet-sample", "data.L=1")
    assert bad.returncode != 0 and "rgnet-sample: data.L must be >= 2" in bad.stderr, bad.stderr
