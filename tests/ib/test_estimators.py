"""MI lower bounds on jointly Gaussian data with known mutual information."""

from __future__ import annotations

import math

import pytest
import torch

from rgnet.ib.estimators import (
    ConcatCritic,
    SeparableCritic,
    infonce_lower_bound,
    mi_lower_bound,
    nwj_lower_bound,
)

RHO, DIM = 0.8, 2
TRUE_MI = -0.5 * DIM * math.log(1 - RHO**2)  # 1.02 nats


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def _pairs(n: int, gen: torch.Generator, rho: float = RHO) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, DIM, generator=gen)
    return x, rho * x + math.sqrt(1 - rho**2) * torch.randn(n, DIM, generator=gen)


def _log_ratio(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Exact ln p(y_j | x_i) / p(y_j), (B, B)."""
    diff = y[None, :, :] - RHO * x[:, None, :]
    return (
        -0.5 * (diff**2).sum(-1) / (1 - RHO**2)
        - 0.5 * DIM * math.log(1 - RHO**2)
        + 0.5 * (y**2).sum(-1)[None, :]
    )


def test_bounds_with_the_optimal_critic() -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = _pairs(2000, gen)
    x, y = x.double(), y.double()
    scores = _log_ratio(x, y)
    # InfoNCE with the true density ratio: I - O(e^I / B); NWJ tight at f = 1 + log-ratio (unbiased)
    assert infonce_lower_bound(scores).item() == pytest.approx(TRUE_MI, abs=0.05)
    assert nwj_lower_bound(scores + 1.0).item() == pytest.approx(TRUE_MI, abs=0.05)
    assert infonce_lower_bound(scores).item() <= math.log(2000)


@pytest.mark.parametrize(
    "bound, critic_cls, steps, batch",
    [
        ("infonce", SeparableCritic, 200, 128),
        ("nwj", SeparableCritic, 200, 128),
        ("infonce", ConcatCritic, 150, 64),
    ],
)
def test_trained_critic_recovers_gaussian_mi(bound: str, critic_cls: type, steps: int, batch: int) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    critic = critic_cls(DIM, DIM, hidden=32)
    opt = torch.optim.Adam(critic.parameters(), lr=3e-3)
    for _ in range(steps):
        x, y = _pairs(batch, gen)
        loss = -mi_lower_bound(bound, critic(x, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        estimates = [mi_lower_bound(bound, critic(*_pairs(512, gen))).item() for _ in range(8)]
        independent = [mi_lower_bound(bound, critic(*_pairs(512, gen, rho=0.0))).item() for _ in range(8)]
    estimate = sum(estimates) / len(estimates)
    assert TRUE_MI * 0.85 < estimate < TRUE_MI * 1.05  # a lower bound: close from below
    # negative control: on independent pairs (I = 0) no critic can report information
    assert sum(independent) / len(independent) < 0.05


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="square"):
        infonce_lower_bound(torch.zeros(3, 4))
    with pytest.raises(TypeError, match="scores"):
        nwj_lower_bound([[0.0]])
    with pytest.raises(ValueError, match="bound"):
        mi_lower_bound("mine", torch.zeros(3, 3))
    with pytest.raises(ValueError, match="dim_x"):
        SeparableCritic(0, 2)
