"""TensorBoard as a user sees it after rgnet-train: one TensorBoard run per rgnet run (event files in
``<run dir>/tensorboard``, also after a resume), one tag per series, overlaid by a custom-scalars layout."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2

from rgnet.runs import training

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

#: A tiny mehta_schwab run (tests/runs/test_experiments.py sizes), without the slow end-of-fit measurements.
TINY = [
    "experiment=mehta_schwab",
    "data.L=12",
    "data.n=128",
    "model.layers=[144,36,9]",
    "model.epochs_per_layer=1",
    "~callbacks.rg_measurement",
    "~callbacks.couplings",
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


def test_one_tensorboard_run_with_canonical_tags_and_overlay_layout(tmp_path):
    cfg = training.compose_train([*TINY, f"paths.root_dir={tmp_path}", "trainer.max_epochs=1"])
    run_dir = Path(cfg.output_dir)
    assert training.run(cfg, run_dir)["status"] == "finished"
    # resumed for the second layer's epoch: appends to the same TensorBoard run
    cfg = training.compose_train([*TINY, f"paths.root_dir={tmp_path}"])
    summary = training.run(cfg, run_dir)
    assert summary["resumed_from"] is not None
    # the images are exported from the fixed directory (rgnet.runs.report.export_tensorboard_images)
    assert run_dir / "figures" / "filters__layer2.png" in map(Path, summary["figures"])

    assert event_dirs(run_dir) == [run_dir / "tensorboard"]
    events = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0}
    ).Reload()
    scalars = events.Tags()["scalars"]
    # each value is written once: no tag holds two points at one step (also across the resume; the final/*
    # metrics of each rgnet-train call sit at its own last step)
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
    }
    for chart, names in series.items():
        assert {f"{chart}/{name}" for name in names} <= set(scalars)
    assert [e.step for e in events.Scalars("block_spin/layer2/trained")] == [4]  # logged once, after resume

    charts = layout(events)
    assert set(charts) == {"block_spin", "block_radius", "thermo"}
    assert set(charts["block_spin"]) == {"layer1", "layer2"}
    for chart, names in series.items():
        category, title = chart.split("/")
        (regex,) = charts[category][title]
        overlaid = {tag for tag in scalars if re.search(regex, tag)}
        assert overlaid == {f"{chart}/{name}" for name in names}


def test_logger_writes_into_the_run_directory_itself(tmp_path):
    cfg = training.compose_train(["experiment=mehta_schwab", f"paths.root_dir={tmp_path}"])
    logger = instantiate(cfg.logger.tensorboard)
    assert Path(logger.log_dir) == Path(cfg.output_dir) / "tensorboard"
