"""Blending two latents: linear or spherical (slerp) interpolation, and the result type of
:meth:`audioae.pipeline.Pipeline.interpolate`.

Latents are ``(channels, latent_dim, latent_frames)``; blend weights are 0 = A, 1 = B, a
float or a tensor that broadcasts against the latents (e.g. a ramp over the frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

INTERPOLATION_METHODS = ("linear", "slerp")


@dataclass
class Interpolation:
    """Result of :meth:`audioae.pipeline.Pipeline.interpolate`.

    ``steps``: one waveform ``(time,)`` per blend weight in ``alphas`` (0 = A, 1 = B);
    ``morph``: one waveform whose blend moves from A to B over its duration.
    """

    steps: list[torch.Tensor]
    alphas: list[float]
    morph: torch.Tensor


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
