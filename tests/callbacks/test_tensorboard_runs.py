"""TensorBoard as a user sees it after rgnet-train: one TensorBoard run per rgnet run (event files in
``<run dir>/tensorboard``, also after a resume), one tag per series, overlaid by a custom-scalars layout, and
an HParams session holding the per-layer physics, the verdicts (0/1), the epochs and the settings."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToDict
from hydra.utils import instantiate
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import api_pb2, metadata

from rgnet.runs import training

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

#: A tiny mehta_schwab run (tests/runs/test_experiments.py sizes), without the slow end-of-fit measurement.
TINY = [
    "experiment=mehta_schwab",
    "data.L=12",
    "data.n=128",
    "model.layers=[144,36,9]",
    "model.epochs_per_layer=1",
    "~callbacks.rg_measurement",
    "callbacks.thermodynamics.n_chains=20",
    "callbacks.thermodynamics.steps=5",
    "data.progress=false",
    "threads=1",
]


def event_dirs(run_dir: Path) -> list[Path]:
    """The directories holding event files: each is one run in TensorBoard's sidebar."""
    return sorted({p.parent for p in run_dir.rglob("events.out.tfevents.*")})


def layout(events: EventAccumulator) -> dict[str, dict[str, list[str]]]:
    """The run's (last written) custom-scalars layout: category -> chart title -> tag regexes."""
    assert "custom_scalars__config__" in events.PluginTagToContent("custom_scalars")
    proto = layout_pb2.Layout.FromString(
        events.Tensors("custom_scalars__config__")[-1].tensor_proto.string_val[0]
    )
    return {c.title: {chart.title: list(chart.multiline.tag) for chart in c.chart} for c in proto.category}


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory) -> tuple[Path, dict]:
    """TINY trained for one epoch, then resumed for the second layer's epoch: (run dir, last summary)."""
    root = tmp_path_factory.mktemp("tiny")
    cfg = training.compose_train([*TINY, f"paths.root_dir={root}", "trainer.max_epochs=1"])
    run_dir = Path(cfg.output_dir)
    assert training.run(cfg, run_dir)["status"] == "finished"
    # resumed for the second layer's epoch: appends to the same TensorBoard run
    cfg = training.compose_train([*TINY, f"paths.root_dir={root}"])
    summary = training.run(cfg, run_dir)
    assert summary["resumed_from"] is not None
    return run_dir, summary


def test_one_tensorboard_run_with_canonical_tags_and_overlay_layout(resumed_run):
    run_dir, summary = resumed_run
    # the images are exported from the fixed directory (rgnet.runs.report.export_tensorboard_images)
    assert run_dir / "figures" / "filters__layer2.png" in map(Path, summary["figures"])
    for name in ("filters__layer2.png", "reconstructions.png", "couplings__trajectories.png"):
        width, height = Image.open(run_dir / "figures" / name).size  # figures, not 14-pixel images
        assert width >= 700 and height >= 400, name

    assert event_dirs(run_dir) == [run_dir / "tensorboard"]
    events = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0}
    ).Reload()
    scalars = events.Tags()["scalars"]
    # each value is written once: no tag holds two points at one step (also across the resume)
    repeated = {
        tag: steps
        for tag in scalars
        if (steps := [s for s, n in Counter(e.step for e in events.Scalars(tag)).items() if n > 1])
    }
    assert not repeated
    series = {
        "block_spin/layer1": {"init", "trained", "control"},
        "block_spin/layer2": {"init", "trained", "control"},
        "block_radius/layer1": {"trained", "control"},
        "thermo/energy": {"model", "data"},
        "thermo/specific_heat": {"model", "data"},
        "couplings/layer2/K": {"fitted", "majority"},
    }
    for chart, names in series.items():
        assert {f"{chart}/{name}" for name in names} <= set(scalars)
    assert [e.step for e in events.Scalars("block_spin/layer2/trained")] == [4]  # logged once, after resume

    charts = layout(events)
    assert set(charts) == {"block_spin", "block_radius", "thermo", "couplings"}
    # each chart says what it overlays
    titles = {
        "block_spin/layer1": "layer 1 locality: trained, init, control (site-shuffled data)",
        "block_spin/layer2": "layer 2 locality: trained, init, control (site-shuffled data)",
        "block_radius/layer1": "layer 1 block radius (lattice spacings): trained, control (site-shuffled "
        "data)",
        "thermo/energy": "energy per site: model, data",
        "thermo/specific_heat": "specific heat per site: model, data",
        "couplings/layer2/K": "layer 2 K: fitted, majority",
    }
    assert set(charts["block_spin"]) == {titles["block_spin/layer1"], titles["block_spin/layer2"]}
    for chart, names in series.items():
        (regex,) = charts[chart.split("/")[0]][titles[chart]]
        overlaid = {tag for tag in scalars if re.search(regex, tag)}
        assert overlaid == {f"{chart}/{name}" for name in names}


def test_logger_writes_into_the_run_directory_itself(tmp_path):
    cfg = training.compose_train(["experiment=mehta_schwab", f"paths.root_dir={tmp_path}"])
    logger = instantiate(cfg.logger.tensorboard)
    assert Path(logger.log_dir) == Path(cfg.output_dir) / "tensorboard"


def hparams_session(log_dir: Path) -> tuple[api_pb2.Experiment, dict, EventAccumulator]:
    """The run's HParams as TensorBoard reads them: the experiment (settings and metric tags), the session's
    setting values, and the run's events."""
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0}).Reload()
    content = events.PluginTagToContent("hparams")
    assert set(content) == {
        metadata.EXPERIMENT_TAG,
        metadata.SESSION_START_INFO_TAG,
        metadata.SESSION_END_INFO_TAG,
    }
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    values = {name: MessageToDict(value) for name, value in start.hparams.items()}
    return experiment, values, events


def test_hparams_hold_per_layer_physics_verdicts_and_epochs(resumed_run):
    run_dir, summary = resumed_run
    log_dir = run_dir / "tensorboard"
    # the resumed segment replaced the first one's session: HParams shows the run as it is now
    assert len(list(log_dir.glob("*.hparams"))) == 1
    experiment, values, events = hparams_session(log_dir)
    assert values["epochs"] == summary["epochs"] == 2 and values["global_step"] == summary["global_step"]
    assert values["model.layers"] == "[144, 36, 9]" and values["data.K"] == 0.408
    differs = {info.name for info in experiment.hparam_infos if info.differs}
    assert {"data.L", "data.n", "model.layers", "model.epochs_per_layer", "epochs"} <= differs
    assert "data.K" not in differs and "threads" not in values  # not overridden; not what a run computes

    tags = [info.name.tag for info in experiment.metric_infos]
    scalars = set(events.Tags()["scalars"])
    assert set(tags) <= scalars  # HParams shows each tag's last value
    last = {tag: events.Scalars(tag)[-1].value for tag in tags}
    flow = summary["metrics"]["couplings"]["coupling_flow"]
    assert tags[0] == "couplings/follows_block_spin_flow"  # verdicts first, as 0/1
    assert last[tags[0]] == float(flow["follows_block_spin_flow"])
    for layer, row in enumerate(flow["layers"], start=1):
        assert last[f"couplings/layer{layer}/K/fitted"] == pytest.approx(row["K"], rel=1e-6)
        assert last[f"couplings/layer{layer}/K/majority"] == pytest.approx(row["K_majority"], rel=1e-6)
        assert f"couplings/layer{layer}/pull_K" in last
    block = summary["metrics"]["block_spin"]
    excess = last["block_spin/excess_over_control/layer2"]
    assert excess == pytest.approx(block["locality_excess_over_control"]["layer2"], rel=1e-6)
    assert {"block_spin/layer2/trained", "block_radius/layer2/control", "thermo/energy/model"} <= set(tags)
    # one separator, no final/ copies, no settings or constants, no quantity under two names
    assert not [tag for tag in tags if "." in tag or tag.startswith("final/")]
    assert not [tag for tag in tags if re.search(r"(^|/)(K0|h0|epoch|step|layer|ln2)$", tag)]
    assert not {"locality/layer1", "block_radius/layer1", "reconstruction_error/depth1"} & set(tags)
    physics = [value for value in last.values() if not float(value).is_integer()]
    assert len(physics) == len(set(physics))


class Reporting:
    """A callback reporting its final values for HParams."""

    def hparam_metrics(self) -> dict:
        return {"block_spin/layer1/trained": 0.123456789, "couplings/follows_flow": False}


def test_hparam_metrics_order_and_leave_out_settings_constants_and_copies():
    metrics = {
        "block_spin": {"locality_trained": {"layer1": 0.123456789}},  # the callback's own, as it reports
        "locality": {"layer1": 0.1234568},  # the model's float32 copy of the same value
        "ln2": 0.6931471805599453,
        "coupling": {"K0": 0.4, "h0": 0.0, "epoch": 3, "exact": {"K_c": 0.44}},
        "prior_K": [0.8, 0.4],
        "uniformity_per_variable": [0.9, 0.7],
        "same_sign": True,
        "filters": [[0.1, 0.2]],  # weights: left to summary.json
        "train/loss": 0.5,
        "train_loss": 0.5000000001,  # the model's copy of the logged train/loss
        "val_loss_min": 0.5,  # another quantity that happens to have the same value
        "rule": "plurality",
        "nan": float("nan"),
    }
    values, missing = training.hparam_metrics(metrics, {"block_spin": Reporting()}, logged={"train/loss"})
    assert list(values) == [
        "couplings/follows_flow",  # the callback's verdict
        "same_sign",  # the model's verdict
        "block_spin/layer1/trained",
        "prior_K/layer1",
        "prior_K/layer2",
        "uniformity/variable1",
        "uniformity/variable2",
        "train/loss",
        "val_loss_min",
    ]
    assert values["couplings/follows_flow"] is False
    assert missing == [tag for tag in values if tag != "train/loss"]


@pytest.fixture
def hydra_job():
    """Make the process look like a Hydra job with the given ``hydra`` settings (mode, sweep, overrides)."""
    from hydra.conf import HydraConf
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    def start(**settings):
        cfg = OmegaConf.create({"hydra": OmegaConf.merge(OmegaConf.structured(HydraConf), settings)})
        HydraConfig.instance().set_config(cfg)

    yield start
    HydraConfig.instance().cfg = None


def test_the_swept_settings_are_the_ones_that_differ(tmp_path, hydra_job):
    """TensorBoard shows the hparams marked as differing first: in a sweep the swept ones, not every
    override the jobs share."""
    from omegaconf import OmegaConf

    shared = ["experiment=mehta_schwab", "data.L=12", "model.layers=[144,36,9]"]
    sweep = {"overrides": {"task": [*shared, "data.K=0.3,0.408", "seed=range(3)"]}}
    OmegaConf.save(
        {"hydra": {**sweep, "sweeper": {"params": {"model.lr": "interval(0.01, 0.1)"}}}},
        tmp_path / "multirun.yaml",
    )
    cfg = training.compose_train([*shared, "data.K=0.3", "seed=1", f"paths.root_dir={tmp_path}"])
    hydra_job(
        mode="MULTIRUN", sweep={"dir": str(tmp_path)}, overrides={"task": [*shared, "data.K=0.3", "seed=1"]}
    )
    assert training._override_keys(cfg) == {"data.K", "seed", "model.lr"}
    hydra_job(mode="RUN", overrides={"task": [*shared, "data.K=0.3"]})  # one run: its overrides
    assert training._override_keys(cfg) == {"experiment", "data.L", "model.layers", "data.K"}


def test_run_names_put_the_physics_before_the_measurement_settings():
    """TensorBoard names a run by its directory and cuts long names: what a sweep varies (data, model,
    seed) comes first, callbacks.* last; the order of the command line does not matter."""
    from rgnet.runs.identity import run_id

    swept = ["callbacks.rg_measurement.levels=1", "seed=2", "model.lr=0.1", "data.K=0.3", "data.L=12"]
    assert run_id(swept) == "data.K=0.3,data.L=12,model.lr=0.1,seed=2,callbacks.rg_measurement.levels=1"
    assert run_id(swept[::-1]) == run_id(swept)
