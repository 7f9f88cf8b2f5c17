"""rgnet.runs.report on hand-made summaries: varying settings, CSV columns, experiment figures, bad input."""

from __future__ import annotations

import json

import pytest

from rgnet.runs.report import load_runs, make_report, varying_settings


def write_summary(directory, task, config, metrics, status="finished"):
    directory.mkdir(parents=True)
    summary = {"task_name": task, "status": status, "config": config, "metrics": metrics}
    (directory / "summary.json").write_text(json.dumps(summary))


def flow(K0, h0):
    layer = {"K": K0 / 2, "K_err": 0.01, "K_exact": K0 / 2, "h": h0 / 2, "h_err": 0.01, "h_exact": h0 / 2}
    return {
        "coupling_trajectories": {
            "coupling_chi2": 1.0 + K0,
            "exact_value": 0.25,  # equal in every run: left to the CSV
            "coupling_flow": {"K0": K0, "h0": h0, "layers": [layer]},
        }
    }


def test_coupling_flow_sweep_report(tmp_path):
    for K in (0.5, 1.0):
        config = {
            "data": {"K": K, "h": 0.0, "progress": True},
            "paths": {"root_dir": str(tmp_path)},
            "seed": 0,
        }
        write_summary(tmp_path / f"data.K={K}", "coupling_flow_1d", config, flow(K, 0.0))
    runs = load_runs(tmp_path)
    assert [run.name for run in runs] == ["data.K=0.5", "data.K=1.0"]
    assert varying_settings(runs) == ["data.K"]  # paths and data.progress never count
    report = make_report(tmp_path)
    names = sorted(path.name for path in report["figures"])
    assert "coupling_flows_K_h.png" in names
    assert "coupling_trajectories.coupling_chi2__vs__data.K.png" in names
    assert not any("exact_value" in name for name in names)
    header = (tmp_path / "report" / "report.csv").read_text().splitlines()[0].split(",")
    assert header[:3] == ["run", "status", "data.K"] and "coupling_trajectories.coupling_chi2" in header
    assert not report["failed"]


def test_missing_or_empty_sweep_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_runs(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no summary.json"):
        load_runs(tmp_path)


def test_unreadable_summary_is_reported_not_fatal(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "summary.json").write_text("{not json")
    write_summary(tmp_path / "ok", "toy", {"seed": 1}, {"x": 1.0})
    report = make_report(tmp_path)
    assert [run.name for run in report["failed"]] == ["broken"]
    assert "FAILED broken" in report["text"]


def test_export_tensorboard_images_writes_the_latest_png(tmp_path):
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    from rgnet.runs.report import export_tensorboard_images

    writer = SummaryWriter(tmp_path / "tb")
    for step, value in ((0, 0), (5, 255)):
        writer.add_image("filters/layer1", np.full((4, 6), value, dtype=np.uint8), step, dataformats="HW")
    writer.close()
    (path,) = export_tensorboard_images(tmp_path / "tb", tmp_path / "figures")
    assert path == tmp_path / "figures" / "filters__layer1.png"
    import matplotlib.image

    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (4, 6) and pixels.min() == 1.0  # the step-5 image (all white), not step 0
    assert export_tensorboard_images(tmp_path / "empty", tmp_path / "none") == []


def test_mehta_schwab_sweep_report_plots_locality_and_block_size_against_K(tmp_path):
    import matplotlib.image

    for K in (0.3, 0.4407, 0.6):
        layers = {"layer1": 0.1 + K, "layer2": 0.2 + K}
        metrics = {
            "locality": layers,
            "block_radius": {"layer1": 1.0 + K, "layer2": 2.0 + K},
            "block_spin": {
                "locality_trained": layers,
                "locality_control": {"layer1": 0.05, "layer2": 0.1},
                "block_radius_trained": {"layer1": 1.0 + K, "layer2": 2.0 + K},
                "block_radius_control": {"layer1": 3.0, "layer2": 3.2},
            },
        }
        write_summary(tmp_path / f"data.K={K}", "mehta_schwab", {"data": {"K": K, "L": 8}}, metrics)
    write_summary(tmp_path / "failed", "mehta_schwab", {"data": {"K": 0.5, "L": 8}}, {}, status="failed")
    report = make_report(tmp_path)
    figures = {path.name: path for path in report["figures"]}
    assert "mehta_schwab_locality_block_size_vs_K.png" in figures
    assert "block_spin.block_radius_trained.layer2__vs__data.K.png" in figures  # the generic ones still come
    assert "block_spin.block_radius_control.layer2__vs__data.K.png" not in figures  # equal in every run
    pixels = matplotlib.image.imread(figures["mehta_schwab_locality_block_size_vs_K.png"])
    assert pixels.shape[0] > 100 and pixels.shape[1] > 2 * pixels.shape[0] - 200  # two panels side by side
    # nothing to plot: no figure (the runs of another experiment, or no locality metrics)
    from rgnet.runs.report import FIGURES, load_runs

    other = tmp_path / "other"
    write_summary(other / "a", "mehta_schwab", {"data": {"K": 0.3}}, {"x": 1.0})
    assert FIGURES["mehta_schwab"](load_runs(other), tmp_path / "none") == []


def ib_metrics(beta, beta_c, on):
    last = {"i_vh": 0.4 * on, "i_he": 0.2 * on, "overlap_energy": 0.01}
    last["overlap_magnetization"] = 0.99 if on else 0.1
    return {"ib_relevance": {"beta": beta, "beta_c_exact": beta_c, "last": last}}


def test_ib_relevance_sweep_report(tmp_path):
    from rgnet.runs.report import ib_relevance_figure

    for beta in (1.0, 1.5, 2.0, 3.0):
        config = {"model": {"beta": beta}, "data": {"L": 8}, "seed": 0}
        metrics = ib_metrics(beta, 1.485, beta > 1.6)
        write_summary(tmp_path / f"model.beta={beta}", "ib_relevance_cylinder", config, metrics)
    write_summary(tmp_path / "failed", "ib_relevance_cylinder", {"model": {"beta": 9.0}}, {}, status="failed")
    report = make_report(tmp_path)
    names = sorted(path.name for path in report["figures"])
    assert "ib_relevance_cylinder_information_curve.png" in names
    assert "ib_relevance.last.i_vh__vs__model.beta.png" in names
    import matplotlib.image

    image = matplotlib.image.imread(tmp_path / "report" / "ib_relevance_cylinder_information_curve.png")
    assert image.ndim == 3
    # no finished run with an information curve point: no figure, no error
    unfinished = [run for run in load_runs(tmp_path) if run.status != "finished"]
    assert ib_relevance_figure(unfinished, tmp_path) == []


def rg_measurement(y_t: float, y_h: float) -> dict:
    levels = [{"level": n, "y_t": y_t, "y_t_err": 0.01, "y_h": y_h, "y_h_err": 0.002} for n in (1, 2)]
    matching = [{"level": 2, "operator": "nn", "y_t": y_t, "y_t_err": 0.02, "y_h": y_h, "y_h_err": 0.003}]
    flow = [{"K0": 0.44, "levels": [{"level": 1, "converged": True, "K": 0.4, "K2": 0.05, "Kp": 0.0}]}]
    one_map = {"mcrg": {"levels": levels}, "matching": {"levels": matching}, "flow": flow}
    return {"rg_measurement": {"learned": one_map, "majority": one_map}}


def test_rg_measurement_report_averages_exponents_over_seeds(tmp_path):
    from rgnet.runs.report import _seed_averaged

    for seed, y_t in ((0, 0.9), (1, 1.1)):
        write_summary(tmp_path / f"seed={seed}", "rsmi", {"seed": seed}, rg_measurement(y_t, 1.875))
    report = make_report(tmp_path)
    names = {path.name for path in report["figures"]}
    assert {"rg_exponents_per_level.png", "rg_flow_K_K2.png"} <= names
    averaged = _seed_averaged([run.summary["metrics"]["rg_measurement"] for run in report["runs"]])
    level = averaged["learned"]["mcrg"]["levels"][0]
    assert level["y_t"] == pytest.approx(1.0) and level["y_t_err"] == pytest.approx(0.1)  # std 0.141 / sqrt 2
    single = _seed_averaged([report["runs"][0].summary["metrics"]["rg_measurement"]])
    assert single["learned"]["matching"]["levels"][0]["y_t_err"] == 0.02  # one run: its own error
