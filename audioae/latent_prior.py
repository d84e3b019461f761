"""Latent priors to sample a VAE from: the standard normal it was trained towards, or a
Gaussian process fitted to the latents of real sounds.

A VAE trained with a small ``beta`` (the shipped ``timbre`` VAE: 0.05) encodes real sounds
far from its prior ``N(0, I)``: its posterior means spread by 1.3-2.6 per dimension, off
centre by up to 1.6, and neighbouring latent frames correlate (0.6-0.8 within a note), while
prior draws are independent from frame to frame. Decoding prior draws then gives sounds
unlike any the model was trained on. Fitting the distribution of the encoded latents after
training and sampling from it instead (ex-post density estimation; Ghosh et al., "From
variational to deterministic autoencoders", ICLR 2020) fixes that. :class:`LatentPrior` is
such a fit, per latent dimension: a stationary first-order autoregressive Gaussian process
with the mean, standard deviation and lag-1 autocorrelation of the encoded latents
(:func:`fit_latent_prior`); :data:`STANDARD_PRIOR` is ``N(0, I)``, independent frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

MAX_CORRELATION = 0.999
"""Fitted lag-1 correlations are clipped to ``[0, MAX_CORRELATION]``."""


@dataclass(frozen=True)
class LatentPrior:
    """A Gaussian process over latent frames, independent across dimensions: each dimension
    ``d`` is stationary AR(1) with mean ``mean[d]``, standard deviation ``std[d]`` and lag-1
    correlation ``correlation[d]`` (0: independent frames). Tensors ``(latent_dim,)``, or
    ``None`` for the standard normal (mean 0, std 1, correlation 0)."""

    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None
    correlation: torch.Tensor | None = None

    def draw(
        self,
        n: int,
        latent_dim: int,
        frames: int,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` draws ``(n, latent_dim, frames)`` (float32, CPU): ``mean + temperature * std *
        u`` where ``u`` is the unit-variance AR(1) process ``u_0 = e_0``,
        ``u_t = rho u_(t-1) + sqrt(1 - rho^2) e_t`` with ``e ~ N(0, 1)``.

        Raises:
            ValueError: ``latent_dim`` differs from the fitted one.
        """
        for t in (self.mean, self.std, self.correlation):
            if t is not None and t.shape != (latent_dim,):
                raise ValueError(
                    f"the prior was fitted for {t.shape[0]} latent dimensions, not {latent_dim}"
                )
        e = torch.randn((n, latent_dim, frames), generator=generator)
        u = e
        if self.correlation is not None and bool((self.correlation > 0).any()):
            rho = self.correlation.float().view(1, -1)
            innovation = (1.0 - rho.square()).sqrt()
            steps = [e[..., 0]]
            for t in range(1, frames):
                steps.append(rho * steps[-1] + innovation * e[..., t])
            u = torch.stack(steps, dim=-1)
        std = 1.0 if self.std is None else self.std.float().view(1, -1, 1)
        mean = 0.0 if self.mean is None else self.mean.float().view(1, -1, 1)
        return mean + temperature * std * u


STANDARD_PRIOR = LatentPrior()
"""``N(0, I)`` with independent frames: what a VAE's KL term pulls its posteriors towards."""


def fit_latent_prior(latents: Sequence[torch.Tensor], *, temporal: bool = True) -> LatentPrior:
    """Fit a :class:`LatentPrior` to encoded latents (e.g. posterior means of real sounds).

    Args:
        latents: one ``(latent_dim, frames)`` tensor per sound.
        temporal: fit the lag-1 correlation (pairs of neighbouring frames within each sound,
            around the pooled mean; clipped to ``[0, MAX_CORRELATION]``); ``False``:
            independent frames.

    Returns:
        The fitted prior (float64 statistics over all frames of all sounds).

    Raises:
        ValueError: no latents, latents of different dimensions, or fewer than 2 frames in
            all (a standard deviation cannot be fitted).
    """
    if not latents:
        raise ValueError("fit_latent_prior needs at least one latent")
    dims = {int(z.shape[0]) for z in latents}
    if len(dims) != 1 or any(z.ndim != 2 for z in latents):
        raise ValueError(f"latents must all be (latent_dim, frames) of one latent_dim, got {dims}")
    frames = torch.cat([z.double() for z in latents], dim=-1)
    if frames.shape[-1] < 2:
        raise ValueError("fit_latent_prior needs at least 2 latent frames in all")
    mean = frames.mean(-1)
    std = frames.std(-1, correction=1).clamp_min(1e-6)
    correlation = None
    if temporal:
        num = torch.zeros_like(mean)
        count = 0
        for z in latents:
            c = (z.double() - mean[:, None]) / std[:, None]
            if c.shape[-1] > 1:
                num += (c[:, 1:] * c[:, :-1]).sum(-1)
                count += c.shape[-1] - 1
        if count:
            correlation = (num / count).clamp(0.0, MAX_CORRELATION)
    if correlation is not None and not bool(torch.isfinite(correlation).all()):
        correlation = None
    return LatentPrior(mean=mean, std=std, correlation=correlation)


def describe(prior: LatentPrior) -> str:
    """One line: the ranges of the prior's statistics."""
    if prior.mean is None:
        return "standard normal prior (mean 0, std 1, independent frames)"

    def span(t: torch.Tensor | None) -> str:
        return "0" if t is None else f"{float(t.min()):.2f}..{float(t.max()):.2f}"

    return (
        f"fitted prior: mean {span(prior.mean)}, std {span(prior.std)}, lag-1 correlation "
        f"{span(prior.correlation)} over {prior.mean.numel()} dimensions"
    )


__all__ = ["MAX_CORRELATION", "STANDARD_PRIOR", "LatentPrior", "describe", "fit_latent_prior"]
