"""Figures of weights and spins (rgnet.callbacks._tensorboard.image_grid_figure and the callbacks that draw
them): one colour scale per figure with its colour bar, labelled rows and columns, the run in the title, and
big enough to read."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.colorbar import Colorbar
from PIL import Image
from torch import nn

from rgnet.callbacks._tensorboard import image_grid_figure, run_title, wrap_title
from rgnet.callbacks.filters import BlockFilterImages


class Filtered(nn.Module):
    def filters(self) -> torch.Tensor:
        return torch.tensor([[[1.0, -1.0], [0.5, 0.0]], [[0.25, 0.0], [0.0, -0.1]]])


def pixels(figure) -> tuple[int, int]:
    """Width and height of the figure as TensorBoard stores it (PNG at the figure's dpi)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return Image.open(buffer).size


def image_and_colorbar(figure):
    """The image drawn and its colour bar."""
    (image,) = [im for axes in figure.axes for im in axes.get_images()]
    assert isinstance(image.colorbar, Colorbar)
    return image, image.colorbar


def test_weights_share_one_symmetric_scale_with_a_colour_bar():
    weights = np.stack([np.full((3, 3), 0.01), np.full((3, 3), -2.0)])  # a weak and a strong tile
    figure = image_grid_figure(weights, title="two filters", column_labels=["a", "b"])
    image, colorbar = image_and_colorbar(figure)
    assert image.get_clim() == (-2.0, 2.0)  # the weak tile stays pale: not scaled to its own maximum
    assert colorbar.ax.get_ylabel() == "weight"
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["a", "b"]
    assert figure.get_suptitle() == "two filters"
    assert min(pixels(figure)) >= 400


def test_spins_are_grey_from_minus_one_to_one_with_labelled_rows():
    spins = torch.sign(torch.randn(6, 4, 4))
    figure = image_grid_figure(
        spins, title="x", columns=3, signed=False, colorbar_label="spin", row_labels=["data", "model"]
    )
    image, colorbar = image_and_colorbar(figure)
    assert image.get_clim() == (-1.0, 1.0) and colorbar.ax.get_ylabel() == "spin"
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["data", "model"]


def test_a_narrow_block_filter_is_a_readable_figure():
    """The VIB filter of a 2 x 16 block was a 16 x 2 pixel image; now a figure with its values."""
    figure = image_grid_figure(np.linspace(-1, 1, 32).reshape(1, 2, 16), title="VIB code")
    width, height = pixels(figure)
    assert width >= 700 and height >= 400
    values = [text.get_text() for text in figure.axes[0].texts]
    assert len(values) == 32 and values[0] == "-1.00"


def test_block_filter_figure_labels_each_variable():
    figure = BlockFilterImages().figure(Filtered(), epochs=3, run="rsmi: data.L=16\nseed=0")
    image, _ = image_and_colorbar(figure)
    assert image.get_clim() == (-1.0, 1.0)
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert labels == ["variable 1", "variable 2"]
    assert "epoch 3" in figure.get_suptitle() and "rsmi: data.L=16" in figure.get_suptitle()
    with pytest.raises(TypeError, match="filters"):
        BlockFilterImages().figure(nn.Linear(2, 2), epochs=1)


def test_run_title_names_the_task_the_run_and_the_couplings(tmp_path, monkeypatch):
    from lightning.pytorch.loggers import TensorBoardLogger

    logger = TensorBoardLogger(
        str(tmp_path / "mehta_schwab" / "data.K=0.3,seed=1"), name="tensorboard", version=""
    )
    trainer = SimpleNamespace(loggers=[logger], datamodule=SimpleNamespace(K=0.3, h=0.0))
    monkeypatch.setenv("PL_GLOBAL_SEED", "1")
    assert run_title(trainer) == "mehta_schwab: data.K=0.3,seed=1\nK=0.3, h=0, seed=1"
    assert wrap_title("a,b,c", 1.0) == "a, b, c"
