"""Typed configuration: one dataclass per recipe section, merged from YAML and ``--set`` overrides.

A recipe (``recipes/*.yaml``) is a short delta over the defaults below. :func:`load_config`
merges defaults <- recipe <- overrides with OmegaConf structured configs, so an unknown key
or a value of the wrong type is an error naming the key; the dataclasses' ``__post_init__``
then checks choices and ranges and names the valid values. Derived values
(``ModelConfig.predicts_mask``, ``segment_samples``) are properties, never config fields;
feature sizes (``n_freq``, ``n_bins``, frame counts) belong to the front-end built from
``features`` (:func:`audioae.features.build_frontend`).

Bounded parsing: recipes, ``--set`` values and the configs stored in model files go through
the same checks. YAML is read by :func:`load_yaml` (at most ``MAX_YAML_BYTES``, no anchors or
aliases, at most ``MAX_CONFIG_NODES`` nodes nested ``MAX_CONFIG_DEPTH`` deep), every dict is
checked by :func:`check_plain_data` (the same node and depth bounds, string keys, no
OmegaConf interpolation ``${...}``: a stored config is data, never resolved against the
environment), and every value is range-checked in ``__post_init__`` so no value can make a
command allocate without bound or loop for hours; each bound is in the error message.

Layout: this module holds the model-side sections (``audio``, ``features``, ``model``,
``loss``, ``phase``), the whole :class:`Config` and loading; :mod:`audioae.config_training`
the ``data`` and ``training`` sections, :mod:`audioae.config_vocoder` the ``vocoder`` and
``vocoder_loss`` sections, :mod:`audioae.config_checks` the value checks and numeric bounds,
:mod:`audioae.config_yaml` the bounded YAML reader. Import every name from here.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .bundled import RECIPES_DIR, is_bare_name
from .config_checks import (
    MAX_BATCH_SAMPLES,
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
from .config_training import (
    DataConfig,
    TrainingConfig,
)
from .config_vocoder import VocoderConfig, VocoderLossConfig
from .config_yaml import (
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_NODES,
    MAX_YAML_BYTES,
    ConfigError,
    check_plain_data,
    load_yaml,
)

FEATURE_KINDS = ("spectrogram", "log_magnitude", "log_mel")
ARCHITECTURES = ("dense", "conv1d", "conv2d")
BOTTLENECKS = ("deterministic", "sparse", "gaussian")
OUTPUTS = ("features", "mask", "crm")
RECONSTRUCTION_LOSSES = ("l1", "l2", "compressed_mse", "compressed_complex_mse")
KL_SCHEDULES = ("linear", "cyclical")
TASKS = ("autoencoder", "vocoder")
RESAMPLERS = ("hq", "steep")
PHASE_METHOD_NAMES = ("griffin-lim", "kept-phase", "learned", "learned+griffin-lim")

__all__ = [
    "MAX_BATCH_SAMPLES",
    "MAX_CONFIG_DEPTH",
    "MAX_CONFIG_NODES",
    "MAX_INPAINT_GROUPS",
    "MAX_N_FFT",
    "MAX_SAMPLE_RATE",
    "MAX_SEED",
    "MAX_STEPS",
    "MAX_YAML_BYTES",
    "MIN_N_FFT",
    "MIN_SAMPLE_RATE",
    "AudioConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "FeatureConfig",
    "LossConfig",
    "ModelConfig",
    "PhaseConfig",
    "TrainingConfig",
    "VocoderConfig",
    "VocoderLossConfig",
    "available_recipes",
    "check_plain_data",
    "config_from_dict",
    "load_config",
    "load_yaml",
    "resolve_recipe",
]


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

    ``beta`` weights the KL of a Gaussian bottleneck (Higgins et al. 2017), warmed up over
    ``kl_warmup_steps`` (linear, or cyclical with period ``kl_cycle_steps``; Fu et al. 2019);
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


@dataclass
class Config:
    """A whole recipe: every section, each with defaults.

    ``task``: ``autoencoder`` (the ``model`` and ``loss`` sections) or ``vocoder`` (a learned
    decoder for the ``features`` front-end: the ``vocoder`` and ``vocoder_loss`` sections).
    """

    name: str = "custom"
    task: str = "autoencoder"
    audio: AudioConfig = field(default_factory=AudioConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    phase: PhaseConfig = field(default_factory=PhaseConfig)
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)
    vocoder_loss: VocoderLossConfig = field(default_factory=VocoderLossConfig)

    def __post_init__(self) -> None:
        check_choice("task", self.task, TASKS)
        nyquist = self.audio.sample_rate / 2
        f_max = nyquist if self.features.f_max is None else self.features.f_max
        if f_max > nyquist:
            raise ConfigError(
                f"features.f_max: must be <= audio.sample_rate / 2 ({nyquist:g} Hz), got {f_max}"
            )
        if not self.features.f_min < f_max:
            raise ConfigError(
                f"features.f_min: must be < features.f_max ({f_max:g} Hz; None means "
                f"audio.sample_rate / 2), got {self.features.f_min}"
            )
        if self.data.band_limit_fraction > 0 and max(self.data.band_limit_hz) >= nyquist:
            raise ConfigError(
                f"data.band_limit_hz: every cutoff must be < audio.sample_rate / 2 ({nyquist:g} Hz), "
                f"got {list(self.data.band_limit_hz)}"
            )
        segment = self.segment_samples
        if segment < 1:
            raise ConfigError(
                f"data.segment_seconds: {self.data.segment_seconds} s is less than one sample at "
                f"{self.audio.sample_rate} Hz"
            )
        if segment * self.data.batch_size > MAX_BATCH_SAMPLES:
            raise ConfigError(
                f"data.batch_size x data.segment_seconds: {self.data.batch_size} x {segment} samples "
                f"is more than {MAX_BATCH_SAMPLES} samples per batch"
            )
        linear = self.features.kind in ("spectrogram", "log_magnitude")
        n_freq = self.features.n_fft // 2 + 1
        n_bins = self.features.n_mels if self.features.kind == "log_mel" else n_freq
        if self.model.inpaint_groups and (self.data.denoise or self.model.inpaint_groups > n_bins):
            raise ConfigError(
                "model.inpaint_groups: band inpainting needs data.denoise: false and at most one "
                f"group per feature bin ({n_bins}); got data.denoise {self.data.denoise}, "
                f"{self.model.inpaint_groups} groups"
            )
        if self.model.df_order and not self.data.denoise:
            raise ConfigError("model.df_order: deep filtering needs data.denoise: true")
        if self.model.df_order and not (linear and self.model.df_bins <= n_freq):
            raise ConfigError(
                f"model.df_bins: deep filtering needs features.kind spectrogram or log_magnitude "
                f"and df_bins <= n_fft // 2 + 1 ({n_freq}); got {self.features.kind!r}, "
                f"{self.model.df_bins}"
            )
        if self.model.complex_mask and not linear:
            raise ConfigError(
                "model.output: crm (a complex ratio mask over the STFT) needs features.kind "
                f"spectrogram or log_magnitude, got {self.features.kind!r}"
            )
        waveform_weights = (
            self.loss.si_sdr_weight + self.loss.snr_weight + self.loss.residual_noise_weight
        )
        if waveform_weights > 0 and not (self.model.predicts_mask and self.data.denoise and linear):
            raise ConfigError(
                "loss.si_sdr_weight/snr_weight/residual_noise_weight: need a denoising mask model on linear-frequency features "
                "(model.output=mask or crm, data.denoise=true, features.kind spectrogram or log_magnitude)"
            )
        if self.loss.reconstruction == "compressed_complex_mse" and not (
            self.model.predicts_mask and self.data.denoise and linear
        ):
            raise ConfigError(
                "loss.reconstruction: compressed_complex_mse needs a denoising mask model on "
                "linear-frequency features (model.output=mask or crm, data.denoise=true, "
                "features.kind spectrogram or log_magnitude)"
            )

    @property
    def segment_samples(self) -> int:
        """Training crop length in samples."""
        return int(round(self.data.segment_seconds * self.audio.sample_rate))

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON-serialisable)."""
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _parse_override(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. training.max_steps=500")
    key, value = text.split("=", 1)
    source = f"--set {text[:200]}"
    key = key.strip()
    return key, load_yaml(value, source, key) if value.strip() else None


def _merge(base: Any, delta: dict[str, Any], source: str) -> Any:
    try:
        return OmegaConf.merge(base, OmegaConf.create(delta))
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or ""
        raise ConfigError(
            f"{source}: {key + ': ' if key else ''}{_omegaconf_message(exc)}"
        ) from None


def _omegaconf_message(exc: OmegaConfBaseException) -> str:
    msg = str(exc).splitlines()[0]
    if "not in struct" in msg or "Key '" in msg and "not in" in msg:
        return msg + " (unknown key; see `audioae config --show` for every valid key)"
    return msg


def config_from_dict(data: dict[str, Any], source: str = "config") -> Config:
    """Build a validated :class:`Config` from a (possibly partial) nested dict.

    Raises:
        ConfigError: unknown key, wrong type, invalid choice or range; names the key.
    """
    check_plain_data(data, source)
    merged = _merge(OmegaConf.structured(Config), data or {}, source)
    try:
        return OmegaConf.to_object(merged)  # runs every __post_init__
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{source}: {_omegaconf_message(exc)}") from None


def load_config(
    recipe: str | os.PathLike | None = None, overrides: list[str] | None = None
) -> Config:
    """Defaults <- recipe YAML <- ``KEY=VALUE`` overrides, validated.

    Args:
        recipe: path to a recipe YAML file, or None for the defaults.
        overrides: ``["training.max_steps=500", "model.latent_dim=16"]``; values are parsed as YAML.

    Raises:
        ConfigError: missing or malformed recipe, unknown key, wrong type or invalid value.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if recipe is not None:
        path = Path(recipe)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: recipe not found")
        with path.open("rb") as f:
            text = f.read(MAX_YAML_BYTES + 1)
        data = load_yaml(text, str(path)) or {}
        if not isinstance(data, dict):
            raise ConfigError(
                f"{path}: a recipe must be a mapping of sections, got {type(data).__name__}"
            )
        data.setdefault("name", path.stem)
    merged = _merge(OmegaConf.structured(Config), data, source)
    for text in overrides or []:
        key, value = _parse_override(text)
        delta: dict[str, Any] = {}
        node = delta
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        check_plain_data(delta, f"--set {text[:200]}")
        merged = _merge(merged, delta, f"--set {text}")
    try:
        return OmegaConf.to_object(merged)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{source}: {_omegaconf_message(exc)}") from None


# --- bundled recipes ----------------------------------------------------------------------------


def available_recipes() -> list[str]:
    """Names of the bundled recipes (``recipes/<name>.yaml``), sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")) if RECIPES_DIR.is_dir() else []


def resolve_recipe(recipe: str | os.PathLike) -> Path:
    """A recipe argument to a file: an existing path, or a bundled recipe name (``tiny``).

    The bundled recipes are in :data:`audioae.bundled.RECIPES_DIR` (package data when
    installed, ``recipes/`` in a clone).

    Raises:
        ConfigError: neither a file nor a bundled recipe; lists the bundled ones.
    """
    path = Path(recipe)
    if path.is_file():
        return path
    bundled = RECIPES_DIR / f"{recipe}.yaml"
    if is_bare_name(recipe) and bundled.is_file():
        return bundled
    names = ", ".join(available_recipes()) or "none found"
    raise ConfigError(f"{recipe}: no such recipe file or bundled recipe (bundled: {names})")
