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


@pytest.fixture
def shown_figures(monkeypatch) -> dict:
    """The axes of every figure the report saves, by file name (the files are still written)."""
    import rgnet.runs.report as report_module

    shown: dict = {}
    save = report_module.save_figure

    def keep_axes(figure, path):
        shown[path.name] = figure.axes
        return save(figure, path)

    monkeypatch.setattr(report_module, "save_figure", keep_axes)
    return shown


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


def test_export_tensorboard_images_writes_the_latest_png(tmp_path, caplog):
    import logging

    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    from rgnet.runs.report import export_tensorboard_images

    writer = SummaryWriter(tmp_path / "tb")
    for step, value in ((0, 0), (5, 255)):
        writer.add_image("filters/layer1", np.full((4, 6), value, dtype=np.uint8), step, dataformats="HW")
    writer.close()
    with caplog.at_level(logging.INFO):
        (path,) = export_tensorboard_images(tmp_path / "tb", tmp_path / "figures")
    assert not [r for r in caplog.records if r.name.startswith("tensorboard")]  # no reader chatter in logs
    assert logging.getLogger("tensorboard").level == logging.NOTSET  # its level given back
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


def test_legends_name_only_the_settings_that_tell_the_curves_apart_and_cover_no_curve(
    tmp_path, shown_figures
):
    """A Potts IB sweep over two encoders whose lr and init_std change with the encoder: one label per
    encoder (``encoder=pairs``), no lockstep settings; the legends sit below the axes."""
    from rgnet.runs.report import distinguishing_settings

    for encoder, lr in (("linear", 0.003), ("pairs", 0.01)):
        for beta in (1.0, 2.0, 3.0):
            config = {"model": {"beta": beta, "encoder": encoder, "lr": lr, "init_std": lr * 100}, "seed": 0}
            write_summary(
                tmp_path / f"{encoder}{beta}",
                "ib_relevance_potts_torus",
                config,
                ib_metrics(beta, 1.2, beta > 1.5),
            )
    keys = ["model.encoder", "model.init_std", "model.lr"]
    assert distinguishing_settings([run.settings for run in load_runs(tmp_path)], keys) == ["model.encoder"]
    text = make_report(tmp_path)["text"]
    # the printed table too: lockstep settings named once above it, the metrics (not references) after
    assert "(not shown: model.init_std, model.lr, which change with the settings shown" in text
    header = text.splitlines()[2].split()
    assert header[:3] == ["model.beta", "model.encoder", "finished"]
    assert "ib_relevance.beta_c_exact" not in header[:6]
    info_axes, overlap_axes = shown_figures["ib_relevance_potts_torus_information_curve.png"]
    labels = [text.get_text() for text in info_axes.get_legend().get_texts()]
    assert "encoder=pairs: I(H;V)" in labels and not any("lr=" in label for label in labels)
    figure = info_axes.figure
    figure.canvas.draw()
    for axes in (info_axes, overlap_axes):
        legend_box = axes.get_legend().get_window_extent()
        assert legend_box.y1 < axes.get_window_extent().y0  # below the x axis, over no curve


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


def test_seeds_that_learned_different_rules_are_never_averaged_together(tmp_path, shown_figures):
    """rsmi_potts seeds end in the plurality or the minority optimum (the summary's ``rule``): the groups and
    the exponents figures keep them apart; a failed seed has no rule."""
    from rgnet.runs.report import group_replicates

    for seed, rule, y_t in ((0, "plurality", 1.18), (1, "minority", 2.4), (2, "plurality", 1.20)):
        metrics = {**rg_measurement(y_t, 1.87), "rule": rule}
        write_summary(tmp_path / f"seed={seed}", "rsmi_potts", {"seed": seed}, metrics)
    write_summary(tmp_path / "seed=3", "rsmi_potts", {"seed": 3}, {}, status="failed")
    groups, settings, replicate_keys = group_replicates(load_runs(tmp_path))
    assert settings == ["rule"] and replicate_keys == ["seed"]
    by_rule = {group.settings["rule"]: group for group in groups}
    assert set(by_rule) == {"minority", "plurality", None}
    assert by_rule["plurality"].replicates(replicate_keys) == "seed=0,2"
    assert [run.name for run in by_rule[None].runs] == ["seed=3"]
    report = make_report(tmp_path)
    names = {path.name for path in report["figures"]}
    assert {f"rg_exponents_per_level__rule={rule}.png" for rule in ("minority", "plurality")} <= names
    assert "rg_exponents_per_level.png" not in names
    # the plurality figure's learned y_t is the mean of 1.18 and 1.20 alone (the minority 2.4 left out)
    (learned_y_t, *_) = shown_figures["rg_exponents_per_level__rule=plurality.png"]
    ys = [y for line in learned_y_t.get_lines() for y in line.get_ydata()]
    assert any(y == pytest.approx(1.19) for y in ys) and not any(y > 2.0 for y in ys)
    rows = report["text"].splitlines()
    assert {"minority", "plurality"} <= {row.split()[0] for row in rows if row.strip()}


def replicate_sweep(root):
    """data.K = 0.5, 1.0 x seeds 0-2 (data.seed follows the seed), a K = 2.0 run with one seed and a failed
    K = 1.0 seed: x, a verdict ``on`` and ``y`` (missing in one K = 0.5 run) with known values."""
    x = {
        (0.5, 0): 1.0,
        (0.5, 1): 2.0,
        (0.5, 2): 4.0,
        (1.0, 0): 3.0,
        (1.0, 1): 3.0,
        (1.0, 2): 6.0,
        (2.0, 0): 5.0,
    }
    on = {(0.5, 0): True, (0.5, 1): False, (0.5, 2): True}
    for (K, seed), value in x.items():
        metrics = {"fit": {"x": value, "on": on.get((K, seed), True)}, "same": 0.25}
        if (K, seed) != (0.5, 2):
            metrics["y"] = 10.0 * K + seed
        config = {"data": {"K": K, "seed": seed, "progress": False}, "seed": seed, "paths": {"log_dir": "x"}}
        write_summary(root / f"data.K={K},seed={seed}", "toy", config, metrics)
    config = {"data": {"K": 1.0, "seed": 3, "progress": False}, "seed": 3}
    write_summary(root / "data.K=1.0,seed=3", "toy", config, {}, status="failed")


def test_replicate_groups_mean_standard_error_and_count(tmp_path):
    import math

    from rgnet.runs.report import group_replicates

    replicate_sweep(tmp_path)
    groups, settings, replicate_keys = group_replicates(load_runs(tmp_path))
    assert settings == ["data.K"] and replicate_keys == ["data.seed", "seed"]
    assert [group.settings for group in groups] == [{"data.K": 0.5}, {"data.K": 1.0}, {"data.K": 2.0}]
    low, high, single = groups
    assert [len(g.runs) for g in groups] == [3, 4, 1] and [len(g.finished) for g in groups] == [3, 3, 1]
    x = low.stats["fit.x"]  # 1, 2, 4: sample variance 7/3
    assert x.mean == pytest.approx(7 / 3) and x.sem == pytest.approx(math.sqrt(7 / 9)) and x.count == 3
    x = high.stats["fit.x"]  # 3, 3, 6 (the failed seed 3 is not averaged in): variance 3
    assert (x.mean, x.count) == (4.0, 3) and x.sem == pytest.approx(1.0)
    assert (single.stats["fit.x"].mean, single.stats["fit.x"].sem, single.stats["fit.x"].count) == (
        5.0,
        None,
        1,
    )
    on = low.stats["fit.on"]
    assert on.boolean and on.mean == pytest.approx(2 / 3) and on.count == 3 and on.sem is None
    assert high.stats["fit.on"].mean == 1.0
    assert low.stats["y"].count == 2 and low.stats["y"].mean == pytest.approx(5.5)  # seeds 0, 1 only
    assert low.replicates(replicate_keys) == "data.seed=0,1,2; seed=0,1,2"


def test_replicates_in_the_csv_markdown_and_printed_table(tmp_path, capsys):
    import csv
    import math

    from rgnet.cli.report import main

    replicate_sweep(tmp_path)
    assert main([str(tmp_path)]) == 1  # a run failed
    out = capsys.readouterr().out
    report = tmp_path / "report"
    with open(report / "replicates.csv", newline="") as handle:
        rows = {row["data.K"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"0.5", "1.0", "2.0"}
    low, high, single = rows["0.5"], rows["1.0"], rows["2.0"]
    assert float(low["fit.x.mean"]) == pytest.approx(7 / 3)
    assert float(low["fit.x.sem"]) == pytest.approx(math.sqrt(7 / 9)) and low["fit.x.count"] == "3"
    assert (high["runs"], high["finished"], high["replicates"]) == ("4", "3", "data.seed=0,1,2; seed=0,1,2")
    assert float(high["fit.x.sem"]) == pytest.approx(1.0)
    assert (single["fit.x.mean"], single["fit.x.sem"], single["fit.x.count"]) == ("5.0", "", "1")
    assert float(low["fit.on.fraction_true"]) == pytest.approx(2 / 3) and low["fit.on.count"] == "3"
    assert "fit.on.mean" not in low and "fit.x.fraction_true" not in low
    with open(report / "report.csv", newline="") as handle:  # one row per run, as before replicates
        per_run = list(csv.DictReader(handle))
    assert len(per_run) == 8 and {row["status"] for row in per_run} == {"finished", "failed"}
    # printed once (not also logged), and the same table in report.md
    assert out.count("data.K=1.0: 3 of 4 seeds finished; not averaged: data.K=1.0,seed=3 (failed)") == 1
    assert out.count("FAILED data.K=1.0,seed=3") == 1 and out.count("7 of 8 runs finished") == 1
    table = out.splitlines()
    header = next(line for line in table if line.startswith("data.K"))
    assert out.count(header) == 1 and header.split()[:2] == ["data.K", "finished"]
    line = {row.split()[0]: row for row in table if row[:3] in ("0.5", "1.0", "2.0")}
    assert "3 of 3" in line["0.5"] and "2.33 ± 0.88" in line["0.5"] and "2/3 true" in line["0.5"]
    assert "5.50 ± 0.50 (n=2)" in line["0.5"]  # y: only two runs have it
    assert "3 of 4" in line["1.0"] and "4.0 ± 1.0" in line["1.0"] and "3/3 true" in line["1.0"]
    # one run: its values; the verdict first, then the metrics that differ between groups, the constant last
    assert line["2.0"].split() == ["2.0", "1", "of", "1", "1/1", "true", "5", "20", "0.25"]
    markdown = (report / "report.md").read_text()
    assert "| 0.5 | 3 of 3 |" in markdown and "2.33 ± 0.88" in markdown
    assert "- data.K=1.0: 3 of 4 seeds finished" in markdown and "- FAILED data.K=1.0,seed=3" in markdown


def test_replicate_figures_plot_group_means_with_error_bars(tmp_path, shown_figures):
    import math

    from matplotlib.container import ErrorbarContainer

    replicate_sweep(tmp_path)
    shown = shown_figures
    report = make_report(tmp_path)
    names = {path.name for path in report["figures"]}
    assert "fit.x__vs__data.K.png" in names
    assert not any("seed" in name.split("__vs__")[1] for name in names)  # seeds are replicates, not an axis
    assert not any(name.startswith(("same", "fit.on")) for name in names)  # constant; a verdict
    (axes,) = shown["fit.x__vs__data.K.png"]
    (container,) = axes.containers  # one curve: the seeds are averaged
    assert isinstance(container, ErrorbarContainer) and container.has_yerr
    line, _, (bars,) = container.lines
    assert list(line.get_xdata()) == [0.5, 1.0, 2.0]
    assert line.get_ydata() == pytest.approx([7 / 3, 4.0, 5.0])
    segments = bars.get_segments()  # one bar per point with a standard error; none for the single run
    half = [(segment[1][1] - segment[0][1]) / 2 for segment in segments if len(segment)]
    assert half == pytest.approx([math.sqrt(7 / 9), 1.0])
    assert "n = 1-3" in axes.get_title()


def test_experiment_figures_average_seeds_with_error_bars(tmp_path, shown_figures):
    shown = shown_figures
    for K in (0.3, 0.6):
        for seed in (0, 1):
            layers = {"layer1": 0.1 + K + 0.1 * seed}
            metrics = {"locality": layers, "block_radius": {"layer1": 1.0 + K}}
            write_summary(
                tmp_path / "ms" / f"K={K},s={seed}", "mehta_schwab", {"data": {"K": K}, "seed": seed}, metrics
            )
    for beta in (1.0, 2.0):
        for seed in (0, 1, 2):
            config = {"model": {"beta": beta}, "seed": seed}
            metrics = ib_metrics(beta, 1.485, beta > 1.6)
            metrics["ib_relevance"]["last"]["i_vh"] += 0.01 * seed
            write_summary(tmp_path / "ib" / f"b={beta},s={seed}", "ib_relevance", config, metrics)
    make_report(tmp_path / "ms")
    locality = shown["mehta_schwab_locality_block_size_vs_K.png"][0]
    (container,) = locality.containers
    assert container.has_yerr and container.lines[0].get_ydata() == pytest.approx([0.45, 0.75])
    make_report(tmp_path / "ib")
    info = shown["ib_relevance_information_curve.png"][0]
    assert len(info.containers) == 2  # I(H;V) and I(H;E): one curve each over the three seeds
    i_vh = info.containers[0]
    assert i_vh.has_yerr and i_vh.lines[0].get_ydata() == pytest.approx([0.01, 0.41])
    assert "over seeds" in info.get_title()


def test_mean_sem():
    from rgnet.runs.report import mean_sem

    assert mean_sem([2.0]).sem is None and mean_sem([2.0]).count == 1
    assert mean_sem([1.0, 3.0]).sem == pytest.approx(1.0)
    with pytest.raises(ValueError, match="values"):
        mean_sem([])


def test_format_stat():
    from rgnet.runs.report import Stat, format_stat

    assert format_stat(Stat(12345.4, 67.0, 3), 3) == "12345 ± 67"
    assert format_stat(Stat(0.51234, 0.0123, 3), 3) == "0.512 ± 0.012"
    assert format_stat(Stat(1.0, 0.0, 2), 2) == "1 ± 0"  # identical replicates
    assert format_stat(Stat(0.25, None, 1), 3) == "0.25 (n=1)"
    assert format_stat(Stat(0.5, None, 4, boolean=True), 4) == "2/4 true"
    assert format_stat(None, 3) == ""


def test_printed_table_shows_the_physics_first(tmp_path, capsys):
    """Columns: the optimized metric, verdicts, physics (differing between runs first), training curves,
    then constants and settings; a model's copy of a callback's measurement is shown once."""
    from rgnet.cli.report import main

    for K, locality in ((0.3, 0.2), (0.4, 0.5)):
        metrics = {
            "ln2": 0.6931471805599453,
            "rg_measurement": {"exact": {"K_c": 0.4407, "y_t": 1.0}, "learned": {"y_t": 0.9 + K}},
            "block_spin": {"locality_trained": {"layer1": locality}, "locality_excess": {"layer1": K / 7}},
            "locality": {"layer1": locality},  # the model's copy of the callback's value
            "couplings": {"K0": K, "follows_flow": True},
            "train/loss": 1.0 - K,
            "a_constant_result": 0.125,
        }
        config = {"data": {"K": K}, "seed": 0, "optimized_metric": "block_spin.locality_excess.layer1"}
        write_summary(tmp_path / f"data.K={K}", "toy", config, metrics)
    assert main([str(tmp_path)]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("data.K")).split()
    assert header[:5] == [
        "data.K",
        "finished",
        "block_spin.locality_excess.layer1",  # the experiment's optimized metric
        "couplings.follows_flow",  # a verdict
        "block_spin.locality_trained.layer1",  # physics that differs between the runs
    ]
    assert (
        header.index("rg_measurement.learned.y_t")
        < header.index("a_constant_result")
        < header.index("train/loss")
    )
    assert "locality.layer1" not in header  # the same values as block_spin.locality_trained.layer1
    markdown = (tmp_path / "report" / "report.md").read_text().splitlines()[4]
    columns = [cell.strip() for cell in markdown.strip("|").split("|")]
    assert columns[:3] == ["data.K", "finished", "block_spin.locality_excess.layer1"]
    constants = ("ln2", "couplings.K0", "rg_measurement.exact.y_t", "rg_measurement.exact.K_c")
    assert set(columns[-4:]) == set(constants)  # settings and constants last
