"""Real-time denoising with a causal model: blocks of samples in, denoised samples out, with state.

:class:`StreamingDenoiser` runs a causal mask model (``model.causal: true``, e.g.
``recipes/denoise_stream.yaml``; a magnitude mask, or a complex ratio mask with ``output:
crm``) the way a live audio callback would: each call to :meth:`StreamingDenoiser.process`
takes a block of samples (any length; 10-20 ms, a multiple of ``hop_length``, in a real-time
loop) and returns every output sample that is final. Its state:

- the STFT analysis buffer: the input samples not yet covered by a complete frame (starting
  with the ``n_fft // 2`` zeros of the offline STFT's ``center`` padding);
- every causal convolution's left context, so the mask of frame ``t`` is computed once, from
  frames ``<= t``, as offline: in the buffers of :class:`audioae.streaming_layers.PackedMaskNet`
  (the model's layers packed as one matrix product each, the fast path), or for a model it
  cannot pack, in each :class:`audioae.models.layers.CausalConv1d`'s cache;
- the overlap-add tail: the partial sums of the samples that later frames still overlap.

Synthesis divides by the squared-window envelope as ``torch.istft`` does: the envelope is
periodic (period ``hop_length``) except over the first ``n_fft - hop_length`` samples and the
last frame's tail, so the synthesis window is pre-divided by the periodic envelope and only
those samples get a correction.

The output, concatenated over the calls and :meth:`StreamingDenoiser.flush`, equals
:meth:`audioae.pipeline.Pipeline.denoise` (``phase="noisy"``) of the whole signal with the
same model within float rounding (test: ``tests/test_streaming_denoiser.py``, < 1e-5), for
signals of at least one hop: ``Pipeline.denoise`` returns a shorter one unchanged (with a
:class:`~audioae.pipeline.ShortInputWarning`), while a stream, whose length is not known
until :meth:`StreamingDenoiser.flush`, denoises it (on held-out speech the shipped
``denoise_stream`` kept 3-8 ms snippets within 0.7 dB this way; 1 ms ones lost up to 12 dB).

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

from .arguments import check_integer
from .functional import apply_complex_mask, check_wet
from .models.layers import CausalConv1d, streaming_copy
from .models.masks import check_mask_exponent, check_post_filter, mask_from_logits, shape_mask
from .pipeline import Pipeline, PipelineError
from .streaming_layers import PackedMaskNet, pack_mask_model
from .waveforms import as_waveform

__all__ = ["StreamingDenoiser", "is_causal"]


def is_causal(pipe: Pipeline) -> bool:
    """True when the pipeline's model is a causal mask model (``model.causal`` and ``output:
    mask`` or ``crm``)."""
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
        wet: blend as in :meth:`Pipeline.denoise`, 1 = fully denoised (magnitudes, or for a
            complex mask the spectra).
        mask_exponent: as in :meth:`Pipeline.denoise`: the mask's gains raised to this power
            (:func:`audioae.models.masks.sharpen_mask`); 1 = the mask as trained.
        post_filter: as in :meth:`Pipeline.denoise`: PercepNet's post-filter strength
            (:func:`audioae.models.masks.post_filter`, per frame, so causal); 0 = off.
        packed: run the model packed (:mod:`audioae.streaming_layers`, several times faster)
            when its layers allow; False runs the model's own modules layer by layer (the
            reference; the output is the same within float rounding).

    Raises:
        PipelineError: the model is not causal (streaming would need its look-ahead) or does
            not predict a mask, or the STFT is not centred with ``win_length = n_fft``.
        ValueError: ``channels`` not a whole number (bools and floats refused; numpy integers
            taken) or below 1, ``wet`` outside [0, 1], ``mask_exponent`` outside (0, 8] or
            ``post_filter`` outside [0, 1].
    """

    def __init__(
        self,
        pipe: Pipeline,
        *,
        channels: int = 1,
        wet: float = 1.0,
        mask_exponent: float = 1.0,
        post_filter: float = 0.0,
        packed: bool = True,
    ) -> None:
        if not pipe.model.predicts_mask:
            raise PipelineError(f"streaming denoising needs a denoising model; {pipe.purpose}")
        if not is_causal(pipe):
            raise PipelineError(
                "streaming denoising needs a causal model (model.causal: true, e.g. the "
                "denoise_stream recipe); this model looks ahead"
            )
        channels = check_integer("channels", channels, minimum=1)
        wet = check_wet(wet)
        self.pipe = pipe
        self.channels = channels
        self.wet = wet
        self.mask_exponent = check_mask_exponent(mask_exponent)
        self.post_filter = check_post_filter(post_filter)
        params = pipe.frontend.stft_params
        if params.win_length != params.n_fft or not params.center:
            raise PipelineError("streaming denoising needs a centred STFT with win_length = n_fft")
        self.n_fft, self.hop_length = params.n_fft, params.hop_length
        self.device = pipe.device
        model = pipe.model  # in eval mode (the pipeline's)
        stages = pack_mask_model(model) if packed else None
        self._net = None
        self.model = None
        if stages:
            self._net = PackedMaskNet(
                stages,
                model.feature_shift,
                model.feature_scale,
                channels=channels,
                device=self.device,
            )
        else:
            self.model = _streaming_model(model)
        convs = self.model.modules() if self.model is not None else []
        self._convs = [m for m in convs if isinstance(m, CausalConv1d)]
        self._window = pipe.frontend.window.to(self.device, torch.float32)
        self._synthesis_window, self._start_fix = self._synthesis_windows()
        self.reset()

    @property
    def packed(self) -> bool:
        """True when the model runs packed (:class:`~audioae.streaming_layers.PackedMaskNet`)."""
        return self._net is not None

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

    def _envelope(self, start: int, stop: int, frames: int | None) -> torch.Tensor:
        """The squared-window overlap-add envelope ``(stop - start,)`` over padded-stream
        indices ``[start, stop)`` of frames ``0 .. frames - 1`` (None: every frame)."""
        n_fft, hop = self.n_fft, self.hop_length
        env = torch.zeros(stop - start, device=self.device)
        first = max(0, (start - n_fft) // hop)
        last = stop // hop if frames is None else min(frames - 1, stop // hop)
        square = self._window.square()
        for i in range(first, last + 1):
            lo, hi = max(start, i * hop), min(stop, i * hop + n_fft)
            if lo < hi:
                env[lo - start : hi - start] += square[lo - i * hop : hi - i * hop]
        return env

    def _synthesis_windows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The synthesis window divided by the periodic envelope, and the correction of the
        first ``n_fft - hop`` padded samples (periodic over actual envelope, 0 where the
        actual one is 0, as ``torch.istft`` leaves them)."""
        n_fft, hop = self.n_fft, self.hop_length
        steady = hop * -(-n_fft // hop)  # >= n_fft - hop: every frame over it exists
        periodic = self._envelope(steady, steady + hop, None)  # [j]: padded index = j mod hop
        if bool((periodic <= torch.finfo(periodic.dtype).tiny).any()):
            raise PipelineError("the STFT window does not overlap-add to a positive envelope")
        self._periodic = periodic
        synthesis = self._window / periodic.repeat(-(-n_fft // hop))[:n_fft]
        return synthesis, self._correction(0, n_fft - hop, None)

    def _correction(self, start: int, stop: int, frames: int | None) -> torch.Tensor:
        """``periodic / actual`` envelope over padded ``[start, stop)`` (0 where actual is 0)."""
        actual = self._envelope(start, stop, frames)
        hop = self.hop_length
        index = torch.arange(start, stop, device=self.device) % hop
        tiny = torch.finfo(actual.dtype).tiny
        return torch.where(actual > tiny, self._periodic[index] / actual.clamp_min(tiny), 0.0)

    def reset(self) -> None:
        """Forget the stream: empty buffers and zero conv caches, as before the first block."""
        c, dev = self.channels, self.device
        self._pending = torch.zeros(c, self.n_fft // 2, device=dev)  # center padding
        self._tail = torch.zeros(c, self.n_fft - self.hop_length, device=dev)
        self._origin = 0  # padded-stream index of _pending[0] and _tail[0] (next frame's start)
        self._frames = 0
        self._received = 0
        self._flushed = False
        if self._net is not None:
            self._net.reset()
        for conv in self._convs:
            conv.start_stream(c)

    def _check_open(self, what: str) -> None:
        if self._flushed:
            raise RuntimeError(
                f"StreamingDenoiser.{what}: the stream was flushed; call reset() to start a new one"
            )

    def _check_block(self, block: torch.Tensor) -> torch.Tensor:
        shape = tuple(torch.as_tensor(block).shape)
        block = as_waveform(block, what="block", allow_empty=True)
        if block.shape[0] != self.channels:
            raise ValueError(
                f"expected a block ({self.channels}, samples) or (samples,) for one channel, "
                f"got shape {shape}"
            )
        return block.to(self.device)

    def _mask(self, features: torch.Tensor) -> torch.Tensor:
        """Features ``(channels, n_bins, frames)`` -> the model's mask, same shape (real in
        [0, 1], or complex for a complex-mask model)."""
        if self._net is None:
            return self.model(features).mask
        logits = [
            self._net.step(features[..., i : i + self._net.max_frames].permute(2, 0, 1))
            for i in range(0, features.shape[-1], self._net.max_frames)
        ]
        raw = logits[0] if len(logits) == 1 else torch.cat(logits)  # (k, c, n_out)
        model = self.pipe.model
        return mask_from_logits(raw.permute(1, 2, 0), model.n_bins, model.complex_mask)

    def _denoise_spectrum(self, spec: torch.Tensor) -> torch.Tensor:
        """Noisy STFT frames ``(channels, frames, n_freq)`` -> denoised ones, same shape: the
        masked magnitude with the noisy phase, or the complex-masked STFT."""
        front = self.pipe.frontend
        noisy_mag = spec.abs()
        features = front.from_magnitude(noisy_mag.transpose(-1, -2))  # (c, n_bins, k)
        mask = shape_mask(self._mask(features), self.mask_exponent, self.post_filter)
        if self.pipe.masks_the_stft:  # a mask over the STFT itself
            return apply_complex_mask(spec, mask.transpose(-1, -2), self.wet)
        mag = front.to_magnitude(front.apply_mask(features, mask)).transpose(-1, -2)
        if self.wet != 1.0:
            mag = self.wet * mag + (1.0 - self.wet) * noisy_mag
        return torch.polar(mag.contiguous(), spec.angle())  # the FFTs are fastest on rows

    def _run_frames(self, count: int) -> torch.Tensor:
        """Analyse, mask and overlap-add the next ``count >= 1`` frames of ``_pending``;
        returns the samples they finish ``(channels, count * hop)`` (padded-stream indices
        from ``_origin``), normalised by the envelope."""
        n_fft, hop = self.n_fft, self.hop_length
        frames = self._pending[:, : (count - 1) * hop + n_fft].unfold(-1, n_fft, hop)
        spec = torch.fft.rfft(frames * self._window, dim=-1)  # (c, k, n_freq)
        clean = self._denoise_spectrum(spec)
        out = torch.fft.irfft(clean, n=n_fft, dim=-1) * self._synthesis_window  # (c, k, n_fft)
        ola = out.new_zeros(self.channels, (count - 1) * hop + n_fft)
        ola[:, : self._tail.shape[-1]] = self._tail
        for i in range(count):
            ola[:, i * hop : i * hop + n_fft] += out[:, i]
        finished, self._tail = ola[:, : count * hop], ola[:, count * hop :]
        if self._origin < n_fft - hop:  # the first samples: fewer frames overlap them
            fix = self._start_fix[self._origin : self._origin + count * hop]
            finished = torch.cat(
                [finished[:, : fix.shape[0]] * fix, finished[:, fix.shape[0] :]], -1
            )
        self._pending = self._pending[:, count * hop :]
        self._origin += count * hop
        self._frames += count
        return finished

    def _emit(self, finished: torch.Tensor, start: int) -> torch.Tensor:
        """Drop the centre padding: ``finished`` begins at padded index ``start``."""
        return finished[:, max(0, self.n_fft // 2 - start) :]

    @torch.inference_mode()
    def process(self, block: torch.Tensor) -> torch.Tensor:
        """Feed ``block`` ``(channels, samples)`` (or ``(samples,)``) at :attr:`sample_rate`.

        Returns:
            The newly final output samples ``(channels, n)``: after a total of ``N`` input
            samples, output samples ``0 .. N - delay`` rounded down to a whole hop.

        Raises:
            ValueError: wrong shape, integer (PCM), complex or non-finite samples
                (:func:`audioae.waveforms.as_waveform`).
            RuntimeError: the stream was flushed (call :meth:`reset` to start a new one).
        """
        self._check_open("process")
        block = self._check_block(block)
        self._pending = torch.cat([self._pending, block], dim=-1)
        self._received += block.shape[-1]
        count = (self._pending.shape[-1] - self.n_fft) // self.hop_length + 1
        if count <= 0:
            return torch.zeros(self.channels, 0, device=self.device)
        start = self._origin
        return self._emit(self._run_frames(count), start)

    @torch.inference_mode()
    def flush(self) -> torch.Tensor:
        """End the stream: the last output samples ``(channels, n)``, so that every output
        together has the input's length (as offline, the STFT's last frame is
        ``received // hop_length``). Call :meth:`reset` to start a new stream.

        Raises:
            RuntimeError: the stream was flushed already.
        """
        self._check_open("flush")
        self._flushed = True
        total_frames = 1 + self._received // self.hop_length
        remaining = total_frames - self._frames
        # always >= 1: the centre padding keeps the last n_fft // 2 samples' frames pending
        need = (remaining - 1) * self.hop_length + self.n_fft - self._pending.shape[-1]
        pad = torch.zeros(self.channels, max(need, 0), device=self.device)
        self._pending = torch.cat([self._pending, pad], dim=-1)
        start = self._origin
        finished = self._run_frames(remaining)
        # the samples after the last frame's start: no frame follows, _tail holds their sums
        stop = self._received + self.n_fft // 2  # padded index of the input's end
        tail = self._tail[:, : max(0, stop - self._origin)]
        tail = tail * self._correction(self._origin, self._origin + tail.shape[-1], self._frames)
        out = self._emit(torch.cat([finished, tail], -1), start)
        return out[:, : stop - max(start, self.n_fft // 2)]  # (finished may pass the end)
