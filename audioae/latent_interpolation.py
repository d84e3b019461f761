"""Blending two latents: linear or spherical (slerp) interpolation, the level matching of an
interpolation's outputs, and the result type of :meth:`audioae.pipeline.Pipeline.interpolate`.

Latents are ``(channels, latent_dim, latent_frames)``; blend weights are 0 = A, 1 = B, a
float or a tensor that broadcasts against the latents (e.g. a ramp over the frames).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .audio import rms_db as audio_rms_db

INTERPOLATION_METHODS = ("linear", "slerp")

LEVEL_MODES = ("match", "model")
"""How :meth:`audioae.pipeline.Pipeline.interpolate` sets its outputs' levels: ``match``
(each step's RMS level in dB on the straight line between the two ends', :func:`matched_gains_db`)
or ``model`` (as the decoder makes them)."""

MAX_LEVEL_GAIN_DB = 40.0
"""Level matching moves a step by at most this many dB either way (a step the decoder made
near silent is not raised to noise)."""

SILENCE_DB = -120.0
"""The RMS level (dBFS) :func:`rms_db` gives digital silence."""


@dataclass
class Interpolation:
    """Result of :meth:`audioae.pipeline.Pipeline.interpolate`.

    ``steps``: one waveform ``(time,)`` per blend weight in ``alphas`` (0 = A, 1 = B);
    ``morph``: one waveform whose blend moves from A to B over its duration.
    """

    steps: list[torch.Tensor]
    alphas: list[float]
    morph: torch.Tensor
    gains_db: list[float] = field(default_factory=list)
    """The gain (dB) level matching applied to each step (all 0 with ``level="model"``)."""


def slerp(
    a: torch.Tensor, b: torch.Tensor, alpha: float | torch.Tensor, dim: int = 1
) -> torch.Tensor:
    """Spherical linear interpolation along ``dim`` (Shoemake 1985; White 2016 for latent spaces).

    Vectors are interpolated on the great circle between their directions with linearly
    interpolated norms; nearly parallel vectors fall back to linear interpolation.
    """
    na, nb = a.norm(dim=dim, keepdim=True), b.norm(dim=dim, keepdim=True)
    ua, ub = a / na.clamp_min(1e-8), b / nb.clamp_min(1e-8)
    cos = (ua * ub).sum(dim, keepdim=True).clamp(-1 + 1e-6, 1 - 1e-6)
    omega = torch.acos(cos)
    alpha = torch.as_tensor(alpha, dtype=a.dtype, device=a.device)
    so = torch.sin(omega)
    direction = (torch.sin((1 - alpha) * omega) * ua + torch.sin(alpha * omega) * ub) / so
    linear = (1 - alpha) * ua + alpha * ub
    direction = torch.where(so.abs() < 1e-4, linear, direction)
    return direction * ((1 - alpha) * na + alpha * nb)


def blend_latents(
    za: torch.Tensor, zb: torch.Tensor, alpha: float | torch.Tensor, method: str
) -> torch.Tensor:
    """``za`` blended towards ``zb`` by ``alpha``: :func:`slerp` over ``latent_dim`` (per latent
    frame) for ``method="slerp"``, else linear ``(1 - alpha) * za + alpha * zb``."""
    if method == "slerp":
        return slerp(za, zb, alpha, dim=1)
    return (1 - alpha) * za + alpha * zb


def rms_db(wav: torch.Tensor) -> float:
    """RMS level of a waveform ``(..., time)`` over all its samples, in dB relative to full
    scale (:func:`audioae.audio.rms_db`, the package's one RMS level), floored at
    :data:`SILENCE_DB` (digital silence).

    Raises:
        ValueError: NaN samples.
    """
    level = float(audio_rms_db(wav.reshape(-1)))
    if math.isnan(level):
        raise ValueError("rms_db: the waveform has NaN samples")
    return max(level, SILENCE_DB)


def matched_gains_db(levels_db: Sequence[float], alphas: Sequence[float]) -> list[float]:
    """Gains (dB) that put each step's level on the straight line, in dB, between the first
    and the last step's: step ``i`` at blend weight ``alphas[i]`` gets ``(1 - alpha) * L_0 +
    alpha * L_last - L_i``, clamped to +-:data:`MAX_LEVEL_GAIN_DB`; the ends get 0 exactly.

    Why: decoding a blend of two latents often gives a quieter (linear) or louder (slerp)
    sound than either end, which a morph's listener hears as a dip, not as timbre: with the
    shipped ``timbre`` VAE on 46 pairs of held-out notes the middle steps fell 4.2 dB below
    this line on average and 16 dB at worst (docs/benchmarks.md, "Interpolation"), more on
    sounds unlike its training notes.

    Raises:
        ValueError: ``levels_db`` and ``alphas`` of different lengths, or fewer than 2.
    """
    if len(levels_db) != len(alphas) or len(alphas) < 2:
        raise ValueError(
            f"need one level per blend weight and at least 2, got {len(levels_db)} and {len(alphas)}"
        )
    first, last = levels_db[0], levels_db[-1]
    gains = []
    for i, (level, alpha) in enumerate(zip(levels_db, alphas, strict=True)):
        if i in (0, len(alphas) - 1):
            gains.append(0.0)
            continue
        target = (1 - alpha) * first + alpha * last
        gains.append(float(np.clip(target - level, -MAX_LEVEL_GAIN_DB, MAX_LEVEL_GAIN_DB)))
    return gains


def gain_curve(
    alphas: Sequence[float], gains_db: Sequence[float], length: int, ramp_samples: int
) -> torch.Tensor:
    """Linear gains ``(length,)`` float32 for a morph whose blend weight rises from 0 at sample
    0 to 1 at sample ``ramp_samples`` and stays 1 after it (the pipeline's ramp over the
    latent frames ends at the last frame, ``(latent_frames - 1) * align`` samples): at sample
    ``t`` the gains (dB) of ``alphas`` interpolated linearly at ``min(t / ramp_samples, 1)``
    (0 when ``ramp_samples`` is 0: one latent frame, all A), so the morph is level-matched
    as the steps are and its B end gets the last step's gain (0 dB).
    """
    t = np.arange(max(length, 0), dtype=np.float64)
    position = np.clip(t / ramp_samples, 0.0, 1.0) if ramp_samples > 0 else np.zeros_like(t)
    curve_db = np.interp(position, np.asarray(alphas, float), np.asarray(gains_db, float))
    return torch.from_numpy(10 ** (curve_db / 20)).float()
