"""Griffin-Lim phase reconstruction with momentum (the fast Griffin-Lim of Perraudin, Balazs &
Sondergaard 2013), batched and chunked over frames on the CPU. Re-exported by
:mod:`audioae.functional`, the module to import it from.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .arguments import check_integer
from .stft import PAD_MODES, OverlapAdd, check_frame_args, num_frames, resolve_window

_CPU_CHUNK_SAMPLES = 1 << 18  # frames x n_fft per Griffin-Lim chunk on CPU (1 MiB of float32)


def _initial_phasor(
    init: str | Tensor, shape: torch.Size, like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """Unit phasors ``(*shape, 2)`` (cos, sin) in ``like``'s dtype and device."""
    if isinstance(init, Tensor):
        angle = init.angle() if init.is_complex() else init  # angle(0) = 0: zero phase
        angle = angle.to(device=like.device, dtype=like.dtype).expand(shape)
    elif init == "random":
        angle = torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
        angle.mul_(2.0 * math.pi)
    elif init == "zeros":
        angle = torch.zeros(shape, device=like.device, dtype=like.dtype)
    else:
        raise ValueError(f"init must be 'random', 'zeros' or a tensor of phases, got {init!r}")
    return torch.stack((torch.cos(angle), torch.sin(angle)), dim=-1)


def griffin_lim(
    magnitude: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    window: Tensor | None = None,
    n_iter: int = 32,
    momentum: float = 0.99,
    init: str | Tensor = "random",
    generator: torch.Generator | None = None,
    length: int | None = None,
    center: bool = True,
    pad_mode: str = "constant",
) -> Tensor:
    """Waveform whose STFT magnitude approximates ``magnitude``: fast Griffin-Lim.

    Alternating projections between consistent spectrograms and spectrograms with the target
    magnitude (Griffin & Lim, "Signal estimation from modified short-time Fourier transform",
    IEEE TASSP 1984), accelerated with the momentum term of Perraudin, Balazs & Søndergaard,
    "A fast Griffin-Lim algorithm", WASPAA 2013. ``momentum=0`` is the original algorithm.
    Follows ``librosa.griffinlim``: each iteration ``c = STFT(ISTFT(x)) - m / (1 + m) * c_prev``
    (the previous projection ``c_prev``; no momentum on the first iteration), then
    ``x = S * c / |c|``; the random init is a uniform phase in [0, 2 pi); the result is the
    ISTFT after the last iteration. The division uses a floor ``sqrt(finfo.tiny)`` on ``|c|``.

    Args:
        magnitude: non-negative linear magnitude ``(..., n_fft // 2 + 1, frames)``.
        n_fft, hop_length, win_length, window, center, pad_mode: STFT settings (see :func:`stft`).
        n_iter: number of iterations, >= 0 (0 returns the ISTFT of the initial estimate).
        momentum: Perraudin et al.'s alpha in [0, 2), as ``phase.momentum`` (0.99 by default,
            as librosa; above 1 it can diverge).
        init: ``"random"`` (uniform phase from ``generator``), ``"zeros"`` (zero phase), a
            complex tensor whose phase is used, or a real tensor of phases in radians; tensors
            broadcast to ``magnitude``'s shape.
        generator: ``torch.Generator`` on ``magnitude``'s device for the random init (the
            global RNG when None); the same seed gives the same waveform.
        length: exact output length in samples (must give ``frames`` STFT frames).

    Returns:
        Real waveform ``(..., time)``, ``time = length`` or, as :func:`audioae.stft.istft`,
        ``(frames - 1) * hop_length + n_fft % 2`` (``center=True``).

    Raises:
        ValueError: complex or wrongly shaped ``magnitude``, ``n_iter`` not a whole number
            >= 0, ``momentum`` outside [0, 2),
            unknown ``init``, or a ``length`` inconsistent with ``frames``.
    """
    win_length = check_frame_args(n_fft, hop_length, win_length)
    if magnitude.is_complex() or not magnitude.is_floating_point():
        raise ValueError(
            "griffin_lim expects a real floating-point magnitude (..., n_freq, frames)"
        )
    if magnitude.dim() < 2 or magnitude.shape[-2] != n_fft // 2 + 1:
        raise ValueError(
            f"expected (..., {n_fft // 2 + 1}, frames) for n_fft={n_fft}, got {tuple(magnitude.shape)}"
        )
    n_iter = check_integer("n_iter", n_iter, 0)
    if not 0 <= momentum < 2:  # as phase.momentum; above 1 the iteration can diverge
        raise ValueError(f"momentum must be in [0, 2), got {momentum}")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    lead, n_freq, frames = magnitude.shape[:-2], magnitude.shape[-2], magnitude.shape[-1]
    if length is not None:
        expected = num_frames(length, n_fft, hop_length, center)
        if length <= 0 or expected != frames:
            raise ValueError(f"length={length} gives {expected} frames, but magnitude has {frames}")
    # Internal state is frame-major, (batch, frames, n_freq): the layout rfft/irfft use along
    # the last dim, so no op below strides across memory. The complex spectra are handled as
    # real views (..., 2): complex abs/mul are several times slower on CPU than real ops.
    mag = magnitude.reshape(-1, n_freq, frames).transpose(-1, -2).contiguous()
    # mag: (batch, frames, n_freq)
    ola = OverlapAdd(
        n_fft, hop_length, resolve_window(window, win_length, mag), frames, center, length
    )
    if isinstance(init, Tensor):
        init = init.expand(magnitude.shape).reshape(-1, n_freq, frames).transpose(-1, -2)
    angles = _initial_phasor(init, mag.shape, mag, generator)  # (batch, frames, n_freq, 2)
    angles.mul_(mag.unsqueeze(-1))
    # Items are independent: on CPU, run them in chunks of about _CPU_CHUNK_SAMPLES frame
    # samples per intra-op thread, so each thread's working set stays in its cache (measured
    # 1.4x less CPU time on 16 x 2 s clips, n_fft 1024, 1 thread: 419 ms vs 595 ms for 32
    # iterations); larger chunks with more threads also mean fewer thread synchronisations.
    chunk = angles.shape[0]
    if mag.device.type == "cpu":
        chunk = max(1, _CPU_CHUNK_SAMPLES * torch.get_num_threads() // (frames * n_fft))
    parts = [
        _griffin_lim_loop(
            angles[i : i + chunk], mag[i : i + chunk], ola, n_iter, momentum, pad_mode
        )
        for i in range(0, angles.shape[0], chunk)
    ]
    wav = parts[0] if len(parts) == 1 else torch.cat(parts)
    return wav.reshape(*lead, wav.shape[-1])


def _griffin_lim_loop(
    angles: Tensor, mag: Tensor, ola: OverlapAdd, n_iter: int, momentum: float, pad_mode: str
) -> Tensor:
    """Griffin-Lim iterations in place on ``angles (batch, frames, n_freq, 2)`` (the initial
    estimate times ``mag (batch, frames, n_freq)``); returns the waveform ``(batch, time)``."""
    scale = torch.empty_like(mag)
    frames_buf = mag.new_empty(mag.shape[0], ola.frames, ola.n_fft)
    full_buf = mag.new_empty(mag.shape[0], ola.rows * ola.hop)
    tprev: Tensor | None = None
    tiny = torch.finfo(mag.dtype).tiny
    coef = momentum / (1.0 + momentum)
    for _ in range(n_iter):
        full = ola.inverse_full(torch.view_as_complex(angles), full_buf)
        rebuilt = torch.view_as_real(ola.analyse(full, pad_mode, frames_buf))
        # rebuilt: (batch, frames, n_freq, 2), the projection STFT(ISTFT(x))
        if tprev is None or coef == 0.0:
            angles.copy_(rebuilt)
        else:
            torch.sub(rebuilt, tprev, alpha=coef, out=angles)
        re, im = angles[..., 0], angles[..., 1]
        # scale = S / sqrt(|c|^2 + tiny): |c| floored at sqrt(tiny). (addcmul with a 0-dim
        # input, which would fold the + tiny in, is ~20x slower on CPU.)
        torch.mul(re, re, out=scale).addcmul_(im, im).add_(tiny).rsqrt_().mul_(mag)
        angles.mul_(scale.unsqueeze(-1))
        tprev = rebuilt
    return ola.crop(ola.inverse_full(torch.view_as_complex(angles)))
