"""BlockFilterImages: a model's block filters as TensorBoard images."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rgnet.callbacks.filters import BlockFilterImages


class Filtered(nn.Module):
    def filters(self) -> torch.Tensor:
        return torch.tensor([[[1.0, -1.0], [0.5, 0.0]]])


def test_block_filter_images_draw_each_weight_as_a_square():
    images = BlockFilterImages(scale=3).images(Filtered())
    assert images.shape == (1, 1, 6, 6)
    assert images[0, 0, :3, :3].eq(1.0).all() and images[0, 0, :3, 3:].eq(0.0).all()  # white > 0, black < 0
    assert images[0, 0, 3:, 3:].eq(0.5).all()  # grey = 0
    with pytest.raises(TypeError, match="filters"):
        BlockFilterImages().images(nn.Linear(2, 2))
