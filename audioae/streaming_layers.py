"""A causal conv1d mask model packed for streaming: one matrix product per layer, few allocations.

:func:`pack_mask_model` turns the layers of a causal ``conv1d`` mask model (``model.causal``:
encoder, bottleneck, decoder; see :mod:`audioae.models.conv1d`) into a short list of stages,
each one matrix product over a time-major ``(frames * channels, kernel * in)`` matrix of
stacked taps, and :class:`PackedMaskNet` runs them on a few frames at a time, with state:

- every convolution's weights are packed once as a ``(kernel * in, out)`` matrix whose rows
  are tap-major, matching the stacked taps of its input;
- the input of every stage lives in a preallocated buffer ``(context + capacity, channels,
  in)``, time-major: the stage before writes into it directly (``out=``), the
  ``context = dilation * (kernel - 1)`` frames before hold the left context, and the stacked
  taps are one strided view of it (no ``torch.cat``); when the buffers are full, the last
  ``context`` frames of each move to its front (every ``capacity`` frames: 64, or the largest
  context plus 32 when that is more, so that the move never reads what it overwrites);
- the LeakyReLU before a convolution runs in place on a copy of its stacked taps (the buffers
  keep the pre-activation, which is also a residual block's skip input);
- a Gaussian bottleneck keeps its mean rows (the eval-mode latent), a sparse one its sigmoid.

Weights that are exactly float16 numbers (a model stored as float16, as the shipped ones are)
run through FBGEMM's float16-weight matrix product on the CPU when this PyTorch build has it:
the same weights and float32 activations and sums, half the memory traffic (the products of
a block of two frames are bound by reading the weights), about 2.5x faster; otherwise
``torch.addmm`` in float32.

The result equals the model's eval-mode forward of the whole signal within float rounding (the
products sum in another order; ``tests/test_streaming_layers.py``). A model with another layer
type or bottleneck makes :func:`pack_mask_model` return None, and
:class:`audioae.streaming_denoiser.StreamingDenoiser` streams the model's own modules instead.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from .models.base import AutoEncoder
from .models.bottleneck import DeterministicBottleneck, GaussianBottleneck, SparseBottleneck
from .models.layers import ResBlock1d

__all__ = ["PackedMaskNet", "Stage", "fp16_kernel_available", "pack_mask_model"]

_CONTIGUOUS = torch.contiguous_format
CAPACITY = 64  # least frames of buffer after each stage's context; a step takes at most half


@functools.cache
def fp16_kernel_available() -> bool:
    """True when this PyTorch build runs FBGEMM's float16-weight matrix product on the CPU.

    The functions are marked deprecated (they warn once per process; the warning is taken
    here); without them, or once they are gone, every product runs in float32.
    """
    fn = getattr(torch, "fbgemm_linear_fp16_weight", None)
    pack = getattr(torch, "fbgemm_pack_gemm_matrix_fp16", None)
    if fn is None or pack is None:
        return False
    weight = torch.tensor([[1.0, 2.0], [0.5, -1.0], [0.25, 4.0]])  # (out 3, in 2)
    x = torch.tensor([[1.0, -2.0]])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = fn(x, pack(weight), torch.zeros(3))
    except (RuntimeError, TypeError):
        return False
    return torch.equal(y, x @ weight.T)


class _Linear:
    """``x (rows, in) -> x @ weight + bias (rows, out)``, in float32 or with float16 weights.

    Args:
        weight: ``(in, out)``.
        bias: ``(out,)``.
        fp16: use the FBGEMM float16-weight product when ``weight`` and the device allow.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, fp16: bool) -> None:
        self.weight, self.bias = weight.contiguous(), bias.contiguous()
        self.packed: torch.Tensor | None = None
        exact = torch.equal(weight.half().float(), weight)  # no rounding, no overflow
        if fp16 and exact and weight.device.type == "cpu" and fp16_kernel_available():
            self.packed = torch.fbgemm_pack_gemm_matrix_fp16(weight.T.contiguous())

    def __call__(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        if self.packed is None:
            if out is None:
                return torch.addmm(self.bias, x, self.weight)
            return torch.addmm(self.bias, x, self.weight, out=out)
        y = torch.fbgemm_linear_fp16_weight(x, self.packed, self.bias)
        return y if out is None else out.copy_(y)


@dataclass
class Stage:
    """One layer of a packed model: ``weight (kernel * in, out)`` (tap-major rows), ``bias
    (out,)``, over taps ``dilation`` frames apart, after a LeakyReLU of slope ``pre_slope``
    (None: none). A residual block also has ``second`` = its pointwise convolution ``(weight
    (out, out), bias)``, run after a LeakyReLU of ``mid_slope``, and adds its input; a sparse
    bottleneck has ``post_sigmoid``."""

    weight: torch.Tensor
    bias: torch.Tensor
    kernel: int = 1
    dilation: int = 1
    pre_slope: float | None = None
    second: tuple[torch.Tensor, torch.Tensor] | None = None
    mid_slope: float = 0.2
    post_sigmoid: bool = False

    @property
    def in_channels(self) -> int:
        return self.weight.shape[0] // self.kernel

    @property
    def context(self) -> int:
        """Frames of left context: ``dilation * (kernel - 1)``."""
        return self.dilation * (self.kernel - 1)


@dataclass
class _Views:
    """Views of one stage's buffer for the next frames: ``write`` ``(rows, in)`` where its
    input goes, ``taps`` ``(frames, channels, kernel, in)`` its stacked taps, ``flat`` the
    same as ``(rows, kernel * in)`` when that is a view, ``target`` the next stage's
    ``write`` (None for the last)."""

    write: torch.Tensor
    taps: torch.Tensor
    flat: torch.Tensor | None
    target: torch.Tensor | None = None


class _Unsupported(Exception):
    """A layer :func:`pack_mask_model` cannot pack."""


def _conv_stage(conv: nn.Conv1d, pre_slope: float | None) -> Stage:
    if conv.stride != (1,) or conv.groups != 1:
        raise _Unsupported(f"{conv}")
    kernel, dilation = conv.kernel_size[0], conv.dilation[0]
    if kernel > 1 and getattr(conv, "context", None) != dilation * (kernel - 1):
        raise _Unsupported(f"not a causal convolution: {conv}")  # e.g. "same" padding
    if kernel == 1 and conv.padding != (0,):
        raise _Unsupported(f"{conv}")
    weight = conv.weight.detach().float()  # (out, in, kernel)
    packed = weight.permute(2, 1, 0).reshape(-1, conv.out_channels)  # (kernel * in, out)
    bias = (
        conv.bias.detach().float() if conv.bias is not None else weight.new_zeros(weight.shape[0])
    )
    return Stage(packed.contiguous(), bias, kernel, dilation, pre_slope)


def _res_stage(block: ResBlock1d) -> Stage:
    slope = float(block.act.negative_slope)
    stage = _conv_stage(block.conv1, slope)
    second = _conv_stage(block.conv2, None)
    if second.kernel != 1:
        raise _Unsupported("a residual block's second convolution must be pointwise")
    stage.second, stage.mid_slope = (second.weight, second.bias), slope
    return stage


def _bottleneck_stage(bottleneck: nn.Module, pre_slope: float | None) -> Stage:
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


def _stages(model: AutoEncoder) -> list[Stage]:
    stages: list[Stage] = []
    slope: float | None = None
    for module in [*model.encoder.net, model.bottleneck, *model.decoder.net]:
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
        raise _Unsupported("an activation at either end")
    return stages


def pack_mask_model(model: AutoEncoder) -> list[Stage] | None:
    """The layers of a causal conv1d mask model (in eval mode) as :class:`Stage` s, float32,
    or None when some layer or the bottleneck is not one this module knows (or the model
    predicts features or downsamples time); see the module docstring."""
    if not model.predicts_mask or model.time_downsampling != 1:
        return None
    try:
        return _stages(model)
    except (_Unsupported, AttributeError, TypeError):
        return None


class PackedMaskNet:
    """The stages of :func:`pack_mask_model` run a few frames at a time, with state.

    Args:
        stages: from :func:`pack_mask_model`.
        shift, scale: the model's input standardisation ``(x - shift) / scale``, scalars or
            ``(n_bins,)`` (``model.feature_shift`` / ``feature_scale``).
        channels: independent streams (a batch).
        device: where the buffers and weights live.
        fp16: run float16-exact weights through the float16-weight kernel when available
            (:func:`fp16_kernel_available`); False keeps every product in float32.

    Raises:
        ValueError: ``channels < 1`` or no stages.
    """

    def __init__(
        self,
        stages: list[Stage],
        shift: torch.Tensor,
        scale: torch.Tensor,
        *,
        channels: int = 1,
        device: torch.device | str = "cpu",
        fp16: bool = True,
    ) -> None:
        if channels < 1 or not stages:
            raise ValueError(f"need channels >= 1 and stages, got {channels} and {len(stages)}")
        self.channels = channels
        self.device = torch.device(device)
        self.stages = stages
        dev = self.device
        self._first = [
            _Linear(s.weight.to(dev), s.bias.to(dev), fp16) for s in stages
        ]  # the stage's own product
        self._second = [
            _Linear(s.second[0].to(dev), s.second[1].to(dev), fp16) if s.second else None
            for s in stages
        ]
        self.n_bins = stages[0].in_channels
        self._shift = torch.as_tensor(shift, dtype=torch.float32, device=dev).reshape(-1)
        self._scale = torch.as_tensor(scale, dtype=torch.float32, device=dev).reshape(-1)
        # a move happens when q + n > capacity with n <= max_frames, so q >= capacity -
        # max_frames; that must be >= every context for source and destination not to overlap
        self.capacity = max(CAPACITY, max(s.context for s in stages) + self.max_frames)
        self._buffers = [
            torch.zeros(s.context + self.capacity, channels, s.in_channels, device=dev)
            for s in stages
        ]
        self._views: dict[tuple[int, int], list[_Views]] = {}
        self.reset()

    @property
    def max_frames(self) -> int:
        """The most frames one :meth:`step` takes."""
        return CAPACITY // 2

    @property
    def uses_fp16(self) -> bool:
        """True when some product runs with float16 weights (the FBGEMM kernel)."""
        return any(lin.packed is not None for lin in self._first)

    def reset(self) -> None:
        """Back to the start of a stream: every left context zero, as the offline padding."""
        for buf in self._buffers:
            buf.zero_()
        self._filled = 0  # frames written after the contexts since the last move

    def _views_for(self, n: int) -> list[_Views]:
        """Per stage, for ``n`` new frames: see :class:`_Views` (built once per position)."""
        key = (self._filled, n)
        views = self._views.get(key)
        if views is None:
            if len(self._views) > 4 * self.capacity:
                self._views.clear()
            views, c, q, rows = [], self.channels, self._filled, n * self.channels
            for stage, buf in zip(self.stages, self._buffers):
                d, k, width = stage.dilation, stage.kernel, stage.in_channels
                write = buf[stage.context + q : stage.context + q + n].view(rows, width)
                taps = buf.as_strided(
                    (n, c, k, width), (c * width, width, d * c * width, 1), q * c * width
                )
                try:  # rows overlap when dilation = channels = 1: still a view
                    flat = taps.view(rows, k * width)
                except RuntimeError:
                    flat = None
                views.append(_Views(write, taps, flat))
            for i in range(len(views) - 1):
                views[i].target = views[i + 1].write
            self._views[key] = views
        return views

    def _make_room(self, n: int) -> None:
        if self._filled + n <= self.capacity:
            return
        for stage, buf in zip(self.stages, self._buffers):
            ctx, q = stage.context, self._filled
            if ctx:  # q > capacity - max_frames >= ctx: source and destination do not overlap
                buf[:ctx].copy_(buf[q : q + ctx])
        self._filled = 0

    def step(self, features: torch.Tensor) -> torch.Tensor:
        """The last layer's outputs (mask logits) for the next frames: ``n_out = n_bins``
        for a magnitude mask, ``2 * n_bins`` (real parts, then imaginary parts) for a complex
        one; :func:`audioae.models.masks.mask_from_logits` turns them into the mask.

        Args:
            features: ``(frames, channels, n_bins)`` time-major, ``1 <= frames <=
                max_frames``, as the model takes them (before its standardisation).

        Returns:
            ``(frames, channels, n_out)``; valid until the next call.

        Raises:
            ValueError: wrong shape.
        """
        n = features.shape[0]
        if features.shape[1:] != (self.channels, self.n_bins) or not 0 < n <= self.max_frames:
            raise ValueError(
                f"expected features (1..{self.max_frames}, {self.channels}, {self.n_bins}), "
                f"got {tuple(features.shape)}"
            )
        self._make_room(n)
        views = self._views_for(n)
        rows = n * self.channels
        first_input = views[0].write.view(n, self.channels, self.n_bins)
        torch.div(features - self._shift, self._scale, out=first_input)
        leaky_ = torch.nn.functional.leaky_relu_
        out = first_input
        for stage, first, second, v in zip(self.stages, self._first, self._second, views):
            if stage.pre_slope is None:
                x = v.flat if v.flat is not None else v.taps.reshape(rows, -1)
            else:  # a copy first: the activation must not reach the buffer
                x = leaky_(v.taps.clone(memory_format=_CONTIGUOUS).view(rows, -1), stage.pre_slope)
            if second is not None:  # x + conv2(act(conv1(act(x))))
                y = second(leaky_(first(x), stage.mid_slope))
                out = y.add_(v.write) if v.target is None else torch.add(v.write, y, out=v.target)
            elif stage.post_sigmoid:
                y = torch.sigmoid(first(x))
                out = y if v.target is None else v.target.copy_(y)
            else:
                out = first(x, out=v.target)
        self._filled += n
        return out.view(n, self.channels, -1)
