"""The layout of a Lightning checkpoint as ``audioae train`` writes it, read without pickle.

:class:`audioae.autoencoder_module.AutoEncoderModule` keeps the autoencoder as ``self.model``,
so its weights are the ``state_dict`` entries under :data:`MODEL_PREFIX`; the run's config is
``hyper_parameters[CONFIG_HPARAM]``; ``global_step`` counts optimiser steps. Checkpoints are
read with ``torch.load(..., weights_only=True)`` only: a checkpoint that needs pickle is
refused, never unpickled (:func:`read_checkpoint`). No Lightning import.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from .modelfile import ModelFileError

__all__ = [
    "CONFIG_HPARAM",
    "MODEL_PREFIX",
    "checkpoint_model_state",
    "checkpoint_step",
    "read_checkpoint",
]

MODEL_PREFIX = "model."
"""The prefix of the autoencoder's weights in a checkpoint's ``state_dict``."""
CONFIG_HPARAM = "config"
"""The ``hyper_parameters`` key that holds the run's config (a plain dict)."""


def checkpoint_step(path: Path) -> int | None:
    """The optimiser step (``global_step``) a Lightning checkpoint was written at.

    Read with the tensors memory-mapped, not loaded (``weights_only`` as always): a resume
    asks for the step several times, and a full read of a 200 MB checkpoint takes 0.17 s and
    its size in memory against 0.01 s. A file that cannot be read that way is read by
    :func:`read_checkpoint`, for its errors.

    Raises:
        ModelFileError: the file cannot be read safely (see :func:`read_checkpoint`).
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - read_checkpoint gives the reason, or reads it whole
        ckpt = read_checkpoint(path)
    if not isinstance(ckpt, dict):
        ckpt = read_checkpoint(path)  # raises: not a checkpoint dict
    return ckpt.get("global_step")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The dict of a Lightning checkpoint file, on the CPU, loaded with ``weights_only=True``.

    A checkpoint written by ``audioae train`` holds only tensors and plain data (the config
    as a dict); a file that needs pickle to load (any other Python object) is refused,
    never unpickled.

    Raises:
        ModelFileError: the file needs pickle, is not a checkpoint dict, or cannot be read.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported (global: GLOBAL \S+|\w+ \S+)", str(exc))
        reason = found.group(0) if found else "not a pickle torch can read"
        if not reason.startswith(
            "Unsupported global"
        ):  # not a pickle of objects: garbage or a truncated file
            raise ModelFileError(
                f"{path}: cannot read checkpoint (corrupt or not a checkpoint: {reason})"
            ) from None
        raise ModelFileError(
            f"{path}: holds pickled Python objects ({reason}); audioae never unpickles "
            "files, so it loads only checkpoints of tensors and plain data, as `audioae train` "
            "writes them"
        ) from None
    except Exception as exc:
        raise ModelFileError(f"{path}: cannot read checkpoint ({exc})") from None
    if not isinstance(ckpt, dict):
        raise ModelFileError(f"{path}: not a checkpoint (holds a {type(ckpt).__name__})")
    return ckpt


def checkpoint_model_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The autoencoder's ``state_dict`` inside a checkpoint dict (the ``model.`` entries, unprefixed)."""
    return {
        k[len(MODEL_PREFIX) :]: v
        for k, v in (ckpt.get("state_dict") or {}).items()
        if k.startswith(MODEL_PREFIX)
    }
