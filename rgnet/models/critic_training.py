"""What the encoders trained against a mutual-information critic share (VIBEncoder, RSMICoarseGrainer):
the learning rates of the encoder and of the critic, and the Adam optimizer over both."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from rgnet._checks import check_real

#: critic learning rate per encoder learning rate when ``critic_lr`` is not given
CRITIC_LR_FACTOR = 3.0


def check_learning_rates(lr: object, critic_lr: object | None) -> tuple[float, float]:
    """``(lr, critic_lr)`` as positive floats, ``critic_lr = CRITIC_LR_FACTOR * lr`` when None; raises
    ``TypeError``/``ValueError`` naming the argument."""
    lr = check_real(lr, "lr", minimum=0.0)
    critic_lr = (
        CRITIC_LR_FACTOR * lr if critic_lr is None else check_real(critic_lr, "critic_lr", minimum=0.0)
    )
    for name, value in (("lr", lr), ("critic_lr", critic_lr)):
        if value == 0.0:
            raise ValueError(f"{name} must be > 0")
    return lr, critic_lr


def encoder_critic_adam(
    encoder: Iterable[torch.nn.Parameter],
    critic: Iterable[torch.nn.Parameter],
    lr: float,
    critic_lr: float | None,
) -> torch.optim.Adam:
    """Adam with two parameter groups: the encoder's at ``lr``, the critic's at ``critic_lr`` (default
    ``CRITIC_LR_FACTOR * lr``)."""
    lr, critic_lr = check_learning_rates(lr, critic_lr)
    return torch.optim.Adam([{"params": list(encoder), "lr": lr}, {"params": list(critic), "lr": critic_lr}])


__all__ = ["CRITIC_LR_FACTOR", "check_learning_rates", "encoder_critic_adam"]
