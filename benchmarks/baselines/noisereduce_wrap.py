"""The ``noisereduce`` spectral-gating denoiser (T. Sainburg et al.; after Audacity's noise
reduction effect; described in Sainburg, Thielk & Gentner, PLoS Comput. Biol. 2020) as a
benchmark baseline, with the package's defaults.

``noisereduce`` is a benchmark-only dependency (``pip install "audioae[bench]"``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["noisereduce_denoise", "noisereduce_available"]


def noisereduce_available() -> bool:
    """True when the ``noisereduce`` package can be imported."""
    try:
        import noisereduce  # noqa: F401
    except ImportError:
        return False
    return True


def noisereduce_denoise(wav: Tensor, sample_rate: int, *, stationary: bool) -> Tensor:
    """Denoise with ``noisereduce.reduce_noise`` at its defaults (numpy, CPU).

    ``stationary=True``: one noise threshold per frequency from the whole input's statistics
    (mean + 1.5 std of the dB spectrogram, no separate noise clip given); ``False``: a
    threshold tracking the noise floor with a 2 s time constant. Both use ``n_fft=1024``,
    a sigmoid/hard mask smoothed over 500 Hz and 50 ms, and ``prop_decrease=1.0``.

    Args:
        wav: noisy waveform ``(..., time)`` at ``sample_rate`` Hz (leading dims are
            processed one signal at a time).
        sample_rate: Hz.
        stationary: which of the two algorithms.

    Returns:
        Denoised waveform, same shape, dtype and device as ``wav``.

    Raises:
        ImportError: ``noisereduce`` is not installed (``pip install "audioae[bench]"``).
    """
    try:
        import noisereduce
    except ImportError as exc:
        raise ImportError('the noisereduce baseline needs: pip install "audioae[bench]"') from exc
    x = wav.detach().to("cpu", torch.float32).reshape(-1, wav.shape[-1]).numpy()
    rows = [
        np.asarray(
            noisereduce.reduce_noise(y=row, sr=sample_rate, stationary=stationary), dtype=np.float32
        )
        for row in x
    ]
    out = torch.from_numpy(np.stack(rows)[:, : wav.shape[-1]])
    return out.reshape(wav.shape).to(wav.device, wav.dtype)
