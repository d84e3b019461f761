"""Building blocks shared by the dense, conv1d and conv2d autoencoders.

Every block keeps the time length exact: a stage with stride ``s`` maps ``frames`` to
``frames // s`` when ``frames`` is a multiple of ``s`` (the :class:`~audioae.models.base.AutoEncoder`
pads to guarantee it), and its transposed mirror maps ``frames`` back to ``frames * s``.
A strided stage uses a kernel of ``2 * s`` with padding ``ceil(s / 2)`` (the overlapping
down/upsampling of e.g. the DAC and SEANet encoders); a stride-1 axis uses ``kernel_size``
with "same" padding, which is why ``kernel_size`` must be odd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def activation() -> nn.Module:
    """The non-linearity used throughout the models: LeakyReLU with slope 0.2."""
    return nn.LeakyReLU(0.2)


def axis_params(stride: int, kernel_size: int) -> tuple[int, int, int]:
    """Kernel, padding and transposed ``output_padding`` for one axis of a conv stage.

    Args:
        stride: down/upsampling factor of the axis (>= 1).
        kernel_size: odd kernel used when ``stride == 1``.

    Returns:
        ``(kernel, padding, output_padding)`` such that a ``Conv`` maps ``n * stride`` to ``n``
        and the matching ``ConvTranspose`` maps ``n`` to ``n * stride``.
    """
    if stride == 1:
        return kernel_size, kernel_size // 2, 0
    padding = (stride + 1) // 2
    return 2 * stride, padding, 2 * padding - stride


def down_conv1d(in_channels: int, out_channels: int, stride: int, kernel_size: int) -> nn.Conv1d:
    """Conv1d mapping ``(batch, in_channels, frames)`` to ``(batch, out_channels, frames // stride)``."""
    k, p, _ = axis_params(stride, kernel_size)
    return nn.Conv1d(in_channels, out_channels, k, stride=stride, padding=p)


def up_conv1d(in_channels: int, out_channels: int, stride: int, kernel_size: int) -> nn.Module:
    """Mirror of :func:`down_conv1d`: ``(batch, in, frames)`` to ``(batch, out, frames * stride)``."""
    k, p, op = axis_params(stride, kernel_size)
    if stride == 1:
        return nn.Conv1d(in_channels, out_channels, k, padding=p)
    return nn.ConvTranspose1d(
        in_channels, out_channels, k, stride=stride, padding=p, output_padding=op
    )


def down_conv2d(
    in_channels: int, out_channels: int, stride: tuple[int, int], kernel_size: int
) -> nn.Conv2d:
    """Conv2d over ``(freq, time)`` with ``stride = (freq_stride, time_stride)``.

    Maps ``(batch, in_channels, freq, frames)`` to ``(batch, out_channels, freq // sf, frames // st)``.
    """
    (kf, pf, _), (kt, pt, _) = (
        axis_params(stride[0], kernel_size),
        axis_params(stride[1], kernel_size),
    )
    return nn.Conv2d(in_channels, out_channels, (kf, kt), stride=stride, padding=(pf, pt))


def up_conv2d(
    in_channels: int, out_channels: int, stride: tuple[int, int], kernel_size: int
) -> nn.Module:
    """Mirror of :func:`down_conv2d`: multiplies ``(freq, frames)`` by ``stride``."""
    (kf, pf, of), (kt, pt, ot) = (
        axis_params(stride[0], kernel_size),
        axis_params(stride[1], kernel_size),
    )
    return nn.ConvTranspose2d(
        in_channels,
        out_channels,
        (kf, kt),
        stride=stride,
        padding=(pf, pt),
        output_padding=(of, ot),
    )


class CausalConv1d(nn.Conv1d):
    """Conv1d over time with left-only padding: output frame ``t`` sees input frames ``<= t``.

    Shape: ``(batch, in_channels, frames)`` -> ``(batch, out_channels, frames)`` (stride 1).
    Offline, the ``context = dilation * (kernel_size - 1)`` frames before the first are
    zeros. For frame-by-frame streaming, :meth:`start_stream` replaces them with a cache of
    the last ``context`` input frames, which every call then updates, so feeding a signal in
    pieces gives the same output as feeding it whole (the state of Conv-TasNet's causal
    mode and of RNNoise-style streaming, Luo & Mesgarani 2019). The parameters are those of
    a plain ``nn.Conv1d`` (same state-dict keys).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.context = dilation * (kernel_size - 1)
        self.stream_cache: torch.Tensor | None = None

    def start_stream(self, batch: int) -> None:
        """Enter streaming mode with an all-zero context of ``(batch, in_channels, context)``.

        Streaming calls compute the convolution as one matrix product over the stacked taps
        (a few frames per call: far faster on the CPU than ``conv1d``, the same values within
        float rounding); the weights must not change until :meth:`stop_stream`.
        """
        self.stream_cache = self.weight.new_zeros(batch, self.in_channels, self.context)
        # (out, kernel * in): tap-major, matching the stacking in _stream_forward
        weight = self.weight.permute(0, 2, 1).reshape(self.out_channels, -1)
        self._stream_weight = weight.contiguous()

    def stop_stream(self) -> None:
        """Leave streaming mode (offline zero padding again)."""
        self.stream_cache = None

    def _stream_forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.stream_cache is not None
        n, step, kernel = x.shape[-1], self.dilation[0], self.kernel_size[0]
        if self.context:
            full = torch.cat([self.stream_cache, x], dim=-1)
            self.stream_cache = full[..., full.shape[-1] - self.context :]
            x = torch.cat([full[..., j * step : j * step + n] for j in range(kernel)], dim=1)
        return F.linear(x.transpose(1, 2), self._stream_weight, self.bias).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stream_cache is not None:
            return self._stream_forward(x)
        if self.context == 0:
            return super().forward(x)
        return super().forward(F.pad(x, (self.context, 0)))


def streaming_copy(conv: nn.Conv1d) -> CausalConv1d:
    """A :class:`CausalConv1d` with the weights of a pointwise (kernel 1) ``conv``, so that
    streaming can run it as a matrix product too.

    Raises:
        ValueError: ``conv`` has a kernel > 1, a stride, padding or groups (not pointwise).
    """
    if isinstance(conv, CausalConv1d):
        return conv
    if conv.kernel_size != (1,) or conv.stride != (1,) or conv.padding != (0,) or conv.groups != 1:
        raise ValueError(f"only a pointwise Conv1d runs causally as it is, got {conv}")
    copy = CausalConv1d(conv.in_channels, conv.out_channels, 1).to(conv.weight)
    copy.load_state_dict(conv.state_dict())
    return copy


def time_conv1d(
    in_channels: int, out_channels: int, kernel_size: int, *, dilation: int = 1, causal: bool
) -> nn.Conv1d:
    """A stride-1 Conv1d over time: "same" padding, or left-only (:class:`CausalConv1d`)."""
    if causal:
        return CausalConv1d(in_channels, out_channels, kernel_size, dilation)
    return nn.Conv1d(
        in_channels,
        out_channels,
        kernel_size,
        padding=dilation * (kernel_size // 2),
        dilation=dilation,
    )


class ResBlock1d(nn.Module):
    """Pre-activation residual block over time: ``x + conv1x1(act(conv_k(act(x))))``.

    Shape: ``(batch, channels, frames)`` in and out (He et al., "Identity mappings in deep
    residual networks", 2016). ``kernel_size=1`` makes it a residual MLP applied per frame.
    ``dilation`` spaces the taps of the first convolution (van den Oord et al., "WaveNet",
    2016), widening the receptive field at the same cost. ``causal`` pads on the left only
    (:class:`CausalConv1d`): the output at frame ``t`` depends on frames ``<= t``.
    """

    def __init__(
        self, channels: int, kernel_size: int, dilation: int = 1, *, causal: bool = False
    ) -> None:
        super().__init__()
        self.conv1 = time_conv1d(channels, channels, kernel_size, dilation=dilation, causal=causal)
        self.conv2 = nn.Conv1d(channels, channels, 1)
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(self.act(x))))


class ResBlock2d(nn.Module):
    """2-D version of :class:`ResBlock1d`: ``(batch, channels, freq, frames)`` in and out."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv2d(channels, channels, 1)
        self.act = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(self.act(x))))


def pad_to_multiple(x: torch.Tensor, multiple: int, dim: int) -> torch.Tensor:
    """Right-pad ``x`` along ``dim`` (-1 or -2) to a multiple of ``multiple`` by edge replication.

    Replicating the last frame (or top bin) keeps padded values inside the data's range,
    unlike zeros, which are a loud value for log features. ``x`` must be 3-D or 4-D.
    """
    size = x.shape[dim]
    extra = (-size) % multiple
    if extra == 0:
        return x
    pad = (0, extra) if dim == -1 else (0, 0, 0, extra)
    if dim == -2 and x.dim() == 3:  # replicate padding of dim -2 needs a 4-D input
        return F.pad(x.unsqueeze(1), pad, mode="replicate").squeeze(1)
    return F.pad(x, pad, mode="replicate")


def time_context_frames(model: nn.Module) -> int:
    """An upper bound, in feature frames, of the context a model's output frame depends on, on
    either side: the sum over its 1-D and 2-D (transposed) convolutions of
    ``dilation * (kernel - 1)`` along time, times the model's ``time_downsampling`` (a layer
    behind a stride sees that many frames per step). Chunked processing with at least this
    many frames of margin equals whole-signal processing; a causal model needs it on the left
    only.
    """
    total = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d, nn.Conv2d, nn.ConvTranspose2d)):
            total += m.dilation[-1] * (m.kernel_size[-1] - 1)
    return total * int(getattr(model, "time_downsampling", 1))
