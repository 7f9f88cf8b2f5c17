"""Dataset files (round trip, atomic writes, corruption detection) and the parameter-hash cache."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import rgnet
import rgnet.data.dataset as ds
from rgnet import files
from rgnet.data import (
    DatasetConfig,
    DatasetError,
    dataset_path,
    get_or_create_dataset,
    load_dataset,
    save_dataset,
    spins_sha256,
)
from rgnet.files import clean_stale_temp_files
from rgnet.ising.exact import K_CRITICAL
from rgnet.ising.observables import energy_per_site
from rgnet.ising.sampling import SampleSet


def random_sample_set(L: int = 5, n: int = 7, K: float = 0.3, seed: int = 0, **overrides) -> SampleSet:
    """A SampleSet of uniformly random spins (file-format tests need no physics)."""
    gen = torch.Generator().manual_seed(seed)
    spins = (torch.randint(0, 2, (n, L, L), generator=gen, dtype=torch.int8) * 2 - 1).to(torch.int8)
    fields = dict(
        spins=spins,
        L=L,
        K=K,
        h=0.0,
        method="checkerboard",
        seed=seed,
        device="cpu",
        chains=1,
        burn_in=10,
        thinning=2,
        tau_int={"energy": 1.5, "abs_magnetization": 2.25},
        energy=(-0.5, 0.01),
        abs_magnetization=(0.25, 0.02),
    )
    fields.update(overrides)
    return SampleSet(**fields)


def fake_generate_2d(
    L,
    K,
    n,
    *,
    h=0.0,
    method="checkerboard",
    seed=None,
    device="cpu",
    chains=None,
    burn_in=None,
    thinning=None,
    progress=False,
    **opts,
) -> SampleSet:
    """Stand-in for generate_2d with its signature: random spins, the requested parameters recorded."""
    return random_sample_set(
        L=L,
        n=n,
        K=K,
        seed=seed,
        h=h,
        method=method,
        chains=chains or 1,
        burn_in=10 if burn_in is None else burn_in,
        thinning=thinning or 1,
    )


def tmp_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f".*{files.TMP_SUFFIX}"))


# ----------------------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("storage", ["bits", "int8"])
@pytest.mark.parametrize("L", [2, 5, 8])
def test_round_trip(tmp_path, storage, L):
    sample_set = random_sample_set(L=L, n=9)
    path = save_dataset(tmp_path / "d.npz", sample_set, storage=storage)
    spins, meta = load_dataset(path)
    assert spins.dtype == torch.int8 and spins.shape == (9, L, L)
    assert torch.equal(spins, sample_set.spins)
    for key, value in sample_set.metadata().items():
        assert meta[key] == json.loads(json.dumps(value)), key
    assert meta["storage"] == storage and meta["n"] == 9
    assert meta["sha256"] == spins_sha256(sample_set.spins)
    assert meta["rgnet_version"] == rgnet.__version__ and meta["torch_version"] == torch.__version__
    assert meta["created"].endswith("+00:00")
    assert tmp_files(tmp_path) == []


def test_bits_storage_is_packed(tmp_path):
    sample_set = random_sample_set(L=8, n=100)
    bits = save_dataset(tmp_path / "bits.npz", sample_set, storage="bits")
    int8 = save_dataset(tmp_path / "int8.npz", sample_set, storage="int8")
    with np.load(bits) as archive:
        assert archive["spins"].dtype == np.uint8 and archive["spins"].shape == (100, 8)
    spins_size = lambda path: zipfile.ZipFile(path).getinfo("spins.npy").file_size  # noqa: E731
    assert spins_size(bits) < spins_size(int8) / 7  # 8x minus the .npy header


def test_floats_are_stored_exactly_and_expect_matches(tmp_path):
    K = K_CRITICAL  # not a short decimal
    path = save_dataset(tmp_path / "d.npz", random_sample_set(K=K))
    _, meta = load_dataset(
        path,
        expect={
            "K": K,
            "L": 5,
            "energy": (-0.5, 0.01),
            "tau_int": {"energy": 1.5, "abs_magnetization": 2.25},
        },
    )
    assert meta["K"] == K


@pytest.mark.parametrize(
    "expect, field",
    [
        ({"K": math.nextafter(0.3, 1.0)}, "K"),
        ({"L": 6}, "L"),
        ({"method": "wolff"}, "method"),
        ({"nonexistent": 1}, "nonexistent"),
    ],
)
def test_metadata_mismatch_names_the_field(tmp_path, expect, field):
    path = save_dataset(tmp_path / "d.npz", random_sample_set(K=0.3))
    with pytest.raises(DatasetError, match=f"'{field}'"):
        load_dataset(path, expect=expect)


def test_save_rejects_bad_input(tmp_path):
    good = random_sample_set()
    with pytest.raises(ValueError, match="storage"):
        save_dataset(tmp_path / "d.npz", good, storage="zip")
    bad_values = random_sample_set(spins=torch.zeros(3, 5, 5, dtype=torch.int8))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        save_dataset(tmp_path / "d.npz", bad_values)
    with pytest.raises(ValueError, match="int8"):
        save_dataset(tmp_path / "d.npz", random_sample_set(spins=good.spins.float()))
    with pytest.raises(ValueError, match="shape"):
        save_dataset(tmp_path / "d.npz", random_sample_set(L=6, spins=good.spins))
    with pytest.raises(ValueError, match="reserved"):
        save_dataset(tmp_path / "d.npz", good, extra_metadata={"sha256": "0"})
    assert not (tmp_path / "d.npz").exists()


# ----------------------------------------------------------------------------------------------- corruption
def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_dataset(tmp_path / "nope.npz")


@pytest.mark.parametrize("keep", [0.0, 0.5, 0.9, 0.999])
def test_truncated_file_is_detected(tmp_path, keep):
    path = save_dataset(tmp_path / "d.npz", random_sample_set(L=8, n=50))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DatasetError, match="not a readable rgnet dataset"):
        load_dataset(path)


@pytest.mark.parametrize("storage", ["bits", "int8"])
def test_flipped_byte_in_spins_is_detected(tmp_path, storage):
    sample_set = random_sample_set(L=8, n=50)
    path = save_dataset(tmp_path / "d.npz", sample_set, storage=storage)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("spins.npy")
    # local header: 30 bytes + name + extra; the .npy payload ends at compress_size
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    payload_end = info.header_offset + 30 + name_len + extra_len + info.compress_size
    data[payload_end - 10] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError):
        load_dataset(path)


def test_wrong_checksum_is_detected(tmp_path):
    """A well-formed archive whose spins do not match the sha256 of its metadata (e.g. edited by hand)."""
    path = save_dataset(tmp_path / "d.npz", random_sample_set(L=4, n=6), storage="int8")
    with np.load(path) as archive:
        spins, meta = archive["spins"].copy(), archive["metadata"].copy()
    spins[2, 1, 1] *= -1
    np.savez(path, spins=spins, metadata=meta)
    with pytest.raises(DatasetError, match="sha256"):
        load_dataset(path)


def rewrite(path: Path, edit, *, reseal: bool = True) -> None:
    """Rewrite the archive at ``path`` with ``edit(spins, metadata)`` applied in place; ``reseal`` recomputes
    the metadata checksum (a forger who knows the format), otherwise the edited metadata keep the old one."""
    with np.load(path) as archive:
        spins, meta = archive["spins"].copy(), json.loads(archive["metadata"].tobytes())
    edit(spins, meta)
    if reseal:
        meta[ds.METADATA_CHECKSUM] = ds.metadata_sha256(meta)
    np.savez(path, spins=spins, metadata=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def test_inconsistent_shape_is_detected(tmp_path):
    path = save_dataset(tmp_path / "d.npz", random_sample_set(L=4, n=6), storage="int8")
    rewrite(path, lambda spins, meta: meta.update(n=7))
    with pytest.raises(DatasetError, match="implies"):
        load_dataset(path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda meta: meta.update(K=0.3000001),
        lambda meta: meta.update(method="wolff"),
        lambda meta: meta.pop("seed"),
        lambda meta: meta.update(extra="x"),
    ],
)
def test_edited_metadata_fail_their_checksum(tmp_path, edit):
    path = save_dataset(tmp_path / "d.npz", random_sample_set(L=4, n=6))
    load_dataset(path)  # control: the untouched file reads
    rewrite(path, lambda spins, meta: edit(meta), reseal=False)
    with pytest.raises(DatasetError, match="metadata do not match their checksum"):
        load_dataset(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda meta: meta.update(K=math.nan), "'K' must be a finite number, got nan"),
        (lambda meta: meta.update(h="0"), "'h' must be a finite number"),
        (lambda meta: meta.update(q=1), "'q' must be null or an integer in 2..127"),
        (lambda meta: meta.update(format_version=3), "versions \\[1, 2\\]"),
    ],
)
def test_invalid_metadata_are_refused_even_when_sealed(tmp_path, edit, message):
    path = save_dataset(tmp_path / "d.npz", random_sample_set(L=4, n=6), storage="int8")
    rewrite(path, lambda spins, meta: edit(meta))
    with pytest.raises(DatasetError, match=message):
        load_dataset(path)


def test_spins_outside_the_alphabet_are_refused_though_the_sha256_matches(tmp_path):
    """int8 Ising spins 0 and 5, with their sha256 recomputed: consistent checksums, impossible values."""
    path = save_dataset(tmp_path / "d.npz", random_sample_set(L=4, n=6), storage="int8")

    def plant(spins, meta):
        spins[...] = np.where(spins > 0, 5, 0)
        meta["sha256"] = spins_sha256(spins)

    rewrite(path, plant)
    with pytest.raises(DatasetError, match="not all -1 and \\+1"):
        load_dataset(path)


def test_version_1_files_are_still_read(tmp_path):
    """Files written before the metadata checksum read as before (same validation, no metadata checksum)."""
    sample_set = random_sample_set(L=4, n=6)
    path = save_dataset(tmp_path / "d.npz", sample_set)

    def downgrade(spins, meta):
        del meta[ds.METADATA_CHECKSUM]
        meta["format_version"] = 1

    rewrite(path, downgrade, reseal=False)
    spins, meta = load_dataset(path)
    assert torch.equal(spins, sample_set.spins) and meta["format_version"] == 1
    rewrite(path, lambda spins, meta: meta.update(K=math.inf), reseal=False)
    with pytest.raises(DatasetError, match="'K' must be a finite number"):
        load_dataset(path)


def test_other_files_are_rejected(tmp_path):
    npy = tmp_path / "a.npz"
    with open(npy, "wb") as handle:
        np.save(handle, np.zeros(3))
    with pytest.raises(DatasetError, match="expected an .npz archive"):
        load_dataset(npy)
    garbage = tmp_path / "b.npz"
    garbage.write_bytes(b"definitely not a dataset")
    with pytest.raises(DatasetError, match="not a readable"):
        load_dataset(garbage)
    foreign = tmp_path / "c.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(DatasetError, match="missing arrays"):
        load_dataset(foreign)


# ----------------------------------------------------------------------------------------------- atomicity
def test_crash_mid_write_keeps_previous_file(tmp_path, monkeypatch):
    path = save_dataset(tmp_path / "d.npz", random_sample_set(seed=1))
    before = path.read_bytes()

    def crashing_savez(handle, **arrays):
        handle.write(b"PK\x03\x04 partial archive")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(ds.np, "savez", crashing_savez)
    with pytest.raises(RuntimeError, match="simulated crash"):
        save_dataset(path, random_sample_set(seed=2))
    with pytest.raises(RuntimeError, match="simulated crash"):
        save_dataset(tmp_path / "new.npz", random_sample_set(seed=2))
    assert path.read_bytes() == before
    assert not (tmp_path / "new.npz").exists()
    assert tmp_files(tmp_path) == []
    monkeypatch.undo()
    spins, _ = load_dataset(path)
    assert torch.equal(spins, random_sample_set(seed=1).spins)


def test_killed_writer_leaves_no_partial_dataset(tmp_path):
    """A writer killed (os._exit) after writing but before the rename leaves only a temp file behind."""
    path = save_dataset(tmp_path / "d.npz", random_sample_set(seed=1))
    before = path.read_bytes()
    script = (
        "import os, sys, torch\n"
        "import rgnet.data.dataset as ds\n"
        "from rgnet.ising.sampling import SampleSet\n"
        "ds.os.fsync = lambda fd: os._exit(17)\n"
        "spins = torch.ones(3, 4, 4, dtype=torch.int8)\n"
        "s = SampleSet(spins=spins, L=4, K=0.1, h=0.0, method='checkerboard', seed=0, device='cpu',\n"
        "              chains=1, burn_in=0, thinning=1)\n"
        "ds.save_dataset(sys.argv[1], s)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 17, result.stderr
    assert path.read_bytes() == before
    stale = tmp_files(tmp_path)
    assert len(stale) == 1 and stale[0].name.startswith(".d.npz.")
    assert load_dataset(path)[1]["seed"] == 1
    assert clean_stale_temp_files(tmp_path) == []  # too fresh: could belong to a live writer
    old = time.time() - 2 * files.STALE_TEMP_AGE_S
    os.utime(stale[0], (old, old))
    assert clean_stale_temp_files(tmp_path) == stale
    assert tmp_files(tmp_path) == [] and path.exists()


# ----------------------------------------------------------------------------------------------- cache
BASE = dict(L=4, K=0.3, n=16, seed=3, chains=4, burn_in=5, thinning=1)


def test_dataset_path_is_stable_and_distinguishes_parameters(tmp_path):
    path = dataset_path(tmp_path, BASE)
    assert path.parent == tmp_path and path.suffix == ".npz"
    assert dataset_path(tmp_path, dict(reversed(list(BASE.items())))) == path
    assert dataset_path(tmp_path, DatasetConfig(**BASE)) == path
    assert dataset_path(tmp_path, {**BASE, "device": "cpu"}) == path  # device is not part of the identity
    changes = [
        ("L", 6),
        ("K", math.nextafter(0.3, 1.0)),
        ("h", 0.1),
        ("n", 17),
        ("method", "wolff"),
        ("seed", 4),
        ("chains", None),
        ("burn_in", 6),
        ("thinning", 2),
        ("storage", "int8"),
        ("opts", {"backend": "torch"}),
    ]
    paths = {dataset_path(tmp_path, {**BASE, key: value}) for key, value in changes}
    assert len(paths) == len(changes) and path not in paths


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"L": 5}, ValueError, r"^data\.L must be even"),
        ({"L": 1, "method": "wolff"}, ValueError, r"^data\.L must be >= 2"),
        ({"n": 0}, ValueError, r"^data\.n must be >= 1"),
        ({"K": math.nan}, ValueError, r"^data\.K must be finite"),
        ({"h": math.inf}, ValueError, r"^data\.h must be finite"),
        ({"method": "glauber"}, ValueError, r"^data\.method must be one of"),
        ({"seed": None}, ValueError, r"^data\.seed must be an integer"),
        ({"seed": 1.5}, TypeError, r"^data\.seed must be an integer"),
        ({"chains": 0}, ValueError, r"^data\.chains must be >= 1"),
        ({"storage": "zip"}, ValueError, r"^data\.storage must be one of"),
        ({"opts": {"x": [1]}}, TypeError, r"^data\.opts\.x must be a JSON scalar"),
        ({"colour": 1}, ValueError, r"unknown dataset parameter\(s\) \['data\.colour'\]"),
    ],
)
def test_config_validation_names_the_field(change, error, message):
    with pytest.raises(error, match=message):
        DatasetConfig.from_mapping({**BASE, **change}, prefix="data.")
    with pytest.raises(error):
        dataset_path("unused", {**BASE, **change})


@pytest.mark.filterwarnings("ignore:.*too short.*:RuntimeWarning")  # 16 samples: tiny by design
def test_cache_reuses_file_without_regenerating(tmp_path, count_calls):
    calls = count_calls(ds, "generate_2d")
    spins1, meta1 = get_or_create_dataset(BASE, tmp_path)
    assert len(calls) == 1 and calls[0][1]["seed"] == 3 and calls[0][1]["chains"] == 4
    spins2, meta2 = get_or_create_dataset(dict(BASE), tmp_path)
    assert len(calls) == 1
    assert torch.equal(spins1, spins2) and meta1 == meta2
    assert meta1["cache_key"] == DatasetConfig(**BASE).cache_key()
    assert spins1.shape == (16, 4, 4) and meta1["burn_in"] == 5 and meta1["thinning"] == 1
    # the real sampler produced physical configurations whose recorded mean energy is theirs
    assert meta1["energy"][0] == pytest.approx(energy_per_site(spins1).mean().item(), abs=1e-12)


def test_corrupted_cache_raises_unless_overwrite(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "generate_2d", fake_generate_2d)
    spins, _ = get_or_create_dataset(BASE, tmp_path)
    path = dataset_path(tmp_path, BASE)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="overwrite_corrupt"):
        get_or_create_dataset(BASE, tmp_path)
    again, _ = get_or_create_dataset(BASE, tmp_path, overwrite_corrupt=True)
    assert torch.equal(again, spins)
    assert load_dataset(path)[0].shape == (16, 4, 4)


def test_cache_rejects_file_with_other_parameters(tmp_path, monkeypatch):
    """A file under the cache name whose metadata does not match the request is never used."""
    monkeypatch.setattr(ds, "generate_2d", fake_generate_2d)
    save_dataset(dataset_path(tmp_path, BASE), fake_generate_2d(**{**BASE, "K": 0.31}))
    with pytest.raises(DatasetError, match="'K'"):
        get_or_create_dataset(BASE, tmp_path)


def test_cache_ignores_and_cleans_stale_temp_files(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "generate_2d", fake_generate_2d)
    path = dataset_path(tmp_path, BASE)
    stale = tmp_path / f".{path.name}.abc{files.TMP_SUFFIX}"
    stale.write_bytes(b"partial")
    old = time.time() - 2 * files.STALE_TEMP_AGE_S
    os.utime(stale, (old, old))
    spins, _ = get_or_create_dataset(BASE, tmp_path)
    assert spins.shape == (16, 4, 4) and not stale.exists()
