"""Bottlenecks: what turns encoder channels into a latent, swappable under any architecture.

* :class:`DeterministicBottleneck`: a 1x1 projection (plain autoencoder).
* :class:`SparseBottleneck`: sigmoid activations in (0, 1), exposed for an L1 activity penalty
  and the KL sparsity penalty towards a target mean activation (Ng, "Sparse autoencoder",
  CS294A lecture notes, 2011).
* :class:`GaussianBottleneck`: a diagonal Gaussian posterior with the reparameterisation trick
  and a closed-form KL to ``N(0, I)`` (Kingma & Welling, "Auto-encoding variational Bayes", 2014).

All take ``h (batch, in_channels, latent_frames)`` and give a :class:`BottleneckOutput` whose
latent tensors are ``(batch, latent_dim, latent_frames)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LOGVAR_MIN = -30.0
LOGVAR_MAX = 20.0


@dataclass
class Latent:
    """An encoded clip. Every tensor is ``(batch, latent_dim, latent_frames)``.

    Attributes:
        sample: the latent the decoder sees (the posterior mean for a VAE in eval mode
            unless sampling was asked for).
        mean: posterior mean (Gaussian bottleneck only, else None).
        logvar: posterior log-variance, clamped to ``[-30, 20]`` (Gaussian only, else None).
    """

    sample: torch.Tensor
    mean: torch.Tensor | None = None
    logvar: torch.Tensor | None = None


@dataclass
class BottleneckOutput:
    """What a bottleneck returns.

    Attributes:
        latent: the :class:`Latent`.
        kl: closed-form KL of each latent value to ``N(0, 1)`` in nats,
            ``(batch, latent_dim, latent_frames)``; None when not variational.
        activations: non-negative activations for sparsity penalties,
            ``(batch, latent_dim, latent_frames)``; None unless sparse.
    """

    latent: Latent
    kl: torch.Tensor | None = None
    activations: torch.Tensor | None = None


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise ``KL(N(mean, exp(logvar)) || N(0, 1))`` in nats (same shape as ``mean``).

    Closed form ``0.5 * (mean^2 + exp(logvar) - 1 - logvar)`` (Kingma & Welling 2014, app. B).
    """
    return 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar)


class Bottleneck(nn.Module):
    """Common base of the bottlenecks below (holds sizes; subclasses define ``forward``).

    Subclasses implement ``forward(h (batch, in_channels, latent_frames), sample_posterior:
    bool) -> BottleneckOutput``.
    """

    is_variational: bool = False

    def __init__(self, in_channels: int, latent_dim: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.latent_dim = latent_dim


class DeterministicBottleneck(Bottleneck):
    """Plain AE: ``latent = conv1x1(h)``; ``sample_posterior`` is ignored."""

    def __init__(self, in_channels: int, latent_dim: int) -> None:
        super().__init__(in_channels, latent_dim)
        self.proj = nn.Conv1d(in_channels, latent_dim, 1)

    def forward(self, h: torch.Tensor, sample_posterior: bool) -> BottleneckOutput:
        return BottleneckOutput(Latent(self.proj(h)))


class SparseBottleneck(Bottleneck):
    """Sparse AE: ``latent = sigmoid(conv1x1(h))`` in (0, 1), also returned as ``activations``.

    The sigmoid keeps activations non-negative and below 1, which the L1 activity penalty and
    the Bernoulli KL sparsity penalty of Ng (2011) both need (see :mod:`audioae.losses`).
    """

    def __init__(self, in_channels: int, latent_dim: int) -> None:
        super().__init__(in_channels, latent_dim)
        self.proj = nn.Conv1d(in_channels, latent_dim, 1)

    def forward(self, h: torch.Tensor, sample_posterior: bool) -> BottleneckOutput:
        activations = torch.sigmoid(self.proj(h))
        return BottleneckOutput(Latent(activations), activations=activations)


class GaussianBottleneck(Bottleneck):
    """VAE: a 1x1 projection predicts ``mean`` and ``logvar`` (clamped to ``[-30, 20]``).

    With ``sample_posterior`` the latent is ``mean + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``
    (reparameterisation trick, Kingma & Welling 2014); otherwise it is the mean. ``kl`` is the
    closed-form KL to ``N(0, I)`` per latent value (:func:`gaussian_kl`).
    """

    is_variational = True

    def __init__(self, in_channels: int, latent_dim: int) -> None:
        super().__init__(in_channels, latent_dim)
        self.proj = nn.Conv1d(in_channels, 2 * latent_dim, 1)

    def forward(self, h: torch.Tensor, sample_posterior: bool) -> BottleneckOutput:
        mean, logvar = self.proj(h).chunk(2, dim=1)  # (batch, latent_dim, latent_frames) each
        logvar = logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
        sample = mean + (0.5 * logvar).exp() * torch.randn_like(mean) if sample_posterior else mean
        return BottleneckOutput(Latent(sample, mean, logvar), kl=gaussian_kl(mean, logvar))


BOTTLENECK_CLASSES: dict[str, type[Bottleneck]] = {
    "deterministic": DeterministicBottleneck,
    "sparse": SparseBottleneck,
    "gaussian": GaussianBottleneck,
}
