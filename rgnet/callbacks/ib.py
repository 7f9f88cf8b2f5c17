"""Information-bottleneck callback for block encoders (:class:`rgnet.models.vib.VIBEncoder`) on (V, E) pairs.

:class:`IBRelevance` records, at every validation epoch end, the information terms ``I(V;H)`` (upper bound)
and ``I(H;E)`` (lower bound) and what the code has learned, measured on held-out blocks ``v`` by
:func:`rgnet.ib.code_operator_overlaps` (see :mod:`rgnet.ib.operators`): ``overlap_magnetization``,
``overlap_energy``, ``z2_odd_fraction`` (``sq_noninvariant_fraction`` for one-hot Potts blocks) and, for
Ising codes that are not Z2-even, ``filter_sign_purity`` and ``filter_boundary_ratio``. Symmetric codes
(``symmetry="z2_even"`` or ``"sq_invariant"``) have no linear filter; their pair weights
(:meth:`rgnet.models.vib.VIBEncoder.quadratic_kernel`) are logged as images instead of the filters (one
image per code component and, for Potts, per colour).

The module must encode blocks (:class:`rgnet.contracts.EncodesBlocks`) and the data module serve blocks of
a known shape (:class:`rgnet.contracts.HasBlockPairs`); both are checked when fit starts.

On data whose exact law is known (``datamodule.exact_joint()``, :class:`rgnet.contracts.HasExactJoint`, e.g.
:class:`rgnet.data.ve_pairs.CylinderPairsDataModule`) and a one-dimensional code, the record also has
``i_vh_exact`` and ``i_he_exact``: the exact informations of the Gaussian channel ``H = mu(V) + N(0, 1)`` of
the current code (:func:`rgnet.ib.gaussian_code_informations`), against which the VIB's bounds ``i_vh`` and
``i_he`` can be judged.

Next to them, :meth:`IBRelevance.summary_metrics` reports the model's ``beta`` and, when the data module knows
it (``reference_beta_c()``, :class:`rgnet.contracts.HasReferenceBetaC`: the exact value for
:class:`rgnet.data.ve_pairs.CylinderPairsDataModule`; for slab cuts of the torus the exact torus value when V
and E are single rows, else the matching infinite cylinder: ``beta_c_exact_geometry``), the exact first IB
transition ``beta_c_exact`` and ``beta / beta_c_exact``, and for symmetric codes
the exact transition of the symmetric sector ``beta_c_exact_symmetric`` and ``beta / beta_c_exact_symmetric``
(the Z2-even sector of Ising, the S_q-invariant sector of Potts); a sweep over beta
compares them with where the code switches on (:func:`rgnet.runs.report.ib_relevance_figure`).

TensorBoard (rank zero, TensorBoard logger only): every record's overlaps and exact informations as
``ib/<key>`` (the bounds are the model's ``val/i_vh`` and ``val/i_he``), the references once, the filters as
images; the history survives resume. :meth:`IBRelevance.hparam_metrics` names the final values for HParams.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import lightning
import torch

from rgnet._checks import check_int
from rgnet.callbacks._tensorboard import image_grid_figure, run_title, tensorboard_writer
from rgnet.contracts import EncodesBlocks, HasBlockPairs, HasExactJoint, HasReferenceBetaC, require
from rgnet.ib import code_operator_overlaps, gaussian_code_informations

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Keys of a record that are the model's own logged validation metrics (``val/<key>``), not logged again.
MODEL_TAGS = ("i_vh", "i_he")
#: Keys of :attr:`IBRelevance.reference` logged once as ``ib/<key>`` (beta itself is a setting).
REFERENCE_KEYS = (
    "beta_over_beta_c_exact",
    "beta_c_exact",
    "beta_over_beta_c_exact_symmetric",
    "beta_c_exact_symmetric",
)


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

    @staticmethod
    def _parts(
        trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> tuple[EncodesBlocks, HasBlockPairs]:
        """The encoder and the data module, checked to offer what the measurements use."""
        encoder = require(pl_module, EncodesBlocks, "IBRelevance")
        return encoder, require(trainer.datamodule, HasBlockPairs, "IBRelevance")

    def on_fit_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
        """Check the module and the data module; record ``beta`` and the data module's exact reference
        ``beta_c`` (recomputed on resume)."""
        encoder, dm = self._parts(trainer, pl_module)
        self.reference = dict(dm.reference_beta_c()) if isinstance(dm, HasReferenceBetaC) else {}
        beta = pl_module.hparams.get("beta")
        if beta is not None:
            self.reference["beta"] = float(beta)
            if self.reference.get("beta_c_exact"):
                self.reference["beta_over_beta_c_exact"] = float(beta) / self.reference["beta_c_exact"]
            if encoder.symmetric and self.reference.get("beta_c_exact_symmetric"):
                self.reference["beta_over_beta_c_exact_symmetric"] = (
                    float(beta) / self.reference["beta_c_exact_symmetric"]
                )

    def on_validation_epoch_end(
        self, trainer: lightning.Trainer, pl_module: lightning.LightningModule
    ) -> None:
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        encoder, dm = self._parts(trainer, pl_module)
        v = dm.val_set.tensors[0][: self.max_blocks].to(pl_module.device)
        record: dict[str, Any] = {"epoch": int(trainer.current_epoch), "step": int(trainer.global_step)}
        for key in ("val/i_vh", "val/i_he"):
            if key in trainer.callback_metrics:
                record[key.split("/")[1]] = float(trainer.callback_metrics[key])
        record.update(code_operator_overlaps(encoder, v, dm.block_shape))
        if isinstance(dm, HasExactJoint):
            states, joint = dm.exact_joint()
            with torch.no_grad():
                code = encoder(states.to(pl_module.device))
            if code.shape[1] == 1:
                record["i_vh_exact"], record["i_he_exact"] = gaussian_code_informations(
                    code[:, 0].double().cpu().numpy(), joint
                )
        self.history.append(record)
        writer = tensorboard_writer(trainer)
        if writer is not None:
            if len(self.history) == 1:  # the references, once
                for key, value in self._references().items():
                    writer.add_scalar(key, value, trainer.global_step)
            for key, value in record.items():
                if key not in ("epoch", "step", *MODEL_TAGS):  # the model logs val/i_vh and val/i_he
                    writer.add_scalar(f"ib/{key}", value, trainer.global_step)
            name = "ib/quadratic_kernel" if encoder.symmetric else "ib/filters"
            figure = self.figure(encoder, dm, trainer.current_epoch + 1, run_title(trainer))
            writer.add_figure(name, figure, trainer.global_step)

    def figure(self, encoder: EncodesBlocks, dm: HasBlockPairs, epochs: int, run: str = "") -> Figure:
        """The code's weights after ``epochs`` epochs on one colour scale (blue < 0 < red, colour bar): the
        linear filter of each code component as the block (per colour for one-hot Potts blocks, colour-major),
        or for symmetric codes the weights of the site pairs (``sites x sites`` per component and colour)."""
        beta = self.reference.get("beta")
        if encoder.symmetric:  # (dim_h, sites, sites): weights of the site pairs
            w = encoder.quadratic_kernel().detach().float().cpu()
            images, what = w.reshape(-1, *w.shape[-2:]), "weights of the site pairs (sites x sites)"
        else:
            w = encoder.filters().detach().float().cpu()
            h, width = dm.block_shape[:2]
            images, what = w.reshape(-1, h, width), f"filter on the {h} x {width} block"
        per_component = images.shape[0] // w.shape[0]
        labels = [
            f"code {i // per_component + 1}" + (f", colour {i % per_component}" if per_component > 1 else "")
            for i in range(images.shape[0])
        ]
        title = f"VIB code: {what}, epoch {epochs}" + ("" if beta is None else f", beta = {beta:.4g}")
        return image_grid_figure(
            images,
            title=f"{title}\n{run}".strip(),
            columns=min(images.shape[0], 8),
            column_labels=labels[: min(images.shape[0], 8)] if images.shape[0] <= 8 else None,
        )

    def _references(self) -> dict[str, float]:
        """The exact transitions and where the model's beta sits against them, as ``ib/<name>`` tags."""
        return {
            f"ib/{key}": float(self.reference[key])
            for key in REFERENCE_KEYS
            if isinstance(self.reference.get(key), (int, float)) and math.isfinite(self.reference[key])
        }

    def hparam_metrics(self) -> dict[str, float]:
        """The last record as TensorBoard tags: the model's validation bounds ``val/i_vh`` and ``val/i_he``
        (the model logs them), ``ib/<overlap or fraction>`` and the exact informations of the code where
        known, then the references (``ib/beta_over_beta_c_exact``, ``ib/beta_c_exact``, ...)."""
        if not self.history:
            return {}
        last = self.history[-1]
        out = {f"val/{key}": float(last[key]) for key in MODEL_TAGS if key in last}
        out.update({f"ib/{k}": float(v) for k, v in last.items() if k not in ("epoch", "step", *MODEL_TAGS)})
        return out | self._references()

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


__all__ = ["IBRelevance"]
