"""Spectrogram figures (matplotlib): labelled axes in seconds and Hz, a dB colour bar.

One module draws every picture audioae makes: the PNGs of ``audioae interpolate`` and
``audioae demo``, the report, and the spectrogram images logged to TensorBoard.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .fileio import atomic_output  # noqa: E402

N_FFT = 1024
HOP_LENGTH = 256
DB_RANGE = 80.0


def power_db(
    wav: torch.Tensor | np.ndarray, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH
) -> np.ndarray:
    """Power spectrogram in dB (ref 1.0 = full scale sine energy per bin), ``(n_fft//2+1, frames)``.

    ``wav`` is a mono waveform ``(time,)`` (a leading channel axis of size 1 is dropped; more
    channels are averaged). Values are floored at -120 dB.
    """
    x = torch.as_tensor(np.asarray(wav, dtype=np.float32))
    if x.ndim > 1:
        x = x.reshape(-1, x.shape[-1]).mean(0)
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    window = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop_length, window=window, return_complex=True)
    power = spec.abs().square() / (window.sum() ** 2 / 4)
    return (10.0 * torch.log10(power.clamp_min(1e-12))).numpy()


def _draw(ax, wav, sample_rate: int, title: str | None, vmax: float | None):
    db = power_db(wav)
    top = float(db.max()) if vmax is None else vmax
    frames = db.shape[1]
    extent = (0.0, frames * HOP_LENGTH / sample_rate, 0.0, sample_rate / 2)
    image = ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        extent=extent,
        cmap="magma",
        vmin=top - DB_RANGE,
        vmax=top,
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title, fontsize=9)
    return image


def spectrogram_figure(
    wav: torch.Tensor | np.ndarray, sample_rate: int, title: str | None = None
) -> Figure:
    """A single spectrogram figure of a waveform ``(time,)`` at ``sample_rate`` Hz, with a dB colour bar."""
    fig, ax = plt.subplots(figsize=(6, 3), constrained_layout=True)
    image = _draw(ax, wav, sample_rate, title, None)
    fig.colorbar(image, ax=ax, label="power (dB)")
    return fig


def spectrogram_grid(
    wavs: Sequence[torch.Tensor | np.ndarray],
    sample_rate: int,
    titles: Sequence[str] | None = None,
    columns: int = 4,
) -> Figure:
    """Spectrograms of several waveforms on one shared dB scale (e.g. the steps of a morph)."""
    n = len(wavs)
    if n == 0:
        raise ValueError("spectrogram_grid: no waveforms to draw")
    columns = max(1, min(columns, n))
    rows = (n + columns - 1) // columns
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False, constrained_layout=True
    )
    vmax = max(float(power_db(w).max()) for w in wavs)
    image = None
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        image = _draw(ax, wavs[i], sample_rate, titles[i] if titles else None, vmax)
    fig.colorbar(image, ax=axes, label="power (dB)", shrink=0.8)
    return fig


def save_figure(
    fig: Figure, path: str | os.PathLike, *, overwrite: bool = False, dpi: int = 100
) -> Path:
    """Write ``fig`` as PNG atomically (see :func:`audioae.fileio.atomic_output`) and close it."""
    path = Path(path)
    try:
        with atomic_output(path, overwrite=overwrite) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return path


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render ``fig`` to an RGB array ``(height, width, 3)`` uint8 (for TensorBoard) and close it."""
    fig.canvas.draw()
    array = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return array
