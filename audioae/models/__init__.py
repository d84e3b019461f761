"""Spectrogram autoencoders: dense, conv1d and conv2d, each with any bottleneck.

``build_model(model_cfg, frontend)`` is the entry point; every model is an
:class:`AutoEncoder` with ``encode``/``decode``/``forward`` over features ``(batch, n_bins,
frames)`` and latents ``(batch, latent_dim, latent_frames)``.
"""

from .base import AEOutput, AutoEncoder
from .bottleneck import (
    Bottleneck,
    BottleneckOutput,
    DeterministicBottleneck,
    GaussianBottleneck,
    Latent,
    SparseBottleneck,
    gaussian_kl,
)
from .build import build_model

__all__ = [
    "AEOutput",
    "AutoEncoder",
    "Bottleneck",
    "BottleneckOutput",
    "DeterministicBottleneck",
    "GaussianBottleneck",
    "Latent",
    "SparseBottleneck",
    "build_model",
    "gaussian_kl",
]
