"""The validation loss that picks the best checkpoint weighs a VAE's KL by the fixed
``loss.beta``, whatever the KL annealing gives the training loss at that step."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from audioae.config import load_config
from audioae.losses import kl_weight
from audioae.training import AutoEncoderModule

RECIPES = Path(__file__).parents[1] / "recipes"
BETA = 0.5


def _module() -> AutoEncoderModule:
    """A tiny VAE with cyclical annealing: period 8 steps, ramp 4 (weight 0 at step 0, beta/2
    at step 2, beta from step 4 on); free bits of 1 nat per dimension make beta x KL about 2%
    of the loss, far above float32 rounding."""
    cfg = load_config(
        RECIPES / "tiny.yaml",
        [
            "model.bottleneck=gaussian",
            f"loss.beta={BETA}",
            "loss.kl_schedule=cyclical",
            "loss.kl_cycle_steps=8",
            "loss.free_bits=1.0",  # a KL term of a size that matters at initialisation
        ],
    )
    torch.manual_seed(0)
    return AutoEncoderModule(cfg)


def _run(module: AutoEncoderModule, hook: str, batch: torch.Tensor, step: int) -> dict[str, float]:
    """What ``module.<hook>`` logs at optimiser step ``step``, without a Trainer."""
    logged: dict[str, float] = {}
    module._trainer = SimpleNamespace(
        global_step=step, sanity_checking=True, is_global_zero=True, loggers=[]
    )
    module.log = lambda name, value, **_: logged.__setitem__(name, float(value))
    torch.manual_seed(1)  # the same posterior samples (training) and inpainting groups
    getattr(module, hook)(batch, 0)
    return logged


def test_val_loss_weighs_the_kl_by_beta_at_every_step() -> None:
    module = _module()
    cfg = module.cfg.loss
    assert [kl_weight(s, cfg) for s in (0, 2, 5)] == [0.0, BETA / 2, BETA]
    batch = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0)) * 0.1
    module.eval()
    with torch.no_grad():
        val = {s: _run(module, "validation_step", batch, s) for s in (0, 2, 5)}
    # the same weights and data: the same val/loss, whatever the annealed weight
    assert val[0]["val/loss"] == val[2]["val/loss"] == val[5]["val/loss"]
    for logged in val.values():
        assert logged["val/kl_weight"] == BETA
        assert logged["val/loss"] == pytest.approx(
            logged["val/reconstruction"] + BETA * logged["val/kl"], rel=1e-6
        )
    # the KL is large enough that a KL-free val/loss would differ from it
    assert BETA * val[0]["val/kl"] > 0.01 * val[0]["val/loss"]


def test_train_loss_keeps_the_annealed_kl_weight() -> None:
    module = _module()
    batch = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0)) * 0.1
    module.train()
    with torch.no_grad():
        for step, weight in ((0, 0.0), (2, BETA / 2), (5, BETA)):
            logged = _run(module, "training_step", batch, step)
            assert logged["train/kl_weight"] == weight
            assert logged["train/loss"] == pytest.approx(
                logged["train/reconstruction"] + weight * logged["train/kl"], rel=1e-6
            )
