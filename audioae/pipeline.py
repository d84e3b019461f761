"""The inference pipeline: front-end + trained model + phase path, on tensors of any length.

:class:`Pipeline` is what the CLI and the Python API use::

    from audioae import Pipeline
    pipe = Pipeline.load("model.safetensors", device="auto")
    clean = pipe.denoise(noisy)            # (channels, time) at pipe.sample_rate
    latent = pipe.encode(wav)              # (channels, latent_dim, latent_frames)
    wav = pipe.decode(latent, length=wav.shape[-1])
    for piece in pipe.decode_stream(latent, length):  # the same, piece by piece (flat memory)
        ...

Waveforms are ``(channels, time)`` (or ``(time,)``) float tensors at the model's
``sample_rate`` (Hz); latents are ``(channels, latent_dim, latent_frames)``. Long inputs are
processed in aligned chunks (:mod:`audioae.chunking`), so memory does not grow with length.

Layout: :class:`PipelineError` lives in :mod:`audioae.pipeline_errors`, :func:`resolve_device`
in :mod:`audioae.torch_device`, :func:`slerp` and :class:`Interpolation` in
:mod:`audioae.latent_interpolation`, and the per-window mask maths of :meth:`Pipeline.denoise`
in :mod:`audioae.mask_denoising`. This module re-exports all but the last: import
``PipelineError``, ``resolve_device``, ``slerp``, ``Interpolation`` from here. The generative
methods (:meth:`~Pipeline.interpolate`, :meth:`~Pipeline.sample`, :meth:`~Pipeline.fit_prior`,
:meth:`~Pipeline.variations`, :meth:`~Pipeline.posterior`) come from
:class:`audioae.pipeline_generation.GenerativeMixin`, and :meth:`~Pipeline.denoise` and
:meth:`~Pipeline.denoise_window` from :class:`audioae.pipeline_denoise.DenoiseMixin`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .arguments import check_integer, is_integer
from .chunking import CrossfadeStream, Window, centred_spans, plan_windows
from .config import Config
from .latent_interpolation import INTERPOLATION_METHODS, Interpolation, slerp
from .models.layers import time_context_frames
from .phase import PhaseReconstructor, learned_methods
from .pipeline_denoise import DenoiseMixin
from .pipeline_errors import PipelineError
from .pipeline_generation import MAX_TEMPERATURE, GenerativeMixin
from .resampling import resample
from .torch_device import resolve_device
from .waveforms import as_waveform

if TYPE_CHECKING:  # annotations only
    from .embed import Embedding

PHASE_MODES = ("noisy", "griffin-lim")
"""The ``denoise`` phases of every model; a model with a learned decoder adds its methods."""


class ShortInputWarning(UserWarning):
    """:meth:`Pipeline.denoise` got an input shorter than one hop
    (:attr:`Pipeline.min_denoise_samples`), too short to denoise, and returned it unchanged.

    Attributes:
        samples: the input's length (samples at the model's rate).
        sample_rate: the model's rate (Hz).
        minimum: the shortest length that is denoised (samples).
    """

    def __init__(self, samples: int, sample_rate: int, minimum: int) -> None:
        self.samples, self.sample_rate, self.minimum = samples, sample_rate, minimum
        super().__init__(
            f"input of {samples} samples ({1000 * samples / sample_rate:.1f} ms at {sample_rate} Hz) "
            f"is shorter than one hop ({minimum} samples, {1000 * minimum / sample_rate:.1f} ms): "
            "the model would see one STFT frame, mostly padding; returned unchanged, not denoised"
        )


class Pipeline(DenoiseMixin, GenerativeMixin):
    """Front-end + model + phase path for one trained model.

    The pipeline is inference-only. It takes ``model`` (and ``vocoder``) over, in place:
    ``model.to(device).eval()``, the caller's module object, not a copy. The caller's model
    is therefore moved to ``device`` and left in eval mode (dropout off, normalisation
    layers on their running statistics); call ``model.train()`` to train it further, or
    pass ``copy.deepcopy(model)`` to keep the original as it was.

    The methods that compute audio or latents (``encode``, ``decode``, ``decode_stream``,
    ``reconstruct``, ``denoise``, ``denoise_window``, ``interpolate``, ``sample``,
    ``variations``, ``posterior``) run under :func:`torch.inference_mode`, so the tensors
    they return are inference tensors and cannot join autograd: ``out.requires_grad_()``
    raises ``RuntimeError`` ("Setting requires_grad=True on inference tensor outside
    InferenceMode is not allowed"), and so does a backward through an operation that saved
    one (``(weight * out).sum().backward()``). Take ``out = out.clone()``, outside inference
    mode, to use an output in a graph (as a target, or as an input to optimise).

    Args:
        model: an :class:`audioae.models.AutoEncoder`.
        config: the model's :class:`~audioae.config.Config`.
        model_hash: 16-byte digest of the model's weights (stamped into latent files).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``…
        chunk_seconds: length of the part of each chunk that is kept (s), > 0. Each chunk is
            processed with its margins, so chunks much shorter than the margins repeat work
            (0 made every chunk span the whole signal).
        margin_seconds: context added on each side of a chunk (s), at least; the margin used
            is never below the model's receptive field (:attr:`margin_samples`), so chunked
            output equals whole-file output.
        vocoder: a learned decoder (:class:`audioae.vocoder.Vocoder`) for the model's
            front-end; it adds the ``learned`` and ``learned+griffin-lim`` phase methods.

    Waveforms in: float tensors or numpy arrays ``(channels, time)`` or ``(time,)`` at
    :attr:`sample_rate`, samples in [-1, 1] (:func:`audioae.waveforms.as_waveform`: integer
    PCM and a ``(time, channels)`` layout are refused). Waveforms out: float32 ``(channels,
    time)`` on :attr:`device`, whatever the input's dtype, and ``(1, time)`` for a ``(time,)``
    input.

    Every features -> waveform step goes through ``self.phase``; the methods a call may name
    are :attr:`phase_methods`, the default is :attr:`default_phase` (``config.phase.method``
    when the model has what it needs, else ``griffin-lim``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: Config,
        *,
        model_hash: bytes = b"",
        device: str | torch.device = "auto",
        chunk_seconds: float = 20.0,
        margin_seconds: float = 1.0,
        vocoder: torch.nn.Module | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.config = config
        self.model_hash = model_hash
        self.model = model.to(self.device).eval()
        self.frontend = self.model.frontend  # the model's own front-end, on self.device
        self.vocoder = None if vocoder is None else vocoder.to(self.device).eval()
        methods = None if self.vocoder is None else learned_methods(self.vocoder)
        self.phase = PhaseReconstructor(self.frontend, config.phase, methods)
        for name, value, zero_ok in (
            ("chunk_seconds", chunk_seconds, False),
            ("margin_seconds", margin_seconds, True),
        ):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and (value > 0 or zero_ok and value == 0)):
                least = ">= 0" if zero_ok else "> 0"
                raise ValueError(
                    f"{name}: must be a finite number of seconds {least}, got {value!r}"
                )
        self.chunk_seconds = chunk_seconds
        self.margin_seconds = margin_seconds
        # the model's receptive field in samples (fixed with the model; see margin_samples)
        self._context_samples = (
            time_context_frames(self.model) * self.hop_length + self.frontend.n_fft
        )

    @classmethod
    def load(
        cls,
        model_file: str | os.PathLike,
        device: str | torch.device = "auto",
        *,
        vocoder: str | os.PathLike | None = None,
        **kwargs,
    ) -> Pipeline:
        """Load a model file written by training or ``audioae export`` (safetensors, no pickle).

        ``model_file`` is a path, or the name of a shipped model: ``Pipeline.load("denoise")``
        (``denoise``, ``denoise_stream``, ``codec``, ``timbre``; see
        :func:`audioae.modelfile.resolve_model_file`).

        Args:
            vocoder: a stand-alone learned decoder file (``audioae train vocoder``) to use
                instead of the one the model file carries, if any.

        Raises:
            audioae.modelfile.ModelFileError: missing, corrupt, non-model or unknown-version
                file (model or decoder), or an unknown model name (the message lists the
                shipped ones).
            audioae.vocoderfile.VocoderMismatchError: the decoder was trained for other
                front-end settings than the model's.
        """
        from .modelfile import load_model_file
        from .vocoderfile import check_vocoder_compatible, load_vocoder_file

        loaded = load_model_file(model_file, device="cpu")
        decoder = loaded.vocoder
        if vocoder is not None:
            attached = load_vocoder_file(vocoder, device="cpu")
            check_vocoder_compatible(loaded.config, attached.config, str(vocoder))
            decoder = attached.vocoder
        return cls(
            loaded.model,
            loaded.config,
            model_hash=loaded.model_hash,
            device=device,
            vocoder=decoder,
            **kwargs,
        )

    # ------------------------------------------------------------------ properties
    @property
    def sample_rate(self) -> int:
        """The model's sample rate (Hz)."""
        return self.config.audio.sample_rate

    @property
    def steep_resampling(self) -> bool:
        """Whether audio at other rates is brought to :attr:`sample_rate` and back with the
        steep filter (the model's ``audio.resampler`` is ``steep``; see
        :func:`audioae.audio.resample`). The file jobs, streaming and live denoising honour it;
        the Pipeline's own methods take audio already at :attr:`sample_rate`."""
        return self.config.audio.resampler == "steep"

    @property
    def hop_length(self) -> int:
        """The front-end's hop (samples)."""
        return self.frontend.hop_length

    @property
    def align(self) -> int:
        """Samples per latent frame: hop length x the model's time downsampling."""
        return self.hop_length * self.model.time_downsampling

    @property
    def is_variational(self) -> bool:
        return bool(self.model.is_variational)

    @property
    def crossfade(self) -> int:
        """Crossfade length (samples) between chunks whose outputs differ in their overlap
        (Griffin-Lim): the chunk margin, or the chunk when that is shorter (so the fades of
        neighbouring boundaries never overlap; see :func:`audioae.chunking.centred_spans`)."""
        chunk, margin = self._chunking()
        return min(chunk, margin)

    @property
    def masks_the_stft(self) -> bool:
        """The model predicts a mask whose bins are the STFT's (every complex ratio mask, and a
        real mask of a ``spectrogram`` or ``log_magnitude`` front-end): denoising multiplies
        the complex STFT by it directly (:func:`audioae.mask_denoising.denoised_spectrum`).
        False for feature models and for mel-band masks, which go through the features and a
        kept phase."""
        return self.model.predicts_mask and self.frontend.bins_are_stft_bins

    @property
    def phase_methods(self) -> list[str]:
        """The phase methods ``decode``/``reconstruct``/``interpolate``/``sample`` accept."""
        return [m for m in self.phase.methods if m != "kept-phase"]

    @property
    def default_phase(self) -> str:
        """The phase method used when none is named (see :class:`Pipeline`)."""
        return self.phase.default_method

    def resolve_phase(self, phase: str | None, also: tuple[str, ...] = ()) -> str:
        """``phase`` checked against :attr:`phase_methods`, or :attr:`default_phase` for None
        (``also``: other valid names the caller handles itself, returned as they are).

        Raises:
            PipelineError: (a ``ValueError``) an unknown method, or a learned one without a
                decoder.
        """
        if phase is None:
            return self.default_phase
        if phase in also:
            return phase
        if phase not in self.phase_methods:
            hint = ""
            if phase.startswith("learned"):
                hint = " (the learned methods need a decoder: a model file that carries one, or --vocoder FILE)"
            raise PipelineError(
                f"phase: {phase!r} is not one of {', '.join([*self.phase_methods, *also])}{hint}"
            )
        return phase

    @property
    def margin_samples(self) -> int:
        """Context added on each side of a chunk, in samples: ``margin_seconds``, raised to the
        model's receptive field (:func:`audioae.models.layers.time_context_frames` frames
        times ``hop_length``, plus ``n_fft``) when that is longer."""
        return max(self.align, int(self.margin_seconds * self.sample_rate), self._context_samples)

    @property
    def min_denoise_samples(self) -> int:
        """The shortest input :meth:`denoise` denoises (samples): one hop, i.e. two STFT
        frames. A shorter input gives the model a single frame, centred on its first sample
        and mostly zero padding: on held-out speech snippets of 1-8 ms the shipped
        ``denoise`` took 3.4-5.7 dB off them that way, while from one hop up it keeps the
        level within 0.4 dB (``denoise_stream``: within 3.6 dB at 8-25 ms, 0.9 dB from 32
        ms). :meth:`denoise` returns a shorter input unchanged, with a
        :class:`ShortInputWarning`."""
        return self.hop_length

    def _chunking(self) -> tuple[int, int]:
        chunk = max(self.align, int(self.chunk_seconds * self.sample_rate))
        return chunk, self.margin_samples

    def _prepare(self, wav: torch.Tensor) -> torch.Tensor:
        """The checked float32 ``(channels, time)`` waveform (:func:`audioae.waveforms.as_waveform`)
        on this pipeline's device."""
        return as_waveform(wav).to(self.device)

    def _resampled_in(self, wav: torch.Tensor, sample_rate: int | None) -> torch.Tensor | None:
        """``wav`` at ``sample_rate`` Hz resampled to the model's rate, as files are (soxr
        HQ; :attr:`steep_resampling`); None when ``sample_rate`` is None or the model's.

        Raises:
            ValueError: ``sample_rate`` not a whole number of Hz >= 1.
        """
        if sample_rate is None:
            return None
        sample_rate = check_integer("sample_rate", sample_rate, minimum=1)
        if sample_rate == self.sample_rate:
            return None
        wav = as_waveform(wav)
        out = resample(wav, sample_rate, self.sample_rate, steep=self.steep_resampling)
        if out.shape[-1] == 0:  # a sample or two at a higher rate: at least one, as files get
            out = F.pad(out, (0, 1))
        return out

    def _resampled_out(self, wav: torch.Tensor, sample_rate: int, length: int) -> torch.Tensor:
        """A model-rate result ``(channels, n)`` back at ``sample_rate``, exactly ``length``
        samples long (resampling rounds the length by up to a sample)."""
        out = resample(wav, self.sample_rate, sample_rate, steep=self.steep_resampling)
        if out.shape[-1] >= length:
            return out[..., :length]
        return F.pad(out, (0, length - out.shape[-1]))

    @property
    def purpose(self) -> str:
        """What the model is for, in words (for errors that refuse a task)."""
        if self.model.predicts_mask:
            return "denoising (a mask model: denoise, reconstruct)"
        if self.is_variational:
            return "a VAE (encode, decode, reconstruct, interpolate, sample)"
        return "an autoencoder (encode, decode, reconstruct, interpolate)"

    def require_task(self, task: str) -> None:
        """Refuse a task this model was not trained for, with one line saying what it is for.

        Raises:
            PipelineError: ``task="denoise"`` with a model that does not predict a mask.
        """
        if task == "denoise" and not self.model.predicts_mask:
            raise PipelineError(
                f"model {self.config.name!r} is {self.purpose}, not a denoiser; denoise needs a "
                "model trained with a denoise recipe (model.output: mask or crm)"
            )

    def require_latent_decoder(self, what: str) -> None:
        if self.model.predicts_mask:
            raise PipelineError(
                f"{what} needs a model that decodes features from a latent alone; this model predicts a mask "
                f"over its input (model.output: {self.config.model.output}), so it can denoise and reconstruct but not {what}"
            )

    def num_latent_frames(self, length: int) -> int:
        """Latent frames of a signal of ``length`` samples.

        Raises:
            ValueError: ``length`` not a whole number (numpy integers taken) or below 0.
        """
        length = check_integer("length", length, minimum=0)
        return self.model.latent_frames(self.frontend.num_frames(length))

    # ------------------------------------------------------------------ encode / decode
    @torch.inference_mode()
    def encode(
        self,
        wav: torch.Tensor,
        *,
        sample_posterior: bool = False,
        sample_rate: int | None = None,
    ) -> torch.Tensor:
        """Waveform ``(channels, time)`` → latent ``(channels, latent_dim, latent_frames)``.

        VAEs return the posterior mean unless ``sample_posterior``. Processed in aligned chunks;
        equals whole-file encoding within float rounding when the margin covers the receptive field.
        ``sample_rate``: the waveform's rate (Hz) when it is not the model's
        (:attr:`sample_rate`); it is resampled first, as ``audioae encode`` resamples files.
        Without it the waveform is taken to be at the model's rate.
        """
        resampled = self._resampled_in(wav, sample_rate)
        if resampled is not None:
            wav = resampled
        take = "sample" if sample_posterior else "mean"
        return self._encode_chunks(wav, take, sample_posterior=sample_posterior)[0]

    def _encode_chunks(
        self, wav: torch.Tensor, *take: str, sample_posterior: bool = False
    ) -> list[torch.Tensor]:
        """The latent fields ``take`` (``"mean"``: the posterior mean, or the latent of a
        deterministic model; ``"sample"``; ``"logvar"``) of ``wav`` ``(channels, time)``, each
        ``(channels, latent_dim, latent_frames)``, encoded in aligned chunks."""
        wav = self._prepare(wav)
        total = wav.shape[-1]
        n_latent = self.num_latent_frames(total)
        chunk, margin = self._chunking()
        pieces: list[list[torch.Tensor]] = [[] for _ in take]
        for w in plan_windows(total, chunk, margin, self.align):
            features = self.frontend(wav[..., w.start : w.stop])
            latent = self.model.encode(features, sample_posterior=sample_posterior)
            first = (w.keep_start - w.start) // self.align
            for out, name in zip(pieces, take):
                z = getattr(latent, name)
                if z is None and name == "mean":  # a deterministic model's latent
                    z = latent.sample
                last = (
                    z.shape[-1] if w.keep_stop >= total else (w.keep_stop - w.start) // self.align
                )
                out.append(z[..., first:last])
        return [torch.cat(out, dim=-1)[..., :n_latent] for out in pieces]

    def _decode_features(self, latent: torch.Tensor, frames: int) -> torch.Tensor:
        features = self.model.decode(latent)
        if features.shape[-1] < frames:
            features = F.pad(features, (0, frames - features.shape[-1]), mode="replicate")
        return features[..., :frames]

    @torch.inference_mode()
    def decode(
        self, latent: torch.Tensor, length: int, *, phase: str | None = None
    ) -> torch.Tensor:
        """Latent ``(channels, latent_dim, latent_frames)`` → waveform ``(channels, length)``.

        ``phase``: a method of :attr:`phase_methods` (default :attr:`default_phase`). Long
        latents are decoded in chunks (:meth:`decode_stream`, whose pieces this joins) whose
        waveforms are joined with linear crossfades centred on the chunk boundaries, of
        :meth:`decode_margin` samples for the method (at most one chunk). With the ``learned`` method chunked output equals whole-signal
        output within float rounding (the chunk margins cover the model's and the decoder's
        receptive fields); Griffin-Lim is a global iteration, so its chunked output is close
        to, not equal to, whole-signal output.

        Raises:
            ValueError: an unknown phase method; a latent that is not 2-D/3-D, empty or not
                finite; a ``length`` below 1 or beyond what the latent covers
                (``latent_frames * align`` samples), or not a whole number (numpy
                integers taken; bools, floats and None refused).
        """
        out: torch.Tensor | None = None
        done = 0
        for piece in self.decode_stream(latent, length, phase=phase):
            if out is None:
                out = piece.new_empty(*piece.shape[:-1], length)
            out[..., done : done + piece.shape[-1]] = piece
            done += piece.shape[-1]
        assert out is not None and done == length
        return out

    def decode_stream(
        self, latent: torch.Tensor, length: int, *, phase: str | None = None
    ) -> Iterator[torch.Tensor]:
        """:meth:`decode` piece by piece: an iterator of waveform pieces ``(channels, n)``,
        in order, that together are ``decode(latent, length, phase=phase)`` exactly (the same
        computation). Memory holds one chunk window and one crossfade, not the output, so a
        caller that writes each piece out (a file decoder) stays flat with length.

        The arguments are checked when this is called, before the first piece.

        Raises:
            ValueError: as :meth:`decode`.
        """
        self.require_latent_decoder("decode")
        method = self.resolve_phase(phase)
        latent = torch.as_tensor(latent, dtype=torch.float32).to(self.device)
        if latent.ndim == 2:
            latent = latent.unsqueeze(0)
        if latent.ndim != 3 or latent.numel() == 0:
            raise ValueError(
                "expected a latent (channels, latent_dim, latent_frames) or (latent_dim, "
                f"latent_frames) with at least one frame, got shape {tuple(latent.shape)}"
            )
        if not torch.isfinite(latent).all():
            raise ValueError("latent contains NaN or Inf values")
        covered = latent.shape[-1] * self.align
        if not is_integer(length) or not 1 <= length <= covered:
            raise ValueError(
                f"length: {length!r} samples; {latent.shape[-1]} latent frames cover 1 to "
                f"{covered} samples ({self.align} per latent frame)"
            )
        return self._decode_pieces(latent, int(length), method)

    def decode_margin(self, method: str) -> int:
        """Context (samples) each side of a :meth:`decode` chunk whose kept part is exact:
        :attr:`margin_samples`, raised to the model's receptive field plus, for the learned
        methods, the decoder's (:attr:`audioae.vocoder.Vocoder.margin_frames` frames)."""
        reach = self._context_samples
        if method.startswith("learned") and self.vocoder is not None:
            reach += self.vocoder.margin_frames * self.hop_length
        return max(self.margin_samples, reach)

    @torch.inference_mode()
    def _decode_pieces(
        self, latent: torch.Tensor, length: int, method: str
    ) -> Iterator[torch.Tensor]:
        down, hop = self.model.time_downsampling, self.hop_length
        chunk = self._chunking()[0]
        exact = self.decode_margin(method)
        fade = min(chunk, exact)
        # windows reach `exact` samples beyond each piece's part (which runs fade / 2 past
        # the keep boundary), plus a hop: a piece ends (frames - 1) * hop after its start
        windows = plan_windows(
            latent.shape[-1] * self.align, chunk, exact + fade // 2 + hop, self.align
        )
        n_frames = self.frontend.num_frames(length)
        spans = centred_spans(windows, fade, length)
        stream = CrossfadeStream(length, fade)
        for w, span in zip(windows, spans):
            a, b = w.start // self.align, math.ceil(w.stop / self.align)
            frame0 = a * down  # the piece starts at sample frame0 * hop == w.start
            frames = min(b * down, n_frames) - frame0
            if frames <= 0 or frame0 * hop >= length:
                break
            features = self._decode_features(latent[..., a:b], frames)
            last = frame0 + frames >= n_frames
            piece_len = length - frame0 * hop if last else (frames - 1) * hop
            wav = self.phase(features, length=piece_len, method=method)
            ready = stream.add(
                span.begin,
                span.part(wav, w.start, length if last else None),
                None if last else span.next_begin,
            )
            if ready.shape[-1]:
                yield ready
            if last:
                break
        rest = stream.finish()
        if rest.shape[-1]:
            yield rest

    @torch.inference_mode()
    def reconstruct(
        self, wav: torch.Tensor, *, phase: str | None = None, sample_rate: int | None = None
    ) -> torch.Tensor:
        """Encode, decode and rebuild the waveform ``(channels, time)`` (the plain autoencoder use).

        ``phase``: a method of :attr:`phase_methods` estimates the phase (default
        :attr:`default_phase`); ``"input"`` keeps the input's phase. ``sample_rate``: the
        waveform's rate (Hz) when it is not the model's; it is resampled to the model's and
        the result back, as long as the input.

        Raises:
            ValueError: an unknown phase method, or a bad ``sample_rate``.
        """
        resampled = self._resampled_in(wav, sample_rate)
        if resampled is not None:
            out = self.reconstruct(resampled, phase=phase)
            return self._resampled_out(out, int(sample_rate), as_waveform(wav).shape[-1])
        wav = self._prepare(wav)
        if phase == "input":
            return self._process_with_kept_phase(wav, wet=1.0)
        method = self.resolve_phase(phase, also=("input",))
        if self.model.predicts_mask:  # the mask needs its input: run the model end to end
            if self._too_short(wav, stacklevel=4):  # the warning points at our caller
                return wav.clone()
            return self.denoise(wav, phase=method)
        return self.decode(self.encode(wav), wav.shape[-1], phase=method)

    # ------------------------------------------------------------------ denoise
    def _too_short(self, wav: torch.Tensor, stacklevel: int) -> bool:
        """Whether ``wav`` is shorter than :attr:`min_denoise_samples`, warning
        (:class:`ShortInputWarning`) if so; ``stacklevel`` counts from this method, so it
        names the public method's caller (the ``inference_mode`` wrapper is a frame too)."""
        if wav.shape[-1] >= self.min_denoise_samples:
            return False
        warnings.warn(
            ShortInputWarning(wav.shape[-1], self.sample_rate, self.min_denoise_samples),
            stacklevel=stacklevel,
        )
        return True

    def plan(self, total: int) -> list[Window]:
        """The chunk windows (model-rate samples) that :meth:`denoise` and :meth:`encode` use
        for a signal of ``total`` samples (see :func:`audioae.chunking.plan_windows`).

        Raises:
            ValueError: ``total`` not a whole number (numpy integers taken) or below 0.
        """
        total = check_integer("total", total, minimum=0)
        chunk, margin = self._chunking()
        return plan_windows(total, chunk, margin, self.align)

    # ------------------------------------------------------------------ embed
    def embed(self, wav: torch.Tensor, *, sample_rate: int | None = None) -> Embedding:
        """Embedding of a waveform ``(channels, time)`` at the model's :attr:`sample_rate`, or
        at ``sample_rate`` (Hz; resampled first), mixed to mono.

        Returns an :class:`audioae.embed.Embedding`: the posterior mean (deterministic models:
        the latent) per latent frame ``(latent_dim, latent_frames)`` and the pooled vector
        ``(3 * latent_dim,)``: mean, std and mean absolute frame-to-frame change over frames.
        Deterministic; chunked like :meth:`encode`.
        """
        from .embed import embed_waveform

        resampled = self._resampled_in(wav, sample_rate)
        return embed_waveform(self, wav if resampled is None else resampled)


__all__ = [
    "INTERPOLATION_METHODS",
    "MAX_TEMPERATURE",
    "PHASE_MODES",
    "Interpolation",
    "Pipeline",
    "PipelineError",
    "ShortInputWarning",
    "resolve_device",
    "slerp",
]
