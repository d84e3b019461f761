"""A causal conv1d mask model packed for streaming: one matrix product per layer, no allocations.

:func:`pack_mask_model` turns the layers of a causal ``conv1d`` mask model (``model.causal``:
encoder, bottleneck, decoder; see :mod:`audioae.models.conv1d`) into a short list of
:class:`_Stage` s, each one ``torch.addmm`` over a time-major ``(frames * channels, kernel *
in)`` matrix, and :class:`PackedMaskNet` runs them on a few frames at a time with state:

- every convolution's weights are pre-packed once as a ``(kernel * in, out)`` matrix whose rows
  are tap-major, matching the stacked taps of its input;
- the input of every stage lives in a preallocated buffer ``(context + capacity, channels,
  in)``, time-major: the stage before writes into it directly (``addmm(..., out=)``), the
  ``context = dilation * (kernel - 1)`` frames before hold the left context, and the stacked
  taps are one strided view of it (one copy, no ``torch.cat``); when the buffers are full, the
  last ``context`` frames of each move to its front (every ``capacity / 2`` frames or so);
- the LeakyReLU before a convolution runs in place on its stacked taps (the buffers keep the
  pre-activation, which is also a residual block's skip input);
- a residual block ``x + conv2(act(conv1(act(x))))`` is two products: ``conv1`` gets an extra
  output column that is 1, so ``conv2``'s bias rides in its weights and
  ``addmm(x, ., conv2)`` adds the skip in the same call;
- the model's input standardisation ``(x - shift) / scale`` is folded into the first
  convolution's weights, and its left context starts at ``shift`` (standardised zero, the
  offline zero padding);
- a Gaussian bottleneck keeps its mean rows (the eval-mode latent), a sparse one its sigmoid.

The result equals the model's eval-mode forward of the whole signal within float rounding (the
products sum in another order; ``tests/test_streaming_denoiser.py`` compares the denoised
samples to 1e-5). Anything else in the model (another layer type or bottleneck) makes
:func:`pack_mask_model` return None, and :class:`audioae.streaming_denoiser.StreamingDenoiser`
streams the model's own modules instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .models.base import AutoEncoder
from .models.bottleneck import DeterministicBottleneck, GaussianBottleneck, SparseBottleneck
from .models.layers import ResBlock1d

__all__ = ["PackedMaskNet", "pack_mask_model"]

CAPACITY = 64  # frames of buffer after each stage's context; a step takes at most half


@dataclass
class _Stage:
    """One layer as a matrix product over stacked taps.

    ``out = addmm(bias, act(taps(x)), weight)`` with ``weight (kernel * in, out)``; a residual
    stage adds ``x`` and then ``residual (out + 1, out)`` of ``act(.)`` with its ones column
    (the second convolution with its bias as last row). ``post_sigmoid``: a sigmoid after it.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    kernel: int = 1
    dilation: int = 1
    pre_slope: float | None = None
    residual: torch.Tensor | None = None
    post_sigmoid: bool = False
    initial: torch.Tensor | None = None  # (in,) left-context value; None = zeros
    mid_slope: float = 0.2
    in_channels: int = field(init=False)

    def __post_init__(self) -> None:
        self.in_channels = self.weight.shape[0] // self.kernel

    @property
    def context(self) -> int:
        return self.dilation * (self.kernel - 1)


def _conv_stage(conv: nn.Conv1d, pre_slope: float | None) -> _Stage:
    if conv.stride != (1,) or conv.groups != 1:
        raise _Unsupported(f"{conv}")
    kernel, dilation = conv.kernel_size[0], conv.dilation[0]
    if kernel > 1 and getattr(conv, "context", None) != dilation * (kernel - 1):
        raise _Unsupported(f"not a causal convolution: {conv}")  # a "same"-padded conv
    if kernel == 1 and conv.padding != (0,):
        raise _Unsupported(f"{conv}")
    weight = conv.weight.detach().float()  # (out, in, kernel)
    packed = weight.permute(2, 1, 0).reshape(-1, conv.out_channels)  # (kernel * in, out)
    bias = (
        conv.bias.detach().float() if conv.bias is not None else weight.new_zeros(weight.shape[0])
    )
    return _Stage(packed.contiguous(), bias, kernel, dilation, pre_slope)


def _res_stage(block: ResBlock1d) -> _Stage:
    slope = float(block.act.negative_slope)
    first = _conv_stage(block.conv1, slope)
    second = _conv_stage(block.conv2, slope)
    if second.kernel != 1:
        raise _Unsupported("a residual block's second convolution must be pointwise")
    ones = torch.zeros(first.weight.shape[0], 1)
    first.weight = torch.cat([first.weight, ones], dim=1).contiguous()
    first.bias = torch.cat([first.bias, torch.ones(1)])
    # act(1) = 1, so the extra column carries conv2's bias through its last weight row
    first.residual = torch.cat([second.weight, second.bias[None]], dim=0).contiguous()
    first.mid_slope = slope
    return first


def _bottleneck_stage(bottleneck: nn.Module, pre_slope: float | None) -> _Stage:
    if isinstance(bottleneck, (DeterministicBottleneck, SparseBottleneck)):
        stage = _conv_stage(bottleneck.proj, pre_slope)
        stage.post_sigmoid = isinstance(bottleneck, SparseBottleneck)
        return stage
    if isinstance(bottleneck, GaussianBottleneck):  # eval mode: the latent is the mean
        stage = _conv_stage(bottleneck.proj, pre_slope)
        stage.weight = stage.weight[:, : bottleneck.latent_dim].contiguous()
        stage.bias = stage.bias[: bottleneck.latent_dim].contiguous()
        return stage
    raise _Unsupported(f"bottleneck {type(bottleneck).__name__}")


class _Unsupported(Exception):
    """A layer :func:`pack_mask_model` cannot pack."""


def _stages(model: AutoEncoder) -> list[_Stage]:
    modules = [*model.encoder.net, model.bottleneck, *model.decoder.net]
    stages: list[_Stage] = []
    slope: float | None = None
    for module in modules:
        if isinstance(module, nn.LeakyReLU):
            if slope is not None:
                raise _Unsupported("two activations in a row")
            slope = float(module.negative_slope)
        elif isinstance(module, ResBlock1d):
            if slope is not None:
                raise _Unsupported("an activation before a residual block")
            stages.append(_res_stage(module))
        elif module is model.bottleneck:
            stages.append(_bottleneck_stage(module, slope))
            slope = None
        elif isinstance(module, nn.Conv1d):
            stages.append(_conv_stage(module, slope))
            slope = None
        else:
            raise _Unsupported(type(module).__name__)
    if slope is not None or not stages or stages[0].pre_slope is not None:
        raise _Unsupported("an activation at the ends")
    return stages


def _fold_standardisation(stage: _Stage, shift: torch.Tensor, scale: torch.Tensor) -> None:
    """Make ``stage`` take raw features: ``W' = W / scale``, ``b' = b - W' shift`` (per input
    bin, every tap), and its left context ``shift`` (which standardises to the zero padding)."""
    taps_scale = scale.float().repeat(stage.kernel)[:, None]  # (kernel * in, 1)
    taps_shift = shift.float().repeat(stage.kernel)
    weight = stage.weight / taps_scale
    stage.bias = stage.bias - taps_shift @ weight
    stage.weight = weight.contiguous()
    stage.initial = shift.float().clone()


def pack_mask_model(model: AutoEncoder) -> list[_Stage] | None:
    """The layers of a causal conv1d mask model packed as stages, or None when some layer
    (or the bottleneck) is not one this module knows; see the module docstring."""
    if not model.predicts_mask or model.time_downsampling != 1:
        return None
    try:
        stages = _stages(model)
    except (_Unsupported, AttributeError, TypeError):
        return None
    _fold_standardisation(
        stages[0],
        model.feature_shift.detach().reshape(-1),
        model.feature_scale.detach().reshape(-1),
    )
    return stages


class PackedMaskNet:
    """The stages of :func:`pack_mask_model` run a few frames at a time, with state.

    Args:
        stages: from :func:`pack_mask_model`.
        channels: independent streams (a batch).
        device: where the buffers and weights live.
    """

    def __init__(self, stages: list[_Stage], channels: int, device: torch.device | str) -> None:
        self.stages = stages
        self.channels = channels
        self.device = torch.device(device)
        for s in stages:
            for name in ("weight", "bias", "residual", "initial"):
                value = getattr(s, name)
                if value is not None:
                    setattr(s, name, value.to(self.device))
        c = channels
        self._buffers = [
            torch.zeros(s.context + CAPACITY, c, s.in_channels, device=self.device) for s in stages
        ]
        self.n_bins = stages[0].in_channels
        self._views: dict[tuple[int, int], list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.reset()

    @property
    def max_frames(self) -> int:
        """The most frames one :meth:`step` takes."""
        return CAPACITY // 2

    def reset(self) -> None:
        """Back to the start of a stream: every left context as the offline padding."""
        for stage, buf in zip(self.stages, self._buffers):
            if stage.initial is None:
                buf.zero_()
            else:
                buf.copy_(stage.initial.expand_as(buf))
        self._filled = 0  # frames written after the contexts since the last move

    def _views_for(self, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per stage: where ``n`` new input frames go ``(n * channels, in)``, and the stacked
        taps over them ``(n, channels, kernel, in)`` (a strided view)."""
        key = (self._filled, n)
        views = self._views.get(key)
        if views is None:
            if len(self._views) > 4 * CAPACITY:
                self._views.clear()
            views = []
            c, q = self.channels, self._filled
            for stage, buf in zip(self.stages, self._buffers):
                d, k, width = stage.dilation, stage.kernel, stage.in_channels
                write = buf[stage.context + q : stage.context + q + n].view(n * c, width)
                taps = buf.as_strided(
                    (n, c, k, width), (c * width, width, d * c * width, 1), q * c * width
                )
                views.append((write, taps))
            self._views[key] = views
        return views

    def _make_room(self, n: int) -> None:
        if self._filled + n <= CAPACITY:
            return
        for stage, buf in zip(self.stages, self._buffers):
            ctx, q = stage.context, self._filled
            if ctx:  # q >= CAPACITY / 2 >= ctx: source and destination do not overlap
                buf[:ctx].copy_(buf[q : q + ctx])
        self._filled = 0

    def step(self, features: torch.Tensor) -> torch.Tensor:
        """The mask logits of the next frames.

        Args:
            features: ``(frames, channels, n_bins)``, time-major, ``frames <= max_frames``.

        Returns:
            ``(frames, channels, n_out)`` pre-sigmoid outputs of the last layer.
        """
        n = features.shape[0]
        self._make_room(n)
        views = self._views_for(n)
        rows = n * self.channels
        views[0][0].copy_(features.reshape(rows, self.n_bins))
        out = views[0][0]
        last = len(self.stages) - 1
        for i, (stage, (write, taps)) in enumerate(zip(self.stages, views)):
            if stage.pre_slope is None:
                x = taps.reshape(rows, -1)  # may be a view: rows overlap when dilation = 1
            else:  # a copy first: the activation must not reach the buffer
                x = taps.clone(memory_format=torch.contiguous_format).view(rows, -1)
                torch.nn.functional.leaky_relu_(x, stage.pre_slope)
            target = views[i + 1][0] if i < last else None
            if stage.residual is not None:
                mid = torch.addmm(stage.bias, x, stage.weight)
                torch.nn.functional.leaky_relu_(mid, stage.mid_slope)
                out = torch.addmm(write, mid, stage.residual, out=target)
            elif stage.post_sigmoid:
                out = torch.sigmoid(torch.addmm(stage.bias, x, stage.weight), out=target)
            else:
                out = torch.addmm(stage.bias, x, stage.weight, out=target)
        self._filled += n
        return out.view(n, self.channels, -1)
