"""Export a training run's model file from one of its checkpoints (``audioae export``).

:func:`find_checkpoint` picks the run's ``best`` or ``last`` checkpoint, :func:`checkpoint_config`
its config (the checkpoint's hyper-parameters, else the run's ``config.yaml``) and
:func:`export_run` writes the model file (:mod:`audioae.modelfile`) or, for a ``vocoder`` run,
the decoder file (:mod:`audioae.vocoderfile`). No Lightning import, so exporting is cheap.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .config import Config, config_from_dict, load_yaml
from .modelfile import ModelFileError, save_model_file
from .run_checkpoints import CONFIG_HPARAM, checkpoint_model_state, read_checkpoint
from .runfolder import BEST_CHECKPOINT_GLOB, RunFolder
from .vocoderfile import save_vocoder_file

__all__ = ["checkpoint_config", "export_run", "find_checkpoint"]

log = logging.getLogger(__name__)


def find_checkpoint(run_dir: str | os.PathLike, checkpoint: str = "best") -> Path:
    """The Lightning checkpoint of a run folder: ``best`` (lowest validation loss) or ``last``.

    ``best`` falls back to ``last.ckpt`` when no validation has run yet.

    Raises:
        ModelFileError: no checkpoint in ``run_dir/checkpoints``, or ``checkpoint`` is neither
            ``best`` nor ``last``.
    """
    if checkpoint not in ("best", "last"):
        raise ModelFileError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}")
    run = RunFolder(Path(run_dir))
    folder = run.checkpoint_dir
    last = run.last_checkpoint
    if checkpoint == "best":
        best = sorted(folder.glob(BEST_CHECKPOINT_GLOB), key=lambda p: p.stat().st_mtime)
        if best:
            return best[-1]
        if last.is_file():
            log.info("%s: no best checkpoint yet (no validation ran); using last.ckpt", run_dir)
    if last.is_file():
        return last
    raise ModelFileError(
        f"{run_dir}: no checkpoint found in {folder}; is this a run folder of `audioae train`?"
    )


def checkpoint_config(ckpt: dict[str, Any], run_dir: Path, source: Path) -> Config:
    """The run's config: the checkpoint's ``hyper_parameters``, else ``run_dir/config.yaml``.

    Raises:
        ModelFileError: neither holds a config (``source`` names the checkpoint).
        ConfigError: the stored config is invalid.
    """
    hparams = ckpt.get("hyper_parameters") or {}
    if isinstance(hparams.get(CONFIG_HPARAM), dict):
        return config_from_dict(hparams[CONFIG_HPARAM], source=f"{source} (hyper_parameters)")
    saved = RunFolder(run_dir).config_file
    if saved.is_file():
        return config_from_dict(load_yaml(saved.read_text(), str(saved)) or {}, str(saved))
    raise ModelFileError(f"{source}: no config in the checkpoint and no {saved}")


def export_run(
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    checkpoint: str = "best",
    overwrite: bool = False,
) -> Path:
    """Write the model file of a training run from one of its Lightning checkpoints.

    The config comes from the checkpoint's hyper-parameters (``config``), else from
    ``run_dir/config.yaml``; the weights are the ``model.*`` entries of its ``state_dict``.

    Args:
        run_dir: the run folder (``checkpoints/``, ``config.yaml``).
        out: the model file; default ``run_dir/model.safetensors``.
        checkpoint: ``best`` (lowest validation loss, else last) or ``last``.
        overwrite: replace an existing ``out``.

    Returns:
        The path written.

    Raises:
        ModelFileError: no checkpoint, an unreadable checkpoint, or weights that do not fit.
        ConfigError: the stored config is invalid.
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
    """
    from .features import build_frontend
    from .models import build_model
    from .vocoder import build_vocoder

    run = RunFolder(Path(run_dir))
    ckpt_path = find_checkpoint(run.root, checkpoint)
    out = Path(out) if out is not None else run.model_file
    ckpt = read_checkpoint(ckpt_path)
    cfg = checkpoint_config(ckpt, run.root, ckpt_path)
    frontend = build_frontend(cfg.features, cfg.audio.sample_rate)
    is_vocoder = cfg.task == "vocoder"
    model = build_vocoder(cfg.vocoder, frontend) if is_vocoder else build_model(cfg.model, frontend)
    try:
        model.load_state_dict(checkpoint_model_state(ckpt), strict=True)
    except RuntimeError as exc:
        raise ModelFileError(
            f"{ckpt_path}: the checkpoint's weights do not fit its config ({exc})"
        ) from None
    if is_vocoder:
        return save_vocoder_file(out, model, cfg, overwrite=overwrite)
    return save_model_file(out, model, cfg, overwrite=overwrite)
