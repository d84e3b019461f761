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

FEATURE_KINDS = ("spectrogram", "log_magnitude", "log_mel")
ARCHITECTURES = ("dense", "conv1d", "conv2d")
BOTTLENECKS = ("deterministic", "sparse", "gaussian")
OUTPUTS = ("features", "mask", "crm")
RECONSTRUCTION_LOSSES = ("l1", "l2", "compressed_mse", "compressed_complex_mse")
KL_SCHEDULES = ("linear", "cyclical")
SHORT_CLIP_POLICIES = ("pad", "skip")
NOISE_COLORS = ("white", "pink", "brown")
LR_SCHEDULES = ("constant", "cosine")
TASKS = ("autoencoder", "vocoder")
PHASE_METHOD_NAMES = ("griffin-lim", "kept-phase", "learned", "learned+griffin-lim")


MAX_YAML_BYTES = 1 << 20
MAX_CONFIG_NODES = 10_000
MAX_CONFIG_DEPTH = 32
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384_000
MIN_N_FFT = 16
MAX_N_FFT = 65_536
MAX_INPAINT_GROUPS = 256
"""The largest ``model.inpaint_groups``."""
MAX_STEPS = 10**9
MAX_SEED = 2**63 - 1
MAX_BATCH_SAMPLES = 1 << 28  # batch_size x segment samples: 1 GiB of float32 waveform


class ConfigError(ValueError):
    """A recipe or override is invalid; the message names the key and the valid choices."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader without anchors and aliases (the "billion laughs" expansion), with
    at most ``MAX_CONFIG_NODES`` nodes nested at most ``MAX_CONFIG_DEPTH`` deep."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else "?"
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ConfigError(
                f"YAML anchors and aliases (&name, *name) are not allowed (line {line})"
            )
        self._nodes += 1
        if self._nodes > MAX_CONFIG_NODES:
            raise ConfigError(f"more than {MAX_CONFIG_NODES} YAML nodes (line {line})")
        self._depth += 1
        try:
            if self._depth > MAX_CONFIG_DEPTH:
                raise ConfigError(
                    f"YAML nested deeper than {MAX_CONFIG_DEPTH} levels (line {line})"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str | bytes, source: str = "YAML", key: str = "") -> Any:
    """Parse YAML config text with bounds: at most ``MAX_YAML_BYTES`` bytes, no anchors or
    aliases, at most ``MAX_CONFIG_NODES`` nodes and ``MAX_CONFIG_DEPTH`` levels; then
    :func:`check_plain_data`. Safe (plain data only, never Python objects).

    Raises:
        ConfigError: too large, not valid YAML, an alias or anchor, too many nodes or levels,
            or an interpolation ``${...}``; the message starts with ``source``.
    """
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"{source}: {size} bytes of YAML, more than the limit {MAX_YAML_BYTES}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text ({exc})") from None
    loader = None
    try:
        loader = _BoundedLoader(text)  # a SafeLoader subclass: no Python objects, no aliases
        data = loader.get_single_data()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    check_plain_data(data, source, key)
    return data


def check_plain_data(data: Any, source: str = "config", key: str = "") -> None:
    """Check config data before OmegaConf sees it: at most ``MAX_CONFIG_NODES`` nodes
    (shared sub-objects counted each time they occur) and ``MAX_CONFIG_DEPTH`` levels,
    string keys, and no string containing an OmegaConf interpolation ``${`` (which would
    read environment variables or other keys when the config is resolved). ``key`` names
    ``data`` in messages (e.g. ``"model"`` for a section).

    Raises:
        ConfigError: naming ``source`` and the key.
    """
    count = 0
    stack: list[tuple[Any, str, int]] = [(data, key, 0)]
    while stack:
        node, key, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_NODES:
            raise ConfigError(f"{source}: more than {MAX_CONFIG_NODES} values")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{source}: {key}: nested deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise ConfigError(f"{source}: {key or 'top level'}: key {k!r} is not a string")
                stack.append((v, f"{key}.{k}" if key else k, depth + 1))
        elif isinstance(node, list | tuple):
            for i, v in enumerate(node):
                stack.append((v, f"{key}[{i}]", depth + 1))
        elif isinstance(node, str) and "${" in node:
            raise ConfigError(
                f"{source}: {key or 'value'}: {node[:80]!r} contains an interpolation '${{'; "
                "configs are plain data and are never resolved (write the value itself)"
            )


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(
            f"{key}: {value!r} is not a valid choice; choose one of {', '.join(choices)}"
        )


def _finite(key: str, value: float) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value!r}")


def _positive(key: str, value: float, *, allow_zero: bool = False) -> None:
    _finite(key, value)
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{key}: must be {bound}, got {value!r}")


def _in_range(key: str, value: float, low: float, high: float) -> None:
    """``low <= value <= high`` (NaN and infinities refused)."""
    _finite(key, value)
    if not low <= value <= high:
        raise ConfigError(f"{key}: must be in {low}..{high}, got {value!r}")


def _fraction(key: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key}: must be in [0, 1], got {value}")


def _int_list(key: str, values: list[int], low: int, high: int, max_len: int) -> None:
    values = list(values)
    if len(values) > max_len:
        raise ConfigError(f"{key}: at most {max_len} entries, got {len(values)}")
    for v in values:
        if not low <= v <= high:
            raise ConfigError(f"{key}: every entry must be in {low}..{high}, got {values}")


@dataclass
class AudioConfig:
    """Audio the model works at: every input is resampled to ``sample_rate`` (Hz), mixed to mono."""

    sample_rate: int = 16000

    def __post_init__(self) -> None:
        _in_range("audio.sample_rate", self.sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)


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
        _choice("features.kind", self.kind, FEATURE_KINDS)
        _choice("features.mel_scale", self.mel_scale, ("slaney", "htk"))
        _in_range("features.n_fft", self.n_fft, MIN_N_FFT, MAX_N_FFT)
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
        _in_range("features.n_mels", self.n_mels, 1, MAX_N_FFT // 2 + 1)
        _in_range("features.eps", self.eps, 1e-12, 1.0)
        _positive("features.f_min", self.f_min, allow_zero=True)
        if self.f_max is not None:
            _finite("features.f_max", self.f_max)
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
        _choice("model.architecture", self.architecture, ARCHITECTURES)
        _choice("model.bottleneck", self.bottleneck, BOTTLENECKS)
        _choice("model.output", self.output, OUTPUTS)
        _in_range("model.latent_dim", self.latent_dim, 1, 4096)
        _in_range("model.hidden_dim", self.hidden_dim, 1, 16384)
        _in_range("model.kernel_size", self.kernel_size, 1, 255)
        _in_range("model.context", self.context, 1, 1024)
        _in_range("model.n_res_blocks", self.n_res_blocks, 0, 64)
        if not self.dilations:
            raise ConfigError("model.dilations: needs at least one entry (e.g. [1])")
        _int_list("model.channels", self.channels, 1, 4096, 16)
        _int_list("model.strides", self.strides, 1, 64, 16)
        _int_list("model.freq_strides", self.freq_strides, 1, 64, 16)
        _int_list("model.dilations", self.dilations, 1, 1024, 64)
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
        _in_range("model.df_order", self.df_order, 0, 16)
        _in_range("model.df_bins", self.df_bins, 0, MAX_N_FFT // 2 + 1)
        _in_range("model.inpaint_groups", self.inpaint_groups, 0, MAX_INPAINT_GROUPS)
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
        _choice("loss.reconstruction", self.reconstruction, RECONSTRUCTION_LOSSES)
        _choice("loss.kl_schedule", self.kl_schedule, KL_SCHEDULES)
        if not 0.0 < self.compression <= 1.0:
            raise ConfigError(f"loss.compression: must be in (0, 1], got {self.compression}")
        _fraction("loss.complex_mix", self.complex_mix)
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
            _positive(f"loss.{key}", getattr(self, key), allow_zero=True)
        _in_range("loss.kl_warmup_steps", self.kl_warmup_steps, 0, MAX_STEPS)
        _in_range("loss.kl_cycle_steps", self.kl_cycle_steps, 1, MAX_STEPS)
        if not 0.0 < self.sparsity_target < 1.0:
            raise ConfigError(
                f"loss.sparsity_target: must be in (0, 1), got {self.sparsity_target}"
            )


@dataclass
class DataConfig:
    """Training data: fixed-length segments cropped from a folder of audio.

    ``segment_seconds`` is the crop length (s); clips shorter than it are zero-padded
    (``short_clips: pad``) or left out (``skip``). Crops quieter than ``silence_db`` (dBFS,
    RMS; ``-inf`` rejects none) are rejected and re-drawn. ``samples_per_epoch`` fixes the epoch length whatever
    the file count. ``val_fraction`` of the files (chosen by a hash of the path) is held out.
    With ``denoise`` the clean crops are mixed with noise at an SNR drawn uniformly from
    ``[snr_db_min, snr_db_max]`` dB (noise files, or ``noise_colors`` when none are given).
    ``gain_db_min``/``gain_db_max``: every training crop (and its noisy mixture) is scaled by
    a gain drawn uniformly from this range in dB, so the model sees many input levels
    (0/0: off). ``babble_fraction``: the share of denoising mixtures whose noise is babble
    made from 3 to ``babble_talkers`` other crops of the clean folder (each at unit RMS),
    for robustness to competing speech; ``babble_reverb_fraction`` of those babble mixtures
    put every talker at a distance in one synthetic room (RT60 in ``[rt60_min, rt60_max]``,
    see :class:`audioae.data.DenoisingFolder`), as recorded crowds are. ``random_eq``: speech and noise each pass through
    a random second-order filter before mixing (:func:`audioae.augment.random_biquad`).
    ``synthetic_noise_fraction``: the share of mixtures that use ``noise_colors`` noise even
    when a noise folder is given. ``reverb_fraction``: the share of denoising mixtures in a
    synthetic room: the speech is convolved with a random room impulse response
    (:func:`audioae.augment.synthetic_rir`, RT60 uniform in ``[rt60_min, rt60_max]`` s) and
    the noise with another one of the same room, while the target keeps only the direct path
    and the first 50 ms of reflections, so the model learns to remove late reverberation.
    ``band_limit_fraction``: the share of mixtures whose input and target are both low-passed
    (:func:`audioae.augment.low_pass`) at a cutoff drawn from ``band_limit_hz`` (telephone-like
    bandwidths), so the model meets narrow-band input. ``speed_perturb``: every training crop
    is played at a speed drawn uniformly from ``[1 - speed_perturb, 1 + speed_perturb]``
    (:func:`audioae.augment.change_speed`: pitch and formants move with it, so the model
    hears more voices than the folder holds; 0: off; validation crops never).
    ``num_workers``: DataLoader worker processes that read the crops, ``auto``
    (:attr:`workers`) or a count (0: in the training process).
    """

    segment_seconds: float = 1.0
    batch_size: int = 16
    num_workers: str = "auto"
    samples_per_epoch: int = 2048
    val_fraction: float = 0.1
    val_segments: int = 64
    silence_db: float = -60.0
    short_clips: str = "pad"
    denoise: bool = False
    snr_db_min: float = -5.0
    snr_db_max: float = 20.0
    noise_colors: list[str] = field(default_factory=lambda: list(NOISE_COLORS))
    gain_db_min: float = 0.0
    gain_db_max: float = 0.0
    babble_fraction: float = 0.0
    babble_talkers: int = 6
    babble_reverb_fraction: float = 0.0
    random_eq: bool = False
    synthetic_noise_fraction: float = 0.0
    reverb_fraction: float = 0.0
    rt60_min: float = 0.2
    rt60_max: float = 0.8
    band_limit_fraction: float = 0.0
    band_limit_hz: list[float] = field(default_factory=lambda: [3400.0, 4000.0, 5500.0, 7000.0])
    speed_perturb: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        _positive("data.segment_seconds", self.segment_seconds)
        _in_range("data.segment_seconds", self.segment_seconds, 0.0, 600.0)
        _in_range("data.batch_size", self.batch_size, 1, 4096)
        _in_range("data.num_workers", self.workers, 0, 256)  # also checks "auto" / a count
        _in_range("data.samples_per_epoch", self.samples_per_epoch, 1, 10**8)
        _in_range("data.val_segments", self.val_segments, 0, 10**6)
        if self.silence_db != -math.inf:  # -inf: no silence rejection
            _in_range("data.silence_db", self.silence_db, -300.0, 20.0)
        for key in ("snr_db_min", "snr_db_max", "gain_db_min", "gain_db_max"):
            _in_range(f"data.{key}", getattr(self, key), -100.0, 100.0)
        _in_range("data.seed", self.seed, 0, MAX_SEED)
        _choice("data.short_clips", self.short_clips, SHORT_CLIP_POLICIES)
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction: must be in [0, 1), got {self.val_fraction}")
        if self.snr_db_min > self.snr_db_max:
            raise ConfigError(
                f"data.snr_db_min ({self.snr_db_min}) must be <= data.snr_db_max ({self.snr_db_max})"
            )
        for color in self.noise_colors:
            _choice("data.noise_colors", color, NOISE_COLORS)
        if self.gain_db_min > self.gain_db_max:
            raise ConfigError(
                f"data.gain_db_min ({self.gain_db_min}) must be <= data.gain_db_max ({self.gain_db_max})"
            )
        _fraction("data.babble_fraction", self.babble_fraction)
        _fraction("data.babble_reverb_fraction", self.babble_reverb_fraction)
        _fraction("data.synthetic_noise_fraction", self.synthetic_noise_fraction)
        _in_range("data.babble_talkers", self.babble_talkers, 3, 64)
        _fraction("data.reverb_fraction", self.reverb_fraction)
        _in_range("data.rt60_min", self.rt60_min, 0.05, 10.0)
        _in_range("data.rt60_max", self.rt60_max, 0.05, 10.0)
        if self.rt60_min > self.rt60_max:
            raise ConfigError(
                f"data.rt60_min ({self.rt60_min}) must be <= data.rt60_max ({self.rt60_max})"
            )
        _fraction("data.band_limit_fraction", self.band_limit_fraction)
        _in_range("data.speed_perturb", self.speed_perturb, 0.0, 0.5)
        if len(self.band_limit_hz) > 64:
            raise ConfigError(
                f"data.band_limit_hz: at most 64 entries, got {len(self.band_limit_hz)}"
            )
        for cutoff in self.band_limit_hz:
            _in_range("data.band_limit_hz", cutoff, 1.0, 192000.0)
        if self.band_limit_fraction > 0 and not self.band_limit_hz:
            raise ConfigError(
                "data.band_limit_hz: needs at least one cutoff when data.band_limit_fraction > 0"
            )

    @property
    def workers(self) -> int:
        """DataLoader workers: ``num_workers``, or for ``auto`` the CPUs this process may use, at most 4.

        Raises:
            ConfigError: ``num_workers`` is neither ``auto`` nor a count >= 0.
        """
        value = str(self.num_workers).strip()
        if value == "auto":
            try:
                cpus = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                cpus = os.cpu_count() or 1
            return max(0, min(4, cpus))
        try:
            count = int(value)
        except ValueError:
            count = -1
        if count < 0:
            raise ConfigError(f"data.num_workers: 'auto' or a count >= 0, got {self.num_workers!r}")
        return count


@dataclass
class TrainingConfig:
    """Optimisation and run plumbing (handled by PyTorch Lightning).

    ``precision``: ``auto`` picks bf16/16-mixed on CUDA and 32 on CPU; any Lightning
    precision string is accepted. ``devices``: ``auto`` or a count. ``init_from``: a model
    file (or a shipped model's name, e.g. ``denoise``) whose weights start a fresh run
    (fine-tuning: the optimiser and the schedule start anew; ignored on ``--resume``, where
    the checkpoint wins). Its ``audio`` and ``features`` sections must equal this run's and
    its weights must fit this run's model; settings without weights (dilations, say) may
    differ. ``trainable``: names of the model's top-level parts to train (``encoder``,
    ``bottleneck``, ``decoder``, ``df_head``), the rest frozen and left out of the optimiser
    (e.g. ``[df_head]`` trains a deep-filter head on a fixed ``init_from`` model); empty (the
    default) trains everything. ``seed``: the weight initialisation and Lightning's seeding;
    which crops, noise and SNRs a run draws follow ``data.seed`` alone, so a fine-tune from
    ``init_from`` with another ``training.seed`` trains the same weights (seen: two such
    8000-step runs gave identical tensors); change ``data.seed`` for a replicate.
    """

    max_steps: int = 2000
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"
    warmup_steps: int = 100
    gradient_clip: float = 1.0
    val_every: int = 250
    checkpoint_every: int = 250
    log_every: int = 10
    audio_examples: int = 2
    precision: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    seed: int = 0
    init_from: str = ""
    trainable: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _choice("training.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if len(self.trainable) > 8 or not all(
            isinstance(name, str) and name.isidentifier() for name in self.trainable
        ):
            raise ConfigError(
                "training.trainable: at most 8 names of model parts (e.g. [df_head]), "
                f"got {self.trainable!r}"
            )
        for key in (
            "max_steps",
            "learning_rate",
            "val_every",
            "checkpoint_every",
            "log_every",
            "num_nodes",
        ):
            _positive(f"training.{key}", getattr(self, key))
        for key in ("weight_decay", "warmup_steps", "gradient_clip", "audio_examples"):
            _positive(f"training.{key}", getattr(self, key), allow_zero=True)
        for key in ("max_steps", "val_every", "checkpoint_every", "log_every"):
            _in_range(f"training.{key}", getattr(self, key), 1, MAX_STEPS)
        _in_range("training.warmup_steps", self.warmup_steps, 0, MAX_STEPS)
        _in_range("training.learning_rate", self.learning_rate, 0.0, 10.0)
        _in_range("training.weight_decay", self.weight_decay, 0.0, 10.0)
        _in_range("training.gradient_clip", self.gradient_clip, 0.0, 1e6)
        _in_range("training.audio_examples", self.audio_examples, 0, 64)
        _in_range("training.num_nodes", self.num_nodes, 1, 1024)
        _in_range("training.seed", self.seed, 0, MAX_SEED)


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
        _in_range("phase.n_iter", self.n_iter, 1, 10_000)
        _in_range("phase.seed", self.seed, 0, MAX_SEED)
        _choice("phase.method", self.method, PHASE_METHOD_NAMES)
        _in_range("phase.warm_start_iter", self.warm_start_iter, 0, 10_000)
        if not 0.0 <= self.momentum < 2.0:
            raise ConfigError(f"phase.momentum: must be in [0, 2), got {self.momentum}")


@dataclass
class VocoderConfig:
    """The learned inverse-STFT decoder (:mod:`audioae.vocoder`): features -> magnitude and
    phase -> one inverse STFT.

    ``dim``: channels of the ConvNeXt blocks (Liu et al. 2022; as Vocos, Siuzdak 2023);
    ``n_blocks`` blocks of a depthwise conv of ``kernel_size`` frames and a pointwise MLP of
    ``expansion * dim`` channels. ``max_log_magnitude`` clamps the log-magnitude head (natural
    log of the linear STFT magnitude) before ``exp``. ``phase_carrier``: the phase heads
    predict the deviation from each bin's centre-frequency phase advance (a phase-vocoder
    carrier), which a shift-invariant network cannot produce on its own.
    """

    dim: int = 192
    n_blocks: int = 6
    kernel_size: int = 7
    expansion: int = 3
    max_log_magnitude: float = 7.0
    phase_carrier: bool = False

    def __post_init__(self) -> None:
        _in_range("vocoder.dim", self.dim, 1, 4096)
        _in_range("vocoder.n_blocks", self.n_blocks, 1, 64)
        _in_range("vocoder.expansion", self.expansion, 1, 16)
        _in_range("vocoder.kernel_size", self.kernel_size, 1, 255)
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"vocoder.kernel_size: must be odd, got {self.kernel_size}")
        # a natural-log magnitude; exp stays finite in float32 (and bfloat16) below 88
        _in_range("vocoder.max_log_magnitude", self.max_log_magnitude, 0.0, 80.0)


@dataclass
class VocoderLossConfig:
    """Training objective of the ``vocoder`` task (:mod:`audioae.vocoder_losses`).

    ``mr_stft_weight``: multi-resolution STFT loss (spectral convergence + log-magnitude L1 at
    each ``(n_fft, hop_length)`` of ``resolutions``; Yamamoto et al. 2020); ``mel_weight``: L1
    of log-mel spectra of the waveforms; ``magnitude_weight``: spectral convergence +
    log-magnitude L1 of the magnitude head itself against the reference STFT magnitude (the
    magnitude a phase method such as ``learned+griffin-lim`` keeps); ``complex_weight``: L1 of the power-law compressed
    complex spectra (``compression``), which trains the phase where the energy is;
    ``phase_ip_weight``/``phase_gd_weight``/``phase_iaf_weight``: magnitude-weighted
    anti-wrapping losses on the instantaneous phase, group delay and instantaneous frequency
    (APNet, Ai & Ling 2023).

    What the decoder learns to decode: by default the exact features of each training
    segment. ``source_model``: an audioae model file (or a shipped model's name, e.g.
    ``codec``) with the same front-end; the decoder then learns from that frozen model's
    reconstruction of the features (encode, optionally quantise, decode), so it learns to
    undo the model's errors on the way to the waveform. ``source_bits``: the latent is
    quantised as a ``.aae`` file does (``2**bits`` uniform levels over each latent
    dimension's range, bin centres), ``bits`` drawn per batch from this list; empty: not
    quantised. ``init_from``: a decoder file (``audioae train vocoder``'s) or a model file
    carrying one, whose weights start the training (fine-tuning); its config must match
    the ``vocoder`` section.
    """

    mr_stft_weight: float = 1.0
    mel_weight: float = 1.0
    magnitude_weight: float = 1.0
    complex_weight: float = 1.0
    compression: float = 0.3
    phase_ip_weight: float = 0.1
    phase_gd_weight: float = 0.5
    phase_iaf_weight: float = 0.5
    resolutions: list[list[int]] = field(
        default_factory=lambda: [[512, 128], [1024, 256], [2048, 512]]
    )
    source_model: str = ""
    source_bits: list[int] = field(default_factory=list)
    init_from: str = ""

    def __post_init__(self) -> None:
        weights = (
            "mr_stft_weight",
            "mel_weight",
            "magnitude_weight",
            "complex_weight",
            "phase_ip_weight",
            "phase_gd_weight",
            "phase_iaf_weight",
        )
        for key in weights:
            _in_range(f"vocoder_loss.{key}", getattr(self, key), 0.0, 1e6)
        if not any(getattr(self, key) > 0 for key in weights):
            raise ConfigError(
                f"vocoder_loss: at least one of {', '.join(weights)} must be > 0 (all are 0)"
            )
        _finite("vocoder_loss.compression", self.compression)
        if not 0.0 < self.compression <= 1.0:
            raise ConfigError(
                f"vocoder_loss.compression: must be in (0, 1], got {self.compression}"
            )
        if len(self.resolutions) > 16:
            raise ConfigError(
                f"vocoder_loss.resolutions: at most 16 entries, got {len(self.resolutions)}"
            )
        if self.mr_stft_weight > 0 and not self.resolutions:
            raise ConfigError(
                "vocoder_loss.resolutions: needs at least one [n_fft, hop_length] entry "
                "while vocoder_loss.mr_stft_weight > 0"
            )
        if len(self.source_bits) > 16:
            raise ConfigError(
                f"vocoder_loss.source_bits: at most 16 entries, got {len(self.source_bits)}"
            )
        for bits in self.source_bits:
            if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
                raise ConfigError(
                    f"vocoder_loss.source_bits: each entry is an integer in 1..16, got {bits!r}"
                )
        if self.source_bits and not self.source_model:
            raise ConfigError("vocoder_loss.source_bits: needs vocoder_loss.source_model")
        for res in self.resolutions:
            res = list(res)
            if len(res) != 2 or not MIN_N_FFT <= res[0] <= MAX_N_FFT or not 1 <= res[1] <= res[0]:
                raise ConfigError(
                    f"vocoder_loss.resolutions: each entry is [n_fft, hop_length] with n_fft in "
                    f"{MIN_N_FFT}..{MAX_N_FFT} and hop_length in 1..n_fft, got {res}"
                )


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
        _choice("task", self.task, TASKS)
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
