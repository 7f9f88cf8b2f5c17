"""Information-bottleneck callbacks for :class:`rgnet.models.vib.VIBEncoder` on (V, E) pairs.

:class:`IBRelevance` records, at every validation epoch end, the information terms ``I(V;H)`` (upper bound)
and ``I(H;E)`` (lower bound) and what the code has learned, measured on held-out blocks ``v``:

* ``overlap_magnetization``: ``|corr(mu(v), sum_i v_i)|`` (max over code components) -- the Z2-odd operator of
  lowest scaling dimension;
* ``overlap_energy``: ``|corr(mu(v), sum_<ij> v_i v_j)|`` over the block's nearest-neighbour bonds -- the
  leading Z2-even operator;
* ``z2_odd_fraction``: share of the code's variance that is odd under ``v -> -v``
  (``Var(mu(v) - mu(-v)) / (Var(mu(v) - mu(-v)) + Var(mu(v) + mu(-v)))``; 1 = odd, 0 = even); a linear
  filter is odd by construction (1 always), so this is informative for the MLP encoder;
* ``filter_sign_purity``: ``|sum_i W_i| / sum_i |W_i|`` of the (first) filter (1 = single-sign filter);
* ``filter_boundary_ratio``: ``|mean W|`` on the block sites nearest E over ``|mean W|`` on those farthest from
  it (> 1: boundary-weighted, as RSMI reports at K_c): slab blocks of >= 2 rows, last row (facing E) over first
  row; square shell blocks of side >= 3, outer ring over interior. Absent for other blocks.

The two filter metrics describe odd codes and are left out for Z2-even codes (``symmetry="z2_even"``), whose
linear filter vanishes; their pair weights (:meth:`rgnet.models.vib.VIBEncoder.quadratic_kernel`) are logged
as images instead of the filters.

On data whose exact law is known (``datamodule.exact_joint()``, :class:`rgnet.data.ve_pairs.CylinderPairsDataModule`)
and a one-dimensional code, the record also has ``i_vh_exact`` and ``i_he_exact``: the exact informations of
the Gaussian channel ``H = mu(V) + N(0, 1)`` of the current code (:func:`rgnet.ib.gaussian_code_informations`),
against which the VIB's bounds ``i_vh`` and ``i_he`` can be judged.

Next to them, :meth:`IBRelevance.summary_metrics` reports the model's ``beta`` and, when the data module knows
it (``reference_beta_c()``: the exact value for :class:`rgnet.data.ve_pairs.CylinderPairsDataModule`, the
matching infinite cylinder for slab cuts of the torus), the exact first IB transition ``beta_c_exact`` and
``beta / beta_c_exact``, and for Z2-even codes the exact transition of the even sector ``beta_c_exact_even``
and ``beta / beta_c_exact_even``; a sweep over beta compares them with where the code switches on
(:func:`rgnet.report.ib_relevance_figure`).

Filters are logged to TensorBoard as images (rank zero, TensorBoard logger only); the history survives resume.
"""

from __future__ import annotations

from typing import Any

import lightning
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from rgnet._checks import check_int


def block_bonds(block_shape: tuple[int, int, bool]) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-neighbour pairs ``(i, j)`` (int64 site indices, row-major) of a block ``(rows, cols, periodic)``;
    ``periodic``: the columns wrap around (a ring of the cylinder or torus), when there are more than 2."""
    rows, cols, periodic = block_shape
    site = torch.arange(rows * cols).reshape(rows, cols)
    pairs = [(site[1:, :], site[:-1, :]), (site[:, 1:], site[:, :-1])]
    if periodic and cols > 2:
        pairs.append((site[:, :1], site[:, -1:]))
    return torch.cat([a.reshape(-1) for a, _ in pairs]), torch.cat([b.reshape(-1) for _, b in pairs])


def block_bond_sum(v: torch.Tensor, block_shape: tuple[int, int, bool]) -> torch.Tensor:
    """Nearest-neighbour bond sum of blocks ``v`` (batch, rows*cols) shaped ``(rows, cols, periodic)``."""
    i, j = block_bonds(block_shape)
    return (v[:, i] * v[:, j]).sum(dim=1)


def _abs_corr(code: torch.Tensor, template: torch.Tensor) -> float:
    code = code - code.mean(dim=0)
    template = template - template.mean()
    denom = code.norm(dim=0) * template.norm()
    corr = (code * template[:, None]).sum(dim=0) / torch.clamp(denom, min=1e-12)
    return float(corr.abs().max())


def filter_boundary_ratio(w: torch.Tensor, block_shape: tuple[int, int, bool]) -> float | None:
    """``|mean W|`` nearest E over ``|mean W|`` farthest from E for a filter ``w`` (rows*cols,) of a block
    ``(rows, cols, periodic)`` (see the module docstring); ``None`` where the block has no inside."""
    rows, cols, periodic = block_shape
    x = w.reshape(rows, cols)
    if periodic and rows >= 2:  # slab: V's last row faces E
        near, far = x[-1], x[0]
    elif not periodic and rows >= 3 and cols >= 3:  # shell: E surrounds the block
        inner = torch.zeros(rows, cols, dtype=torch.bool)
        inner[1:-1, 1:-1] = True
        near, far = x[~inner], x[inner]
    else:
        return None
    return float(near.mean().abs() / torch.clamp(far.mean().abs(), min=1e-30))


def code_operator_overlaps(
    module: lightning.LightningModule, v: torch.Tensor, block_shape: tuple[int, int, bool]
) -> dict[str, float]:
    """Overlaps of the code ``mu(v)`` with the operator templates (see the module docstring)."""
    with torch.no_grad():
        mu, mu_flip = module(v), module(-v)
    odd = (mu - mu_flip).var(dim=0).sum()
    even = (mu + mu_flip).var(dim=0).sum()
    out = {
        "overlap_magnetization": _abs_corr(mu, v.sum(dim=1)),
        "overlap_energy": _abs_corr(mu, block_bond_sum(v, block_shape)),
        "z2_odd_fraction": float(odd / torch.clamp(odd + even, min=1e-30)),
    }
    if getattr(module, "z2_even", False):
        return out
    w = module.filters()[0].cpu()
    out["filter_sign_purity"] = float(w.sum().abs() / torch.clamp(w.abs().sum(), min=1e-30))
    ratio = filter_boundary_ratio(w, block_shape)
    if ratio is not None:
        out["filter_boundary_ratio"] = ratio
    return out


class IBRelevance(lightning.Callback):
    """Information curve point and operator overlaps of a VIB encoder, every ``every_n_epochs`` epochs.

    Args:
        every_n_epochs: measurement period (validation epoch ends).
        max_blocks: held-out blocks used for the overlaps.
    """

    def __init__(self, every_n_epochs: int = 1, max_blocks: int = 2000) -> None:
        super().__init__()
        self.every_n_epochs = check_int(every_n_epochs, "every_n_epochs", minimum=1)
        self.max_blocks = check_int(max_blocks, "max_blocks", minimum=2)
        self.history: list[dict[str, Any]] = []
        self.reference: dict[str, Any] = {}

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        """Record ``beta`` and the data module's exact reference ``beta_c`` (recomputed on resume)."""
        dm = trainer.datamodule
        self.reference = dict(dm.reference_beta_c()) if hasattr(dm, "reference_beta_c") else {}
        beta = getattr(pl_module, "hparams", {}).get("beta")
        if beta is not None:
            self.reference["beta"] = float(beta)
            if self.reference.get("beta_c_exact"):
                self.reference["beta_over_beta_c_exact"] = float(beta) / self.reference["beta_c_exact"]
            if getattr(pl_module, "z2_even", False) and self.reference.get("beta_c_exact_even"):
                self.reference["beta_over_beta_c_exact_even"] = (
                    float(beta) / self.reference["beta_c_exact_even"]
                )

    def on_validation_epoch_end(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        dm = trainer.datamodule
        if dm is None or not hasattr(dm, "val_set") or not hasattr(dm, "block_shape"):
            raise ValueError(
                "IBRelevance needs a data module with val_set and block_shape (VEPairsDataModule)"
            )
        v = dm.val_set.tensors[0][: self.max_blocks].to(pl_module.device)
        record: dict[str, Any] = {"epoch": int(trainer.current_epoch), "step": int(trainer.global_step)}
        for key in ("val/i_vh", "val/i_he"):
            if key in trainer.callback_metrics:
                record[key.split("/")[1]] = float(trainer.callback_metrics[key])
        record.update(code_operator_overlaps(pl_module, v, dm.block_shape))
        if hasattr(dm, "exact_joint") and pl_module.hparams.get("dim_h") == 1:
            from rgnet.ib import gaussian_code_informations

            states, joint = dm.exact_joint()
            with torch.no_grad():
                code = pl_module(states.to(pl_module.device))[:, 0].double().cpu().numpy()
            record["i_vh_exact"], record["i_he_exact"] = gaussian_code_informations(code, joint)
        self.history.append(record)
        if trainer.is_global_zero and isinstance(trainer.logger, TensorBoardLogger):
            writer = trainer.logger.experiment
            for key, value in record.items():
                if key not in ("epoch", "step"):
                    writer.add_scalar(f"ib/{key}", value, trainer.global_step)
            rows, cols, _ = dm.block_shape
            if getattr(pl_module, "z2_even", False):  # (dim_h, dim_v, dim_v): weights of v_i v_j
                name, w = "ib/quadratic_kernel", pl_module.quadratic_kernel()
                shape = w.shape[-2:]
            else:
                name, w, shape = "ib/filters", pl_module.filters().cpu(), (rows, cols)
            flat = w.reshape(w.shape[0], -1)
            scale = torch.clamp(flat.abs().amax(dim=1, keepdim=True), min=1e-12)
            images = (0.5 + 0.5 * flat / scale).reshape(-1, 1, *shape)  # grey = 0, white > 0, black < 0
            writer.add_images(name, images, trainer.global_step)

    def summary_metrics(self) -> dict[str, Any]:
        """``beta``, ``beta_c_exact`` (when known), the last record (informations in nats, overlaps) and the
        history of records."""
        out: dict[str, Any] = dict(self.reference)
        if self.history:
            out.update(last=dict(self.history[-1]), history=[dict(r) for r in self.history])
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(r) for r in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(r) for r in state_dict["history"]]


__all__ = [
    "IBRelevance",
    "block_bond_sum",
    "block_bonds",
    "code_operator_overlaps",
    "filter_boundary_ratio",
]
