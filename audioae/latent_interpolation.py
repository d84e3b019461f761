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
    """RMS level of a waveform ``(..., time)`` in dB relative to full scale (1.0), over all its
    samples; :data:`SILENCE_DB` for silence."""
    power = float(wav.double().square().mean())
    return 10 * math.log10(power) if power > 10 ** (SILENCE_DB / 10) else SILENCE_DB


def matched_gains_db(levels_db: Sequence[float], alphas: Sequence[float]) -> list[float]:
    """Gains (dB) that put each step's level on the straight line, in dB, between the first
    and the last step's: step ``i`` at blend weight ``alphas[i]`` gets ``(1 - alpha) * L_0 +
    alpha * L_last - L_i``, clamped to +-:data:`MAX_LEVEL_GAIN_DB`; the ends get 0 exactly.

    Why: decoding a blend of two latents often gives a quieter (linear) or louder (slerp)
    sound than either end (on the shipped ``timbre`` VAE, middle steps 10-30 dB below both
    ends), which a morph's listener hears as a dip, not as timbre.

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


def gain_curve(alphas: Sequence[float], gains_db: Sequence[float], length: int) -> torch.Tensor:
    """Linear gains ``(length,)`` float32 for a morph whose blend weight rises from 0 to 1 over
    its ``length`` samples: at sample ``t`` the gains (dB) of ``alphas`` interpolated linearly
    at ``t / (length - 1)``, so the morph is level-matched as the steps are."""
    position = np.linspace(0.0, 1.0, max(length, 1))
    curve_db = np.interp(position, np.asarray(alphas, float), np.asarray(gains_db, float))
    return torch.from_numpy(10 ** (curve_db[:length] / 20)).float()
