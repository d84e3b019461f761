"""Objective quality metrics for reconstructed, denoised or decoded audio.

Waveform inputs are ``(..., time)`` at ``sample_rate`` Hz; leading dimensions broadcast and
each metric returns a tensor of shape ``(...)`` (the broadcast leading shape), on the
inputs' device. **Lengths are aligned by cropping both signals to the shorter one** (frames
for spectrogram inputs), since decoders and phase reconstruction may return a few samples
more or less than the reference. Argument order is always ``(estimate, reference)``.

Spectral metrics use :func:`audioae.functional.spectrogram` (periodic Hann window, centred
frames, zero padding, as librosa). PESQ and STOI wrap the ``pesq`` and ``pystoi`` packages
(``pip install "audioae[eval]"``).

A silent estimate (all zeros: a model that outputs digital silence) scores each metric's worst
rather than NaN or an error, so that it counts in means: :func:`si_sdr`
:data:`SI_SDR_FLOOR_DB`, :func:`pesq_wb` :data:`PESQ_WB_FLOOR`, :func:`stoi` 0. A silent
*reference* leaves SI-SDR undefined (NaN) and PESQ raises. Only exact digital silence is
special: a near-silent estimate scores what each metric gives it (STOI can then be a little
below 0, and a constant offset scores the SI-SDR floor but not STOI 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from audioae.functional import log_compress, mel_filterbank, spectrogram
from audioae.waveforms import check_layout

DEFAULT_RESOLUTIONS: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512))
PESQ_SAMPLE_RATE = 16000
SI_SDR_FLOOR_DB = -100.0
"""Lowest SI-SDR :func:`si_sdr` reports, in dB: the score of a silent estimate, which holds
none of the reference. An estimate with any signal rarely comes near it: the SI-SDR of
independent noise is about ``-10 log10(samples)`` dB (-60 dB for a minute at 16 kHz), so
only an estimate with (almost) no component of the reference is clamped to it."""
PESQ_WB_FLOOR = 0.999
"""Lowest wide-band PESQ MOS-LQO, the score of a silent estimate: the lower asymptote of the
ITU-T P.862.2 mapping ``0.999 + 4 / (1 + exp(-1.3669 x + 3.8224))`` from raw PESQ ``x`` (as in
the ``pesq`` package's ``pesqmain.h``), below every score the ``pesq`` package can return.
The 1.04 often quoted is the mapping at P.862's nominal raw floor ``x = -0.5``; the ``pesq``
package does not clamp ``x`` and returns 1.02 to 1.15 for noise-only or near-silent
estimates (measured with pesq 0.0.4 on the bundled speech)."""


def align(estimate: Tensor, reference: Tensor, *, waveforms: bool = True) -> tuple[Tensor, Tensor]:
    """Crop both ``(..., time)`` tensors to the shorter length and broadcast leading dims.

    ``waveforms``: the last dimension is samples, so a ``(time, channels)`` array (the layout
    ``soundfile.read`` returns) is refused (:func:`audioae.waveforms.check_layout`): every
    pair of 2-sample rows is a scaled copy once their means are removed, so SI-SDR came out
    +inf. False for spectrograms ``(..., n_freq, frames)``.

    Raises:
        ValueError: leading shapes that do not broadcast; a ``(time, channels)`` layout.
    """
    if waveforms:  # a file's channels: at most 8 (7.1); a batch of short signals passes
        check_layout(tuple(estimate.shape), "estimate", max_channels=8)
        check_layout(tuple(reference.shape), "reference", max_channels=8)
    n = min(estimate.shape[-1], reference.shape[-1])
    est, ref = estimate[..., :n], reference[..., :n]
    try:
        return torch.broadcast_tensors(est, ref)
    except RuntimeError as exc:
        raise ValueError(
            f"estimate {tuple(estimate.shape)} and reference {tuple(reference.shape)} do not broadcast"
        ) from exc


def spectral_convergence(
    estimate_mag: Tensor, reference_mag: Tensor, floor: float = 1e-12
) -> Tensor:
    """Spectral convergence ``||R - E||_F / max(||R||_F, floor)`` of magnitude spectrograms
    (ratio, >= 0). The training loss :func:`audioae.losses.spectral_convergence` is this with
    ``floor=1e-8``, averaged over the batch.

    Sturmel & Daudet, "Signal reconstruction from STFT magnitude: a state of the art", 2011;
    also the ``L_sc`` term of Arik et al. 2019 / Yamamoto et al. 2020.

    Args:
        estimate_mag, reference_mag: linear magnitudes ``(..., n_freq, frames)``; frames are
            cropped to the shorter.
        floor: lower bound of the denominator, so a silent reference gives ``||E|| / floor``
            rather than a division by zero (the training loss passes 1e-8).

    Returns:
        ``(...)``; 0 for identical inputs.

    Raises:
        ValueError: leading shapes that do not broadcast.
    """
    est, ref = align(estimate_mag, reference_mag, waveforms=False)
    num = torch.linalg.vector_norm(ref - est, dim=(-2, -1))
    return num / torch.linalg.vector_norm(ref, dim=(-2, -1)).clamp_min(floor)


def spectral_convergence_db(estimate_mag: Tensor, reference_mag: Tensor) -> Tensor:
    """``20 log10`` of :func:`spectral_convergence` in dB (``-inf`` for identical inputs)."""
    return 20.0 * torch.log10(spectral_convergence(estimate_mag, reference_mag))


def log_spectral_distance(
    estimate: Tensor,
    reference: Tensor,
    n_fft: int = 2048,
    hop_length: int = 512,
    eps: float = 1e-10,
) -> Tensor:
    """Log-spectral distance in dB: per frame the RMS over frequency of
    ``10 log10((|R|^2 + eps) / (|E|^2 + eps))``, then the mean over frames.

    As used for bandwidth extension (Kuleshov et al. 2017, "Audio super resolution using
    neural networks"). ``eps`` (power, default -100 dB) keeps silent bins finite.

    Args:
        estimate, reference: waveforms ``(..., time)``; cropped to the shorter.
        n_fft, hop_length: STFT size and hop in samples.

    Returns:
        ``(...)`` in dB; 0 for identical inputs.
    """
    est, ref = align(estimate, reference)
    p_est = spectrogram(est, n_fft, hop_length).square()
    p_ref = spectrogram(ref, n_fft, hop_length).square()
    diff = 10.0 * (torch.log10(p_ref + eps) - torch.log10(p_est + eps))
    return diff.square().mean(dim=-2).sqrt().mean(dim=-1)


def log_mel_l1(
    estimate: Tensor,
    reference: Tensor,
    sample_rate: int,
    n_mels: int = 80,
    n_fft: int = 1024,
    hop_length: int = 256,
    eps: float = 1e-5,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> Tensor:
    """Mean absolute difference of natural-log mel magnitudes, ``mean |log(M_E + eps) - log(M_R + eps)|``.

    ``M = mel_filterbank @ |STFT|`` (magnitude, not power; librosa's Slaney filterbank), the
    "mel distance" of vocoder papers (e.g. Kong et al. 2020, HiFi-GAN). The log-mel is built
    from the DSP layer's pieces (:func:`audioae.functional.spectrogram` projected by
    :func:`~audioae.functional.mel_filterbank`, then :func:`~audioae.functional.log_compress`),
    so it equals the features of :class:`audioae.features.LogMel` with the same settings up to
    float rounding, at the inputs' dtype and device.

    Args:
        estimate, reference: waveforms ``(..., time)`` at ``sample_rate`` Hz; cropped to the shorter.
        n_mels, n_fft, hop_length: mel bands and STFT size/hop (samples). f_min/f_max in Hz.

    Returns:
        ``(...)``, in nepers (natural-log units); 0 for identical inputs.
    """
    est, ref = align(estimate, reference)
    fb = mel_filterbank(
        sample_rate, n_fft, n_mels, f_min, f_max, dtype=est.dtype, device=est.device
    )
    log_mel_est, log_mel_ref = (
        log_compress(spectrogram(x, n_fft, hop_length, projection=fb), eps) for x in (est, ref)
    )
    return (log_mel_est - log_mel_ref).abs().mean(dim=(-2, -1))


def multi_resolution_stft_distance(
    estimate: Tensor,
    reference: Tensor,
    resolutions: Sequence[Sequence[int]] = DEFAULT_RESOLUTIONS,
    eps: float = 1e-7,
) -> Tensor:
    """Multi-resolution STFT distance (Yamamoto et al. 2020, Parallel WaveGAN): at each
    resolution spectral convergence plus ``mean |log max(|R|, eps) - log max(|E|, eps)|``,
    averaged over resolutions.

    Args:
        estimate, reference: waveforms ``(..., time)``; cropped to the shorter.
        resolutions: ``(n_fft, hop_length)`` or ``(n_fft, hop_length, win_length)`` tuples, samples.

    Returns:
        ``(...)``; 0 for identical inputs.

    Raises:
        ValueError: no resolutions.
    """
    if not resolutions:
        raise ValueError("multi_resolution_stft_distance needs at least one resolution")
    est, ref = align(estimate, reference)
    total = 0.0
    for res in resolutions:
        mag_est, mag_ref = spectrogram(est, *res), spectrogram(ref, *res)
        log_l1 = (
            (mag_ref.clamp_min(eps).log() - mag_est.clamp_min(eps).log()).abs().mean(dim=(-2, -1))
        )
        total = total + spectral_convergence(mag_est, mag_ref) + log_l1
    return total / len(resolutions)


def si_sdr(estimate: Tensor, reference: Tensor) -> Tensor:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019, "SDR - half-baked
    or well done?"), with both signals made zero-mean first.

    ``a = <e, r> / ||r||^2``, ``SI-SDR = 10 log10(||a r||^2 / ||e - a r||^2)``; computed in
    float64 and clamped below at :data:`SI_SDR_FLOOR_DB` (-100 dB).

    A *silent* estimate (zero energy once its mean is removed: all zeros, or a constant) holds
    none of the reference, and the formula's 0/0 is defined as the worst score,
    :data:`SI_SDR_FLOOR_DB`, so that a model that outputs silence scores lowest instead of
    giving NaN. An estimate orthogonal to the reference (``-inf`` by the formula) also scores
    the floor: nothing scores below silence.

    Args:
        estimate, reference: ``(..., time)``; cropped to the shorter.

    Returns:
        ``(...)`` float64 dB in ``[SI_SDR_FLOOR_DB, +inf]``; ``+inf`` when the estimate is an
        exact scaled copy; NaN when the reference is constant (silent), whatever the estimate.
    """
    est, ref = align(estimate.double(), reference.double())
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    ref_energy = ref.square().sum(-1, keepdim=True)
    scale = (est * ref).sum(-1, keepdim=True) / ref_energy
    target = scale * ref
    value = 10.0 * torch.log10(target.square().sum(-1) / (est - target).square().sum(-1))
    silent = (est.square().sum(-1) == 0) & (ref_energy.squeeze(-1) > 0)
    value = value.masked_fill(silent, SI_SDR_FLOOR_DB)
    return value.clamp_min(SI_SDR_FLOOR_DB)  # NaN (silent reference) stays NaN


def snr_db(estimate: Tensor, reference: Tensor) -> Tensor:
    """Signal-to-noise ratio ``10 log10(||r||^2 / ||e - r||^2)`` in dB (not scale-invariant).

    Args:
        estimate, reference: ``(..., time)``; cropped to the shorter.

    Returns:
        ``(...)`` float64 dB; ``+inf`` for identical signals.
    """
    est, ref = align(estimate.double(), reference.double())
    return 10.0 * torch.log10(ref.square().sum(-1) / (est - ref).square().sum(-1))


def _eval_import(module: str):
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f'this metric needs the {module!r} package; install it with: pip install "audioae[eval]"'
        ) from exc


def _per_signal(estimate: Tensor, reference: Tensor, fn) -> Tensor:
    est, ref = align(estimate, reference)
    lead = est.shape[:-1]
    e = est.detach().to("cpu", torch.float64).reshape(-1, est.shape[-1]).numpy()
    r = ref.detach().to("cpu", torch.float64).reshape(-1, ref.shape[-1]).numpy()
    values = [float(fn(ei, ri)) for ei, ri in zip(e, r)]
    return torch.tensor(values, dtype=torch.float64).reshape(lead).to(estimate.device)


def require_finite(estimate: torch.Tensor, reference: torch.Tensor, prefix: str = "") -> None:
    """Refuse NaN or infinite samples in either signal.

    Raises:
        ValueError: ``prefix`` + "the estimate (or reference) has N NaN or infinite samples".
    """
    for name, x in (("estimate", estimate), ("reference", reference)):
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise ValueError(f"{prefix}the {name} has {bad} NaN or infinite samples")


def pesq_wb(estimate: Tensor, reference: Tensor, sample_rate: int) -> Tensor:
    """Wide-band PESQ (ITU-T P.862.2) MOS-LQO per signal, from :data:`PESQ_WB_FLOOR` (0.999,
    a silent estimate) to 4.64 (transparent); noisy or garbled speech scores about 1.02 and up.

    Wraps the ``pesq`` package; both signals are resampled to 16 kHz with
    :func:`audioae.audio.resample` first (wide-band PESQ is defined at 16 kHz). PESQ aligns
    levels, so a quiet but otherwise faithful estimate still scores high.

    A silent estimate (all zeros at 16 kHz) scores :data:`PESQ_WB_FLOOR`, the lowest value of
    the P.862.2 mapping; the ``pesq`` package itself fails on it with a NaN conversion error.
    So does an estimate more than 200 dB below the reference's peak on which ``pesq`` fails
    the same way (measured: peaks below about 1e-21 of the reference's; numerically silent).

    Args:
        estimate, reference: speech waveforms ``(..., time)``; cropped to the shorter.
        sample_rate: their sample rate in Hz.

    Returns:
        ``(...)`` float64.

    Raises:
        ImportError: ``pesq`` is not installed (``pip install "audioae[eval]"``).
        ValueError: a silent reference, NaN or infinite samples, PESQ found no speech, the
            signal is too short, or any other failure of the ``pesq`` package (the message
            starts with "PESQ failed").
    """
    pesq = _eval_import("pesq")
    from audioae.audio import resample

    est, ref = align(estimate, reference)
    require_finite(est, ref, prefix="PESQ failed: ")
    if sample_rate != PESQ_SAMPLE_RATE:
        est = resample(est.float(), sample_rate, PESQ_SAMPLE_RATE)
        ref = resample(ref.float(), sample_rate, PESQ_SAMPLE_RATE)

    def one(e, r):
        if not r.any():
            raise ValueError("PESQ failed: the reference is silent")
        if not e.any():
            return PESQ_WB_FLOOR
        try:
            return pesq.pesq(PESQ_SAMPLE_RATE, r, e, "wb")
        except pesq.PesqError as exc:
            raise ValueError(f"PESQ failed: {type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # cypesq's "cannot convert float NaN to integer"
            if abs(e).max() <= 1e-10 * abs(r).max():
                return PESQ_WB_FLOOR
            raise ValueError(f"PESQ failed: {exc}") from exc

    return _per_signal(est, ref, one)


def stoi(estimate: Tensor, reference: Tensor, sample_rate: int, extended: bool = False) -> Tensor:
    """Short-time objective intelligibility, 0..1 (Taal et al. 2011; extended: Jensen & Taal 2016).

    Wraps ``pystoi`` (which resamples to 10 kHz internally). STOI is a mean of correlations
    between short-time band envelopes, so an estimate whose envelopes run against the
    reference's can score a little below 0 (more often with ``extended``).

    A silent estimate (all zeros) scores exactly 0: it has no envelope to correlate. This is
    what ``pystoi`` 0.4 returns for plain STOI; for extended STOI it returns about -0.002 (an
    artefact of its epsilon), which is replaced by 0.

    Args:
        estimate, reference: speech waveforms ``(..., time)``; cropped to the shorter.
        sample_rate: Hz.

    Returns:
        ``(...)`` float64.

    Raises:
        ImportError: ``pystoi`` is not installed (``pip install "audioae[eval]"``).
    """
    pystoi = _eval_import("pystoi")

    def one(e, r):
        if not e.any():
            return 0.0
        return pystoi.stoi(r, e, sample_rate, extended=extended)

    return _per_signal(estimate, reference, one)


__all__ = [
    "DEFAULT_RESOLUTIONS",
    "PESQ_WB_FLOOR",
    "SI_SDR_FLOOR_DB",
    "align",
    "log_mel_l1",
    "log_spectral_distance",
    "multi_resolution_stft_distance",
    "pesq_wb",
    "require_finite",
    "si_sdr",
    "snr_db",
    "spectral_convergence",
    "spectral_convergence_db",
    "stoi",
]
