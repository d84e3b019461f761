"""2-D convolutional autoencoder: the spectrogram as a one-channel image over (freq, time).

Stage ``i`` has stride ``(freq_strides[i], strides[i])`` (a missing entry counts as 1) and
``channels[i]`` output channels; each stage is a strided ``Conv2d`` followed by
``n_res_blocks`` residual blocks at the reduced resolution (with no stages they run at the
input resolution). The encoder's ``(width, freq')`` map (``width``: the last stage's
channels) is flattened into ``width * freq'`` channels over ``latent_frames``, so the
bottleneck's 1x1 projection gives the common ``(batch, latent_dim, latent_frames)`` latent;
the decoder projects back, reshapes and mirrors the stages with ``ConvTranspose2d``. ``n_bins`` that is not a multiple
of ``prod(freq_strides)`` is padded (edge replication) and cropped back.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import ResBlock2d, activation, down_conv2d, pad_to_multiple, up_conv2d


def stage_strides(strides: list[int], freq_strides: list[int]) -> list[tuple[int, int]]:
    """``(freq_stride, time_stride)`` per stage; the shorter list is extended with 1s."""
    n = max(len(strides), len(freq_strides))
    fs = list(freq_strides) + [1] * (n - len(freq_strides))
    ts = list(strides) + [1] * (n - len(strides))
    return list(zip(fs, ts))


def _res_blocks(channels: int, kernel_size: int, n: int) -> list[nn.Module]:
    return [ResBlock2d(channels, kernel_size) for _ in range(n)]


class Conv2dEncoder(nn.Module):
    """``(batch, n_bins, frames)`` -> ``(batch, width * freq', frames // prod(strides))``.

    ``width`` is the last stage's channel count (``channels`` entries beyond the number of
    stages are unused), ``freq' = ceil(n_bins / prod(freq_strides))``; ``frames`` must be a
    multiple of ``prod(strides)`` (the autoencoder pads).
    """

    def __init__(
        self,
        n_bins: int,
        channels: list[int],
        strides: list[int],
        freq_strides: list[int],
        kernel_size: int,
        n_res_blocks: int,
    ) -> None:
        super().__init__()
        stages = stage_strides(strides, freq_strides)
        self.freq_downsampling = math.prod(s[0] for s in stages)
        self.freq_out = -(-n_bins // self.freq_downsampling)
        widths = list(channels[: max(len(stages), 1)])
        layers: list[nn.Module] = [nn.Conv2d(1, widths[0], kernel_size, padding=kernel_size // 2)]
        width = widths[0]
        if not stages:
            layers += _res_blocks(width, kernel_size, n_res_blocks)
        for out_width, stride in zip(widths, stages):
            layers += [activation(), down_conv2d(width, out_width, stride, kernel_size)]
            layers += _res_blocks(out_width, kernel_size, n_res_blocks)
            width = out_width
        layers += [activation()]
        self.net = nn.Sequential(*layers)
        self.out_width = width
        self.out_channels = width * self.freq_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_to_multiple(x, self.freq_downsampling, dim=-2)  # (batch, n_bins_padded, frames)
        h = self.net(x.unsqueeze(1))  # (batch, width, freq', latent_frames)
        return h.flatten(1, 2)  # (batch, width * freq', latent_frames)


class Conv2dDecoder(nn.Module):
    """``(batch, latent_dim, latent_frames)`` -> ``(batch, n_bins, latent_frames * prod(strides))``."""

    def __init__(
        self,
        n_bins: int,
        latent_dim: int,
        channels: list[int],
        strides: list[int],
        freq_strides: list[int],
        kernel_size: int,
        n_res_blocks: int,
    ) -> None:
        super().__init__()
        stages = stage_strides(strides, freq_strides)
        self.n_bins = n_bins
        freq_downsampling = math.prod(s[0] for s in stages)
        self.freq_in = -(-n_bins // freq_downsampling)
        widths = list(channels[: max(len(stages), 1)])
        self.in_width = widths[-1]
        self.proj = nn.Conv1d(latent_dim, self.in_width * self.freq_in, 1)
        layers: list[nn.Module] = []
        if not stages:
            layers += _res_blocks(self.in_width, kernel_size, n_res_blocks)
        for i in reversed(range(len(stages))):
            out_width = widths[i - 1] if i > 0 else widths[0]
            layers += _res_blocks(widths[i], kernel_size, n_res_blocks)
            layers += [activation(), up_conv2d(widths[i], out_width, stages[i], kernel_size)]
        layers += [activation(), nn.Conv2d(widths[0], 1, kernel_size, padding=kernel_size // 2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.proj(z)  # (batch, width * freq', latent_frames)
        h = h.unflatten(1, (self.in_width, self.freq_in))  # (batch, width, freq', latent_frames)
        y = self.net(h).squeeze(1)  # (batch, n_bins_padded, frames)
        return y[:, : self.n_bins]
