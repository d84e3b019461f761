"""The check that a trained model rebuilds finite magnitudes, run on its exported file.

A diverged run can keep its loss finite (1e26 on the features, in a run with
``training.learning_rate=1``) while the magnitudes rebuilt from its output overflow to
Inf, so every waveform it makes is NaN. :func:`check_finite_outputs` passes a fixed test
signal through the exported model and refuses such a model
(:class:`~audioae.optim.TrainingDivergedError`).
"""

from __future__ import annotations

import math
import os

import torch

from .bundled import VOCODER_FORMAT
from .modelfile import file_format, load_model_file
from .optim import TrainingDivergedError

PROBE_SECONDS = 1.0
"""Length of each test signal (s)."""


def probe_signal(sample_rate: int, seconds: float = PROBE_SECONDS) -> torch.Tensor:
    """The test signals ``(2, time)`` float32 at ``sample_rate`` (Hz): white noise at -20 dBFS
    RMS (seed 0) and a 440 Hz sine at 0.3 full scale."""
    n = max(1, round(seconds * sample_rate))
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    noise = 0.1 * torch.randn(n, generator=gen, dtype=torch.float64)
    sine = 0.3 * torch.sin(2 * math.pi * 440.0 * t)
    return torch.stack([noise, sine]).float()


@torch.inference_mode()
def check_finite_outputs(path: str | os.PathLike) -> None:
    """Pass :func:`probe_signal` through the model file ``path`` (features, the model, the
    magnitude of each output bin) and refuse it when any of those is NaN or Inf. A
    stand-alone learned-decoder (vocoder) file is not checked: it needs a model's features.

    Raises:
        TrainingDivergedError: the model's output or the magnitudes rebuilt from it are not
            finite; the message gives the largest output value.
    """
    if file_format(path) == VOCODER_FORMAT:
        return
    loaded = load_model_file(path, device="cpu")
    model = loaded.model
    probe = probe_signal(loaded.config.audio.sample_rate)
    output = model(model.frontend(probe)).reconstruction
    magnitude = model.frontend.bin_magnitude(output)
    if bool(torch.isfinite(output).all()) and bool(torch.isfinite(magnitude).all()):
        return
    finite = output[torch.isfinite(output)]
    largest = float(finite.abs().max()) if finite.numel() else float("nan")
    raise TrainingDivergedError(
        f"the trained model's output is not usable: on a test signal its features reach "
        f"{largest:.3g} and the magnitudes rebuilt from them overflow to Inf or NaN, so every "
        "waveform it makes would be NaN; training diverged"
    )
