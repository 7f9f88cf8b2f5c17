"""rgnet-train run directories lose no work: one run at a time holds a directory (its lock), a run whose
last.ckpt a kill broke resumes from the newest checkpoint that loads, earlier training without one is
refused instead of restarting from step 0, and a checkpoint never runs pickled code."""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import sys
from pathlib import Path

import pytest
import torch

from rgnet.runs import training
from rgnet.runs.config import ConfigError
from rgnet.runs.identity import LAST_CHECKPOINT, LOCK, RunDirBusy, lock_run_dir, newest_checkpoint

TOY_CONF = Path(__file__).parent / "toy_conf"


def toy_cfg(root: Path, *extra: str):
    return training.compose_train(
        ["experiment=toy", f"hydra.searchpath=[file://{TOY_CONF}]", f"paths.root_dir={root}", *extra]
    )


def snapshot(root: Path) -> dict[Path, int]:
    """Every path under ``root`` with its modification time (links not followed)."""
    return {p: p.lstat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished one-epoch toy run (its root; the run is in outputs/toy/default)."""
    root = tmp_path_factory.mktemp("trained")
    cfg = toy_cfg(root, "trainer.max_epochs=1")
    training.run(cfg, cfg.output_dir)
    return root


@pytest.fixture
def copy(trained, tmp_path) -> tuple[Path, Path]:
    """A private copy of the trained run: (root, run directory)."""
    root = tmp_path / "root"
    shutil.copytree(trained, root, symlinks=True)
    run_dir = root / "outputs" / "toy" / "default"
    for path in run_dir.rglob("*"):  # copytree copied a link's absolute target: point it into the copy
        if path.is_symlink() and Path(os.readlink(path)).is_absolute():
            target = Path(os.readlink(path)).name
            path.unlink()
            path.symlink_to(target)
    return root, run_dir


def hold_lock(run_dir: Path) -> int:
    """Lock ``run_dir`` as a running rgnet-train does (two open files conflict, even in one process)."""
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_busy_run_dir_is_refused_at_once_and_left_untouched(tmp_path):
    cfg = toy_cfg(tmp_path)
    run_dir = Path(cfg.output_dir)
    run_dir.mkdir(parents=True)
    fd = hold_lock(run_dir)
    try:
        before = snapshot(tmp_path)
        for attempt in (training.check, lambda c: training.run(c, c.output_dir)):
            with pytest.raises(RunDirBusy, match=rf"another rgnet-train is running in {run_dir}.*output_dir"):
                attempt(cfg)
        assert snapshot(tmp_path) == before
    finally:
        os.close(fd)


def test_the_lock_is_exclusive_and_released(tmp_path):
    with lock_run_dir(tmp_path):
        with pytest.raises(RunDirBusy), lock_run_dir(tmp_path):
            pass
    with lock_run_dir(tmp_path):  # released when the block ended
        pass


def test_a_good_checkpoint_resumes_and_the_lock_was_released(copy, count_calls):
    root, run_dir = copy
    loads = count_calls(sys.modules["rgnet.runs.identity"], "check_checkpoint")
    again = training.run(toy_cfg(root, "trainer.max_epochs=2"), run_dir)
    assert again["resumed_from"] == str(run_dir / LAST_CHECKPOINT) and again["global_step"] == 8
    assert len(loads) == 1  # last.ckpt only: the file it links to is the same checkpoint


TOP_K = "epoch=0-step=4.ckpt"  # the one checkpoint the trained run keeps; last.ckpt links to it


def _missing(run_dir: Path) -> None:
    """Killed after Lightning removed last.ckpt and before it linked the new one."""
    (run_dir / LAST_CHECKPOINT).unlink()


def _dangling_beside_a_newer_one(run_dir: Path) -> None:
    """Killed after the new top-k file was saved and the old one removed, before last.ckpt was re-linked."""
    last = run_dir / LAST_CHECKPOINT
    last.unlink()
    last.symlink_to("epoch=0-step=2.ckpt")


def _zero_length(run_dir: Path) -> None:
    _write_over(run_dir / LAST_CHECKPOINT, b"")


def _truncated(run_dir: Path) -> None:
    checkpoint = run_dir / LAST_CHECKPOINT
    _write_over(checkpoint, checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])


def _write_over(checkpoint: Path, data: bytes) -> None:
    checkpoint.unlink()
    checkpoint.write_bytes(data)


@pytest.mark.parametrize("damage", [_missing, _dangling_beside_a_newer_one, _zero_length, _truncated])
def test_a_broken_last_checkpoint_resumes_from_the_good_one_beside_it(copy, damage):
    root, run_dir = copy
    damage(run_dir)
    again = training.run(toy_cfg(root, "trainer.max_epochs=2"), run_dir)
    assert again["resumed_from"] == str(run_dir / "checkpoints" / TOP_K) and again["global_step"] == 8
    assert (run_dir / LAST_CHECKPOINT).resolve().is_file()  # the next save linked last.ckpt again


def _dangling(run_dir: Path) -> None:
    (run_dir / LAST_CHECKPOINT).resolve().unlink()


def _missing_all_checkpoints(run_dir: Path) -> None:
    shutil.rmtree(run_dir / "checkpoints")


def _all_truncated(run_dir: Path) -> None:
    checkpoint = run_dir / "checkpoints" / TOP_K
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])


@pytest.mark.parametrize(
    "damage, message",
    [
        (_dangling, rf"no checkpoint can be resumed from: .*last\.ckpt links to {TOP_K}, which does not"),
        (_missing_all_checkpoints, r"holds earlier training .*tensorboard.* but no checkpoint to resume"),
        (_all_truncated, rf"last\.ckpt cannot be resumed from .*; .*{TOP_K} cannot be resumed from"),
    ],
    ids=["dangling", "missing_all_checkpoints", "all_truncated"],
)
def test_earlier_training_without_a_loadable_checkpoint_is_refused_before_any_work(copy, damage, message):
    root, run_dir = copy
    damage(run_dir)
    before = snapshot(root)
    cfg = toy_cfg(root, "trainer.max_epochs=2")
    with pytest.raises(ConfigError, match=message) as refused:
        training.run(cfg, run_dir)
    assert "delete the run directory to start over" in str(refused.value)
    with pytest.raises(ConfigError, match=message):
        training.check(cfg)  # the CLI's check, before Hydra writes anything
    assert snapshot(root) == before


def test_the_checkpoint_with_most_steps_wins(tmp_path):
    """Killed after the new top-k file was saved, before the old one was removed: last.ckpt still links to
    the old one, and the newer file beside it is the one to resume from; equal steps keep the first."""
    for name, step in (("old.ckpt", 4), ("new.ckpt", 8), ("same.ckpt", 8)):
        torch.save({"state_dict": {}, "global_step": step}, tmp_path / name)
    (tmp_path / "last.ckpt").symlink_to("old.ckpt")
    paths = [tmp_path / name for name in ("last.ckpt", "new.ckpt", "old.ckpt", "same.ckpt")]
    assert newest_checkpoint(paths) == tmp_path / "new.ckpt"
    assert newest_checkpoint([paths[0], paths[2]]) == tmp_path / "last.ckpt"  # both at step 4


def test_a_run_without_checkpoints_or_logs_is_run_again(tmp_path):
    """debug=fast_dev_run shares the run directory (debug is not identity) and leaves only its summary and
    run_config.json: the real run then starts from step 0 and replaces that summary."""
    fast = toy_cfg(tmp_path, "debug=fast_dev_run")
    training.run(fast, fast.output_dir)
    run_dir = Path(fast.output_dir)
    assert not (run_dir / "checkpoints").exists() and (run_dir / "summary.json").is_file()
    real = training.run(toy_cfg(tmp_path, "trainer.max_epochs=1"), run_dir)
    assert real["resumed_from"] is None and real["global_step"] == 4


class _Planted:
    """Pickles as a call that creates ``marker``: what a planted checkpoint would run on loading."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _plant(run_dir: Path, marker: Path) -> None:
    """Every checkpoint of ``run_dir`` replaced by one that runs code when unpickled."""
    for checkpoint in (run_dir / "checkpoints").iterdir():
        checkpoint.unlink()
        torch.save({"state_dict": {}, "epoch": 0, "global_step": 4, "payload": _Planted(marker)}, checkpoint)


def test_the_planted_pickle_would_run_code(tmp_path):
    """The payload of the tests below really runs when unpickled without weights_only."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Planted(marker)))
    assert marker.exists()


def test_a_checkpoint_that_runs_code_is_refused(copy, tmp_path):
    root, run_dir = copy
    marker = tmp_path / "ran"
    _plant(run_dir, marker)
    with pytest.raises(ConfigError, match=r"last\.ckpt cannot be resumed from \(UnpicklingError"):
        training.run(toy_cfg(root, "trainer.max_epochs=2"), run_dir)
    assert not marker.exists()


def test_lightning_loads_the_checkpoint_with_weights_only(copy, tmp_path, monkeypatch):
    """Without the pre-check, Lightning's own load refuses the pickle too (weights_only=True is passed)."""
    root, run_dir = copy
    marker = tmp_path / "ran"
    _plant(run_dir, marker)
    identity = sys.modules["rgnet.runs.identity"]  # the module (rgnet.runs exports a function of its name)
    monkeypatch.setattr(identity, "check_checkpoint", lambda checkpoint: 4)
    with pytest.raises(pickle.UnpicklingError):
        training.run(toy_cfg(root, "trainer.max_epochs=2"), run_dir)
    assert not marker.exists()


def test_a_sweep_job_refused_by_the_lock_writes_nothing_into_the_busy_run(tmp_path):
    """A multirun job skips the CLI pre-check; refused by the lock, it must not record its failure
    (summary.json or failure.json) in the directory of the run that holds it."""
    import subprocess

    def cli(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # the toy model importable
        command = [sys.executable, "-m", "rgnet.cli.train", *args]
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=240)
        assert not check or result.returncode == 0, result.stderr
        return result

    overrides = [
        "experiment=toy",
        f"hydra.searchpath=[file://{TOY_CONF}]",
        f"paths.root_dir={tmp_path}",
        "trainer.max_epochs=1",
        "model.lr=0.1,0.2",
    ]
    cli(tmp_path, "-m", *overrides)
    summaries = sorted((tmp_path / "outputs").rglob("summary.json"))
    assert len(summaries) == 2
    busy = summaries[0].parent
    before = summaries[0].read_bytes()
    fd = hold_lock(busy)
    try:
        result = cli(tmp_path, "-m", *overrides, "resume=true", check=False)
    finally:
        os.close(fd)
    assert "another rgnet-train is running" in result.stdout + result.stderr
    assert summaries[0].read_bytes() == before and not (busy / "failure.json").exists()
