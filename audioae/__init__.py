"""audioae: audio autoencoders on spectrograms, with denoising, compression and timbre interpolation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Pipeline", "load_config", "build_model", "__version__"]

if TYPE_CHECKING:
    from .config import load_config
    from .models import build_model
    from .pipeline import Pipeline


def __getattr__(name: str) -> Any:
    # Lazy: `audioae --help` and light imports do not pay for torch/librosa start-up.
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    if name == "load_config":
        from .config import load_config

        return load_config
    if name == "build_model":
        from .models import build_model

        return build_model
    raise AttributeError(f"module 'audioae' has no attribute {name!r}")
