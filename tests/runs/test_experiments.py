"""Every experiment in conf/experiment composes, validates, and runs end to end (fast_dev_run) on the CPU.

SMOKE holds, per experiment, overrides that shrink its data so that the run takes seconds; a new experiment
without an entry fails test_every_experiment_has_a_smoke_setting on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rgnet.runs import training
from rgnet.runs.config import ConfigError, config_dir

EXPERIMENTS = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))

#: small data and measurement of the RSMI experiments (Ising and Potts alike)
RSMI_SMOKE = [
    "data.L=16",
    "data.n=200",
    "data.progress=false",
    "callbacks.rg_measurement.L=16",
    "callbacks.rg_measurement.n=400",
    "callbacks.rg_measurement.levels=1",
]

SMOKE: dict[str, list[str]] = {
    "coupling_flow_1d": ["data.N=16", "data.n=256", "data.n_heldout=128", "model.n_layers=2"],
    "mehta_schwab": [
        "data.L=12",
        "data.n=128",
        "data.method=wolff",
        "model.layers=[144,36,9]",
        "callbacks.rg_measurement.levels=1",
        "callbacks.rg_measurement.n=400",
    ],
    "rsmi": [*RSMI_SMOKE, "callbacks.rg_measurement.starts=[0.0]"],
    "rsmi_potts": [*RSMI_SMOKE, "callbacks.rg_measurement.fractions=[0.5]"],
    "ib_relevance": ["data.L=8", "data.n=64", "data.batch_size=32", "data.progress=false"],
    "ib_relevance_cylinder": ["data.L=4", "data.n=600", "data.batch_size=64"],
    "ib_relevance_cylinder_even": ["data.L=4", "data.n=600", "data.batch_size=64"],
    "ib_relevance_potts": ["data.L=3", "data.n=600", "data.batch_size=64"],
    "ib_relevance_potts_invariant": ["data.L=3", "data.n=600", "data.batch_size=64"],
    "ib_relevance_potts_torus": ["data.L=4", "data.n=100", "data.batch_size=64", "data.progress=false"],
}


def test_every_experiment_has_a_smoke_setting():
    assert EXPERIMENTS, "no experiments in conf/experiment"
    assert set(EXPERIMENTS) <= set(SMOKE), f"add smoke overrides for {sorted(set(EXPERIMENTS) - set(SMOKE))}"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_composes_and_validates_with_its_defaults(experiment, tmp_path):
    cfg = training.compose_train([f"experiment={experiment}", f"paths.root_dir={tmp_path}"])
    assert cfg.task_name == experiment
    assert cfg.optimized_metric is not None
    parts = training.build(cfg)  # instantiates data module, model, callbacks: cheap, nothing sampled
    assert parts["model"] is not None and parts["datamodule"] is not None
    assert Path(cfg.output_dir) == tmp_path / "outputs" / experiment / "default"
    assert not (tmp_path / "outputs").exists() and not (tmp_path / ".rgnet_cache").exists()


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_fast_dev_run(experiment, tmp_path):
    overrides = [
        f"experiment={experiment}",
        f"paths.root_dir={tmp_path}",
        "debug=fast_dev_run",
        *SMOKE[experiment],
    ]
    cfg = training.compose_train(overrides)
    summary = training.run(cfg, cfg.output_dir)
    assert summary["status"] == "finished" and summary["global_step"] == 1
    assert (Path(cfg.output_dir) / "summary.json").is_file()


def _configurations(cfg) -> Path:
    """The cached dataset file of the configurations ``cfg``'s data module is made of (generated now)."""
    from rgnet.data import dataset_path

    dm = training.build(cfg)["datamodule"]
    spins = getattr(dm, "spins", dm)  # (V, E) pairs are cut from an IsingDataModule
    spins.prepare_data()
    return dataset_path(spins.cache_dir, spins.config)


#: experiments whose data are 2D configurations, generated or read from a dataset file (data.path)
FILE_EXPERIMENTS = [e for e in EXPERIMENTS if "path" in training.compose_train([f"experiment={e}"]).data]


@pytest.mark.parametrize("experiment", FILE_EXPERIMENTS)
def test_every_2d_experiment_trains_on_a_dataset_file(experiment, tmp_path):
    """rgnet-sample output given as data.path: read, not generated into the cache; a file of
    another coupling is refused before any work, naming data.K and the file's value."""
    import shutil

    smoke = [f"experiment={experiment}", "debug=fast_dev_run", *SMOKE[experiment]]
    made = _configurations(training.compose_train([*smoke, f"paths.root_dir={tmp_path / 'make'}"]))
    file = shutil.copy(made, tmp_path / "mine.npz")
    root = tmp_path / "use"
    cfg = training.compose_train([*smoke, f"paths.root_dir={root}", f"data.path={file}"])
    assert training.run(cfg, cfg.output_dir)["status"] == "finished"
    assert not list(root.rglob(made.name))  # read from the file, not generated (measurements make their own)
    other = training.compose_train([*smoke, f"paths.root_dir={root}", f"data.path={file}", "data.K=0.3"])
    with pytest.raises(ConfigError, match=r"^data: data\.K=0\.3, but the dataset file .* holds K="):
        training.build(other)
    if training.compose_train([f"experiment={experiment}"]).data._target_.endswith("from_fields"):
        assert "path" in training.compose_train([*smoke, "data=ising2d_file", f"data.path={file}"]).data


def test_data_groups_that_are_no_dataset_file_say_so(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.path belongs to data=ising2d, potts2d and ve_pairs"):
        training.compose_train(["experiment=ib_relevance_cylinder", "data.path=x.npz"])
    for experiment in ("rsmi", "ib_relevance"):
        cfg = training.compose_train(
            [
                f"experiment={experiment}",
                "data=ising2d_file",
                f"data.path={tmp_path}",
                f"paths.root_dir={tmp_path}",
            ]
        )
        with pytest.raises(
            ConfigError, match=r"belong to \(V, E\) pairs .* keep the experiment's data group"
        ):
            training.build(cfg)


def test_model_that_does_not_fit_the_data_is_refused_before_sampling(tmp_path):
    cfg = training.compose_train(
        ["experiment=coupling_flow_1d", f"paths.root_dir={tmp_path}", "model.n_visible=32"]
    )
    with pytest.raises(ConfigError, match=r"^model: the data has chains of N=64 spins"):
        training.build(cfg)


def test_sampler_group_sets_how_the_data_are_sampled(tmp_path):
    cfg = training.compose_train(
        ["experiment=mehta_schwab", "sampler=swendsen_wang", f"paths.root_dir={tmp_path}"]
    )
    assert cfg.data.method == "swendsen_wang" and cfg.data.L == 40  # the experiment's data, another sampler
    chains = training.compose_train(
        ["experiment=coupling_flow_1d", "sampler=wolff", f"paths.root_dir={tmp_path}"]
    )
    with pytest.raises(ConfigError, match="^data: .*method"):  # 1D chains are sampled exactly
        training.build(chains)


HINTON = ["experiment=mehta_schwab", "model=rbm_stack_hinton"]


def test_hinton_recipe_composes_over_mehta_schwab(tmp_path):
    stack = training.build(training.compose_train([*HINTON, f"paths.root_dir={tmp_path}"]))["model"]
    assert stack.layers == [1600, 400, 100, 25]
    assert (stack.epochs_per_layer, stack.propagate) == (200, "mean")
    recipe = ("binary", 1, False, 0.1, 2e-4, 0.0)  # units, CD-k, PCD, lr, L2 weight cost, L1
    for rbm in stack.rbms:
        assert (rbm.units, rbm.k, rbm.persistent, rbm.lr, rbm.weight_decay, rbm.l1) == recipe
        assert [rbm.momentum_at(epoch) for epoch in (0, 4, 5, 199)] == [0.5, 0.5, 0.9, 0.9]
    default = training.build(training.compose_train([HINTON[0], f"paths.root_dir={tmp_path}"]))["model"]
    assert [default.rbms[0].momentum_at(epoch) for epoch in (0, 5)] == [0.5, 0.5]  # negative control
    assert (default.rbms[0].lr, default.rbms[0].l1, default.propagate) == (0.05, 2e-4, "sample")


def test_hinton_recipe_trains_a_tiny_stack(tmp_path):
    tiny = [*SMOKE["mehta_schwab"], "model.epochs_per_layer=1", "callbacks.block_spin.control=none"]
    no_figures = ["~callbacks.filters", "~callbacks.reconstructions", "~callbacks.thermodynamics"]
    overrides = [
        *HINTON,
        *tiny,
        *no_figures,
        f"paths.root_dir={tmp_path}",
        "data.progress=false",
        "threads=1",
    ]
    cfg = training.compose_train(overrides)
    assert cfg.trainer.max_epochs == 2
    summary = training.run(cfg, cfg.output_dir)
    assert summary["status"] == "finished" and summary["global_step"] == 4  # 2 layers x 1 epoch x 2 batches
    assert set(summary["metrics"]["block_radius"]) == {"layer1", "layer2"}


@pytest.mark.parametrize(
    ("experiment", "override", "message"),
    [
        ("rsmi", "callbacks.rg_measurement.L=60", "need L divisible by b\\*\\*levels = 16"),
        ("rsmi", "callbacks.rg_measurement.levels=6", "last side >= 4, got L=64"),
        ("rsmi", "callbacks.rg_measurement.fractions=[0.3]", "fractions: 0.3 of the last small side 4 "),
        ("rsmi", "callbacks.rg_measurement.mode=mean", "mode must be one of"),
        (
            "rsmi_potts",
            "callbacks.rg_measurement.matching=true",
            "matching and the coupling flow are Ising-only",
        ),
        (
            "rsmi_potts",
            "callbacks.rg_measurement.reference=majority",
            "reference must be 'plurality' or 'none'",
        ),
        ("rsmi_potts", "callbacks.rg_measurement.method=checkerboard", "method must be one of"),
        ("rsmi_potts", "data.block=3", r"block=3 dividing L.*set callbacks.rg_measurement.L \(and levels\)"),
        ("rsmi", "callbacks.rg_measurement.reference=plurality", "reference must be 'majority' or 'none'"),
    ],
)
def test_a_measurement_that_cannot_run_is_refused_before_any_data(experiment, override, message, tmp_path):
    cfg = training.compose_train([f"experiment={experiment}", f"paths.root_dir={tmp_path}", override])
    with pytest.raises(ConfigError, match=f"^callbacks.rg_measurement: .*{message}"):
        training.run(cfg, cfg.output_dir)
    assert not (tmp_path / "outputs").exists() and not (tmp_path / ".rgnet_cache").exists()


def test_a_potts_model_on_ising_data_is_refused_before_any_data(tmp_path):
    cfg = training.compose_train(["experiment=rsmi_potts", f"paths.root_dir={tmp_path}", "model.q=null"])
    with pytest.raises(ConfigError, match=r"^model: .*data's blocks have q=3"):
        training.run(cfg, cfg.output_dir)
    assert not (tmp_path / ".rgnet_cache").exists()
