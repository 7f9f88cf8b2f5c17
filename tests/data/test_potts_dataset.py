"""q-state Potts datasets: config validation, files (alphabet, checksums), the cache, one-hot serving, and
rgnet-sample's Potts table against exact results (q = 2: Kaufman at K / 2; q = 3: enumeration)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import rgnet.data.dataset as ds
from rgnet.data import (
    DatasetConfig,
    DatasetError,
    IsingDataModule,
    SpinDataset,
    dataset_path,
    get_or_create_dataset,
    load_dataset,
    save_dataset,
)
from rgnet.potts import PottsSampleSet, potts_critical_coupling, potts_energy, potts_torus_observables
from rgnet.runs import sampling as sample
from rgnet.runs.config import ConfigError

POTTS = {"L": 4, "K": 0.9, "n": 32, "q": 3, "method": "swendsen_wang", "storage": "int8", "seed": 2}
SHORT = {"chains": 4, "burn_in": 20, "thinning": 1}


def random_potts_set(L: int = 4, n: int = 6, q: int = 3, seed: int = 0) -> PottsSampleSet:
    """Uniformly random colourings with made-up provenance (file-format tests need no physics)."""
    gen = torch.Generator().manual_seed(seed)
    return PottsSampleSet(
        spins=torch.randint(0, q, (n, L, L), generator=gen, dtype=torch.int8),
        L=L,
        K=0.5,
        h=0.0,
        method="swendsen_wang",
        seed=seed,
        device="cpu",
        chains=1,
        burn_in=0,
        thinning=1,
        q=q,
    )


# ---------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "change, message",
    [
        ({"q": 1}, r"^data\.q must be >= 2"),
        ({"q": 128}, r"^data\.q must be <= 127"),
        ({"q": 2.5}, r"^data\.q must be an integer"),
        (
            {"method": "checkerboard"},
            r"^data\.method must be one of \['heatbath', 'swendsen_wang', 'wolff'\]",
        ),
        ({"storage": "bits"}, r"^data\.storage must be 'int8' for q=3"),
        ({"h": math.inf}, r"^data\.h must be finite"),
        ({"K": -0.1}, r"^data\.K must be >= 0"),
        ({"K": math.nan}, r"^data\.K must be finite"),
        ({"device": "cuda"}, r"^data\.device"),
        ({"opts": {"backend": "torch"}}, r"^data\.opts \['backend'\] are not options of the Potts samplers"),
    ],
)
def test_potts_config_validation_names_the_field(change, message):
    with pytest.raises((ValueError, TypeError), match=message):
        DatasetConfig.from_mapping({**POTTS, **change}, prefix="data.")


def test_q_is_part_of_the_identity_only_for_potts(tmp_path):
    ising = DatasetConfig(L=4, K=0.3, n=8)
    assert "q" not in ising.identity()  # Ising cache keys do not depend on the new field
    paths = {dataset_path(tmp_path, {**POTTS, "q": q}) for q in (2, 3, 4)}
    assert len(paths) == 3
    assert dataset_path(tmp_path, POTTS).name.startswith("potts3_2d_L4_")
    assert DatasetConfig(**POTTS).expected_metadata()["q"] == 3
    # the field on colour 0 identifies the dataset: it enters the cache key and the expected metadata
    field = DatasetConfig(**{**POTTS, "h": 0.5})
    assert field.cache_key() != DatasetConfig(**POTTS).cache_key()
    assert field.expected_metadata()["h"] == 0.5 and field.identity()["h"] == 0.5
    assert dataset_path(tmp_path, field) != dataset_path(tmp_path, POTTS)
    # odd L is fine for the Potts samplers (no checkerboard colouring)
    assert DatasetConfig(**{**POTTS, "L": 5, "method": "heatbath"}).L == 5


# ---------------------------------------------------------------------------------------------- files
def test_potts_round_trip_and_alphabet(tmp_path):
    sample_set = random_potts_set()
    path = save_dataset(tmp_path / "p.npz", sample_set, storage="int8")
    spins, meta = load_dataset(path, {"q": 3})
    assert torch.equal(spins, sample_set.spins) and meta["q"] == 3
    with pytest.raises(ValueError, match="storage='int8'"):
        save_dataset(tmp_path / "b.npz", sample_set, storage="bits")
    bad = random_potts_set()
    bad.spins[0, 0, 0] = 3
    with pytest.raises(ValueError, match=r"colours 0\.\.2 \(q=3 Potts\)"):
        save_dataset(tmp_path / "b.npz", bad, storage="int8")
    assert not (tmp_path / "b.npz").exists()


def test_planted_colour_is_refused_though_both_checksums_match(tmp_path):
    path = save_dataset(tmp_path / "p.npz", random_potts_set(), storage="int8")
    with np.load(path) as archive:
        spins, meta = archive["spins"].copy(), json.loads(archive["metadata"].tobytes())
    spins[1, 2, 3] = 7
    meta["sha256"] = ds.spins_sha256(spins)
    meta[ds.METADATA_CHECKSUM] = ds.metadata_sha256(meta)
    np.savez(path, spins=spins, metadata=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"not all colours 0\.\.2"):
        load_dataset(path)


@pytest.mark.filterwarnings("ignore:.*too short.*:RuntimeWarning")  # 32 samples: tiny by design
def test_cache_generates_potts_once(tmp_path, count_calls):
    calls = count_calls(ds, "generate_potts_2d")
    spins, meta = get_or_create_dataset({**POTTS, **SHORT}, tmp_path)
    again, meta2 = get_or_create_dataset({**POTTS, **SHORT}, tmp_path)
    assert len(calls) == 1 and calls[0][0][3] == 3
    assert torch.equal(spins, again) and meta == meta2
    assert spins.dtype == torch.int8 and spins.shape == (32, 4, 4)
    assert int(spins.min()) >= 0 and int(spins.max()) <= 2 and meta["q"] == 3
    assert meta["energy"][0] == pytest.approx(potts_energy(spins).mean().item(), abs=1e-12)


@pytest.mark.filterwarnings("ignore:.*too short.*:RuntimeWarning")
def test_potts_field_reaches_the_sampler_and_the_metadata(tmp_path, count_calls):
    calls = count_calls(ds, "generate_potts_2d")
    spins, meta = get_or_create_dataset({**POTTS, **SHORT, "h": 3.0}, tmp_path)
    assert len(calls) == 1 and calls[0][1]["h"] == 3.0 and meta["h"] == 3.0
    assert float((spins == 0).double().mean()) > 0.8  # the field favours colour 0 (1/3 without it)


# ---------------------------------------------------------------------------------------------- serving
@pytest.mark.parametrize("shape, item", [("flat", (3 * 16,)), ("image", (3, 4, 4))])
def test_one_hot_items(shape, item):
    colours = random_potts_set(n=5).spins
    dataset = SpinDataset(colours, shape, q=3)
    batch = torch.stack([dataset[i] for i in range(5)])
    assert batch.dtype == torch.float32 and batch.shape == (5, *item)
    planes = batch.reshape(5, 3, 4, 4)
    assert torch.equal(planes.sum(dim=1), torch.ones(5, 4, 4))  # one colour per site
    assert torch.equal(planes.argmax(dim=1).to(torch.int8), colours)
    with pytest.raises(ValueError, match=r"colours 0\.\.1 \(q=2\)"):
        SpinDataset(colours, shape, q=2)  # colour 2 present: not a q = 2 configuration


def test_datamodule_serves_potts_one_hot(tmp_path):
    path = save_dataset(tmp_path / "p.npz", random_potts_set(n=20), storage="int8")
    dm = IsingDataModule(path, val_fraction=0.25, batch_size=8, shape="image")
    dm.setup()
    assert dm.q == 3 and dm.input_shape == (3, 4, 4)
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (8, 3, 4, 4) and set(batch.unique().tolist()) == {0.0, 1.0}
    config = IsingDataModule.from_fields(tmp_path, **POTTS)
    assert config.q == 3 and config.input_shape == (3 * 16,)


# ---------------------------------------------------------------------------------------------- rgnet-sample
def run_sample(tmp_path, *overrides):
    cfg = sample.compose_sample([f"paths.root_dir={tmp_path}", "data=potts2d", *overrides])
    return sample.run(cfg, tmp_path / "run")


def deviations(summary: dict) -> dict:
    return {
        key: (value["value"] - summary["exact"][key]) / value["error"]
        for key, value in summary["observables"].items()
        if summary["exact"].get(key) is not None
    }


def test_potts_defaults_are_q3_at_kc(tmp_path):
    cfg = sample.compose_sample([f"paths.root_dir={tmp_path}", "data=potts2d"])
    dataset = sample.validate_config(cfg)
    assert dataset.q == 3 and dataset.K == potts_critical_coupling(3) and dataset.storage == "int8"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.q=abc"], r"^data\.q must be an integer, got 'abc'"),
        (["data.q=0"], r"^data\.q must be >= 2"),
        (["data.method=checkerboard"], r"^data\.method must be one of"),
        (["data.storage=bits"], r"^data\.storage must be 'int8'"),
    ],
)
def test_bad_potts_config_fails_before_sampling(tmp_path, monkeypatch, overrides, message):
    monkeypatch.setattr(ds, "generate_potts_2d", lambda *a, **k: pytest.fail("must not sample"))
    with pytest.raises(ConfigError, match=message):
        run_sample(tmp_path, *overrides)
    assert not (tmp_path / "run").exists() and not (tmp_path / ".rgnet_cache").exists()


@pytest.mark.filterwarnings("ignore:.*(too short|shorter than).*:RuntimeWarning")
@pytest.mark.parametrize(
    "q, L, K",
    [
        (2, 6, potts_critical_coupling(2)),  # the Ising identity: Kaufman's torus at K / 2
        (3, 3, potts_critical_coupling(3)),  # enumeration of the 3 x 3 torus, 3^9 states
    ],
)
def test_rgnet_sample_potts_agrees_with_exact_torus(tmp_path, capsys, q, L, K):
    summary = run_sample(tmp_path, f"data.q={q}", f"data.L={L}", f"data.K={K!r}", "data.n=4000")
    assert set(deviations(summary)) == {"energy", "specific_heat"}
    for key, deviation in deviations(summary).items():
        assert abs(deviation) < 4.0, (key, deviation)
    assert summary["dataset"]["metadata"]["q"] == q
    assert summary["reference"]["critical_energy_infinite_lattice"] == pytest.approx(-(1 + 1 / math.sqrt(q)))
    assert f"2D q={q} Potts L={L}" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:.*(too short|shorter than).*:RuntimeWarning")
def test_rgnet_sample_potts_comparison_has_power(tmp_path):
    """Negative control: the same samples against the exact torus at a 5% lower coupling are far off."""
    K = potts_critical_coupling(3)
    summary = run_sample(tmp_path, "data.L=3", f"data.K={K!r}", "data.n=4000")
    energy = summary["observables"]["energy"]
    wrong = potts_torus_observables(3, 3, 0.95 * K)["energy"]
    assert abs(energy["value"] - wrong) / energy["error"] > 8.0
