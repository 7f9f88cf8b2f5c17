"""IsingDataModule: argument validation, split sizes, batch shapes and dtypes, dataset from a config."""

from __future__ import annotations

import pytest
import torch

import rgnet.data.dataset as ds
from rgnet.data import DatasetError, IsingDataModule, SpinDataset, dataset_path, save_dataset
from rgnet.ising.sampling import SampleSet


def random_sample_set(L: int, n: int, K: float = 0.3, seed: int = 0, chains: int = 1, **fields) -> SampleSet:
    gen = torch.Generator().manual_seed(seed)
    spins = (torch.randint(0, 2, (n, L, L), generator=gen, dtype=torch.int8) * 2 - 1).to(torch.int8)
    return SampleSet(
        spins=spins,
        L=L,
        K=K,
        h=fields.get("h", 0.0),
        method=fields.get("method", "checkerboard"),
        seed=seed,
        device="cpu",
        chains=chains,
        burn_in=fields.get("burn_in", 10),
        thinning=fields.get("thinning", 1),
    )


@pytest.fixture
def dataset_file(tmp_path):
    sample_set = random_sample_set(L=6, n=50)
    return save_dataset(tmp_path / "d.npz", sample_set), sample_set.spins


def collect(loader) -> torch.Tensor:
    return torch.cat(list(loader))


@pytest.mark.parametrize("shape, item_shape", [("flat", (36,)), ("image", (1, 6, 6))])
def test_shapes_dtypes_and_split(dataset_file, shape, item_shape):
    path, spins = dataset_file
    dm = IsingDataModule(path, val_fraction=0.2, batch_size=8, shape=shape, split_seed=1)
    dm.setup("fit")
    assert dm.L == 6 and dm.input_shape == item_shape and dm.metadata["n"] == 50
    assert len(dm.train_set) == 40 and len(dm.val_set) == 10
    batch = next(iter(dm.train_dataloader()))
    assert batch.dtype == torch.float32 and batch.shape == (8, *item_shape)
    train, val = collect(dm.train_dataloader()), collect(dm.val_dataloader())
    assert train.shape == (40, *item_shape) and val.shape == (10, *item_shape)
    assert set(torch.unique(torch.cat([train, val])).tolist()) == {-1.0, 1.0}
    # the two parts are a partition of the dataset (rows compared as configurations)
    rows = {tuple(r.tolist()) for r in torch.cat([train, val]).reshape(50, 36).to(torch.int8)}
    assert rows == {tuple(r.tolist()) for r in spins.reshape(50, 36)}
    # flat items are the row-major sites of the configuration
    assert torch.equal(dm.val_set[0].reshape(6, 6), dm.val_set.spins[0].float())


def test_split_depends_only_on_split_seed(dataset_file):
    path, _ = dataset_file
    first = [IsingDataModule(path, split_seed=seed, val_fraction=0.3) for seed in (5, 5, 6)]
    for dm in first:
        dm.setup()
    assert torch.equal(first[0].val_set.spins, first[1].val_set.spins)
    assert not torch.equal(first[0].val_set.spins, first[2].val_set.spins)
    assert len(first[0].val_set) == 15 and len(first[0].train_set) == 35
    batches = list(first[0].val_dataloader())
    assert torch.equal(torch.cat(batches), torch.cat(list(first[0].val_dataloader())))  # fixed order


def test_drop_last_and_worker_loading(dataset_file):
    path, _ = dataset_file
    dm = IsingDataModule(path, val_fraction=0.1, batch_size=16, drop_last=True, num_workers=1)
    dm.setup()
    sizes = [len(b) for b in dm.train_dataloader()]
    assert sizes == [16, 16]  # 45 training configurations, the incomplete batch dropped
    assert [len(b) for b in dm.val_dataloader()] == [5]


def test_expect_is_checked(dataset_file):
    path, _ = dataset_file
    IsingDataModule(path, expect={"L": 6, "K": 0.3}).setup()
    dm = IsingDataModule(path, expect={"K": 0.25})
    with pytest.raises(DatasetError, match="'K'"):
        dm.setup()


def test_from_config_generates_once_and_loads(tmp_path, monkeypatch):
    calls = []

    def fake_generate_2d(L, K, n, *, seed, chains, burn_in, thinning, h, method, **kwargs):
        calls.append((L, K, n))
        return random_sample_set(
            L=L,
            n=n,
            K=K,
            seed=seed,
            chains=chains or 2,
            h=h,
            method=method,
            burn_in=burn_in or 7,
            thinning=thinning or 1,
        )

    monkeypatch.setattr(ds, "generate_2d", fake_generate_2d)
    config = {"L": 4, "K": 0.4, "n": 30, "seed": 2, "method": "wolff"}
    dm = IsingDataModule(config=config, cache_dir=tmp_path, val_fraction=0.5, batch_size=4, shape="image")
    dm.prepare_data()
    assert calls == [(4, 0.4, 30)] and dataset_path(tmp_path, config).is_file()
    dm.setup()
    assert calls == [(4, 0.4, 30)]
    assert len(dm.train_set) == len(dm.val_set) == 15 and dm.metadata["method"] == "wolff"
    assert next(iter(dm.train_dataloader())).shape == (4, 1, 4, 4)
    fresh = IsingDataModule(config=config, cache_dir=tmp_path, expect={"chains": 3})
    with pytest.raises(DatasetError, match="'chains'"):
        fresh.setup()
    assert calls == [(4, 0.4, 30)]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({}, ValueError, "exactly one of path"),
        ({"path": "x.npz", "config": {"L": 4, "K": 0.1, "n": 10}}, ValueError, "exactly one of path"),
        ({"path": "does/not/exist.npz"}, FileNotFoundError, "does/not/exist.npz"),
        ({"config": {"L": 4, "K": 0.1, "n": 10}}, ValueError, "cache_dir is required"),
        ({"config": {"L": 3, "K": 0.1, "n": 10}, "cache_dir": "c"}, ValueError, r"config\.L must be even"),
        (
            {"config": {"L": 4, "K": 0.1, "n": 10}, "cache_dir": "c", "val_fraction": 0.01},
            ValueError,
            "both must be",
        ),
        (
            {"config": {"L": 4, "K": 0.1, "n": 10, "seed": None}, "cache_dir": "c"},
            ValueError,
            r"config\.seed",
        ),
        ({"val_fraction": 1.0}, ValueError, r"val_fraction must be in \(0, 1\)"),
        ({"val_fraction": 0.0}, ValueError, r"val_fraction must be in \(0, 1\)"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
        ({"num_workers": -1}, ValueError, "num_workers must be >= 0"),
        ({"shape": "square"}, ValueError, "shape must be one of"),
        ({"split_seed": -1}, ValueError, "split_seed must be >= 0"),
        ({"drop_last": 1}, TypeError, "drop_last must be a bool"),
        ({"expect": [("L", 4)]}, TypeError, "expect must be a mapping"),
        ({"cache_dir": "c"}, ValueError, "cache_dir is only used with config"),
    ],
)
def test_constructor_validates(dataset_file, kwargs, error, message):
    path, _ = dataset_file
    if not {"path", "config"} & set(kwargs) and kwargs:
        kwargs = {"path": path, **kwargs}
    with pytest.raises(error, match=message):
        IsingDataModule(**kwargs)


def test_too_small_dataset_for_split(tmp_path):
    path = save_dataset(tmp_path / "tiny.npz", random_sample_set(L=4, n=3))
    dm = IsingDataModule(path, val_fraction=0.1)
    with pytest.raises(ValueError, match="both must be >= 1"):
        dm.setup()


def test_dataloaders_need_setup(dataset_file):
    dm = IsingDataModule(dataset_file[0])
    with pytest.raises(RuntimeError, match="setup"):
        dm.train_dataloader()
    assert dm.L == 6  # from the file's metadata, read at once


def test_spin_dataset_validates():
    with pytest.raises(ValueError, match="int8"):
        SpinDataset(torch.ones(2, 3, 3))
    with pytest.raises(ValueError, match="shape must be one of"):
        SpinDataset(torch.ones(2, 3, 3, dtype=torch.int8), shape="cube")


def test_from_file_checks_L_and_missing_files(dataset_file, tmp_path):
    path, _ = dataset_file
    dm = IsingDataModule.from_file(path, L=6, batch_size=5)
    dm.setup()
    assert dm.L == 6 and dm.batch_size == 5
    with pytest.raises(DatasetError, match="L"):
        IsingDataModule.from_file(path, L=8).setup()
    with pytest.raises(FileNotFoundError, match="dataset file not found"):
        IsingDataModule.from_file(tmp_path / "missing.npz", L=6)
    with pytest.raises(ValueError, match="L must be >= 2"):
        IsingDataModule.from_file(path, L=1)


def test_from_fields_splits_dataset_and_loader_options(tmp_path):
    dm = IsingDataModule.from_fields(
        tmp_path, L=4, K=0.3, n=10, method="wolff", batch_size=3, val_fraction=0.2
    )
    assert dm.config.L == 4 and dm.config.method == "wolff" and dm.batch_size == 3
    with pytest.raises(ValueError, match=r"unknown data field\(s\) \['KK'\]"):
        IsingDataModule.from_fields(tmp_path, L=4, K=0.3, n=10, KK=1)
    with pytest.raises(ValueError, match="K must be finite"):
        IsingDataModule.from_fields(tmp_path, L=4, K=float("nan"), n=10)


def test_from_fields_reads_a_dataset_file_whose_parameters_match(dataset_file, tmp_path):
    """data.path: the file's metadata are read before any work (its spins only in setup); each physical
    parameter given must be the file's, the generation settings are the file's own."""
    path, spins = dataset_file
    dm = IsingDataModule.from_fields(tmp_path / "cache", path=path, L=6, K=0.3, h=0.0, n=9999, method="wolff")
    assert (dm.L, dm.K, dm.h, dm.q) == (6, 0.3, 0.0, None)  # known before setup: models are sized from it
    dm.setup()
    assert dm.metadata["n"] == 50 and not (tmp_path / "cache").exists()
    for field, value, stored in (("K", 0.31, "0.3"), ("L", 8, "6"), ("q", 3, "None"), ("h", 0.1, "0.0")):
        with pytest.raises(
            ValueError, match=rf"^data\.{field}={value}, but the dataset file .* holds {field}={stored}"
        ):
            IsingDataModule.from_fields(tmp_path, path=path, **{field: value})
    with pytest.raises(FileNotFoundError, match="dataset file not found"):
        IsingDataModule.from_fields(tmp_path, path=tmp_path / "missing.npz", L=6)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError, match="not a readable rgnet dataset"):
        IsingDataModule.from_fields(tmp_path, path=broken, L=6)
    with pytest.raises(ValueError, match=r"\['geometry'\] belong to \(V, E\) pairs"):
        IsingDataModule.from_fields(tmp_path, path=path, geometry="slab")
