"""Stand-alone learned-decoder files and attaching one to a model file.

A decoder file (``format: audioae-vocoder``, ``format_version`` 1, written by
``audioae train vocoder``) has the layout of a model file (:mod:`audioae.modelfile`): the
decoder's ``state_dict`` as its tensors, its training config (``task: vocoder``) as YAML in
the metadata and the BLAKE2b digest of its tensors. :func:`load_vocoder_file` reads it,
:func:`check_vocoder_compatible` refuses to pair it with a model whose front-end settings
differ, and :func:`attach_vocoder` writes a model file that carries it. No pickle anywhere.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from . import __version__
from .bundled import VOCODER_FORMAT, available_vocoders
from .config import Config, config_from_dict
from .modelfile import (
    ModelFileError,
    build_attached_vocoder,
    load_model_file,
    raw_metadata,
    read_checked_tensors,
    resolve_shipped_file,
    save_model_file,
    state_tensors,
    stored_config,
    write_tensors_file,
)

VOCODER_FORMAT_VERSION = "1"


class VocoderMismatchError(ModelFileError):
    """A learned decoder was trained for other front-end settings than the model's."""


@dataclass
class LoadedVocoder:
    """What :func:`load_vocoder_file` returns.

    Attributes:
        vocoder: the :class:`~audioae.vocoder.Vocoder` in ``eval()`` mode.
        config: its training :class:`~audioae.config.Config` (``task: vocoder``).
        metadata: the file's raw metadata.
    """

    vocoder: nn.Module
    config: Config
    metadata: dict[str, str]


def save_vocoder_file(
    path: str | os.PathLike,
    vocoder: nn.Module,
    cfg: Config,
    overwrite: bool = False,
    *,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a stand-alone decoder file (``format: audioae-vocoder``), atomically.

    Args:
        vocoder: a :class:`~audioae.vocoder.Vocoder` built from ``cfg.vocoder`` for
            ``cfg.features``.
        cfg: its config (``task: vocoder``; stored as YAML).
        overwrite, dtype: as :func:`save_model_file`.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    tensors = state_tensors(vocoder, dtype)
    return write_tensors_file(path, tensors, VOCODER_FORMAT, VOCODER_FORMAT_VERSION, cfg, overwrite)


def resolve_vocoder_file(vocoder: str | os.PathLike) -> Path:
    """A decoder argument to a file: an existing path, or the name of a shipped decoder.

    A bare name (no path separator, no suffix, e.g. ``vocoder``) that is not an existing file
    names ``<name>.safetensors`` in :data:`audioae.bundled.MODELS_DIR`; anything else is a path.
    (A shipped model named here is refused by :func:`load_vocoder_file` as not a decoder.)

    Raises:
        ModelFileError: the path does not exist, or nothing is shipped under that name (the
            message lists the shipped decoders).
    """
    return resolve_shipped_file(vocoder, "decoder", available_vocoders)


def load_vocoder_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedVocoder:
    """Load a stand-alone decoder file written by :func:`save_vocoder_file`.

    Args:
        path: the decoder file, or the name of a shipped decoder (``"vocoder"``, see
            :func:`resolve_vocoder_file`).
        device: where to put the decoder.

    Raises:
        ModelFileError: missing, not safetensors, not a decoder file (e.g. a model file),
            unknown version, corrupt, or weights that do not fit the stored config.
    """
    path = resolve_vocoder_file(path)
    metadata = raw_metadata(path)
    if metadata.get("format") != VOCODER_FORMAT:
        raise ModelFileError(
            f"{path}: not a learned decoder (vocoder) file (its metadata has no 'format: {VOCODER_FORMAT}'); "
            "write one with `audioae train vocoder`"
        )
    if metadata.get("format_version") != VOCODER_FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: decoder file format version {metadata.get('format_version')!r} is not supported "
            f"by audioae {__version__} (it reads version {VOCODER_FORMAT_VERSION})"
        )
    cfg = stored_config(path, metadata)
    tensors, _ = read_checked_tensors(path, metadata)
    vocoder = build_attached_vocoder(path, None, cfg, tensors)
    vocoder.eval().to(device)
    return LoadedVocoder(vocoder=vocoder, config=cfg, metadata=metadata)


def check_vocoder_compatible(model_cfg: Config, vocoder_cfg: Config, source: str) -> None:
    """Refuse a decoder trained for other audio or front-end settings than the model's.

    Args:
        model_cfg: the model's config; ``vocoder_cfg``: the decoder's; ``source``: the
            decoder file (for the message).

    Raises:
        VocoderMismatchError: ``audio.sample_rate`` or a ``features`` value differs; the
            message names every differing key with both values.
    """
    diffs = []
    if model_cfg.audio.sample_rate != vocoder_cfg.audio.sample_rate:
        diffs.append(
            f"audio.sample_rate {vocoder_cfg.audio.sample_rate} (model: {model_cfg.audio.sample_rate})"
        )
    mine, theirs = asdict(model_cfg.features), asdict(vocoder_cfg.features)
    diffs += [
        f"features.{k} {theirs[k]!r} (model: {mine[k]!r})"
        for k in mine
        if mine[k] != theirs[k] and not (k in _MEL_ONLY_KEYS and mine["kind"] != "log_mel")
    ]
    if diffs:
        raise VocoderMismatchError(
            f"{source}: this learned decoder was trained for other front-end settings than the model's: "
            + "; ".join(diffs)
            + ". Train one for this model's front-end (`audioae train vocoder --set features.KEY=VALUE`)"
        )


_MEL_ONLY_KEYS = ("n_mels", "f_min", "f_max", "mel_scale")


def attach_vocoder(
    model_file: str | os.PathLike,
    vocoder_file: str | os.PathLike,
    out: str | os.PathLike,
    *,
    method: str | None = None,
    warm_start_iter: int | None = None,
    overwrite: bool = False,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write a copy of a model file that carries a stand-alone decoder (and optionally a new
    default ``phase.method`` and ``phase.warm_start_iter``). The model's weights, and so its
    hash, are unchanged.

    Args:
        model_file: a model file; ``vocoder_file``: a decoder file for its front-end.
        out: the new model file.
        method: the model's new ``phase.method`` (e.g. the benchmark's best), or None to keep it.
        warm_start_iter: the Griffin-Lim iterations of ``learned+griffin-lim``, or None to keep.
        overwrite, dtype: as :func:`save_model_file`.

    Raises:
        ModelFileError: an unreadable file; VocoderMismatchError: other front-end settings.
        ConfigError: an unknown ``method``.
    """
    loaded = load_model_file(model_file)
    attached = load_vocoder_file(vocoder_file)
    check_vocoder_compatible(loaded.config, attached.config, str(vocoder_file))
    cfg = loaded.config
    if method is not None or warm_start_iter is not None:
        data = cfg.to_dict()
        if method is not None:
            data["phase"]["method"] = method
        if warm_start_iter is not None:
            data["phase"]["warm_start_iter"] = warm_start_iter
        cfg = config_from_dict(data, source="attach_vocoder(method=..., warm_start_iter=...)")
    return save_model_file(
        out, loaded.model, cfg, overwrite=overwrite, dtype=dtype, vocoder=attached.vocoder
    )
