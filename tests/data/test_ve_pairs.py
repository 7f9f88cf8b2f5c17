"""(V, E) pair geometry, validation and batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rgnet.data.ve_pairs import VEPairsDataModule, ve_site_indices


@pytest.mark.parametrize("block, buffer, env_width", [(2, 1, 2), (3, 0, 1), (1, 2, 1)])
def test_shell_geometry(block: int, buffer: int, env_width: int) -> None:
    L = 10
    v, e = ve_site_indices(L, "shell", block, buffer, env_width)
    inner = block + 2 * buffer
    assert v.numel() == block**2 and e.numel() == (inner + 2 * env_width) ** 2 - inner**2
    assert not set(v.tolist()) & set(e.tolist())
    rv, cv, re, ce = v // L, v % L, e // L, e % L
    # every E site is more than `buffer` (Chebyshev) away from every V site, and some are at buffer + 1
    dist = torch.maximum((re[:, None] - rv[None]).abs(), (ce[:, None] - cv[None]).abs()).min(dim=1).values
    assert int(dist.min()) == buffer + 1 and int(dist.max()) == buffer + env_width


def test_slab_geometry() -> None:
    v, e = ve_site_indices(8, "slab", 2, 1, 3)
    assert sorted(set((v // 8).tolist())) == [0, 1] and sorted(set((e // 8).tolist())) == [3, 4, 5]


def test_geometry_validation() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        ve_site_indices(8, "shell", 5, 1, 1)
    with pytest.raises(ValueError, match="overlap"):
        ve_site_indices(8, "shell", 2, -1, 1)
    with pytest.raises(ValueError, match="does not fit"):
        ve_site_indices(8, "slab", 3, 2, 2)
    with pytest.raises(ValueError, match="geometry"):
        ve_site_indices(8, "disc", 2, 1, 1)
    with pytest.raises(ValueError, match="env_width"):
        ve_site_indices(8, "shell", 2, 1, 0)
    with pytest.raises(ValueError, match="block"):
        ve_site_indices(8, "shell", 0, 1, 1)


def test_constructor_validates_before_sampling(tmp_path) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        VEPairsDataModule(tmp_path, block=6, buffer=1, env_width=1, L=8, K=0.3, n=10, method="wolff")
    with pytest.raises(ValueError, match="unknown data field"):
        VEPairsDataModule(tmp_path, L=8, K=0.3, n=10, method="wolff", colour="red")
    assert not any(tmp_path.iterdir())  # nothing generated


def test_pairs_from_a_dataset(tmp_path) -> None:
    dm = VEPairsDataModule(
        tmp_path,
        geometry="shell",
        block=2,
        buffer=1,
        env_width=1,
        pairs_per_config=3,
        L=8,
        K=0.3,
        n=20,
        method="wolff",
        seed=0,
        batch_size=8,
        val_fraction=0.25,
    )
    assert (dm.dim_v, dm.dim_e) == (4, 36 - 16)
    dm.prepare_data()
    dm.setup()
    v, e = next(iter(dm.train_dataloader()))
    assert v.shape == (8, 4) and e.shape == (8, 20) and v.dtype == torch.float32
    assert bool(((v == 1) | (v == -1)).all()) and bool(((e == 1) | (e == -1)).all())
    assert len(dm.train_set) == 15 * 3 and len(dm.val_set) == 5 * 3
    # the cut is the configuration rolled to a random offset, read at the geometry's sites
    spins = dm.spins.train_set.spins[:1]
    gen = torch.Generator().manual_seed(5)
    cut = dm._cut(spins, gen)
    gen = torch.Generator().manual_seed(5)
    offsets = torch.randint(0, 8, (3, 2), generator=gen)
    rolled = torch.roll(spins[0], shifts=(-int(offsets[1, 0]), -int(offsets[1, 1])), dims=(0, 1)).reshape(-1)
    assert torch.equal(cut.tensors[0][1], rolled[dm.v_index].float())
    assert torch.equal(cut.tensors[1][1], rolled[dm.e_index].float())


def test_cylinder_pairs_with_vib_and_callback() -> None:
    import lightning

    from rgnet.callbacks.ib import IBRelevance
    from rgnet.data.ve_pairs import CylinderPairsDataModule
    from rgnet.models.vib import VIBEncoder

    with pytest.raises(ValueError, match="separation"):
        CylinderPairsDataModule(L=4, K=0.4, separation=0)
    with pytest.raises(ValueError, match="val_fraction"):
        CylinderPairsDataModule(L=4, K=0.4, n=10, val_fraction=0.01)
    dm = CylinderPairsDataModule(L=4, K=0.44, separation=2, n=1000, batch_size=100)
    torch.manual_seed(0)
    model = VIBEncoder(dm.dim_v, dm.dim_e, beta=3.0)
    callback = IBRelevance()
    trainer = lightning.Trainer(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
        enable_progress_bar=False,
        callbacks=[callback],
    )
    trainer.fit(model, datamodule=dm)
    v, e = dm.train_set.tensors
    assert v.shape == (900, 4) and e.shape == (900, 4)
    summary = callback.summary_metrics()
    assert summary["last"]["epoch"] == 0
    # the exact first IB transition of these pairs sits next to the model's beta
    from rgnet.ib.cylinder import ising_cylinder_ib

    exact = ising_cylinder_ib(4, 0.44, 1, 1, 2, betas=np.geomspace(1.0, 20.0, 20))
    assert summary["beta_c_exact"] == pytest.approx(exact.beta_c, rel=1e-6)
    assert summary["beta"] == 3.0 and summary["beta_over_beta_c_exact"] == pytest.approx(3.0 / exact.beta_c)


def test_slab_reference_beta_c_is_the_matching_cylinder(tmp_path) -> None:
    from rgnet.data.ve_pairs import VEPairsDataModule
    from rgnet.ib.cylinder import predicted_beta_c

    fields = {"L": 6, "K": 0.4, "h": 0.1, "n": 16, "method": "wolff", "seed": 0, "batch_size": 8}
    fields["progress"] = False
    slab = VEPairsDataModule(tmp_path, geometry="slab", block=2, buffer=1, env_width=1, **fields)
    reference = slab.reference_beta_c()
    assert reference["beta_c_exact"] == pytest.approx(predicted_beta_c(6, 0.4, 2, 0.1), rel=1e-12)
    assert reference["beta_c_exact_geometry"] == "cylinder"
    # V and E single rows: the exact value of this very 6 x 6 torus (E sees V both ways round)
    rings = VEPairsDataModule(tmp_path, geometry="slab", block=1, buffer=1, env_width=1, **fields)
    reference = rings.reference_beta_c()
    assert reference["beta_c_exact_geometry"] == "torus"
    assert reference["beta_c_exact"] == pytest.approx(predicted_beta_c(6, 0.4, 2, 0.1, rows=6), rel=1e-12)
    assert reference["beta_c_exact"] < 0.95 * predicted_beta_c(6, 0.4, 2, 0.1)
    shell = VEPairsDataModule(tmp_path, geometry="shell", block=2, buffer=1, env_width=1, **fields)
    assert shell.reference_beta_c() == {}
    assert not any(tmp_path.iterdir())  # nothing sampled


def test_pairs_are_flat_vectors_only(tmp_path) -> None:
    with pytest.raises(ValueError, match="shape='image': \\(V, E\\) pairs are served as flat vectors"):
        VEPairsDataModule(tmp_path, geometry="slab", L=6, K=0.4, n=16, shape="image")


def test_training_set_smaller_than_a_batch_is_an_error():
    from rgnet.data.ve_pairs import CylinderPairsDataModule

    dm = CylinderPairsDataModule(L=3, K=0.3, n=40, batch_size=64)
    with pytest.raises(ValueError, match="fewer than batch_size=64"):
        dm.setup()


def test_potts_pairs_are_one_hot_cuts_of_the_colours(tmp_path) -> None:
    """q = 3 Potts data: V and E are the one-hot (colour-major) colours of the cut's sites; the reference is
    the q = 3 cylinder's (all operators and the S_3-invariant sector); a VIB for Ising blocks is refused."""
    from rgnet.ib.operators import one_hot_blocks
    from rgnet.models.vib import VIBEncoder
    from rgnet.potts import potts_critical_coupling, potts_predicted_beta_c

    K = potts_critical_coupling(3)
    fields = dict(L=6, K=K, n=40, method="swendsen_wang", q=3, storage="int8", batch_size=16, progress=False)
    dm = VEPairsDataModule(tmp_path, geometry="slab", block=1, buffer=1, env_width=2, **fields)
    assert (dm.dim_v, dm.dim_e) == (18, 36)
    reference = dm.reference_beta_c()
    assert reference["beta_c_exact"] == pytest.approx(potts_predicted_beta_c(6, 3, K, 2), rel=1e-12)
    assert reference["beta_c_exact_symmetric"] == pytest.approx(
        potts_predicted_beta_c(6, 3, K, 2, invariant=True), rel=1e-12
    )
    rings = VEPairsDataModule(tmp_path, geometry="slab", block=1, buffer=1, env_width=1, **fields)
    reference = rings.reference_beta_c()
    assert reference["beta_c_exact_geometry"] == "torus"
    assert reference["beta_c_exact_symmetric"] == pytest.approx(
        potts_predicted_beta_c(6, 3, K, 2, invariant=True, rows=6), rel=1e-12
    )
    with pytest.raises(ValueError, match=r"data's blocks have q=3 \(one-hot\) but the model has q=None"):
        VIBEncoder(18, 36).check_datamodule(dm)
    VIBEncoder(18, 36, q=3).check_datamodule(dm)
    dm.prepare_data()
    dm.setup()
    v, e = dm.train_set.tensors
    assert v.shape[1] == 18 and e.shape[1] == 36
    assert torch.equal(v.reshape(-1, 3, 6).sum(dim=1), torch.ones(v.shape[0], 6))
    # a cut's V is a full row of the lattice: some row of its configuration, one-hot
    colours = dm.spins.train_set.spins.reshape(-1, 6, 6)[0]
    rows = {tuple(r.tolist()) for c in range(6) for r in one_hot_blocks(colours.roll(c, 1), 3)}
    assert any(tuple(row.tolist()) in rows for row in v[: dm.pairs_per_config])
