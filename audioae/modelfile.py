"""Model files: one ``.safetensors`` file holding a trained model and the config that builds it.

Layout (no pickle anywhere): the tensors are the model's ``state_dict`` (float tensors as
trained, on the CPU); the safetensors metadata (string to string) holds

    format          "audioae-model"
    format_version  "1"
    config          the effective run config as YAML (every section, see ``audioae.config``)
    audioae_version the package version that wrote the file
    tensors_blake2b hex BLAKE2b-128 digest of the tensors (see :func:`tensors_digest`)

Loading rebuilds the model with :func:`audioae.models.build_model` from the stored config,
loads the weights strictly and checks the digest, so a truncated or altered file is refused
with :class:`ModelFileError` instead of giving wrong audio. A reader refuses format versions
it does not know (as descript-audio-codec's ``DACFile`` does).

A training run's folder is turned into a model file by :func:`audioae.runfolder.export_run`;
this module knows nothing of runs or Lightning checkpoints.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import __version__
from .bundled import MODEL_SUFFIX, MODELS_DIR, available_models, is_bare_name
from .config import Config, ConfigError, config_from_dict, load_yaml
from .fileio import atomic_output

FORMAT = "audioae-model"
FORMAT_VERSION = "1"
SUPPORTED_VERSIONS = ("1",)


class ModelFileError(ValueError):
    """A model file is missing, corrupt, truncated, not an audioae model or of an unknown version.

    The message starts with the file's path.
    """


@dataclass
class LoadedModel:
    """What :func:`load_model_file` returns.

    Attributes:
        model: the :class:`~audioae.models.AutoEncoder` in ``eval()`` mode on the requested device.
        config: the run's :class:`~audioae.config.Config`.
        metadata: the file's raw metadata (string to string).
        model_hash: 16-byte BLAKE2b digest of the tensors (names, dtypes, shapes, bytes);
            latent files carry it so a decoder can check it has the encoder's weights.
    """

    model: nn.Module
    config: Config
    metadata: dict[str, str]
    model_hash: bytes


def tensors_digest(tensors: dict[str, torch.Tensor]) -> bytes:
    """16-byte BLAKE2b digest of named tensors: over sorted names, dtype, shape and raw bytes.

    Independent of the device and of the order of the dict.
    """
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(name.encode("utf-8") + b"\0")
        h.update(str(t.dtype).encode() + b"\0" + repr(tuple(t.shape)).encode() + b"\0")
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.digest()


def _state_tensors(model: nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    # clone: safetensors refuses tensors that share memory (tied weights); load restores them.
    tensors = {k: v.detach().to("cpu").clone().contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    return tensors


def save_model_file(
    path: str | os.PathLike,
    model: nn.Module,
    cfg: Config,
    overwrite: bool = False,
    *,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model``'s weights and ``cfg`` to a model file (atomically).

    Args:
        path: destination, conventionally ``*.safetensors``.
        model: an autoencoder built by ``build_model(cfg.model, build_frontend(cfg.features, ...))``.
        cfg: the config that builds ``model`` (stored as YAML in the metadata).
        overwrite: replace an existing file.
        dtype: store floating-point weights in this dtype (e.g. ``torch.float16`` halves the
            file); loading casts them back to the model's float32 parameters.

    Returns:
        The path written.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    from safetensors.torch import save_file

    tensors = _state_tensors(model, dtype)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": cfg.to_yaml(),
        "audioae_version": __version__,
        "tensors_blake2b": tensors_digest(tensors).hex(),
    }
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def resolve_model_file(model: str | os.PathLike) -> Path:
    """A model argument to a file: an existing path, or the name of a shipped model.

    A bare name (no path separator, no suffix, e.g. ``denoise``) that is not an existing file
    names ``<name>.safetensors`` in :data:`audioae.bundled.MODELS_DIR` (package data when
    installed, ``data/models/`` in a clone); anything else is a path.

    Raises:
        ModelFileError: the path does not exist, or the name is not a shipped model (the
            message lists the shipped names).
    """
    path = Path(model)
    if path.is_file():
        return path
    if is_bare_name(model):
        bundled = MODELS_DIR / f"{model}{MODEL_SUFFIX}"
        if bundled.is_file():
            return bundled
        names = ", ".join(available_models()) or "none found"
        raise ModelFileError(
            f"{model}: no such model file or shipped model (shipped models: {names})"
        )
    raise ModelFileError(f"{path}: model file not found")


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a model file, checked for format and version (tensors are not read).

    ``path`` may also name a shipped model (see :func:`resolve_model_file`).

    Raises:
        ModelFileError: missing file, not a safetensors file, not an audioae model, unknown version.
    """
    from safetensors import safe_open

    path = resolve_model_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own SafetensorError/OSError variants
        raise ModelFileError(f"{path}: not a readable safetensors model file ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: not an audioae model file (its metadata has no 'format: {FORMAT}'); "
            "write one with `audioae export RUN_DIR` or `audioae train`"
        )
    version = metadata.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(
            f"{path}: model file format version {version!r} is not supported by audioae {__version__} "
            f"(it reads version {', '.join(SUPPORTED_VERSIONS)}); upgrade audioae or re-export the model"
        )
    return metadata


def load_model_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model file written by :func:`save_model_file`.

    Args:
        path: the ``.safetensors`` model file, or the name of a shipped model
            (``"denoise"``, see :func:`resolve_model_file`).
        device: where to put the model (``"cpu"``, ``"cuda"``, ``torch.device``).

    Returns:
        :class:`LoadedModel` with the model in ``eval()`` mode.

    Raises:
        ModelFileError: missing, not safetensors, not an audioae model, unknown format
            version, no digest in the metadata, corrupt or truncated (tensor data unreadable
            or its digest differs), a stored config that is invalid or not bounded YAML (see
            :func:`audioae.config.load_yaml`), or weights that do not fit the stored config.
            The message names the file.
    """
    from safetensors.torch import load_file

    from .features import build_frontend
    from .models import build_model

    path = resolve_model_file(path)
    metadata = read_metadata(path)
    expected = metadata.get("tensors_blake2b")
    if not expected:
        raise ModelFileError(
            f"{path}: the metadata has no tensors_blake2b digest, so the weights cannot be "
            "checked; refusing an unverifiable model file (re-export it with `audioae export`)"
        )
    source = f"{path} (stored config)"
    try:
        cfg = config_from_dict(load_yaml(metadata.get("config", ""), source) or {}, source=source)
    except ConfigError as exc:
        raise ModelFileError(f"{path}: the stored config is invalid: {exc}") from None
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:
        raise ModelFileError(f"{path}: corrupt or truncated model file ({exc})") from None
    digest = tensors_digest(tensors)
    if digest.hex() != expected:
        raise ModelFileError(
            f"{path}: corrupt model file (the tensors' checksum does not match the header)"
        )
    try:
        model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
        model.load_state_dict(tensors, strict=True)
    except (ConfigError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: the weights do not fit the stored config ({exc})") from None
    model.eval().to(device)
    return LoadedModel(model=model, config=cfg, metadata=metadata, model_hash=digest)
