"""Model files: one ``.safetensors`` file holding a trained model and the config that builds it.

Layout (no pickle anywhere): the tensors are the model's ``state_dict`` (float tensors as
trained, on the CPU); the safetensors metadata (string to string) holds

    format          "audioae-model"
    format_version  "2" (version 1 files, without a decoder, still load)
    config          the effective run config as YAML (every section, see ``audioae.config``)
    audioae_version the package version that wrote the file
    tensors_blake2b hex BLAKE2b-128 digest of the tensors (see :func:`tensors_digest`)
    vocoder_config  only when the file carries a learned decoder (:mod:`audioae.vocoder`):
                    its ``VocoderConfig`` as YAML; its weights are the tensors under the
                    ``vocoder.`` prefix (the decoder decodes the model's own front-end)

A stand-alone decoder file (``format: audioae-vocoder``, written by ``audioae train vocoder``)
has the same layout with the decoder's ``state_dict``; :mod:`audioae.vocoderfile` reads and
writes it with the helpers here (:func:`write_tensors_file`, :func:`read_checked_tensors`).

Loading rebuilds the model with :func:`audioae.models.build_model` from the stored config,
loads the weights strictly and checks the digest, so a truncated or altered file is refused
with :class:`ModelFileError` instead of giving wrong audio. A reader refuses format versions
it does not know (as descript-audio-codec's ``DACFile`` does).

A training run's folder is turned into a model file by :func:`audioae.run_export.export_run`;
this module knows nothing of runs or Lightning checkpoints.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import yaml
from torch import nn

from . import __version__
from .bundled import (
    MODEL_SUFFIX,
    MODELS_DIR,
    VOCODER_FORMAT,
    available_models,
    is_bare_name,
    safetensors_metadata,
)
from .config import Config, ConfigError, config_from_dict, load_yaml
from .fileio import atomic_output

FORMAT = "audioae-model"
FORMAT_VERSION = "2"
SUPPORTED_VERSIONS = ("1", "2")
VOCODER_PREFIX = "vocoder."
VOCODER_CONFIG_KEY = "vocoder_config"


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
        model_hash: 16-byte BLAKE2b digest of the model's tensors (names, dtypes, shapes,
            bytes; a carried decoder's tensors left out); latent files carry it so a decoder
            can check it has the encoder's weights.
        vocoder: the learned decoder the file carries (``eval()``, on the device), or None.
    """

    model: nn.Module
    config: Config
    metadata: dict[str, str]
    model_hash: bytes
    vocoder: nn.Module | None = None


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


def state_tensors(model: nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
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
    vocoder: nn.Module | None = None,
) -> Path:
    """Write ``model``'s weights and ``cfg`` to a model file (atomically).

    Args:
        path: destination, conventionally ``*.safetensors``.
        model: an autoencoder built by ``build_model(cfg.model, build_frontend(cfg.features, ...))``.
        cfg: the config that builds ``model`` (stored as YAML in the metadata).
        overwrite: replace an existing file.
        dtype: store floating-point weights in this dtype (e.g. ``torch.float16`` halves the
            file); loading casts them back to the model's float32 parameters.
        vocoder: a learned decoder (:class:`~audioae.vocoder.Vocoder`) of ``cfg.features`` to
            carry in the file (its weights under ``vocoder.``, its config in the metadata).

    Returns:
        The path written.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
    """
    tensors = state_tensors(model, dtype)
    extra = {}
    if vocoder is not None:
        tensors.update({VOCODER_PREFIX + k: v for k, v in state_tensors(vocoder, dtype).items()})
        extra[VOCODER_CONFIG_KEY] = yaml.safe_dump(asdict(vocoder.config), sort_keys=False)
    return write_tensors_file(path, tensors, FORMAT, FORMAT_VERSION, cfg, overwrite, extra)


def write_tensors_file(
    path: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    file_format: str,
    version: str,
    cfg: Config,
    overwrite: bool,
    extra: dict[str, str] | None = None,
) -> Path:
    from safetensors.torch import save_file

    metadata = {
        "format": file_format,
        "format_version": version,
        "config": cfg.to_yaml(),
        "audioae_version": __version__,
        "tensors_blake2b": tensors_digest(tensors).hex(),
        **(extra or {}),
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
    return resolve_shipped_file(model, "model", available_models)


def resolve_shipped_file(
    arg: str | os.PathLike, what: str, shipped: Callable[[], list[str]]
) -> Path:
    """An existing path, or a bare name (see :func:`audioae.bundled.is_bare_name`) of a file in
    :data:`audioae.bundled.MODELS_DIR`; ``what`` names the kind of file in the messages and
    ``shipped()`` lists the names they offer.

    Raises:
        ModelFileError: the path does not exist, no shipped file has that name, or it is a
            folder (the message names a training run's ``model.safetensors`` when it has one,
            else ``audioae export``).
    """
    path = Path(arg)
    if path.is_file():
        return path
    if is_bare_name(arg):  # a shipped name wins over a folder of that name (`-o denoise/`)
        bundled = MODELS_DIR / f"{os.fspath(arg)}{MODEL_SUFFIX}"
        if bundled.is_file():
            inside = path / f"model{MODEL_SUFFIX}"
            if inside.is_file():  # a run folder of that name: say which one is used
                warnings.warn(
                    f"{arg}: the shipped {what}; the folder {arg}/ holds a model file too: "
                    f"give {inside} for that one",
                    stacklevel=2,
                )
            return bundled
    if path.is_dir():
        raise ModelFileError(_folder_hint(path, what))
    if is_bare_name(arg):
        names = ", ".join(shipped()) or "none found"
        raise ModelFileError(
            f"{arg}: no such {what} file or shipped {what} (shipped {what}s: {names})"
        )
    raise ModelFileError(f"{path}: {what} file not found")


def _folder_hint(folder: Path, what: str) -> str:
    """The error for a folder given where a ``what`` file was expected: a training run's model
    file when it has one, else how to write it."""
    inside = folder / f"model{MODEL_SUFFIX}"
    if inside.is_file():
        return f"{folder}: a folder, not a {what} file; the run's model file is {inside}"
    if (folder / "config.yaml").is_file():
        return (
            f"{folder}: a training run folder without a model file yet; write one with "
            f"`audioae export {folder}`"
        )
    return f"{folder}: a folder, not a {what} file"


def raw_metadata(path: Path) -> dict[str, str]:
    path = resolve_model_file(path)
    if path.suffix == ".ckpt":  # a Lightning checkpoint is a zip; say what to do with it
        raise ModelFileError(
            f"{path}: a training checkpoint, not a model file; write the model file with "
            "`audioae export RUN_DIR` (--checkpoint picks which one)"
        )
    try:
        return safetensors_metadata(path)
    except Exception as exc:  # safetensors raises its own SafetensorError/OSError variants
        raise ModelFileError(f"{path}: not a readable safetensors model file ({exc})") from None


def file_format(path: str | os.PathLike) -> str:
    """The ``format`` a safetensors file's metadata names (``"audioae-model"``,
    ``"audioae-vocoder"``, or ``""``); shipped model names are resolved.

    Raises:
        ModelFileError: missing or not a readable safetensors file.
    """
    return raw_metadata(Path(path)).get("format", "")


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a model file, checked for format and version (tensors are not read).

    ``path`` may also name a shipped model (see :func:`resolve_model_file`).

    Raises:
        ModelFileError: missing file, not a safetensors file, not an audioae model (a
            stand-alone decoder file says so), unknown version.
    """
    path = Path(path)
    metadata = raw_metadata(path)
    if metadata.get("format") == VOCODER_FORMAT:
        raise ModelFileError(
            f"{path}: a stand-alone learned decoder (vocoder) file, not a model; attach it to a model "
            "with the same front-end: `audioae decode MODEL X --vocoder FILE` or Pipeline.load(MODEL, vocoder=FILE)"
        )
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
            :func:`audioae.config.load_yaml`), weights that do not fit the stored config, or a
            ``device`` this machine or PyTorch build does not have (e.g. ``"cuda"`` on a
            CPU-only build).
            The message names the file.
    """
    from .features import build_frontend
    from .models import build_model

    path = resolve_model_file(path)
    metadata = read_metadata(path)
    cfg = stored_config(path, metadata)
    tensors, decoder_tensors, digest = _split_decoder(*read_checked_tensors(path, metadata))
    if decoder_tensors and VOCODER_CONFIG_KEY not in metadata:
        raise ModelFileError(
            f"{path}: holds learned-decoder tensors ({VOCODER_PREFIX}*) but no "
            f"{VOCODER_CONFIG_KEY} to build the decoder"
        )
    try:
        model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
        _check_dtypes(path, model, tensors)
        model.load_state_dict(tensors, strict=True)
    except (ConfigError, RuntimeError) as exc:
        raise ModelFileError(f"{path}: the weights do not fit the stored config ({exc})") from None
    vocoder = None
    if VOCODER_CONFIG_KEY in metadata:
        vocoder = build_attached_vocoder(path, metadata[VOCODER_CONFIG_KEY], cfg, decoder_tensors)
    try:
        if vocoder is not None:
            vocoder.eval().to(device)
        model.eval().to(device)
    except (AssertionError, RuntimeError, ValueError, TypeError) as exc:  # no such device here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFileError(f"{path}: cannot load onto device {str(device)!r}: {reason}") from None
    return LoadedModel(
        model=model, config=cfg, metadata=metadata, model_hash=digest, vocoder=vocoder
    )


def _check_dtypes(path: Path, module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Refuse a stored tensor whose kind differs from the module's (integer, bool or complex
    weights where the model has floating-point ones: casting them gives nonsense audio)."""
    for name, target in module.state_dict().items():
        stored = tensors.get(name)
        if stored is not None and stored.is_floating_point() != target.is_floating_point():
            raise ModelFileError(
                f"{path}: tensor {name} is stored as {stored.dtype}; the model's is {target.dtype}"
            )


def read_model_config(path: str | os.PathLike) -> Config:
    """The config a model file was trained with, from its metadata alone (the tensors are not
    read, so a large file answers at once and a file with damaged weights still tells its
    config; :func:`load_model_file` checks the weights).

    Args:
        path: the ``.safetensors`` model file, or the name of a shipped model.

    Raises:
        ModelFileError: missing, not safetensors, not an audioae model, an unknown format
            version, or a stored config that is invalid or not bounded YAML. The message
            names the file.
    """
    path = resolve_model_file(path)
    return stored_config(path, read_metadata(path))


def stored_config(path: Path, metadata: dict[str, str]) -> Config:
    """The config stored in a model or decoder file, read as bounded YAML and checked."""
    source = f"{path} (stored config)"
    try:
        data = load_yaml(metadata.get("config", ""), source)
        if not data or not isinstance(data, dict):
            raise ConfigError(f"{source}: not a mapping of config sections")
        return config_from_dict(data, source=source)
    except ConfigError as exc:
        raise ModelFileError(f"{path}: the stored config is invalid: {exc}") from None


def _split_decoder(
    tensors: dict[str, torch.Tensor], digest: bytes
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], bytes]:
    """A model file's tensors to ``(model tensors, attached decoder's tensors, model hash)``.

    The model hash leaves an attached decoder out, so latent files stay valid when a decoder
    is attached or replaced."""
    decoder = {
        k[len(VOCODER_PREFIX) :]: v for k, v in tensors.items() if k.startswith(VOCODER_PREFIX)
    }
    if not decoder:
        return tensors, decoder, digest
    model = {k: v for k, v in tensors.items() if not k.startswith(VOCODER_PREFIX)}
    return model, decoder, tensors_digest(model)


def shipped_model_with_hash(model_hash: bytes) -> str | None:
    """The name of the shipped model whose model hash (the digest an ``.aae`` header carries,
    :attr:`LoadedModel.model_hash`) is ``model_hash``, or ``None``. Files that cannot be read
    are passed over (loading one by name says why). Cached per hash and models folder: a
    folder of another model's files reads and checks the shipped models once."""
    return _shipped_model_with_hash(MODELS_DIR, bytes(model_hash))


@functools.lru_cache(maxsize=16)
def _shipped_model_with_hash(models_dir: Path, model_hash: bytes) -> str | None:
    for name in available_models():
        path = models_dir / f"{name}{MODEL_SUFFIX}"
        try:
            if _split_decoder(*read_checked_tensors(path, read_metadata(path)))[2] == model_hash:
                return name
        except ModelFileError:
            continue
    return None


def read_checked_tensors(
    path: Path, metadata: dict[str, str]
) -> tuple[dict[str, torch.Tensor], bytes]:
    """The tensors of a model or decoder file, checked against the digest in its metadata.

    Raises:
        ModelFileError: no digest in the metadata (an unverifiable file is refused), corrupt
            or truncated tensor data, or a digest that differs.
    """
    from safetensors.torch import load_file

    expected = metadata.get("tensors_blake2b")
    if not expected:
        raise ModelFileError(
            f"{path}: the metadata has no tensors_blake2b digest, so the weights cannot be "
            "checked; refusing an unverifiable model file (re-export it with `audioae export`)"
        )
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:
        raise ModelFileError(f"{path}: corrupt or truncated model file ({exc})") from None
    digest = tensors_digest(tensors)
    if digest.hex() != expected:
        raise ModelFileError(
            f"{path}: corrupt model file (the tensors' checksum does not match the header)"
        )
    return tensors, digest


def build_attached_vocoder(
    path: Path, vocoder_yaml: str | None, cfg: Config, tensors: dict[str, torch.Tensor]
) -> nn.Module:
    """The decoder of ``cfg.features`` with ``tensors``; ``vocoder_yaml`` replaces ``cfg.vocoder``."""
    from .features import build_frontend
    from .vocoder import build_vocoder

    try:
        vocoder_cfg = cfg.vocoder
        if vocoder_yaml is not None:
            data = cfg.to_dict()
            data["vocoder"] = load_yaml(vocoder_yaml, f"{path} ({VOCODER_CONFIG_KEY})") or {}
            vocoder_cfg = config_from_dict(data, source=f"{path} ({VOCODER_CONFIG_KEY})").vocoder
        vocoder = build_vocoder(vocoder_cfg, build_frontend(cfg.features, cfg.audio.sample_rate))
        _check_dtypes(path, vocoder, tensors)
        vocoder.load_state_dict(tensors, strict=True)
    except (ConfigError, RuntimeError) as exc:
        raise ModelFileError(
            f"{path}: the learned decoder's weights do not fit its config ({exc})"
        ) from None
    return vocoder
