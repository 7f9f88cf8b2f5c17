"""RBMStack: greedy layer-wise training across blocks of epochs, resume across layers, effective fields and
summary metrics, argument and data checks."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable

import lightning
import pytest
import torch

from rgnet.models.rbm_stack import RBMStack
from rgnet.models.rbm_training import batch_loader

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def stack_trainer(tmp_path, epochs: int) -> lightning.Trainer:
    checkpoint = lightning.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)
    return lightning.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[checkpoint],
    )


def test_stack_trains_one_layer_per_block_of_epochs_and_resumes_across_layers(tmp_path, spin_data):
    data = spin_data(200, 16)
    torch.manual_seed(0)
    stack = RBMStack([16, 8, 4], epochs_per_layer=2, lr=0.05, l1=1e-4)
    assert stack.total_epochs == 4
    w0, w1 = stack.rbms[0].W.detach().clone(), stack.rbms[1].W.detach().clone()
    trainer = stack_trainer(tmp_path, 2)
    trainer.fit(stack, batch_loader(data, 50, True), batch_loader(data[:100], 50, False))
    assert not torch.equal(stack.rbms[0].W.detach(), w0)
    torch.testing.assert_close(stack.rbms[1].W.detach(), w1)  # the second layer has not started
    w0_trained = stack.rbms[0].W.detach().clone()
    resumed = RBMStack([16, 8, 4], epochs_per_layer=2, lr=0.05, l1=1e-4)
    trainer = stack_trainer(tmp_path, 4)
    trainer.fit(
        resumed,
        batch_loader(data, 50, True),
        batch_loader(data[:100], 50, False),
        ckpt_path=tmp_path / "last.ckpt",
    )
    torch.testing.assert_close(resumed.rbms[0].W.detach(), w0_trained)  # frozen after its block
    assert not torch.equal(resumed.rbms[1].W.detach(), w1)
    assert trainer.global_step == 16
    fields = resumed.effective_fields()
    assert [tuple(f.shape) for f in fields] == [(8, 16), (4, 16)]
    torch.testing.assert_close(fields[1], (resumed.rbms[0].W @ resumed.rbms[1].W).t().detach())
    summary = resumed.summary_metrics()
    assert set(summary["locality"]) == {"layer1", "layer2"}
    assert set(summary["block_radius"]) == {"layer1", "layer2"}
    assert 0.0 < summary["block_radius"]["layer1"] <= (15 / 6) ** 0.5 + 1e-6  # at most the uniform field's
    assert set(summary["reconstruction_error"]) == {"depth1", "depth2"}
    assert math.isfinite(summary["layer1_log_likelihood"]) and summary["layer1_log_z_error"] == 0.0
    recon = resumed.reconstruct(data[:5], 2)
    assert recon.shape == (5, 16) and bool((recon.abs() <= 1).all())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"layers": [16]}, "layers must be a list"),
        ({"layers": [16, 0]}, r"layers\[1\] must be >= 1"),
        ({"epochs_per_layer": 0}, "epochs_per_layer must be >= 1"),
        ({"propagate": "both"}, "propagate must be one of"),
        ({"k": 0}, "k must be >= 1"),
        ({"l1": -2e-4}, "l1 must be >= 0"),
    ],
)
def test_stack_rejects_bad_arguments(kwargs, match):
    args = {"layers": [16, 8, 4], **kwargs}
    with pytest.raises(ValueError, match=match):
        RBMStack(**args)


def test_stack_warns_when_max_epochs_does_not_cover_every_layer(spin_data):
    data = spin_data(100, 16)
    for epochs, match in ((2, "deeper layers are never trained"), (5, "top layer trains longer")):
        trainer = lightning.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            limit_train_batches=1,
        )
        with pytest.warns(UserWarning, match=match):
            trainer.fit(RBMStack([16, 8, 4], epochs_per_layer=2), batch_loader(data, 50, True))


def test_stack_rejects_data_of_the_wrong_size_before_training():
    stack = RBMStack([16, 8])
    with pytest.raises(ValueError, match="n_visible=16"):
        stack.training_step(torch.ones(4, 25), 0)


def test_stack_refuses_a_datamodule_of_another_lattice_size_at_fit_start(tmp_path):
    from rgnet.data.datamodule import IsingDataModule

    dm = IsingDataModule.from_fields(cache_dir=tmp_path, L=6, K=0.3, n=20, method="wolff")
    trainer = lightning.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    with pytest.raises(ValueError, match=r"layers\[0\] = 16 does not match the data's L\*L = 36"):
        trainer.fit(RBMStack([16, 4]), datamodule=dm)


def test_momentum_schedule_restarts_with_every_layer(spin_data, momenta_callback):
    momenta = momenta_callback()
    trainer = lightning.Trainer(
        max_epochs=6,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[momenta],
    )
    stack = RBMStack(
        [16, 8, 4], epochs_per_layer=3, momentum=0.5, final_momentum=0.9, momentum_switch_epoch=1
    )
    trainer.fit(stack, batch_loader(spin_data(100, 16), 50, True))
    per_epoch = [0.5, 0.9, 0.9, 0.5, 0.9, 0.9]  # layer 1: epochs 0-2, layer 2: epochs 3-5
    assert momenta.steps == [(e, m) for e, m in enumerate(per_epoch) for _ in range(2)]


# ---------------------------------------------------------------- the stack as a block-spin map (MCRG)
L_MAP = 16  # 16 -> 8 -> 4: two levels of b = 2


@pytest.fixture(scope="module")
def critical_spins() -> torch.Tensor:
    """256 Swendsen-Wang configurations of the 16 x 16 torus at K_c (short fixed burn-in), int8 +-1."""
    from rgnet import ising

    with warnings.catch_warnings():  # tau_int of 4 kept sweeps per chain is an underestimate: not used here
        warnings.simplefilter("ignore", RuntimeWarning)
        return ising.sample_2d(
            L=L_MAP,
            K=ising.K_CRITICAL,
            n=256,
            method="swendsen_wang",
            seed=0,
            chains=64,
            burn_in=20,
            thinning=2,
        )


def hand_built_stack(rule: str, units: str, seed: int = 0) -> RBMStack:
    """A stack 16x16 -> 8x8 -> 4x4 whose layers are exact b = 2 decimation (site (2I, 2J) of each block) or
    majority rule (the sum of the 2 x 2 block; ties are exact zeros of the input), with its units in a random
    order and a random half of them anti-aligned (unit = -block spin), so the map must place and orient them.
    Weights 1000 make every non-tied unit deterministic in float32."""
    sides = [L_MAP, L_MAP // 2, L_MAP // 4]
    stack = RBMStack([m * m for m in sides], units=units)
    gen = torch.Generator().manual_seed(seed)
    site_prev, flip_prev = torch.arange(L_MAP * L_MAP), torch.ones(L_MAP * L_MAP)
    block = [(0, 0)] if rule == "decimation" else [(0, 0), (0, 1), (1, 0), (1, 1)]
    for rbm, (m_in, m) in zip(stack.rbms, itertools.pairwise(sides), strict=True):
        rule_matrix = torch.zeros(m_in * m_in, m * m)  # lattice order: (fine site, coarse site)
        for I in range(m):
            for J in range(m):
                for a, c in block:
                    rule_matrix[(2 * I + a) * m_in + 2 * J + c, I * m + J] = 1000.0
        site = torch.randperm(m * m, generator=gen)  # unit u sits at coarse site site[u]
        flip = torch.where(torch.rand(m * m, generator=gen) < 0.5, -1.0, 1.0)
        W = flip_prev[:, None] * flip[None, :] * rule_matrix[site_prev][:, site]
        with torch.no_grad():  # binary units see 2 W on {0, 1}: the same input as W on +-1
            rbm.W.copy_(W if units == "spin" else 2.0 * W)
            rbm.c.copy_(torch.zeros(m * m) if units == "spin" else -W.sum(0))
        site_prev, flip_prev = site, flip
    return stack


def mcrg_numbers(spins: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor]) -> dict:
    """y_t and y_h by (level, truncation) of two levels of ``transform``, three even and one odd operator."""
    from rgnet.rg import mcrg_exponents

    result = mcrg_exponents(
        spins, transform, 2, even=("nn", "nnn", "plaquette"), odd=("magnetization",), n_blocks=8
    )
    return {"y_t": result.y_t, "y_h": result.y_h}


@pytest.mark.parametrize("units", ["spin", "binary"])
def test_hand_built_decimation_and_majority_stacks_give_the_mcrg_numbers_of_the_block_rules(
    critical_spins, units
):
    from rgnet.rg import decimate_spins_2d, majority_2d

    spins = critical_spins
    decimation = hand_built_stack("decimation", units)
    reference = mcrg_numbers(spins, lambda s: decimate_spins_2d(s, 2))
    for mode in ("sample", "mean_sign"):
        block_map = decimation.block_spin_map(mode, torch.Generator().manual_seed(1))
        assert block_map.placement_errors == pytest.approx([0.5**0.5 / 2, 1.5 * 2**0.5 / 4])
        assert torch.equal(block_map(spins), decimate_spins_2d(spins, 2))
        assert mcrg_numbers(spins, block_map) == reference
    majority = hand_built_stack("majority", units, seed=1)
    generator = torch.Generator().manual_seed(2)
    reference = mcrg_numbers(spins, lambda s: majority_2d(s, 2, generator=generator))
    generator.manual_seed(2)
    assert mcrg_numbers(spins, majority.block_spin_map("mean_sign", generator)) == reference  # same coins
    # negative controls: sampled ties use other random numbers; decimation is another map
    sampled = majority.block_spin_map("sample", torch.Generator().manual_seed(2))(spins)
    rule = majority_2d(spins, 2, seed=2)
    ties = spins.to(torch.int32).reshape(-1, 8, 2, 8, 2).sum(dim=(2, 4)) == 0
    assert torch.equal(sampled[~ties], rule[~ties]) and not torch.equal(sampled[ties], rule[ties])
    assert (
        mcrg_numbers(spins, majority.block_spin_map("sample", torch.Generator().manual_seed(2))) != reference
    )
    assert mcrg_numbers(spins, decimation.block_spin_map()) != reference


def test_block_spin_map_is_one_pass_up_the_stack_placed_on_the_lattice_and_reproducible(critical_spins):
    from rgnet.rg import assign_to_lattice

    torch.manual_seed(0)
    stack = RBMStack([256, 64, 16], units="binary", init_std=0.3)
    spins = critical_spins[:50]
    block_map = stack.block_spin_map(generator=torch.Generator().manual_seed(3))
    level1 = block_map(spins)
    level2 = block_map(level1)
    assert level1.shape == (50, 8, 8) and level2.shape == (50, 4, 4) and level2.dtype == torch.int8
    assert bool(((level1 == 1) | (level1 == -1)).all()) and bool(((level2 == 1) | (level2 == -1)).all())
    assert block_map.sides == [16, 8, 4]
    outputs = stack.layer_outputs(spins.reshape(50, -1).float(), generator=torch.Generator().manual_seed(3))
    orders = [assign_to_lattice(p, L_MAP)[0] for p in stack.layer_positions()]
    assert torch.equal(level1.float(), outputs[0][:, orders[0]].reshape(50, 8, 8))  # same random stream
    assert torch.equal(level2.float(), outputs[1][:, orders[1]].reshape(50, 4, 4))
    again = stack.block_spin_map(generator=torch.Generator().manual_seed(3))
    assert torch.equal(again(spins), level1)
    assert not torch.equal(stack.block_spin_map(generator=torch.Generator().manual_seed(4))(spins), level1)
    mean_sign = stack.block_spin_map("mean_sign")
    assert torch.equal(mean_sign(spins), mean_sign(spins))  # no ties: deterministic
    pre = stack.rbms[0].hidden_input(stack.rbms[0].to_units(spins.reshape(50, -1).float()))
    expected = torch.sign(pre * stack.unit_orientations()[0])[:, orders[0]].reshape(50, 8, 8)
    assert torch.equal(mean_sign(spins).float(), expected)


@pytest.mark.parametrize(
    "spins, error, match",
    [
        ([[1, -1]], TypeError, "spins must be a torch.Tensor"),
        (torch.ones(3, 256), ValueError, r"spins must have shape \(batch >= 1, m, m\)"),
        (torch.ones(3, 16, 8), ValueError, r"spins must have shape \(batch >= 1, m, m\)"),
        (torch.ones(3, 4, 4), ValueError, r"no layer maps side 4; the layers map sides \[16, 8\]"),
        (torch.ones(3, 12, 12), ValueError, "no layer maps side 12"),
        (torch.zeros(3, 16, 16), ValueError, "must hold only"),
    ],
)
def test_block_spin_map_rejects_bad_input(spins, error, match):
    block_map = RBMStack([256, 64, 16]).block_spin_map()
    with pytest.raises(error, match=match):
        block_map(spins)


@pytest.mark.parametrize(
    "layers, kwargs, error, match",
    [
        ([256, 64], {"mode": "mean"}, ValueError, "mode must be one of"),
        ([256, 64], {"generator": 0}, TypeError, "generator must be a torch.Generator"),
        ([250, 25], {}, ValueError, "needs a square lattice"),
        ([256, 32], {}, ValueError, "layer 1 has 32 units"),
        ([256, 64, 36], {}, ValueError, "layer 2 has 36 units"),
    ],
)
def test_block_spin_map_rejects_stacks_and_options_it_cannot_map(layers, kwargs, error, match):
    with pytest.raises(error, match=match):
        RBMStack(layers).block_spin_map(**kwargs)
