"""The learned inverse-STFT decoder: features -> magnitude and phase -> one inverse STFT.

A FreeV/Vocos/APNet-style decoder (Lv et al. 2024; Siuzdak 2023; Ai & Ling 2023) for one
front-end (:mod:`audioae.features`):

1. a magnitude prior from the features: for ``log_mel`` the pseudo-inverse of the mel
   filterbank applied to the mel magnitude (FreeV), otherwise the front-end's exact
   ``to_magnitude``; its log is ``prior (batch, n_freq, frames)``;
2. the standardised features ``(batch, n_bins, frames)`` -> a ``kernel_size`` conv to ``dim``
   channels -> ``n_blocks`` ConvNeXt blocks at the frame rate (depthwise conv, LayerNorm,
   pointwise MLP, layer scale) -> LayerNorm;
3. heads (one linear map per frame): ``log |S| = prior + delta`` clamped at
   ``max_log_magnitude``, and the phase ``atan2(b, a)`` of two heads ``a``, ``b``
   (APNet's parallel phase estimation);
4. one inverse STFT with the front-end's :class:`~audioae.functional.StftParams` and window,
   cut to exactly ``length`` samples.

Every operation is frame-local except the convolutions, so a frame depends on
``receptive_frames`` frames either side and a sample on the frames within ``n_fft / 2``
samples: :meth:`Vocoder.decode` decodes long inputs in frame windows with
``margin_frames = receptive_frames + ceil(n_fft / (2 hop_length)) + 1`` of context and keeps
each window's centre, so chunked output equals whole-file output up to float rounding (the
tests hold it to 1e-5 of full scale) and memory stays flat. There is no batch
normalisation: a batch decodes exactly as its items one by one.

Edges: the convolutions zero-pad the standardised features, so without help the first and
last ``receptive_frames`` frames of a signal see features equal to the normalisation's
``shift`` beyond its ends, which a signal never has. On the shipped timbre decoder that made
the last frame's magnitude 6-9x the body's on a sustained 220 Hz tone: a burst in the last
~30 ms peaking at 7-12x the body's peak. Inference therefore gives the network
``edge_frames`` frames of reflected features beyond each end and crops them off again
(``spectrum(..., edge_context=True)``, the default of :meth:`Vocoder.decode`); frames more
than ``receptive_frames`` from both ends are unchanged by this. :meth:`Vocoder.forward`, the
training path, stays the plain network.

This module knows nothing of training (see :mod:`audioae.vocoder_training`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audioae.config import VocoderConfig
from audioae.features import FrontEnd, LogMel

__all__ = ["ConvNeXtBlock", "Vocoder", "VocoderOutput", "build_vocoder", "reflect_frames"]

_PRIOR_FLOOR = 1e-5  # magnitude floor of the log prior (the front-ends' default eps)
_PHASE_EPS = 1e-7  # keeps atan2's gradient finite at (0, 0)


class ConvNeXtBlock(nn.Module):
    """1-D ConvNeXt block (Liu et al. 2022, as in Vocos): ``x + gamma * MLP(LN(dwconv(x)))``.

    Args:
        dim: channels.
        kernel_size: depthwise kernel (frames, odd).
        expansion: the MLP's hidden channels are ``expansion * dim``.

    Shapes: ``(batch, dim, frames)`` -> the same.
    """

    def __init__(self, dim: int, kernel_size: int, expansion: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, expansion * dim)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(expansion * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1.0 / 8))

    def forward(self, x: Tensor) -> Tensor:
        y = self.dwconv(x).transpose(1, 2)  # (batch, frames, dim)
        y = self.pw2(self.act(self.pw1(self.norm(y)))) * self.gamma
        return x + y.transpose(1, 2)


class VocoderOutput:
    """What :meth:`Vocoder.spectrum` returns.

    Attributes:
        magnitude: linear STFT magnitude ``(batch, n_freq, frames)``, > 0.
        phase: phase in radians ``(batch, n_freq, frames)``, in ``(-pi, pi]``.
    """

    def __init__(self, magnitude: Tensor, phase: Tensor) -> None:
        self.magnitude = magnitude
        self.phase = phase

    def frames(self, start: int, stop: int) -> VocoderOutput:
        """Frames ``[start, stop)`` of both tensors (views)."""
        return VocoderOutput(self.magnitude[..., start:stop], self.phase[..., start:stop])

    def complex(self) -> Tensor:
        """The complex STFT ``magnitude * exp(i phase)`` ``(batch, n_freq, frames)``."""
        return torch.polar(self.magnitude, self.phase)


class Vocoder(nn.Module):
    """Learned inverse-STFT decoder for one front-end (see the module docstring).

    Args:
        frontend: the front-end whose features it decodes (held as a sub-module: its STFT
            settings, window and filterbank; it has no weights).
        config: :class:`~audioae.config.VocoderConfig`.

    The state dict holds only the network's weights; the pseudo-inverse filterbank is a
    non-persistent buffer rebuilt from the front-end.
    """

    def __init__(self, frontend: FrontEnd, config: VocoderConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else VocoderConfig()
        self.config = cfg
        self.frontend = frontend
        shift, scale = frontend.default_normalization()
        self.shift, self.scale = float(shift), float(scale)
        n_bins, n_freq = frontend.n_bins, frontend.n_freq
        self.embed = nn.Conv1d(n_bins, cfg.dim, cfg.kernel_size, padding=cfg.kernel_size // 2)
        self.embed_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(cfg.dim, cfg.kernel_size, cfg.expansion) for _ in range(cfg.n_blocks)
        )
        self.out_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, 3 * n_freq)  # log-magnitude residual, phase a, phase b
        nn.init.zeros_(self.head.weight[:n_freq])
        nn.init.zeros_(self.head.bias)
        self.pinv: Tensor | None
        if isinstance(frontend, LogMel):
            pinv = torch.linalg.pinv(frontend.filterbank.double()).float()  # (n_freq, n_mels)
            self.register_buffer("pinv", pinv, persistent=False)
        else:
            self.pinv = None

    # ------------------------------------------------------------------ geometry
    @property
    def n_freq(self) -> int:
        return self.frontend.n_freq

    @property
    def receptive_frames(self) -> int:
        """Frames either side that one output frame depends on."""
        return (self.config.kernel_size // 2) * (self.config.n_blocks + 1)

    @property
    def margin_frames(self) -> int:
        """Context frames each side of a chunk for exact chunked decoding."""
        overlap = math.ceil(self.frontend.n_fft / (2 * self.frontend.hop_length))
        return self.receptive_frames + overlap + 1

    @property
    def edge_frames(self) -> int:
        """Reflected frames given beyond each end of a signal with ``edge_context=True``
        (:meth:`spectrum`, :meth:`decode`): :attr:`receptive_frames`, so no kept frame sees
        the convolutions' zero padding."""
        return self.receptive_frames

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ network
    def prior(self, features: Tensor) -> Tensor:
        """Log-magnitude prior ``(batch, n_freq, frames)`` of ``features (batch, n_bins, frames)``."""
        if self.pinv is not None:
            mel = self.frontend.bin_magnitude(features)
            mag = torch.matmul(self.pinv.to(mel.dtype), mel).abs()  # FreeV: |pinv(M) mel|
        else:
            mag = self.frontend.to_magnitude(features)
        return mag.clamp_min(_PRIOR_FLOOR).log()

    def carrier(self, frames: int, frame_offset: int, like: Tensor) -> Tensor:
        """Phase advance of each bin's centre frequency, ``2 pi k hop (t + frame_offset) / n_fft``
        wrapped to ``[0, 2 pi)``, ``(n_freq, frames)``."""
        n_fft, hop = self.frontend.n_fft, self.frontend.hop_length
        k = torch.arange(self.n_freq, device=like.device, dtype=torch.float64).unsqueeze(1)
        t = torch.arange(frames, device=like.device, dtype=torch.float64) + frame_offset
        cycles = torch.remainder(k * (t * hop), n_fft) / n_fft  # exact in float64
        return (2.0 * math.pi * cycles).to(like.dtype)

    def spectrum(
        self, features: Tensor, frame_offset: int = 0, *, edge_context: bool = False
    ) -> VocoderOutput:
        """Magnitude and phase ``(batch, n_freq, frames)`` of ``features (batch, n_bins, frames)``.

        With ``config.phase_carrier`` the phase heads give the deviation from each bin's
        centre-frequency advance (:meth:`carrier`, as a phase vocoder), so a stationary
        input decodes to a steadily advancing phase; ``frame_offset`` is the absolute index
        of the first frame (chunked decoding).

        ``edge_context``: run the network on ``features`` with :attr:`edge_frames` frames
        reflected beyond each end (:func:`reflect_frames`) and return only the given frames,
        so the first and last frames do not see the convolutions' zero padding (the inference
        setting, see the module docstring). False: the plain network, as trained.

        Raises:
            ValueError: ``features`` is not 3-D with the front-end's ``n_bins`` bins.
        """
        if features.dim() != 3 or features.shape[1] != self.frontend.n_bins:
            raise ValueError(
                f"Vocoder: expected features (batch, {self.frontend.n_bins}, frames), got {tuple(features.shape)}"
            )
        if edge_context:
            pad = self.edge_frames
            frames = features.shape[-1]
            out = self.spectrum(reflect_frames(features, pad), frame_offset - pad)
            return out.frames(pad, pad + frames)
        x = (features - self.shift) / self.scale
        x = self.embed_norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        h = self.head(self.out_norm(x.transpose(1, 2))).transpose(1, 2)  # (batch, 3 n_freq, T)
        delta, a, b = h.split(self.n_freq, dim=1)
        log_mag = (self.prior(features) + delta).clamp(max=self.config.max_log_magnitude)
        phase = torch.atan2(b, a + _PHASE_EPS)
        if self.config.phase_carrier:
            phase = phase + self.carrier(features.shape[-1], frame_offset, phase)
            phase = torch.remainder(phase + math.pi, 2.0 * math.pi) - math.pi
        return VocoderOutput(log_mag.exp(), phase)

    def synthesize(self, out: VocoderOutput, length: int | None = None) -> Tensor:
        """Waveform ``(batch, time)``: the inverse STFT of ``out`` (``length`` or
        ``(frames - 1) * hop_length`` samples)."""
        spec = out.complex()
        window = self.frontend.window.to(device=spec.device, dtype=out.magnitude.dtype)
        return self.frontend.stft_params.istft(spec, window, length)

    def forward(self, features: Tensor, length: int | None = None, frame_offset: int = 0) -> Tensor:
        """Waveform ``(batch, time)`` of ``features (batch, n_bins, frames)``, in one pass.

        Args:
            length: output samples (must give ``frames`` STFT frames: ``1 + length //
                hop_length == frames``); default ``(frames - 1) * hop_length``.
            frame_offset: absolute index of the first frame (see :meth:`spectrum`).
        """
        return self.synthesize(self.spectrum(features, frame_offset), length)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def decode(
        self,
        features: Tensor,
        length: int | None = None,
        *,
        chunk_frames: int = 1250,
        edge_context: bool = True,
    ) -> Tensor:
        """Waveform ``(..., time)`` of ``features (..., n_bins, frames)``, decoded in windows of
        ``chunk_frames`` kept frames plus :attr:`margin_frames` either side.

        Args:
            length: output samples (``1 + length // hop_length == frames``); default
                ``(frames - 1) * hop_length``.
            chunk_frames: kept frames per window (memory grows with it, not with the input).
            edge_context: reflect :attr:`edge_frames` frames beyond the signal's ends
                before the network and crop them after (see :meth:`spectrum`); this keeps
                the edges free of the zero-padding burst. The output then equals
                ``synthesize(spectrum(features, edge_context=True), length)`` up to float
                rounding, and :meth:`forward` except within ``(receptive_frames +
                ceil(n_fft / (2 hop_length))) * hop_length`` samples of either end. False:
                equals :meth:`forward` everywhere (float rounding).

        Raises:
            ValueError: wrong feature shape, or a ``length`` inconsistent with the frames.
        """
        from audioae.chunking import plan_windows

        if features.dim() < 2 or features.shape[-2] != self.frontend.n_bins:
            raise ValueError(
                f"Vocoder: expected features (..., {self.frontend.n_bins}, frames), got {tuple(features.shape)}"
            )
        lead, frames = features.shape[:-2], features.shape[-1]
        hop = self.frontend.hop_length
        total = (frames - 1) * hop if length is None else int(length)
        if self.frontend.num_frames(total) != frames:
            raise ValueError(
                f"length={total} gives {self.frontend.num_frames(total)} frames, features have {frames}"
            )
        x = features.reshape(-1, features.shape[-2], frames)
        pad = self.edge_frames if edge_context else 0
        padded = reflect_frames(x, pad)  # frame t of x is frame t + pad of padded
        out = x.new_zeros(x.shape[0], total)
        for w in plan_windows(frames, max(chunk_frames, 1), self.margin_frames, 1):
            last = w.stop >= frames
            piece_len = total - w.start * hop if last else (w.stop - w.start - 1) * hop
            # the window's frames with `pad` more either side (real or reflected), cropped
            spec = self.spectrum(padded[..., w.start : w.stop + 2 * pad], w.start - pad)
            wav = self.synthesize(spec.frames(pad, pad + w.stop - w.start), piece_len)
            begin = (w.keep_start - w.start) * hop
            end = piece_len if w.keep_stop >= frames else (w.keep_stop - w.start) * hop
            stop = total if w.keep_stop >= frames else w.keep_stop * hop
            out[:, w.keep_start * hop : stop] = wav[:, begin:end]
        return out.reshape(*lead, total)


def reflect_frames(features: Tensor, pad: int) -> Tensor:
    """``features (..., frames)`` with ``pad`` frames reflected beyond each end (frame
    ``-k`` is frame ``k``, as ``F.pad(mode="reflect")``), ``(..., frames + 2 pad)``.

    A signal with ``pad >= frames`` is reflected as far as it goes (``frames - 1`` frames)
    and the outermost reflected frames are repeated for the rest; a single frame is repeated.

    Raises:
        ValueError: ``pad < 0`` or no frames.
    """
    frames = features.shape[-1]
    if pad < 0 or frames == 0:
        raise ValueError(f"reflect_frames: need pad >= 0 and frames >= 1, got {pad}, {frames}")
    if pad == 0:
        return features
    lead = features.shape[:-1]
    x = features.reshape(1, -1, frames)  # F.pad's reflect/replicate want (N, C, W)
    mirrored = min(pad, frames - 1)
    if mirrored:
        x = F.pad(x, (mirrored, mirrored), mode="reflect")
    if pad > mirrored:
        x = F.pad(x, (pad - mirrored, pad - mirrored), mode="replicate")
    return x.reshape(*lead, frames + 2 * pad)


def build_vocoder(config: VocoderConfig, frontend: FrontEnd) -> Vocoder:
    """The :class:`Vocoder` of ``config`` for ``frontend`` (fresh weights)."""
    return Vocoder(frontend, config)
