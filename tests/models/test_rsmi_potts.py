"""RSMI on q-state Potts blocks: the plurality rule learned at K_c (nothing at K = 0), the map's exact
relation to the Ising one (q = 2) and to the plurality rule, Boltzmann sampling of colours, S_q covariance,
and the checks of data and input."""

from __future__ import annotations

import math

import lightning
import pytest
import torch

from rgnet.data.ve_pairs import VEPairsDataModule
from rgnet.ib.operators import one_hot_blocks
from rgnet.models.rsmi import RSMICoarseGrainer
from rgnet.potts import potts_critical_coupling
from rgnet.rg import mcrg_exponents, plurality_2d

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

# 2 x 2 block, buffer 1, shell of width 2: 48 sites, q one-hot features each
SHELL = {"geometry": "shell", "block": 2, "buffer": 1, "env_width": 2}
SITES_E = 48


def _pairs(cache, K: float, q: int = 3, **changes) -> VEPairsDataModule:
    fields = {**SHELL, "pairs_per_config": 8, "L": 16, "K": K, "n": 600, "method": "swendsen_wang", "seed": 0}
    fields |= {"q": q, "storage": "int8", **changes}
    return VEPairsDataModule(cache, batch_size=256, progress=False, **fields)


def _fit(fit, dm: VEPairsDataModule, epochs: int, **model_args) -> RSMICoarseGrainer:
    """A new Potts model of ``model_args`` trained by the ``fit_quietly`` fixture (conftest.py)."""
    lightning.seed_everything(0, verbose=False)  # the initial filter too
    return fit(RSMICoarseGrainer(dm.dim_e, q=dm.q, **model_args), dm, epochs)


def _with_filter(weights: list[float], q: int = 3) -> RSMICoarseGrainer:
    model = RSMICoarseGrainer(q * SITES_E, block=2, q=q)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([weights]))
    return model


def _random_colours(n: int, L: int, q: int, seed: int) -> torch.Tensor:
    return torch.randint(0, q, (n, L, L), generator=torch.Generator().manual_seed(seed)).to(torch.int8)


# ------------------------------------------------------------------------------------------ learning
@pytest.mark.parametrize("relaxation", ["concrete", "straight_through"])
def test_learns_the_plurality_rule_at_the_critical_point_and_nothing_at_infinite_temperature(
    tmp_path, fit_quietly, relaxation: str
) -> None:
    """At K_c of q = 3 the filter becomes uniform and positive (the plurality rule, not a minority rule) with
    I(H;E) a sizeable fraction of ln 3; at K = 0 the same training finds no information (the negative
    control would fail the K_c assertions)."""
    model = _fit(fit_quietly, _pairs(tmp_path, potts_critical_coupling(3)), epochs=4, relaxation=relaxation)
    summary = model.summary_metrics()
    assert summary["uniformity"] > 0.95 and summary["same_sign"]
    assert bool((model.filters() > 0).all()) and summary["rule"] == "plurality"
    assert summary["ln_q"] == pytest.approx(math.log(3.0))
    assert 0.3 < summary["val_mi_bound"] <= summary["val_mi_bound_max"] < math.log(3.0)
    control = _fit(fit_quietly, _pairs(tmp_path, 0.0), epochs=4, relaxation=relaxation)
    assert abs(control.summary_metrics()["val_mi_bound"]) < 0.03


def test_the_minority_rule_is_a_worse_optimum_than_the_plurality_rule(tmp_path, fit_quietly) -> None:
    """Frozen uniform filters of either sign, only the critic trained: the plurality rule's colour carries
    far more about the environment than the minority rule's (the second optimum random starts can reach),
    and the summary names each."""
    dm = _pairs(tmp_path, potts_critical_coupling(3))
    bounds = {}
    for sign in (1.0, -1.0):
        frozen = _with_filter([2.0 * sign] * 4)
        frozen.weight.requires_grad_(False)
        summary = fit_quietly(frozen, dm, 4, seed=0).summary_metrics()
        bounds[summary["rule"]] = summary["val_mi_bound_max"]
    assert set(bounds) == {"plurality", "minority"}
    assert bounds["plurality"] > 1.5 * bounds["minority"] > 0.1, bounds
    assert _with_filter([1.0, -1.0, 1.0, 1.0]).summary_metrics()["rule"] == "mixed"


# ------------------------------------------------------------------------------------------ the map
def test_two_colours_are_the_ising_map_with_colour_0_as_spin_up() -> None:
    """q = 2: P(h = colour 0 | v) = sigmoid(2 Lambda . s) with s = 1 - 2 colour, the Ising model's."""
    torch.manual_seed(0)
    ising = RSMICoarseGrainer(SITES_E, block=2)
    potts = RSMICoarseGrainer(2 * SITES_E, block=2, q=2)
    with torch.no_grad():
        potts.weight.copy_(ising.weight)
    colours = torch.randint(0, 2, (500, 4))
    p_potts = torch.softmax(2.0 * potts(one_hot_blocks(colours, 2)), dim=-1)[:, 0, 0]
    p_ising = torch.sigmoid(2.0 * ising((1 - 2 * colours).float()))[:, 0]
    assert torch.allclose(p_potts, p_ising, atol=1e-6)


@pytest.mark.parametrize("q", [3, 4])
def test_uniform_filter_mean_sign_is_the_plurality_rule(q: int) -> None:
    colours = _random_colours(300, 8, q, seed=1)  # many tied 2 x 2 blocks
    model = _with_filter([0.7] * 4, q)
    out = model.coarse_grain(colours, mode="mean_sign", generator=torch.Generator().manual_seed(5))
    expected = plurality_2d(colours, 2, q, generator=torch.Generator().manual_seed(5))
    assert out.dtype == torch.int8 and out.shape == (300, 4, 4) and torch.equal(out, expected)
    # another generator changes the tied blocks only
    other = model.coarse_grain(colours, mode="mean_sign", generator=torch.Generator().manual_seed(6))
    counts = torch.nn.functional.one_hot(colours.long(), q).reshape(300, 4, 2, 4, 2, q).sum(dim=(2, 4))
    ties = (counts == counts.amax(dim=-1, keepdim=True)).sum(dim=-1) > 1
    assert torch.equal(other[~ties], expected[~ties]) and not torch.equal(other[ties], expected[ties])


def test_a_negative_filter_is_kept_and_is_a_minority_rule() -> None:
    """Lambda -> -Lambda is no symmetry of a Potts map: the filter is not re-oriented, and a negative
    uniform filter picks the least frequent colour of the block."""
    model = _with_filter([-0.5] * 4)
    assert bool((model.filters() < 0).all())
    colours = torch.tensor([[0, 0], [0, 1]], dtype=torch.int8)[None]  # counts 3, 1, 0: colour 2 is rarest
    assert int(model.coarse_grain(colours, mode="mean_sign")) == 2
    assert int(_with_filter([0.5] * 4).coarse_grain(colours, mode="mean_sign")) == 0


def test_sample_mode_draws_colours_with_boltzmann_probabilities() -> None:
    weights = torch.tensor([0.4, -0.3, 0.6, 0.2])  # row-major (0,0), (0,1), (1,0), (1,1)
    model = _with_filter(weights.tolist())
    blocks = torch.tensor([[0, 0, 1, 2], [1, 2, 2, 2], [2, 1, 0, 0], [0, 1, 1, 0]], dtype=torch.int8)
    lattice = blocks.reshape(2, 2, 2, 2).permute(0, 2, 1, 3).reshape(4, 4)  # block (I, J) at (2I.., 2J..)
    n = 20000
    out = model.coarse_grain(
        lattice.expand(n, 4, 4), mode="sample", generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (n, 2, 2)
    frequency = torch.nn.functional.one_hot(out.reshape(n, 4).long(), 3).double().mean(dim=0)  # (4, 3)
    fields = torch.nn.functional.one_hot(blocks.long(), 3).double().transpose(1, 2) @ weights.double()
    p = torch.softmax(2.0 * fields, dim=-1)
    sigma = torch.sqrt(p * (1 - p) / n)
    assert bool(((frequency - p).abs() < 4 * sigma).all()), (frequency, p)
    # power check: the probabilities of the opposite filter are far outside these error bars
    assert bool(((frequency - torch.softmax(-2.0 * fields, dim=-1)).abs() > 10 * sigma).any())
    again = model.coarse_grain(
        lattice.expand(n, 4, 4), mode="sample", generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(out, again)


def test_the_fields_are_covariant_under_colour_permutations() -> None:
    model = _with_filter([0.4, -0.3, 0.6, 0.2])
    colours = torch.randint(0, 3, (64, 4), generator=torch.Generator().manual_seed(2))
    permutation = torch.tensor([2, 0, 1])
    fields = model(one_hot_blocks(colours, 3))  # (64, 1, 3)
    permuted = model(one_hot_blocks(permutation[colours], 3))
    assert torch.equal(permuted[..., permutation], fields)


def test_codes_are_one_hot_colours_and_relaxed_codes_are_distributions() -> None:
    model = _with_filter([0.4, -0.3, 0.6, 0.2])
    v = one_hot_blocks(torch.randint(0, 3, (32, 4), generator=torch.Generator().manual_seed(3)), 3)
    hard = model.sample_codes(v, hard=True)
    assert hard.shape == (32, 3) and set(hard.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(hard.sum(dim=1), torch.ones(32))
    soft = model.sample_codes(v)
    assert bool((soft > 0).all()) and torch.allclose(soft.sum(dim=1), torch.ones(32))


def test_uniform_potts_filter_in_mcrg_reproduces_the_plurality_rule() -> None:
    colours = _random_colours(80, 8, 3, seed=4)
    model = _with_filter([0.5] * 4)
    learned = mcrg_exponents(
        colours, model.block_spin_map("mean_sign", torch.Generator().manual_seed(7)), 1, q=3
    )
    gen = torch.Generator().manual_seed(7)
    plurality = mcrg_exponents(colours, lambda s: plurality_2d(s, 2, 3, generator=gen), 1, q=3)
    assert learned.y_t == plurality.y_t and learned.y_h == plurality.y_h


# ------------------------------------------------------------------------------------------ bad input
def test_data_and_inputs_that_do_not_fit_a_potts_model_are_refused(tmp_path) -> None:
    K_c = potts_critical_coupling(3)
    potts_data, ising_data = _pairs(tmp_path, K_c), _pairs(tmp_path, 0.44, q=None, storage="bits")
    RSMICoarseGrainer(3 * SITES_E, q=3).check_datamodule(potts_data)
    with pytest.raises(ValueError, match=r"data's blocks have q=3 \(one-hot\) but the model has q=None"):
        RSMICoarseGrainer(3 * SITES_E).check_datamodule(potts_data)
    with pytest.raises(ValueError, match=r"q=None \(\+-1 spins\) but the model has q=3.*model.q"):
        RSMICoarseGrainer(3 * SITES_E, q=3).check_datamodule(ising_data)
    with pytest.raises(ValueError, match=r"dim_e=144 features but the model has dim_e=48.*times q"):
        RSMICoarseGrainer(SITES_E, q=3).check_datamodule(potts_data)
    assert not any(tmp_path.iterdir())  # refused before any data were made
    with pytest.raises(ValueError, match=r"dim_e=50 is not a multiple of q=3"):
        RSMICoarseGrainer(50, q=3)
    with pytest.raises(ValueError, match=r"q must be >= 2"):
        RSMICoarseGrainer(48, q=1)
    model = _with_filter([1.0] * 4)
    v, e = one_hot_blocks(torch.zeros(8, 4, dtype=torch.int64), 3), torch.zeros(8, 3 * SITES_E)
    with pytest.raises(ValueError, match=r"v must have shape \(batch, q \* block\^2 = 12\)"):
        model.information_bound(v[:, :4], e)
    with pytest.raises(ValueError, match=r"e is not one-hot over q=3 colours"):
        model.information_bound(v, e)
    with pytest.raises(ValueError, match=r"colours 0..2|0 and 2|values"):
        model.coarse_grain(torch.full((2, 4, 4), 3, dtype=torch.int8))
    with pytest.raises(ValueError, match=r"block=2 dividing L"):
        model.coarse_grain(torch.zeros(2, 5, 5, dtype=torch.int8))
