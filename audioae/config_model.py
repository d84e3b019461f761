"""The model-side sections of the config: ``audio``, ``features``, ``model``, ``loss``, ``phase``.

One dataclass per section (:class:`AudioConfig`, :class:`FeatureConfig`, :class:`ModelConfig`,
:class:`LossConfig`, :class:`PhaseConfig`), each checking its own values in
``__post_init__``, and the choices they accept (``ARCHITECTURES``, ``BOTTLENECKS``, ...).
Checks across sections are :class:`audioae.config.Config`'s. :mod:`audioae.config`
re-exports every name: import them from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config_checks import (
    MAX_INPAINT_GROUPS,
    MAX_N_FFT,
    MAX_SAMPLE_RATE,
    MAX_SEED,
    MAX_STEPS,
    MIN_N_FFT,
    MIN_SAMPLE_RATE,
    check_choice,
    check_finite,
    check_fraction,
    check_in_range,
    check_int_list,
    check_positive,
)
from .config_yaml import ConfigError

__all__ = [
    "ARCHITECTURES",
    "BOTTLENECKS",
    "FEATURE_KINDS",
    "KL_SCHEDULES",
    "OUTPUTS",
    "PHASE_METHOD_NAMES",
    "RECONSTRUCTION_LOSSES",
    "RESAMPLERS",
    "AudioConfig",
    "FeatureConfig",
    "LossConfig",
    "ModelConfig",
    "PhaseConfig",
]

FEATURE_KINDS = ("spectrogram", "log_magnitude", "log_mel")
ARCHITECTURES = ("dense", "conv1d", "conv2d")
BOTTLENECKS = ("deterministic", "sparse", "gaussian")
OUTPUTS = ("features", "mask", "crm")
RECONSTRUCTION_LOSSES = ("l1", "l2", "compressed_mse", "compressed_complex_mse")
KL_SCHEDULES = ("linear", "cyclical")
RESAMPLERS = ("hq", "steep")
PHASE_METHOD_NAMES = ("griffin-lim", "kept-phase", "learned", "learned+griffin-lim")


@dataclass
class AudioConfig:
    """Audio the model works at: every input is resampled to ``sample_rate`` (Hz), mixed to mono.

    ``resampler``: the filter that brings audio at another rate to ``sample_rate`` and back,
    in training and in every file job (:func:`audioae.audio.resample`): ``hq`` (soxr HQ,
    flat to about 0.91 of the lower Nyquist frequency) or ``steep`` (soxr's steep filter,
    flat to 0.99 of it: at 16 kHz the band 7.5-7.9 kHz kept). A model trained on audio
    resampled one way should be given audio resampled the same way.
    """

    sample_rate: int = 16000
    resampler: str = "hq"

    def __post_init__(self) -> None:
        check_in_range("audio.sample_rate", self.sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)
        check_choice("audio.resampler", self.resampler, RESAMPLERS)


@dataclass
class FeatureConfig:
    """Spectrogram front-end. ``kind``: spectrogram (linear magnitude), log_magnitude or log_mel.

    ``n_fft``, ``hop_length`` and ``win_length`` are in samples, ``f_min``/``f_max`` in Hz;
    ``eps`` is the fixed floor of the log compression ``log(magnitude + eps)``.
    """

    kind: str = "log_mel"
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float | None = None
    mel_scale: str = "slaney"
    eps: float = 1e-5

    def __post_init__(self) -> None:
        check_choice("features.kind", self.kind, FEATURE_KINDS)
        check_choice("features.mel_scale", self.mel_scale, ("slaney", "htk"))
        check_in_range("features.n_fft", self.n_fft, MIN_N_FFT, MAX_N_FFT)
        if self.win_length is not None and not 0 < self.win_length <= self.n_fft:
            raise ConfigError(
                f"features.win_length: must be in 1..n_fft ({self.n_fft}), got {self.win_length}"
            )
        window = self.n_fft if self.win_length is None else self.win_length
        if not 0 < self.hop_length <= window:
            raise ConfigError(
                f"features.hop_length: must be in 1..win_length ({window}; win_length defaults "
                f"to n_fft), got {self.hop_length}"
            )
        n_freq = self.n_fft // 2 + 1
        if self.kind == "log_mel" and not 0 < self.n_mels <= n_freq:
            raise ConfigError(
                f"features.n_mels: must be in 1..n_fft // 2 + 1 ({n_freq}), got {self.n_mels}"
            )
        check_in_range("features.n_mels", self.n_mels, 1, MAX_N_FFT // 2 + 1)
        check_in_range("features.eps", self.eps, 1e-12, 1.0)
        check_positive("features.f_min", self.f_min, allow_zero=True)
        if self.f_max is not None:
            check_finite("features.f_max", self.f_max)
            if not self.f_max > self.f_min:
                raise ConfigError(
                    f"features.f_max: must be > features.f_min ({self.f_min}), got {self.f_max}"
                )


@dataclass
class ModelConfig:
    """Architecture and bottleneck; see ``audioae.models``.

    ``strides`` are the time-downsampling factors of the conv stages (their product is the
    model's time downsampling); ``freq_strides`` the frequency factors of conv2d stages.
    ``context`` is the number of frames a dense model stacks into one vector (its time
    downsampling). ``output``: ``features`` predicts the features, ``mask`` a bounded mask
    in [0, 1] over the input's linear magnitude (for denoising), ``crm`` a bounded complex
    ratio mask over the input's complex STFT (phase-aware denoising; conv1d or dense, on
    ``spectrogram`` or ``log_magnitude`` features; see :mod:`audioae.models.masks`). ``dilations``: the conv1d
    residual blocks' dilations, used in turn (``[1]``: none). ``causal``: conv1d only, with
    no ``strides``: every convolution pads on the left only, so the output at frame ``t``
    depends on input frames ``<= t`` (no look-ahead; what streaming needs).
    ``df_order`` > 0 adds deep filtering to a magnitude mask (``output: mask``, conv1d, not
    causal; :mod:`audioae.models.deep_filter`): on the lowest ``df_bins`` STFT bins the
    output also gets a complex filter of ``df_order`` taps over neighbouring frames of the
    noisy STFT, ``df_lookahead`` of them in the future (Schroeter et al. 2022). 0 = off.
    ``inpaint_groups`` > 0 trains the model to rebuild a masked band: the bins are split into
    that many contiguous groups and each training example has one of them (or none) set to
    silence at the input (:mod:`audioae.inpaint`); anomaly scoring then takes every bin's
    reconstruction from the pass that masked its group. Not for mask models or denoising.
    0 = off.
    """

    architecture: str = "conv1d"
    bottleneck: str = "deterministic"
    latent_dim: int = 32
    hidden_dim: int = 256
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])
    strides: list[int] = field(default_factory=lambda: [2, 2])
    freq_strides: list[int] = field(default_factory=lambda: [2, 2, 2])
    kernel_size: int = 3
    n_res_blocks: int = 1
    dilations: list[int] = field(default_factory=lambda: [1])
    context: int = 4
    output: str = "features"
    causal: bool = False
    df_order: int = 0
    df_lookahead: int = 0
    df_bins: int = 0
    inpaint_groups: int = 0

    def __post_init__(self) -> None:
        check_choice("model.architecture", self.architecture, ARCHITECTURES)
        check_choice("model.bottleneck", self.bottleneck, BOTTLENECKS)
        check_choice("model.output", self.output, OUTPUTS)
        check_in_range("model.latent_dim", self.latent_dim, 1, 4096)
        check_in_range("model.hidden_dim", self.hidden_dim, 1, 16384)
        check_in_range("model.kernel_size", self.kernel_size, 1, 255)
        check_in_range("model.context", self.context, 1, 1024)
        check_in_range("model.n_res_blocks", self.n_res_blocks, 0, 64)
        if not self.dilations:
            raise ConfigError("model.dilations: needs at least one entry (e.g. [1])")
        check_int_list("model.channels", self.channels, 1, 4096, 16)
        check_int_list("model.strides", self.strides, 1, 64, 16)
        check_int_list("model.freq_strides", self.freq_strides, 1, 64, 16)
        check_int_list("model.dilations", self.dilations, 1, 1024, 64)
        for key in ("strides", "freq_strides"):
            product = math.prod(getattr(self, key))
            if product > 4096:
                raise ConfigError(
                    f"model.{key}: their product (the downsampling) must be <= 4096, got {product}"
                )
        if self.causal and (self.architecture != "conv1d" or self.strides):
            raise ConfigError(
                "model.causal: only the conv1d architecture with strides [] (full frame rate) "
                f"is causal; got architecture {self.architecture!r}, strides {list(self.strides)}"
            )
        check_in_range("model.df_order", self.df_order, 0, 16)
        check_in_range("model.df_bins", self.df_bins, 0, MAX_N_FFT // 2 + 1)
        check_in_range("model.inpaint_groups", self.inpaint_groups, 0, MAX_INPAINT_GROUPS)
        if self.inpaint_groups and self.output != "features":
            raise ConfigError(
                "model.inpaint_groups: band inpainting needs output features (a mask model "
                f"rebuilds its input by masking it), got output {self.output!r}"
            )
        if self.df_order and not 0 <= self.df_lookahead < self.df_order:
            raise ConfigError(
                f"model.df_lookahead: must be in 0..df_order - 1 ({self.df_order - 1}), "
                f"got {self.df_lookahead}"
            )
        if self.df_order and (
            self.output != "mask"
            or self.architecture != "conv1d"
            or self.causal
            or not self.df_bins
        ):
            raise ConfigError(
                "model.df_order: deep filtering needs output mask, architecture conv1d, "
                f"causal false and df_bins >= 1; got output {self.output!r}, architecture "
                f"{self.architecture!r}, causal {self.causal}, df_bins {self.df_bins}"
            )
        if self.output == "crm" and self.architecture == "conv2d":
            raise ConfigError(
                "model.output: crm (a complex ratio mask) needs architecture conv1d or dense, "
                "got conv2d"
            )
        if self.architecture == "conv2d" and len(self.channels) < max(
            len(self.strides), len(self.freq_strides)
        ):
            raise ConfigError(
                f"model.channels: conv2d needs one channel count per stage "
                f"({max(len(self.strides), len(self.freq_strides))} stages from strides/freq_strides), got {list(self.channels)}"
            )

    @property
    def predicts_mask(self) -> bool:
        """The model predicts a mask over its input (``output: mask`` or ``crm``), not features."""
        return self.output in ("mask", "crm")

    @property
    def complex_mask(self) -> bool:
        """The mask is a complex ratio mask over the input's STFT (``output: crm``)."""
        return self.output == "crm"


@dataclass
class LossConfig:
    """Training objective: reconstruction on features plus regularisers.

    ``reconstruction``: ``l1``/``l2`` on the features, or ``compressed_mse``: the MSE of
    magnitudes raised to ``compression`` (Braun & Tashev 2021), see
    :func:`audioae.losses.compressed_magnitude_mse`, or ``compressed_complex_mse``: Braun &
    Tashev's full loss on the STFT of the denoised waveform against the clean one,
    ``(1 - complex_mix)`` x the compressed magnitude MSE + ``complex_mix`` x the compressed
    complex MSE (:func:`audioae.losses.compressed_complex_mse`; mask models on ``spectrogram``
    or ``log_magnitude`` features with ``data.denoise``). ``si_sdr_weight`` (per dB) adds
    ``-SI-SDR`` of the waveform that denoising produces (mask models on ``spectrogram`` or
    ``log_magnitude`` features: the masked noisy STFT inverted with the noisy phase);
    ``snr_weight`` adds ``-SNR`` of the same waveform (not scale-invariant: keeps the level).
    ``residual_noise_weight`` adds the compressed energy of the noise the mask lets through
    (:func:`audioae.losses.residual_noise`; Xia et al. 2020): more suppression of noise at some
    cost to the speech (the same models as ``si_sdr_weight``).
    ``spectral_convergence_weight`` adds the spectral convergence ``||Y - X||_F / ||Y||_F``
    (Arik et al. 2019; Yamamoto et al. 2020) of the magnitudes of the feature bins: the
    linear STFT magnitudes of ``spectrogram``/``log_magnitude`` features, the mel-band
    magnitudes of ``log_mel`` (no inversion to linear frequency).

    ``beta`` weights the KL of a Gaussian bottleneck (Higgins et al. 2017), warmed up over
    ``kl_warmup_steps`` (linear, or cyclical with period ``kl_cycle_steps``; Fu et al. 2019)
    in the training loss; ``val/loss``, which picks the best checkpoint, weighs it by
    ``beta`` itself at every step, so validations of different steps compare one objective;
    ``free_bits`` (nats per latent dimension; Kingma et al. 2016) floors each dimension's KL.
    ``sparsity_l1`` weights an L1 activity penalty, ``sparsity_kl`` the KL penalty towards a
    mean activation ``sparsity_target`` (Ng, "Sparse autoencoder", 2011).
    """

    reconstruction: str = "l1"
    compression: float = 0.3
    complex_mix: float = 0.3
    spectral_convergence_weight: float = 0.0
    si_sdr_weight: float = 0.0
    snr_weight: float = 0.0
    residual_noise_weight: float = 0.0
    beta: float = 1.0
    kl_warmup_steps: int = 0
    kl_schedule: str = "linear"
    kl_cycle_steps: int = 1000
    free_bits: float = 0.0
    sparsity_l1: float = 0.0
    sparsity_kl: float = 0.0
    sparsity_target: float = 0.05

    def __post_init__(self) -> None:
        check_choice("loss.reconstruction", self.reconstruction, RECONSTRUCTION_LOSSES)
        check_choice("loss.kl_schedule", self.kl_schedule, KL_SCHEDULES)
        if not 0.0 < self.compression <= 1.0:
            raise ConfigError(f"loss.compression: must be in (0, 1], got {self.compression}")
        check_fraction("loss.complex_mix", self.complex_mix)
        for key in (
            "spectral_convergence_weight",
            "si_sdr_weight",
            "snr_weight",
            "residual_noise_weight",
            "beta",
            "kl_warmup_steps",
            "free_bits",
            "sparsity_l1",
            "sparsity_kl",
        ):
            check_positive(f"loss.{key}", getattr(self, key), allow_zero=True)
        check_in_range("loss.kl_warmup_steps", self.kl_warmup_steps, 0, MAX_STEPS)
        check_in_range("loss.kl_cycle_steps", self.kl_cycle_steps, 1, MAX_STEPS)
        if not 0.0 < self.sparsity_target < 1.0:
            raise ConfigError(
                f"loss.sparsity_target: must be in (0, 1), got {self.sparsity_target}"
            )


@dataclass
class PhaseConfig:
    """Waveform reconstruction (see :mod:`audioae.phase`).

    ``method``: the default features -> waveform method of a model (``griffin-lim``, or with
    a learned decoder ``learned`` / ``learned+griffin-lim``; a model without a decoder falls
    back to ``griffin-lim``). ``n_iter``/``momentum``: Griffin-Lim iterations and momentum
    (Perraudin et al. 2013); ``warm_start_iter``: the iterations of ``learned+griffin-lim``,
    which starts from the learned decoder's phase.
    """

    method: str = "griffin-lim"
    n_iter: int = 64
    momentum: float = 0.99
    warm_start_iter: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        check_in_range("phase.n_iter", self.n_iter, 1, 10_000)
        check_in_range("phase.seed", self.seed, 0, MAX_SEED)
        check_choice("phase.method", self.method, PHASE_METHOD_NAMES)
        check_in_range("phase.warm_start_iter", self.warm_start_iter, 0, 10_000)
        if not 0.0 <= self.momentum < 2.0:
            raise ConfigError(f"phase.momentum: must be in [0, 2), got {self.momentum}")
