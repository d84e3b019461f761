"""Dense (vanilla) autoencoder: an MLP over ``context`` stacked frames.

``context`` consecutive frames ``(n_bins, context)`` are flattened into one vector of
``n_bins * context`` values and mapped by an MLP to one latent vector, so the time
downsampling is ``context``. Stacking plus a ``Linear`` is computed as a ``Conv1d`` with
``kernel_size = stride = context`` (the same affine map on each block of frames), and the
decoder's last ``Linear(hidden, n_bins * context)`` plus un-stacking as the matching
``ConvTranspose1d``. Hidden layers are residual per-block MLPs (``n_res_blocks`` of them).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import ResBlock1d, activation


class DenseEncoder(nn.Module):
    """``(batch, n_bins, frames)`` -> ``(batch, hidden_dim, frames // context)``.

    ``frames`` must be a multiple of ``context`` (the autoencoder pads).
    """

    def __init__(self, n_bins: int, hidden_dim: int, context: int, n_res_blocks: int) -> None:
        super().__init__()
        self.out_channels = hidden_dim
        self.net = nn.Sequential(
            nn.Conv1d(n_bins, hidden_dim, context, stride=context),  # Linear over stacked frames
            *[ResBlock1d(hidden_dim, 1) for _ in range(n_res_blocks)],
            activation(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DenseDecoder(nn.Module):
    """``(batch, latent_dim, latent_frames)`` -> ``(batch, n_bins, latent_frames * context)``."""

    def __init__(
        self, n_bins: int, latent_dim: int, hidden_dim: int, context: int, n_res_blocks: int
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(latent_dim, hidden_dim, 1),
            *[ResBlock1d(hidden_dim, 1) for _ in range(n_res_blocks)],
            activation(),
            nn.ConvTranspose1d(hidden_dim, n_bins, context, stride=context),  # Linear + un-stack
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
