"""1-D convolutional autoencoder: frequency bins as channels, convolution over time.

Encoder: ``Conv1d(n_bins -> hidden_dim)``, then per entry ``s`` of ``strides`` a strided
``Conv1d`` (kernel ``2 s``) followed by ``n_res_blocks`` residual blocks, which thus run at
the reduced frame rate (cheaper; with no strides they run at the full rate). The decoder
mirrors it: residual blocks, then ``ConvTranspose1d`` upsampling, per stage.
The residual blocks of a stage take their dilations from ``dilations`` in turn (e.g.
``[1, 2, 4, 8]`` with 4 blocks: a receptive field of 31 frames per side at kernel 3, as in
the dilated stacks of Conv-TasNet, Luo & Mesgarani 2019).
Every stage is ``hidden_dim`` wide: the frequency axis already lives in the channels, so the
widths do not grow as time shrinks (``model.channels`` is used by conv2d only).
``causal=True`` (no strides allowed) pads every convolution on the left only, so output
frame ``t`` depends only on input frames ``<= t`` (:class:`~.layers.CausalConv1d`; for
streaming, :mod:`audioae.streaming_denoiser`).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import ResBlock1d, activation, down_conv1d, time_conv1d, up_conv1d


def _res_blocks(
    channels: int,
    kernel_size: int,
    n: int,
    dilations: list[int] | None = None,
    causal: bool = False,
) -> list[nn.Module]:
    cycle = list(dilations or [1])
    return [
        ResBlock1d(channels, kernel_size, cycle[i % len(cycle)], causal=causal) for i in range(n)
    ]


def _check_causal(strides: list[int], causal: bool) -> None:
    if causal and strides:
        raise ValueError(
            f"a causal conv1d model runs at the full frame rate: strides must be [], got {strides}"
        )


class Conv1dEncoder(nn.Module):
    """``(batch, n_bins, frames)`` -> ``(batch, hidden_dim, frames // prod(strides))``.

    ``frames`` must be a multiple of ``prod(strides)`` (the autoencoder pads).
    """

    def __init__(
        self,
        n_bins: int,
        hidden_dim: int,
        strides: list[int],
        kernel_size: int,
        n_res_blocks: int,
        dilations: list[int] | None = None,
        causal: bool = False,
    ) -> None:
        super().__init__()
        _check_causal(strides, causal)
        self.out_channels = hidden_dim
        layers: list[nn.Module] = [time_conv1d(n_bins, hidden_dim, kernel_size, causal=causal)]
        if not strides:
            layers += _res_blocks(hidden_dim, kernel_size, n_res_blocks, dilations, causal)
        for stride in strides:
            layers += [activation(), down_conv1d(hidden_dim, hidden_dim, stride, kernel_size)]
            layers += _res_blocks(hidden_dim, kernel_size, n_res_blocks, dilations)
        layers += [activation()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Conv1dDecoder(nn.Module):
    """``(batch, latent_dim, latent_frames)`` -> ``(batch, n_bins, latent_frames * prod(strides))``."""

    def __init__(
        self,
        n_bins: int,
        latent_dim: int,
        hidden_dim: int,
        strides: list[int],
        kernel_size: int,
        n_res_blocks: int,
        dilations: list[int] | None = None,
        causal: bool = False,
    ) -> None:
        super().__init__()
        _check_causal(strides, causal)
        layers: list[nn.Module] = [time_conv1d(latent_dim, hidden_dim, kernel_size, causal=causal)]
        for stride in reversed(strides):
            layers += _res_blocks(hidden_dim, kernel_size, n_res_blocks, dilations)
            layers += [activation(), up_conv1d(hidden_dim, hidden_dim, stride, kernel_size)]
        if not strides:
            layers += _res_blocks(hidden_dim, kernel_size, n_res_blocks, dilations, causal)
        layers += [activation(), time_conv1d(hidden_dim, n_bins, kernel_size, causal=causal)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
