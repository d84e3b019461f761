"""Real-time denoising with a causal model: blocks of samples in, denoised samples out, with state.

:class:`StreamingDenoiser` runs a causal mask model (``model.causal: true``, e.g.
``recipes/denoise_stream.yaml``) the way a live audio callback would: each call to
:meth:`StreamingDenoiser.process` takes a block of samples (any length; 10-20 ms, a multiple of
``hop_length``, in a real-time loop) and returns every output sample that is final. Its state:

- the STFT analysis buffer: the input samples not yet covered by a complete frame (starting
  with the ``n_fft // 2`` zeros of the offline STFT's ``center`` padding);
- each causal convolution's left-context cache (:class:`audioae.models.layers.CausalConv1d`),
  so the mask of frame ``t`` is computed once, from frames ``<= t``, as offline;
- the overlap-add synthesis buffer (signal and squared-window envelope) of the frames whose
  samples later frames still overlap.

The output, concatenated over the calls and :meth:`StreamingDenoiser.flush`, equals
:meth:`audioae.pipeline.Pipeline.denoise` (``phase="noisy"``) of the whole signal with the
same model within float rounding (test: ``tests/test_streaming_denoiser.py``, < 1e-5).

Latency: output sample ``s`` is final once input sample ``s + n_fft - hop_length`` has arrived
(the last frame that overlaps it is complete), so the output stream lags the input by
:attr:`StreamingDenoiser.delay` = ``n_fft - hop_length`` samples; a sample that arrives first
in a block waits for the block to fill as well. The algorithmic latency is thus
``n_fft - hop_length + block`` samples: with n_fft 512 and hop 128 at 16 kHz, 32 ms for 8 ms
blocks and 40 ms for 16 ms blocks (window + hop). :meth:`process` returns exactly ``delay``
samples fewer than it has been given so far (rounded to whole hops); :meth:`flush` returns the
rest, so the outputs add up to the input's length, aligned with it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .models.layers import CausalConv1d, streaming_copy
from .pipeline import Pipeline, PipelineError

__all__ = ["StreamingDenoiser", "is_causal"]


def is_causal(pipe: Pipeline) -> bool:
    """True when the pipeline's model is a causal mask model (``model.causal`` and ``output: mask``)."""
    return bool(getattr(pipe.config.model, "causal", False)) and bool(pipe.model.predicts_mask)


def _streaming_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (whose conv caches are the stream's own) with every pointwise
    ``Conv1d`` turned into a kernel-1 :class:`CausalConv1d`, so every convolution streams.

    Raises:
        PipelineError: a Conv1d that is neither causal nor pointwise.
    """
    model = copy.deepcopy(model).eval()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Conv1d) and not isinstance(child, CausalConv1d):
                try:
                    setattr(parent, name, streaming_copy(child))
                except ValueError as exc:
                    raise PipelineError(f"cannot stream this model: {exc}") from None
    return model


class StreamingDenoiser:
    """Block-by-block denoising with a causal mask model; see the module docstring.

    Args:
        pipe: a :class:`~audioae.pipeline.Pipeline` holding a causal mask model.
        channels: channels of the blocks (each is denoised on its own).
        wet: magnitude blend as in :meth:`Pipeline.denoise`, 1 = fully denoised.

    Raises:
        PipelineError: the model is not causal (streaming would need its look-ahead) or does
            not predict a mask.
        ValueError: ``channels < 1`` or ``wet`` outside [0, 1].
    """

    def __init__(self, pipe: Pipeline, *, channels: int = 1, wet: float = 1.0) -> None:
        if not pipe.model.predicts_mask:
            raise PipelineError(f"streaming denoising needs a denoising model; {pipe.purpose}")
        if not is_causal(pipe):
            raise PipelineError(
                "streaming denoising needs a causal model (model.causal: true, e.g. the "
                "denoise_stream recipe); this model looks ahead"
            )
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if not 0.0 <= wet <= 1.0:
            raise ValueError(f"wet: must be in [0, 1], got {wet}")
        self.pipe = pipe
        self.channels = channels
        self.wet = wet
        params = pipe.frontend.stft_params
        if params.win_length != params.n_fft or not params.center:
            raise PipelineError("streaming denoising needs a centred STFT with win_length = n_fft")
        self.n_fft, self.hop_length = params.n_fft, params.hop_length
        self.device = pipe.device
        self.model = _streaming_model(pipe.model)
        self._convs = [m for m in self.model.modules() if isinstance(m, CausalConv1d)]
        self._window = pipe.frontend.window.to(self.device, torch.float32)
        self.reset()

    @property
    def sample_rate(self) -> int:
        """The model's sample rate (Hz); blocks must be at this rate."""
        return self.pipe.sample_rate

    @property
    def delay(self) -> int:
        """Samples the output stream lags the input: ``n_fft - hop_length``."""
        return self.n_fft - self.hop_length

    @property
    def latency_seconds(self) -> float:
        """Algorithmic latency with blocks of one hop: ``n_fft / sample_rate`` (s); add
        ``block - hop_length`` samples for longer blocks."""
        return self.n_fft / self.sample_rate

    def reset(self) -> None:
        """Forget the stream: empty buffers and zero conv caches, as before the first block."""
        c, dev = self.channels, self.device
        self._pending = torch.zeros(c, self.n_fft // 2, device=dev)  # center padding
        self._ola = torch.zeros(c, self.n_fft, device=dev)  # starts at padded index _origin
        self._env = torch.zeros(self.n_fft, device=dev)
        self._origin = 0  # padded-stream index of _ola[0] (= the next frame's start)
        self._frames = 0
        self._received = 0
        self._emitted = 0
        for conv in self._convs:
            conv.start_stream(c)

    def _check_block(self, block: torch.Tensor) -> torch.Tensor:
        block = torch.as_tensor(block, dtype=torch.float32)
        if block.ndim == 1:
            block = block.unsqueeze(0)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(
                f"expected a block ({self.channels}, samples) or (samples,) for one channel, "
                f"got shape {tuple(block.shape)}"
            )
        if not torch.isfinite(block).all():
            raise ValueError("block contains NaN or Inf samples")
        return block.to(self.device)

    def _run_frames(self, count: int) -> None:
        """Analyse, mask and overlap-add the next ``count`` frames of ``_pending``."""
        if count <= 0:
            return
        n_fft, hop = self.n_fft, self.hop_length
        frames = self._pending[:, : (count - 1) * hop + n_fft].unfold(-1, n_fft, hop)
        spec = torch.fft.rfft(frames * self._window, dim=-1).transpose(-1, -2)  # (c, n_freq, k)
        noisy_mag = spec.abs()
        front = self.pipe.frontend
        clean_mag = front.to_magnitude(self.model(front.from_magnitude(noisy_mag)).reconstruction)
        mag = self.wet * clean_mag + (1.0 - self.wet) * noisy_mag
        angle = spec.angle()
        out = torch.fft.irfft(mag * torch.polar(torch.ones_like(angle), angle), n=n_fft, dim=-2)
        out = out.transpose(-1, -2) * self._window  # (c, k, n_fft)
        span = (count - 1) * hop + n_fft
        ola = torch.zeros(self.channels, span, device=self.device)
        env = torch.zeros(span, device=self.device)
        kept = self._ola.shape[-1]  # the previous frames' overlap, < n_fft samples
        ola[:, :kept] += self._ola
        env[:kept] += self._env
        square = self._window.square()
        for i in range(count):
            ola[:, i * hop : i * hop + n_fft] += out[:, i]
            env[i * hop : i * hop + n_fft] += square
        self._finished = (ola[:, : count * hop], env[: count * hop])
        self._ola, self._env = ola[:, count * hop :], env[count * hop :]
        self._pending = self._pending[:, count * hop :]
        self._origin += count * hop
        self._frames += count

    def _emit(self, upto: int) -> torch.Tensor:
        """Normalise the finished overlap-add samples up to output index ``upto``."""
        ola, env = self._finished
        start = self._origin - ola.shape[-1] - self.n_fft // 2  # output index of ola[0]
        upto = max(upto, self._emitted)  # output indices < 0 are the centre padding
        lo, hi = self._emitted - start, upto - start
        tiny = torch.finfo(env.dtype).tiny
        e = env[lo:hi]
        y = torch.where(e > tiny, ola[:, lo:hi] / torch.where(e > tiny, e, 1.0), 0.0)
        self._emitted = upto
        return y

    @torch.inference_mode()
    def process(self, block: torch.Tensor) -> torch.Tensor:
        """Feed ``block`` ``(channels, samples)`` (or ``(samples,)``) at :attr:`sample_rate`.

        Returns:
            The newly final output samples ``(channels, n)``: after a total of ``N`` input
            samples, output samples ``0 .. N - delay`` rounded down to a whole hop.

        Raises:
            ValueError: wrong shape or non-finite samples.
        """
        block = self._check_block(block)
        self._pending = torch.cat([self._pending, block], dim=-1)
        self._received += block.shape[-1]
        count = (self._pending.shape[-1] - self.n_fft) // self.hop_length + 1
        if count <= 0:
            return torch.zeros(self.channels, 0, device=self.device)
        self._run_frames(count)
        return self._emit(self._origin - self.n_fft // 2)

    @torch.inference_mode()
    def flush(self) -> torch.Tensor:
        """End the stream: the last output samples ``(channels, n)``, so that every output
        together has the input's length (as offline, the STFT's last frame is
        ``received // hop_length``). Call :meth:`reset` to start a new stream."""
        total_frames = 1 + self._received // self.hop_length
        remaining = total_frames - self._frames
        # always >= 1: the centre padding keeps the last n_fft // 2 samples' frames pending
        need = (remaining - 1) * self.hop_length + self.n_fft - self._pending.shape[-1]
        pad = torch.zeros(self.channels, max(need, 0), device=self.device)
        self._pending = torch.cat([self._pending, pad], dim=-1)
        self._run_frames(remaining)
        ola, env = self._finished
        # the samples after the last frame's start: no frame follows, _ola holds their sums
        self._finished = (torch.cat([ola, self._ola], -1), torch.cat([env, self._env]))
        self._origin += self._ola.shape[-1]
        return self._emit(self._received)
