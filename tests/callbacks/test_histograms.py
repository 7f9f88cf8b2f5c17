"""ParameterHistograms: one histogram per parameter in the TensorBoard events, nothing without a logger."""

from __future__ import annotations

import lightning
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rgnet.callbacks.histograms import ParameterHistograms


class Linear(lightning.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader():
    data = torch.utils.data.TensorDataset(torch.randn(8, 3))
    return torch.utils.data.DataLoader(data, batch_size=4)


def test_histograms_of_each_parameter(tmp_path):
    logger = lightning.pytorch.loggers.TensorBoardLogger(tmp_path, name="tb", version=0)
    trainer = lightning.Trainer(
        max_epochs=2,
        logger=logger,
        callbacks=[ParameterHistograms(every_n_epochs=2)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Linear(), loader())
    logger.experiment.flush()
    events = EventAccumulator(str(tmp_path / "tb" / "version_0"), size_guidance={"histograms": 0})
    events.Reload()
    assert sorted(events.Tags()["histograms"]) == ["parameters/layer.bias", "parameters/layer.weight"]
    assert [event.step for event in events.Histograms("parameters/layer.weight")] == [4]  # epoch 2 only


def test_runs_without_logger_and_checks_its_argument():
    trainer = lightning.Trainer(
        max_epochs=1,
        logger=False,
        callbacks=[ParameterHistograms()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Linear(), loader())
    with pytest.raises(ValueError, match="every_n_epochs"):
        ParameterHistograms(every_n_epochs=0)
