"""Where the bundled files live: recipes, the shipped models and the held-out demo audio.

In a clone (or an editable install) they are the repository's own folders, ``recipes/``,
``data/models/`` and ``data/``. A regular install (``pip install .``) carries them as package
data, mapped in ``pyproject.toml`` to the subpackages ``audioae.recipes``,
``audioae.pretrained`` and ``audioae.heldout`` (the last one holds only what the demo reads:
``splits.yaml``, the notes, the noise, the English speech of the test split and the licences).
Each folder is looked up inside the package first, then beside it, so both layouts work
without configuration.

This module only knows folders and names; :func:`audioae.config.resolve_recipe` and
:func:`audioae.modelfile.resolve_model_file` turn a user's argument into a file.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _installed_or_repo(package_folder: str, repo_folder: str) -> Path:
    """``audioae/<package_folder>`` when installed as package data, else ``<repo>/<repo_folder>``."""
    installed = _PACKAGE / package_folder
    return installed if installed.is_dir() else _PACKAGE.parent / repo_folder


RECIPES_DIR = _installed_or_repo("recipes", "recipes")
"""The bundled recipes, ``<name>.yaml``."""

MODELS_DIR = _installed_or_repo("pretrained", "data/models")
"""The shipped models, ``<name>.safetensors`` (``denoise``, ``denoise_stream``, ``codec``,
``timbre``), and the stand-alone learned decoder ``vocoder`` (80-band log-mel, n_fft 1024,
hop 256 at 16 kHz)."""

DATA_DIR = _installed_or_repo("heldout", "data")
"""The bundled audio with its ``splits.yaml``: the full ``data/`` folder in a clone, the
held-out part the demo needs in an installed package."""

MODEL_SUFFIX = ".safetensors"


VOCODER_FORMAT = "audioae-vocoder"
"""The ``format`` metadata of a stand-alone learned decoder file (see :mod:`audioae.modelfile`)."""


def safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of a safetensors file (only its header is read; no torch import).

    Raises:
        OSError or safetensors' own error: missing or not a readable safetensors file.
    """
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return dict(f.metadata() or {})


def _file_format(path: Path) -> str:
    """The ``format`` in a safetensors file's metadata, or ``""``."""
    try:
        return safetensors_metadata(path).get("format", "")
    except Exception:  # an unreadable file is listed as a model; loading it says why
        return ""


def _shipped(decoders: bool) -> list[str]:
    if not MODELS_DIR.is_dir():
        return []
    files = sorted(MODELS_DIR.glob(f"*{MODEL_SUFFIX}"))
    return [p.stem for p in files if (_file_format(p) == VOCODER_FORMAT) == decoders]


def available_models() -> list[str]:
    """Names of the shipped models (``<name>.safetensors`` in :data:`MODELS_DIR` that are
    model files, not stand-alone decoders), sorted."""
    return _shipped(decoders=False)


def available_vocoders() -> list[str]:
    """Names of the shipped stand-alone learned decoders (``--vocoder NAME``), sorted."""
    return _shipped(decoders=True)


def is_bare_name(text: str | os.PathLike) -> bool:
    """True for a name such as ``denoise``: no path separator and no suffix.

    Such an argument names a bundled file unless a file of that name exists.
    """
    text = os.fspath(text)
    return bool(text) and "/" not in text and os.sep not in text and not Path(text).suffix
