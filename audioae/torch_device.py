"""The torch device a model runs on: ``--device`` names (``auto``, ``cpu``, ``cuda:N``) to a
:class:`torch.device`, refused in one line when this build or machine does not have it.

Not to be confused with :mod:`audioae.sound_devices` (sound cards).
"""

from __future__ import annotations

import torch

from .pipeline_errors import PipelineError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; anything else is passed to ``torch.device``.

    Raises:
        PipelineError: not a device name, or a CUDA device this PyTorch build or machine
            does not have (one line, e.g. for ``--device cuda`` on a CPU-only build).
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise PipelineError(
            f"device {str(device)!r}: not a device name; use auto, cpu, cuda or cuda:N"
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            build = (
                "a CPU-only PyTorch build" if torch.version.cuda is None else "no CUDA GPU visible"
            )
            raise PipelineError(
                f"device {str(device)!r}: CUDA is not available ({build}); use --device cpu"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise PipelineError(
                f"device {str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) visible"
            )
    elif resolved.type == "mps":
        if not torch.backends.mps.is_available():
            raise PipelineError(
                f"device {str(device)!r}: Apple's MPS is not available here; use --device cpu"
            )
    elif resolved.type != "cpu":
        raise PipelineError(f"device {str(device)!r}: unsupported; use auto, cpu, cuda or cuda:N")
    return resolved
