"""Metric helpers of the quality benchmark that :mod:`audioae.metrics` does not cover:
rank correlation, spectral centroid, interpolation-path uniformity, delay estimation, a
waveform crossfade baseline and markdown tables.

Waveforms are ``(..., time)`` float tensors at ``sample_rate`` Hz; spectrogram settings are
in samples (``n_fft``, ``hop_length``), frequencies in Hz.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from audioae.features import LogMel
from audioae.functional import magnitude, stft

__all__ = [
    "InterpolationScores",
    "crossfade_steps",
    "estimate_delay",
    "interpolation_scores",
    "largest_step_share",
    "markdown_table",
    "rankdata",
    "spearman",
    "spectral_centroid",
    "step_lengths",
]


def rankdata(x: Tensor) -> Tensor:
    """Ranks ``1..n`` of a 1-D tensor, ties given their average rank (scipy's ``"average"``).

    Returns:
        float64 ``(n,)``.

    Raises:
        ValueError: ``x`` is not 1-D.
    """
    if x.dim() != 1:
        raise ValueError(f"rankdata expects a 1-D tensor, got shape {tuple(x.shape)}")
    x = x.double()
    less = (x.unsqueeze(0) < x.unsqueeze(1)).sum(1).double()  # values strictly below each
    equal = (x.unsqueeze(0) == x.unsqueeze(1)).sum(1).double()  # ties, itself included
    return less + (equal + 1.0) / 2.0


def spearman(x: Tensor | Sequence[float], y: Tensor | Sequence[float]) -> float:
    """Spearman rank correlation (Spearman 1904): Pearson correlation of average ranks.

    Equals ``scipy.stats.spearmanr(x, y).statistic``.

    Returns:
        rho in ``[-1, 1]``; NaN when either input is constant (no ranking).

    Raises:
        ValueError: different lengths or fewer than 2 values.
    """
    x, y = torch.as_tensor(x).reshape(-1), torch.as_tensor(y).reshape(-1)
    if x.numel() != y.numel() or x.numel() < 2:
        raise ValueError(
            f"spearman needs two sequences of equal length >= 2, got {x.numel()} and {y.numel()}"
        )
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float(rx.square().sum()) * float(ry.square().sum()))
    return float((rx * ry).sum()) / denom if denom > 0 else float("nan")


def spectral_centroid(
    wav: Tensor, sample_rate: int, n_fft: int = 1024, hop_length: int = 256
) -> Tensor:
    """Clip-level spectral centroid in Hz: the centroid of the time-summed magnitude spectrum.

    ``sum_{f,t} freq_f |X(f, t)| / sum_{f,t} |X(f, t)|`` (Hann-windowed STFT), i.e. the frame
    centroids weighted by their magnitude sum, so silent frames do not count (Peeters, "A large
    set of audio features for sound description", IRCAM 2004, for the per-frame centroid).

    Args:
        wav: ``(..., time)`` at ``sample_rate`` Hz.

    Returns:
        ``(...)`` in Hz; NaN for an all-zero signal.
    """
    mag = magnitude(stft(wav, n_fft, hop_length)).sum(-1)  # (..., n_freq)
    freqs = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=mag.dtype, device=mag.device)
    return (mag * freqs).sum(-1) / mag.sum(-1)


def step_lengths(points: Tensor) -> Tensor:
    """Euclidean distances between consecutive points of a path ``(steps, ...)``: ``(steps - 1,)``.

    Raises:
        ValueError: fewer than 2 points.
    """
    if points.shape[0] < 2:
        raise ValueError(f"a path needs at least 2 points, got {points.shape[0]}")
    flat = points.reshape(points.shape[0], -1).double()
    return (flat[1:] - flat[:-1]).norm(dim=-1)


def largest_step_share(points: Tensor) -> float:
    """The largest step's share of the total path length, ``max_k d_k / sum_k d_k``.

    ``1 / (steps - 1)`` for a path of equal steps (e.g. a straight line sampled uniformly),
    1 for a path that makes one jump. NaN for a path of zero length.
    """
    d = step_lengths(points)
    total = float(d.sum())
    return float(d.max()) / total if total > 0 else float("nan")


@dataclass(frozen=True)
class InterpolationScores:
    """Scores of one morph A -> B sampled in ``steps`` equal blend steps.

    ``centroids``: spectral centroid (Hz) per step; ``rho``: Spearman correlation of step index
    and centroid; ``largest_share``: largest step's share of the log-mel path length
    (uniform = ``1 / (steps - 1)``).
    """

    centroids: list[float]
    rho: float
    largest_share: float

    @property
    def uniform_share(self) -> float:
        return 1.0 / (len(self.centroids) - 1)


def interpolation_scores(steps: Sequence[Tensor] | Tensor, sample_rate: int) -> InterpolationScores:
    """Centroid monotonicity and step uniformity of a morph.

    Args:
        steps: the ``steps`` waveforms ``(time,)`` from A (first) to B (last), equal lengths,
            or one tensor ``(steps, time)``.
        sample_rate: Hz.

    Returns:
        :class:`InterpolationScores` (log-mel: the :class:`audioae.features.LogMel` front-end
        at its defaults, 80 mels, n_fft 1024, hop 256, eps 1e-5).
    """
    wavs = torch.stack(list(steps)) if not isinstance(steps, Tensor) else steps
    centroids = spectral_centroid(wavs, sample_rate)
    rho = spearman(torch.arange(wavs.shape[0]), centroids)
    share = largest_step_share(LogMel(sample_rate)(wavs))  # the models' log-mel front-end
    return InterpolationScores([float(c) for c in centroids], rho, share)


def crossfade_steps(a: Tensor, b: Tensor, steps: int) -> list[Tensor]:
    """The waveform-crossfade baseline: ``(1 - alpha) a + alpha b`` for ``alpha = k / (steps - 1)``.

    ``a`` and ``b`` are ``(time,)``; the shorter is zero-padded to the longer.
    """
    n = max(a.shape[-1], b.shape[-1])
    a = torch.nn.functional.pad(a, (0, n - a.shape[-1]))
    b = torch.nn.functional.pad(b, (0, n - b.shape[-1]))
    return [(1 - k / (steps - 1)) * a + (k / (steps - 1)) * b for k in range(steps)]


def estimate_delay(reference: Tensor, delayed: Tensor, max_lag: int) -> int:
    """Lag ``d`` in ``0..max_lag`` (samples) maximising ``sum_t delayed[t + d] * reference[t]``.

    Computed for all lags at once with an FFT cross-correlation (float64).

    Args:
        reference: ``(time,)``.
        delayed: ``(time',)``, a delayed (and possibly processed) copy of ``reference``.
        max_lag: largest lag searched, samples >= 0.
    """
    x, y = reference.reshape(-1).double(), delayed.reshape(-1).double()
    n = x.shape[0] + y.shape[0]
    nfft = 1 << (n - 1).bit_length()
    corr = torch.fft.irfft(
        torch.fft.rfft(y, nfft) * torch.fft.rfft(x, nfft).conj(), nfft
    )  # corr[d] = sum y[t+d] x[t]
    return int(corr[: max_lag + 1].argmax())


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], precision: int = 2
) -> str:
    """A GitHub-markdown table; floats are printed with ``precision`` decimals, NaN as ``-``."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.{precision}f}"
        return str(v)

    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
