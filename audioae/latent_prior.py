"""Latent priors to sample a VAE from: the standard normal it was trained towards, or a
Gaussian process fitted to the latents of real sounds.

A VAE trained with a small ``beta`` (the shipped ``timbre`` VAE: 0.05) encodes real sounds
far from its prior ``N(0, I)``: on its training notes the posterior means spread by 1.4-2.8
per dimension around centres between -0.8 and 1.3, and neighbouring latent frames correlate
(0.6-0.8 within a note), while prior draws are independent from frame to frame. Decoded
prior draws are then unlike the sounds the model was trained on. Fitting the distribution of
the encoded latents after training and sampling from it instead (ex-post density estimation;
Ghosh et al., "From variational to deterministic autoencoders", ICLR 2020) brings them
closer: for the timbre VAE it halves their Frechet distance to held-out notes
(``benchmarks/bench_sampling.py``, docs/benchmarks.md). :class:`LatentPrior` is
such a fit, per latent dimension: a stationary first-order autoregressive Gaussian process
with the mean, standard deviation and lag-1 autocorrelation of the encoded latents
(:func:`fit_latent_prior`); :data:`STANDARD_PRIOR` is ``N(0, I)``, independent frames.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .fileio import atomic_output

PRIOR_FORMAT = "audioae-latent-prior"
PRIOR_VERSION = 1
MAX_PRIOR_BYTES = 1 << 20
"""A prior file larger than this (1 MiB; a 4096-dimensional latent needs about 300 kB) is
refused unread."""
MAX_PRIOR_DIM = 4096
MAX_PRIOR_VALUE = 1e4
"""The largest mean or standard deviation a prior file may give a latent dimension (fitted
priors of the shipped VAE are within 10; a value near a float's range decodes to Inf)."""


class LatentPriorError(ValueError):
    """A prior file cannot be read, is malformed, or was fitted for another model."""


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
    model_hash: bytes | None = None
    """The model the prior was fitted for (:meth:`audioae.pipeline.Pipeline.fit_prior` and
    :func:`load_prior` with a hash set it; ``Pipeline.sample`` refuses another model's)."""

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
        LatentPriorError (a ValueError): no latents, or fewer than 2 frames in all (a
            standard deviation cannot be fitted). ValueError: latents of different dimensions.
    """
    if not latents:
        raise LatentPriorError("fit_latent_prior needs at least one latent")
    dims = {int(z.shape[0]) for z in latents}
    if len(dims) != 1 or any(z.ndim != 2 for z in latents):
        raise ValueError(f"latents must all be (latent_dim, frames) of one latent_dim, got {dims}")
    frames = torch.cat([z.double() for z in latents], dim=-1)
    if frames.shape[-1] < 2:
        raise LatentPriorError(
            f"fitting a prior needs at least 2 latent frames in all, got {frames.shape[-1]}; "
            "give longer audio"
        )
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


def save_prior(
    path: str | os.PathLike, prior: LatentPrior, model_hash: bytes, *, overwrite: bool = False
) -> Path:
    """Write a fitted ``prior`` as JSON (format :data:`PRIOR_FORMAT`, version
    :data:`PRIOR_VERSION`), tied to the model that encoded its latents by ``model_hash``
    (the model's 16-byte digest), atomically.

    Raises:
        ValueError: the standard prior (nothing to save).
        audioae.fileio.OutputExistsError: ``path`` exists and not ``overwrite``.
    """
    if prior.mean is None or prior.std is None:
        raise ValueError("the standard prior has nothing to save; fit one first")
    doc = {
        "format": PRIOR_FORMAT,
        "version": PRIOR_VERSION,
        "model_hash": model_hash.hex(),
        "mean": prior.mean.double().tolist(),
        "std": prior.std.double().tolist(),
        "correlation": None if prior.correlation is None else prior.correlation.double().tolist(),
    }
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1)
    return Path(path)


def load_prior(path: str | os.PathLike, model_hash: bytes | None = None) -> LatentPrior:
    """Read a prior written by :func:`save_prior`; with ``model_hash``, it must have been
    fitted for that model.

    Raises:
        LatentPriorError: unreadable, larger than :data:`MAX_PRIOR_BYTES`, not this format or
            version, malformed (lengths differ, values not finite or beyond
            :data:`MAX_PRIOR_VALUE`, a spread <= 0, a
            correlation outside ``[0, MAX_CORRELATION]``), or fitted for another model.
    """
    from .jsonfile import BoundedJsonError, read_bounded_json

    try:
        doc = read_bounded_json(path, MAX_PRIOR_BYTES)
    except BoundedJsonError as exc:
        raise LatentPriorError(f"{path}: not a readable prior file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != PRIOR_FORMAT:
        raise LatentPriorError(f"{path}: not an {PRIOR_FORMAT} file")
    if doc.get("version") != PRIOR_VERSION:
        raise LatentPriorError(
            f"{path}: version {doc.get('version')!r} is not supported (this audioae reads "
            f"version {PRIOR_VERSION})"
        )

    def vector(name: str, low: float, high: float) -> torch.Tensor:
        values = doc.get(name)
        if (
            not isinstance(values, list)
            or not 1 <= len(values) <= MAX_PRIOR_DIM
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            or not all(math.isfinite(v) and low <= v <= high for v in values)
        ):
            raise LatentPriorError(
                f"{path}: {name} must be a list of 1 to {MAX_PRIOR_DIM} finite numbers in "
                f"[{low:g}, {high:g}]"
            )
        return torch.tensor(values, dtype=torch.float64)

    mean = vector("mean", -MAX_PRIOR_VALUE, MAX_PRIOR_VALUE)
    std = vector("std", 1e-12, MAX_PRIOR_VALUE)
    correlation = None
    if doc.get("correlation") is not None:
        correlation = vector("correlation", 0.0, MAX_CORRELATION)
    if std.shape != mean.shape or (correlation is not None and correlation.shape != mean.shape):
        raise LatentPriorError(f"{path}: mean, std and correlation differ in length")
    stored = doc.get("model_hash")
    if model_hash is not None and stored != model_hash.hex():
        raise LatentPriorError(
            f"{path}: fitted for another model (model hash {str(stored)[:12]}…, this model's "
            f"{model_hash.hex()[:12]}…); fit it again with --fit-prior"
        )
    return LatentPrior(mean=mean, std=std, correlation=correlation, model_hash=model_hash)


__all__ = [
    "MAX_CORRELATION",
    "PRIOR_FORMAT",
    "STANDARD_PRIOR",
    "LatentPrior",
    "LatentPriorError",
    "describe",
    "fit_latent_prior",
    "load_prior",
    "save_prior",
]
