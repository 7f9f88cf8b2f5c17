"""RSMI coarse-graining (Koch-Janusz & Ringel 2018): learning the majority-rule filter at K_c, the map itself
(majority rule, Boltzmann sampling, orientation), checks of the data and input, and MCRG with the map."""

from __future__ import annotations

import math
import warnings

import lightning
import pytest
import torch

from rgnet.contracts import ChecksDataModule, ReportsSummaryMetrics
from rgnet.data.ve_pairs import VEPairsDataModule
from rgnet.ising import K_CRITICAL
from rgnet.models.rsmi import RSMICoarseGrainer, uniformity
from rgnet.rg import majority_2d, mcrg_exponents

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

# 16 x 16 torus, 2 x 2 block, buffer 1, shell of width 2: dim_e = 6^2 ... (2 + 2 + 4)^2 - (2 + 2)^2 = 48
SHELL = {"geometry": "shell", "block": 2, "buffer": 1, "env_width": 2}
DIM_E = 48


def _pairs(cache, K: float, n: int = 600, **changes) -> VEPairsDataModule:
    fields = {**SHELL, "pairs_per_config": 8, "L": 16, "K": K, "n": n, "method": "swendsen_wang", "seed": 0}
    fields.update(changes)
    return VEPairsDataModule(cache, batch_size=256, progress=False, **fields)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("rsmi_cache")


def _fit(fit, dm: VEPairsDataModule, epochs: int, seed: int = 0, **model_args) -> RSMICoarseGrainer:
    """A new model of ``model_args`` trained by the ``fit_quietly`` fixture (tests/models/conftest.py)."""
    lightning.seed_everything(seed, verbose=False)  # the initial filter too
    return fit(RSMICoarseGrainer(dm.dim_e, **model_args), dm, epochs)


# ------------------------------------------------------------------------------------------ learning
@pytest.mark.parametrize(("relaxation", "tau_final"), [("concrete", None), ("straight_through", 0.25)])
def test_learns_uniform_filter_at_critical_point_and_nothing_at_infinite_temperature(
    cache, fit_quietly, relaxation: str, tau_final: float | None
) -> None:
    """At K_c the filter becomes uniform (majority rule) with I(H;E) a sizeable fraction of ln 2; at K = 0
    (independent spins) the same training finds no information. The thresholds separate the two cases: the
    K = 0 run would fail the K_c assertions (and a map that ignored the physics would fail both)."""
    model = _fit(fit_quietly, _pairs(cache, K_CRITICAL), epochs=4, relaxation=relaxation, tau_final=tau_final)
    summary = model.summary_metrics()
    assert summary["same_sign"] and summary["uniformity"] > 0.95
    assert 0.15 < summary["val_mi_bound"] <= summary["val_mi_bound_max"] < summary["ln2"]
    assert summary["ln2"] == pytest.approx(math.log(2.0))
    assert summary["tau"] == pytest.approx(0.5 if tau_final is None else tau_final)
    assert all(value >= 0 for value in model.filters().flatten())
    # negative control: no correlations, no information (the filter's direction is then arbitrary)
    control = _fit(fit_quietly, _pairs(cache, 0.0), epochs=4, relaxation=relaxation, tau_final=tau_final)
    assert abs(control.summary_metrics()["val_mi_bound"]) < 0.03


def test_environment_shuffled_against_the_block_carries_no_information(cache, fit_quietly) -> None:
    """The K_c pairs with E permuted across pairs (same marginals, no joint): the bound stays at zero, so the
    information found at K_c is the correlation of V with its own environment."""
    from torch.utils.data import TensorDataset

    dm = _pairs(cache, K_CRITICAL)
    dm.prepare_data()
    dm.setup()  # idempotent: fit below keeps the shuffled sets
    gen = torch.Generator().manual_seed(0)
    for name in ("train_set", "val_set"):
        v, e = getattr(dm, name).tensors
        setattr(dm, name, TensorDataset(v, e[torch.randperm(len(e), generator=gen)]))
    assert abs(_fit(fit_quietly, dm, epochs=4).summary_metrics()["val_mi_bound"]) < 0.03


# ------------------------------------------------------------------------------------------ the map
def _with_filter(weights: list[float], block: int = 2) -> RSMICoarseGrainer:
    model = RSMICoarseGrainer(DIM_E, block=block, n_hidden=1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([weights]))
    return model


def _random_spins(n: int, L: int, seed: int, dtype: torch.dtype = torch.int8) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (2 * torch.randint(0, 2, (n, L, L), generator=gen) - 1).to(dtype)


@pytest.mark.parametrize("value", [0.7, -0.3])  # a negative uniform filter is oriented to the positive one
@pytest.mark.parametrize("dtype", [torch.int8, torch.float32])
def test_uniform_filter_mean_sign_is_majority_rule(value: float, dtype: torch.dtype) -> None:
    spins = _random_spins(200, 8, seed=1, dtype=dtype)  # 3/8 of random 2 x 2 blocks are ties
    model = _with_filter([value] * 4)
    out = model.coarse_grain(spins, mode="mean_sign", generator=torch.Generator().manual_seed(5))
    expected = majority_2d(spins, 2, generator=torch.Generator().manual_seed(5))
    assert out.dtype == dtype and out.shape == (200, 4, 4)
    assert torch.equal(out, expected)
    # the same through block_spin_map, and a different coin stream changes only tied blocks
    transform = model.block_spin_map("mean_sign", torch.Generator().manual_seed(5))
    assert torch.equal(transform(spins), expected)
    other = model.coarse_grain(spins, mode="mean_sign", generator=torch.Generator().manual_seed(6))
    ties = spins.to(torch.int32).reshape(200, 4, 2, 4, 2).sum(dim=(2, 4)) == 0
    assert torch.equal(other[~ties], expected[~ties]) and not torch.equal(other[ties], expected[ties])


def test_block_layout_and_sample_mode_follow_boltzmann_probabilities() -> None:
    weights = [0.3, -0.2, 0.5, 0.1]  # row-major (0,0), (0,1), (1,0), (1,1) of each block
    model = _with_filter(weights)
    w = torch.tensor(weights)
    # four different blocks on a 4 x 4 lattice, each seen n times
    blocks = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [-1, 1, -1, -1], [-1, -1, 1, 1]], dtype=torch.int8)
    lattice = blocks.reshape(2, 2, 2, 2).permute(0, 2, 1, 3).reshape(4, 4)  # block (I, J) at (2I.., 2J..)
    n = 20000
    spins = lattice.expand(n, 4, 4)
    out = model.coarse_grain(spins, mode="sample", generator=torch.Generator().manual_seed(0))
    assert out.shape == (n, 2, 2) and set(out.unique().tolist()) <= {-1, 1}
    frequency = (out == 1).double().mean(dim=0).reshape(4)
    p = torch.sigmoid(2.0 * (blocks.double() @ w.double()))
    sigma = torch.sqrt(p * (1 - p) / n)
    assert bool(((frequency - p).abs() < 4 * sigma).all()), (frequency, p)
    # mean_sign: the sign of a = Lambda . v (no ties here)
    signs = model.coarse_grain(lattice[None], mode="mean_sign").reshape(4)
    assert torch.equal(signs, torch.sign(blocks.float() @ w).to(torch.int8))
    # reproducible from the generator
    again = model.coarse_grain(spins, mode="sample", generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_filters_are_oriented_to_non_negative_sums() -> None:
    model = _with_filter([-0.4, -0.1, 0.2, -0.5])
    filters = model.filters()
    assert filters.shape == (1, 2, 2) and filters.dtype == torch.float32
    assert torch.allclose(filters.reshape(-1), torch.tensor([0.4, 0.1, -0.2, 0.5]))
    assert float(filters.sum()) >= 0
    # the map (and MI) is the same for Lambda and -Lambda: both are oriented alike
    spins = _random_spins(50, 8, seed=2)
    flipped = _with_filter([0.4, 0.1, -0.2, 0.5])
    for mode in ("sample", "mean_sign"):
        a = model.coarse_grain(spins, mode=mode, generator=torch.Generator().manual_seed(3))
        b = flipped.coarse_grain(spins, mode=mode, generator=torch.Generator().manual_seed(3))
        assert torch.equal(a, b)
    # several variables, each oriented on its own; uniformity of |filter|
    many = RSMICoarseGrainer(DIM_E, n_hidden=2)
    with torch.no_grad():
        many.weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 1.0], [-1.0, -2.0, 0.5, 0.0]]))
    assert many.filters().reshape(2, 4).sum(dim=1).min() >= 0
    cosine, same_sign = uniformity(many.filters())
    assert cosine[0] == pytest.approx(1.0) and same_sign == [True, False]
    assert cosine[1] == pytest.approx(3.5 / (2 * math.sqrt(5.25)))


def test_summary_and_contracts() -> None:
    model = _with_filter([0.5, 0.5, 0.5, 0.5])
    assert isinstance(model, ChecksDataModule) and isinstance(model, ReportsSummaryMetrics)
    summary = model.summary_metrics()
    assert summary["ln2"] == pytest.approx(math.log(2.0)) and summary["uniformity"] == pytest.approx(1.0)
    assert summary["same_sign"] and summary["filters"] == [[[0.5, 0.5], [0.5, 0.5]]]


def test_the_bounds_in_the_summary_survive_a_resume() -> None:
    """A resumed run's summary keeps the best held-out bound of the epochs before the checkpoint."""
    model = _with_filter([0.5, 0.5, 0.5, 0.5])
    model._last = {"val_mi_bound": 0.3, "val_mi_bound_max": 0.4}
    checkpoint: dict = {}
    model.on_save_checkpoint(checkpoint)
    resumed = _with_filter([0.5, 0.5, 0.5, 0.5])
    resumed.on_load_checkpoint(checkpoint)
    assert resumed.summary_metrics()["val_mi_bound_max"] == 0.4
    assert "val_mi_bound_max" not in _with_filter([0.5, 0.5, 0.5, 0.5]).summary_metrics()  # nothing to keep


# ------------------------------------------------------------------------------------------ bad input
def test_data_that_does_not_fit_the_model_is_refused(tmp_path) -> None:
    dm = _pairs(tmp_path, K_CRITICAL)  # nothing is sampled before prepare_data
    RSMICoarseGrainer(DIM_E).check_datamodule(dm)
    with pytest.raises(ValueError, match=r"block=3.*data.block=3"):
        RSMICoarseGrainer(DIM_E, block=3).check_datamodule(dm)
    with pytest.raises(ValueError, match=r"dim_e=48 features but the model has dim_e=40"):
        RSMICoarseGrainer(40).check_datamodule(dm)
    slab = _pairs(tmp_path, K_CRITICAL, geometry="slab", block=2)
    with pytest.raises(ValueError, match=r"geometry='slab'.*geometry='shell'"):
        RSMICoarseGrainer(DIM_E).check_datamodule(slab)
    with pytest.raises(TypeError, match=r"RSMICoarseGrainer needs HasBlockPairs"):
        RSMICoarseGrainer(DIM_E).check_datamodule(object())
    assert not any(tmp_path.iterdir())  # refused before any data were made


def test_config_interpolates_block_and_dim_e_and_refuses_a_mismatch(tmp_path) -> None:
    from rgnet.runs import training
    from rgnet.runs.config import ConfigError

    base = ["~experiment", "data=ve_pairs", "model=rsmi", "data.geometry=shell", f"paths.root_dir={tmp_path}"]
    for changes in ([], ["data.block=3", "data.buffer=2", "data.env_width=3"]):
        parts = training.build(training.compose_train([*base, *changes]))
        model, dm = parts["model"], parts["datamodule"]
        assert isinstance(model, RSMICoarseGrainer)
        assert (model.block, model.dim_e) == (dm.block_shape[0], dm.dim_e)
    with pytest.raises(ConfigError, match=r"^model: .*dim_e"):
        training.build(training.compose_train([*base, "model.dim_e=41"]))
    with pytest.raises(ConfigError, match=r"^model: .*geometry='shell'"):
        training.build(training.compose_train([*base[:3], f"paths.root_dir={tmp_path}"]))  # slab by default
    assert not (tmp_path / ".rgnet_cache").exists()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"relaxation": "gumbel"}, ValueError, r"relaxation must be one of \['concrete', 'straight_thr"),
        ({"tau": 0.0}, ValueError, r"tau must be > 0"),
        ({"tau": -1.0}, ValueError, r"tau must be > 0, got -1.0"),
        ({"tau": None}, TypeError, r"tau must be a real number"),
        ({"tau_final": 0.0}, ValueError, r"tau_final must be > 0"),
        ({"block": 0}, ValueError, r"block must be >= 1"),
        ({"n_hidden": 1.5}, TypeError, r"n_hidden must be an integer"),
        ({"bound": "mine"}, ValueError, r"bound must be one of"),
        ({"critic_lr": 0.0}, ValueError, r"critic_lr must be > 0"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        RSMICoarseGrainer(DIM_E, **kwargs)


def test_bad_spins_are_refused() -> None:
    model = _with_filter([1.0] * 4)
    with pytest.raises(ValueError, match=r"spins must contain only \+1 and -1"):
        model.coarse_grain(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"b=2 must divide the linear size 5"):
        model.coarse_grain(torch.ones(2, 5, 5))
    with pytest.raises(ValueError, match=r"spins must have shape \(batch, L, L\)"):
        model.coarse_grain(torch.ones(4, 4))
    with pytest.raises(TypeError, match=r"spins must be a torch.Tensor"):
        model.coarse_grain([[1, -1], [1, 1]])
    with pytest.raises(TypeError, match=r"spins must be an integer or float tensor"):
        model.coarse_grain(torch.ones(1, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mode must be one of \['mean_sign', 'sample'\]"):
        model.block_spin_map("majority")
    with pytest.raises(ValueError, match=r"variable must be <= 0"):
        model.coarse_grain(torch.ones(1, 4, 4), variable=1)
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator"):
        model.coarse_grain(torch.ones(1, 4, 4), generator=0)
    with pytest.raises(ValueError, match=r"e must have shape \(batch, dim_e = 48\)"):
        model.information_bound(torch.ones(8, 4), torch.ones(8, 47))


# ------------------------------------------------------------------------------------------ MCRG
def test_rsmi_map_runs_in_mcrg_and_a_uniform_filter_reproduces_majority_rule() -> None:
    from rgnet.ising import sample_2d

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*autocorrelation.*")
        spins = sample_2d(L=8, K=K_CRITICAL, n=80, method="swendsen_wang", seed=0)
    model = _with_filter([0.5] * 4)
    rsmi = mcrg_exponents(spins, model.block_spin_map("mean_sign", torch.Generator().manual_seed(7)), 1)
    gen = torch.Generator().manual_seed(7)
    majority = mcrg_exponents(spins, lambda s: majority_2d(s, 2, generator=gen), 1)
    assert rsmi.sides == (8, 4) and rsmi.y_t and rsmi.y_h
    assert rsmi.y_t == majority.y_t and rsmi.y_h == majority.y_h
    # the sampled map runs too and gives finite exponents
    sampled = mcrg_exponents(spins, _with_filter([1.0, 0.9, 1.1, 1.0]).block_spin_map(), 1)
    assert all(math.isfinite(y) for y in sampled.y_h.values())
