"""Optimisation pieces shared by the training modules: AdamW with a warm-up + cosine (or
constant) per-step schedule, and the error a diverged loss raises."""

from __future__ import annotations

import functools
import math
from typing import Any

import torch

from .config import TrainingConfig


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or Inf; the last good checkpoint is kept."""


def lr_factor(step: int, *, warmup_steps: int, max_steps: int, schedule: str = "cosine") -> float:
    """Learning-rate factor at optimiser step ``step``: linear warm-up, then cosine decay to 0 or constant.

    ``(step + 1) / warmup_steps`` while ``step < warmup_steps``; then 1 (``constant``) or
    ``0.5 * (1 + cos(pi * p))`` with ``p`` the fraction of the steps after warm-up done
    (``cosine``; Loshchilov & Hutter, "SGDR", 2017), 0 from ``max_steps`` on.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(max_steps - warmup_steps, 1)
    progress = min(max((step - warmup_steps) / span, 0.0), 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def configure_adamw(parameters, training_cfg: TrainingConfig) -> dict[str, Any]:
    """AdamW and the per-step :func:`lr_factor` schedule of ``training_cfg``, as Lightning's
    ``configure_optimizers`` returns them."""
    t = training_cfg
    optimizer = torch.optim.AdamW(parameters, lr=t.learning_rate, weight_decay=t.weight_decay)
    # a partial keeps no state in the scheduler's state_dict, so a resumed run with a larger
    # training.max_steps stretches the schedule to the new length.
    factor = functools.partial(
        lr_factor, warmup_steps=t.warmup_steps, max_steps=t.max_steps, schedule=t.lr_schedule
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
    }


def apply_training_settings(optimizers, schedulers, training_cfg: TrainingConfig) -> None:
    """Put ``training.learning_rate`` and ``training.weight_decay`` into optimisers and
    :class:`~torch.optim.lr_scheduler.LambdaLR` schedulers restored from a checkpoint.

    A resumed run restores AdamW's state and the scheduler's base rates from its checkpoint,
    so a changed learning rate or weight decay was written into the run's ``config.yaml`` and
    model file but never used. Called when training starts (after the restore), this sets
    each parameter group's ``initial_lr``, ``weight_decay`` and its current ``lr`` (the new
    base rate times the schedule's factor at the restored step); on a new run it changes
    nothing. AdamW's moment estimates are kept.
    """
    t = training_cfg
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["initial_lr"] = t.learning_rate
            group["weight_decay"] = t.weight_decay
    for scheduler in schedulers:
        if not isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
            continue
        scheduler.base_lrs = [t.learning_rate] * len(scheduler.optimizer.param_groups)
        for group, factor in zip(
            scheduler.optimizer.param_groups, scheduler.lr_lambdas, strict=True
        ):
            group["lr"] = t.learning_rate * factor(scheduler.last_epoch)
        scheduler._last_lr = [g["lr"] for g in scheduler.optimizer.param_groups]
