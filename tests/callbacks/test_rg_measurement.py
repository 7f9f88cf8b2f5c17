"""RGMeasurement: a model's block-spin map measured as an RG next to majority rule (MCRG, matching, scaling
dimension, coupling flow), in summary.json and TensorBoard; bad setups fail before training."""

from __future__ import annotations

import json
import math

import lightning
import pytest
import torch

from rgnet.callbacks._tensorboard import scalar_tags
from rgnet.callbacks.rg_measurement import EXACT, RGMeasurement, exponents_figure
from rgnet.potts import potts_critical_coupling
from rgnet.rg import majority_2d, plurality_2d


class MajorityModel(lightning.LightningModule):
    """A trivial trainable module whose block-spin map is majority rule (b = 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def block_spin_map(self, mode: str = "sample", generator: torch.Generator | None = None):
        return lambda spins: majority_2d(spins, 2, generator=generator)

    def training_step(self, batch, batch_idx):
        return (self.weight**2).sum() + batch[0].sum() * 0

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class PluralityModel(MajorityModel):
    """Its block-spin map is the plurality rule of q = 3 colours (b = 2)."""

    colours = 3

    def block_spin_map(self, mode: str = "sample", generator: torch.Generator | None = None):
        return lambda colours: plurality_2d(colours, 2, 3, generator=generator)


class TiedMap:
    """Majority rule restricted to the sides 32 -> 16 -> 8 (as the RBM stack applies only to its lattices)."""

    def __init__(self, generator: torch.Generator | None) -> None:
        self.sides = [32, 16, 8]
        self.generator = generator

    def __call__(self, spins: torch.Tensor) -> torch.Tensor:
        if spins.shape[1] not in self.sides[:-1]:
            raise ValueError(f"this map takes sides 32, 16, got {spins.shape[1]}")
        return majority_2d(spins, 2, generator=self.generator)


class FixedSideModel(MajorityModel):
    def block_spin_map(self, mode: str = "sample", generator: torch.Generator | None = None):
        return TiedMap(generator)


def small_measurement(tmp_path, **overrides) -> RGMeasurement:
    options = {"cache_dir": str(tmp_path / "cache"), "L": 32, "n": 2000, "levels": 2, "flow_samples": 400}
    return RGMeasurement(**(options | overrides))


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    callback = small_measurement(tmp_path_factory.mktemp("rg"))
    return callback.measure(MajorityModel())


def test_a_majority_model_measures_exactly_as_the_majority_reference(measured):
    """Same map, same datasets, same random stream: the learned and reference measurements coincide."""
    assert measured["learned"] == measured["majority"]
    assert measured["exact"] == EXACT
    assert measured["setup"]["b"] == 2 and measured["setup"]["L_small"] == 16
    assert len(measured["setup"]["datasets"]) == 5  # matching starts +-0.5%, flow starts +-2%, and K_c
    json.dumps(measured)  # summary.json-ready (NaN -> None)


def test_majority_measurements_are_near_the_exact_values(measured):
    """On 2000 configurations of 32 x 32 the numbers are rough but must be near the Ising values."""
    mcrg = measured["learned"]["mcrg"]["levels"][-1]
    assert abs(mcrg["y_h"] - EXACT["y_h"]) < 0.05 and abs(mcrg["y_t"] - EXACT["y_t"]) < 0.2
    matching = measured["learned"]["matching"]
    assert abs(matching["K_c"] / EXACT["K_c"] - 1) < 0.01 and matching["level"] == 2
    assert abs(matching["nu"] - 1) < 0.3
    dims = {(r["level"], r["fraction"]): r for r in measured["learned"]["scaling_dimension"]}
    assert abs(dims[(1, 0.25)]["Delta"] - EXACT["Delta"]) < 5 * dims[(1, 0.25)]["Delta_err"]
    flow = measured["learned"]["flow"]
    assert [f["K0"] for f in flow] == pytest.approx([EXACT["K_c"] * (1 + x) for x in (-0.02, 0, 0.02)])
    assert all(0.1 < row["K"] < 0.8 for f in flow for row in f["levels"])
    # the flow leaves the fixed point: the coarse coupling orders the starts below and above K_c
    deepest = [f["levels"][-1]["K"] for f in flow]
    assert deepest[0] < deepest[1] < deepest[2]


def test_fit_end_writes_summary_metrics_and_tensorboard(tmp_path):
    callback = small_measurement(
        tmp_path, n=400, starts=[0.0], flow_starts=[0.0], levels=1, fractions=[0.5], flow_samples=200
    )
    logger = lightning.pytorch.loggers.TensorBoardLogger(str(tmp_path / "tb"))
    trainer = lightning.Trainer(
        max_steps=1,
        logger=logger,
        callbacks=[callback],
        enable_progress_bar=False,
        enable_checkpointing=False,
    )
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 1)), batch_size=2)
    trainer.fit(MajorityModel(), data)
    summary = callback.summary_metrics()
    assert set(summary) == {"learned", "majority", "exact", "setup"}
    assert math.isfinite(summary["learned"]["mcrg"]["levels"][0]["y_h"])
    restored = small_measurement(tmp_path)
    restored.load_state_dict(callback.state_dict())
    assert restored.summary_metrics() == summary
    events = list((tmp_path / "tb").rglob("events.out.tfevents*"))
    assert events and events[0].stat().st_size > 1000
    # the exponents per level, learned next to majority rule, are scalar tags HParams can show
    tags = callback.hparam_metrics()
    assert list(tags)[:2] == ["rg/y_t/level1/learned", "rg/y_t/level1/majority"]
    assert {"rg/y_h/level1/learned", "rg/matching/K_c/learned", "rg/Delta/level0/majority"} <= set(tags)
    assert set(tags) <= set(scalar_tags(events[0].parent))


def test_a_map_tied_to_one_side_is_measured_by_mcrg_and_flow_only(tmp_path):
    with pytest.raises(ValueError, match="matching=false"):
        small_measurement(tmp_path).check_model(FixedSideModel())
    with pytest.raises(ValueError, match="takes L = 32 and at most 2 levels"):
        small_measurement(tmp_path, L=64, matching=False, scaling_dimension=False).check_model(
            FixedSideModel()
        )
    out = small_measurement(tmp_path, matching=False, scaling_dimension=False, levels=1, n=400).measure(
        FixedSideModel()
    )
    assert "matching" not in out["learned"] and "scaling_dimension" not in out["learned"]
    assert len(out["learned"]["flow"]) == 3 and len(out["setup"]["datasets"]) == 3


def test_bad_setups_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="starts must be distinct offsets including 0"):
        small_measurement(tmp_path, starts=[0.01])
    with pytest.raises(ValueError, match="flow_starts must be distinct"):
        small_measurement(tmp_path, flow_starts=[0.0, 0.0])
    with pytest.raises(ValueError, match="mode"):
        small_measurement(tmp_path, mode="mean")
    with pytest.raises(ValueError, match="method"):
        small_measurement(tmp_path, method="metropolis")
    with pytest.raises(ValueError, match="levels=3 blockings by b=2 need L divisible by b\\*\\*levels = 8"):
        small_measurement(tmp_path, L=24, levels=3).check_model(MajorityModel())
    with pytest.raises(TypeError, match="block_spin_map"):
        small_measurement(tmp_path).check_model(lightning.LightningModule())
    assert not (tmp_path / "cache").exists()  # nothing sampled


POTTS_ONLY = {"matching": False, "flow": False, "reference": "plurality"}


def test_a_potts_map_is_measured_on_potts_data_next_to_the_plurality_rule(tmp_path):
    """A map of q = 3 colours: Potts datasets at K_c = ln(1 + sqrt 3), MCRG and the scaling dimension next to
    the plurality rule (identical here: the same map and random stream), the q = 3 exact values; y_h of
    2000 configurations of 32 x 32 is near 28/15 and excludes Ising's 15/8 (the power check)."""
    out = small_measurement(tmp_path, **POTTS_ONLY).measure(PluralityModel())
    assert out["learned"] == out["plurality"] and "majority" not in out
    assert out["exact"]["y_t"] == pytest.approx(1.2) and out["exact"]["Delta"] == pytest.approx(2 / 15)
    assert out["setup"]["q"] == 3 and out["setup"]["K"] == pytest.approx(potts_critical_coupling(3))
    assert sorted(p.name[:6] for p in (tmp_path / "cache").glob("*.npz")) == ["potts3", "potts3"]
    last = out["learned"]["mcrg"]["levels"][-1]
    assert abs(last["y_h"] - 28 / 15) < 4 * last["y_h_err"] < 15 / 8 - 28 / 15
    assert abs(last["y_h"] - 15 / 8) > 4 * last["y_h_err"]
    dims = {(r["level"], r["fraction"]): r for r in out["learned"]["scaling_dimension"]}
    assert abs(dims[(1, 0.25)]["Delta"] - 2 / 15) < 5 * dims[(1, 0.25)]["Delta_err"]
    figure = exponents_figure(out)
    labels = [t.get_text() for t in figure.axes[1].get_legend().get_texts()]
    assert "exact y_h = 28/15" in labels and "plurality: MCRG at K" in labels
    assert "plurality rule" in figure.get_suptitle()


def test_settings_that_do_not_apply_to_the_lattice_of_the_map_are_refused(tmp_path):
    for changes, match in (
        ({"flow": False, "reference": "plurality"}, r"matching and the coupling flow are Ising-only"),
        ({"matching": False, "reference": "plurality"}, r"set matching=false and flow=false"),
        ({**POTTS_ONLY, "reference": "majority"}, r"reference must be 'plurality' or 'none' for q=3 Potts"),
        (
            {**POTTS_ONLY, "method": "checkerboard"},
            r"method must be one of \['swendsen_wang', 'wolff', 'heat",
        ),
    ):
        with pytest.raises(ValueError, match=match):
            small_measurement(tmp_path, **changes).check_model(PluralityModel())
    with pytest.raises(ValueError, match=r"reference must be 'majority' or 'none' for Ising maps"):
        small_measurement(tmp_path, reference="plurality").check_model(MajorityModel())
    assert not (tmp_path / "cache").exists()  # nothing sampled
