"""Start a training run from a trained model's weights (``training.init_from``, fine-tuning).

The weights are copied into the new run's model before the first step; the optimiser, the
schedule and the step count start anew. The source's sample rate and ``features`` section must
equal the run's (a model's weights mean nothing on other features; ``audio.resampler``, the
filter other rates come through, may change), and every tensor must fit
(``load_state_dict(strict=True)``); settings that carry no weights, such as the dilations of
the residual blocks or the loss, may differ. A deep-filter head (``model.df_order``) that the
source lacks keeps its zero start, so the run starts as the source's magnitude-mask model.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from torch import nn

from .config import Config
from .modelfile import ModelFileError, load_model_file, resolve_model_file

__all__ = ["load_model_weights", "model_differences"]

log = logging.getLogger(__name__)


def model_differences(theirs: Config, ours: Config) -> dict[str, tuple[object, object]]:
    """The ``model`` settings that differ between two configs: ``{key: (theirs, ours)}``."""
    a, b = dataclasses.asdict(theirs.model), dataclasses.asdict(ours.model)
    return {k: (a[k], b[k]) for k in a if a[k] != b.get(k)}


def load_model_weights(model: nn.Module, source: str | os.PathLike, cfg: Config) -> None:
    """Copy the weights of the model file ``source`` into ``model`` (built from ``cfg``).

    Args:
        model: the run's :class:`~audioae.models.AutoEncoder`, on any device.
        source: a model file, or the name of a shipped model (``denoise``).
        cfg: the run's config.

    Raises:
        ModelFileError: the file is missing or not a model file, its audio or features
            section differs from ``cfg``'s, or its weights do not fit ``model`` (the message
            names the file and the first mismatch).
    """
    path = resolve_model_file(source)
    loaded = load_model_file(path)
    if loaded.config.audio.sample_rate != cfg.audio.sample_rate:
        # the resampling filter may change (fine-tuning to a new one); the rate may not
        raise ModelFileError(
            f"{path}: training.init_from: its audio.sample_rate {loaded.config.audio.sample_rate} "
            f"differs from this run's {cfg.audio.sample_rate}"
        )
    a, b = dataclasses.asdict(loaded.config.features), dataclasses.asdict(cfg.features)
    features = [f"features.{k}: {a[k]!r} (this run: {b.get(k)!r})" for k in a if a[k] != b.get(k)]
    if features:
        raise ModelFileError(
            f"{path}: training.init_from: its front-end differs from this run's in "
            + "; ".join(features)
        )
    differences = model_differences(loaded.config, cfg)
    if differences:  # allowed (that is what fine-tuning with wider dilations does), but said
        listed = ", ".join(f"model.{k}: {a} -> {b}" for k, (a, b) in differences.items())
        log.warning("training.init_from %s: this run's model differs in %s", path, listed)
    state = {k: v.float() for k, v in loaded.model.state_dict().items()}
    if getattr(model, "df_head", None) is not None and not any(
        k.startswith("df_head.") for k in state
    ):  # a deep filter added to a mask model: its head keeps its zero start
        state.update({f"df_head.{k}": v for k, v in model.df_head.state_dict().items()})
        log.warning("training.init_from %s: the deep-filter head starts from zero", path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise ModelFileError(
            f"{path}: training.init_from: its weights do not fit this run's model ({detail})"
        ) from None
