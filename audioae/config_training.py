"""Config sections of training: the data a model trains on (``data``: folders, segments,
augmentation, loading) and the optimisation (``training``: steps, batch, learning rate,
precision, checkpoints, seeds)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from .config_checks import (
    MAX_SEED,
    MAX_STEPS,
    check_choice,
    check_fraction,
    check_in_range,
    check_positive,
)
from .config_yaml import ConfigError

SHORT_CLIP_POLICIES = ("pad", "skip")
NOISE_COLORS = ("white", "pink", "brown")
LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "32-true", "64-true", "16-mixed", "bf16-mixed")
"""The ``training.precision`` values a run can train with (see :class:`TrainingConfig`)."""
PRECISION_ALIASES = ("32", "64", "16", "bf16")
"""Lightning's older names of ``32-true``, ``16-mixed`` and ``bf16-mixed``, also accepted."""


def segment_length(segment_seconds: float, sample_rate: int) -> int:
    """Samples in one training crop of ``segment_seconds`` (s) at ``sample_rate`` (Hz),
    rounded to the nearest sample (``Config.segment_samples``)."""
    return int(round(segment_seconds * sample_rate))


def is_short_clip(
    frames: int, native_rate: int, *, sample_rate: int, segment_seconds: float
) -> bool:
    """Whether a clip is shorter than one training crop: the rule ``data.short_clips`` applies
    (``pad``: zero-padded, ``skip``: left out), the same for ``audioae train`` and
    ``audioae inspect``.

    The clip's ``frames`` samples at its own ``native_rate`` (Hz) are counted at the training
    ``sample_rate`` (Hz) as resampling makes them (rounded to the nearest sample) and compared
    with :func:`segment_length` of ``segment_seconds`` (s). Raises nothing.
    """
    length = round(int(frames) * int(sample_rate) / max(int(native_rate), 1))
    return length < segment_length(segment_seconds, sample_rate)


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
        check_positive("data.segment_seconds", self.segment_seconds)
        check_in_range("data.segment_seconds", self.segment_seconds, 0.0, 600.0)
        check_in_range("data.batch_size", self.batch_size, 1, 4096)
        check_in_range("data.num_workers", self.workers, 0, 256)  # also checks "auto" / a count
        check_in_range("data.samples_per_epoch", self.samples_per_epoch, 1, 10**8)
        check_in_range("data.val_segments", self.val_segments, 0, 10**6)
        if self.silence_db != -math.inf:  # -inf: no silence rejection
            check_in_range("data.silence_db", self.silence_db, -300.0, 20.0)
        for key in ("snr_db_min", "snr_db_max", "gain_db_min", "gain_db_max"):
            check_in_range(f"data.{key}", getattr(self, key), -100.0, 100.0)
        check_in_range("data.seed", self.seed, 0, MAX_SEED)
        check_choice("data.short_clips", self.short_clips, SHORT_CLIP_POLICIES)
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction: must be in [0, 1), got {self.val_fraction}")
        if self.snr_db_min > self.snr_db_max:
            raise ConfigError(
                f"data.snr_db_min ({self.snr_db_min}) must be <= data.snr_db_max ({self.snr_db_max})"
            )
        for color in self.noise_colors:
            check_choice("data.noise_colors", color, NOISE_COLORS)
        if self.gain_db_min > self.gain_db_max:
            raise ConfigError(
                f"data.gain_db_min ({self.gain_db_min}) must be <= data.gain_db_max ({self.gain_db_max})"
            )
        check_fraction("data.babble_fraction", self.babble_fraction)
        check_fraction("data.babble_reverb_fraction", self.babble_reverb_fraction)
        check_fraction("data.synthetic_noise_fraction", self.synthetic_noise_fraction)
        check_in_range("data.babble_talkers", self.babble_talkers, 3, 64)
        check_fraction("data.reverb_fraction", self.reverb_fraction)
        check_in_range("data.rt60_min", self.rt60_min, 0.05, 10.0)
        check_in_range("data.rt60_max", self.rt60_max, 0.05, 10.0)
        if self.rt60_min > self.rt60_max:
            raise ConfigError(
                f"data.rt60_min ({self.rt60_min}) must be <= data.rt60_max ({self.rt60_max})"
            )
        check_fraction("data.band_limit_fraction", self.band_limit_fraction)
        check_in_range("data.speed_perturb", self.speed_perturb, 0.0, 0.5)
        if len(self.band_limit_hz) > 64:
            raise ConfigError(
                f"data.band_limit_hz: at most 64 entries, got {len(self.band_limit_hz)}"
            )
        for cutoff in self.band_limit_hz:
            check_in_range("data.band_limit_hz", cutoff, 1.0, 192000.0)
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

    ``precision``: Lightning's precision, one of :data:`PRECISIONS`: ``auto`` (bf16-mixed
    or 16-mixed on CUDA, 32-true on CPU), ``32-true``, ``64-true`` (float64 throughout; it
    trains, slowly), ``16-mixed`` or ``bf16-mixed`` (or Lightning's aliases ``32``, ``64``,
    ``16``, ``bf16``). The ``-true`` half precisions (``16-true``, ``bf16-true``) and
    ``transformer-engine`` are refused with a :class:`ConfigError` here rather than made to
    work: the front-ends compute features in float32 (STFT, mel filterbank and log without
    autocast, where half precision loses the quiet bins), so half-precision weights meet
    float32 inputs and the run crashed at its first step; mixed precision gives the speed
    of half-precision matrix products with float32 weights. ``devices``: ``auto`` or a count. ``init_from``: a model
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
        check_choice("training.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if str(self.precision) not in PRECISIONS + PRECISION_ALIASES:
            raise ConfigError(
                f"training.precision: {self.precision!r} is not supported; choose one of "
                f"{', '.join(PRECISIONS)} (features are float32, so only mixed precision "
                "can use half precision)"
            )
        devices = str(self.devices)
        if devices != "auto" and not (devices.isdigit() and int(devices) > 0):
            raise ConfigError(
                f"training.devices: 'auto' or a positive count of devices, got {self.devices!r} "
                "(which GPUs: CUDA_VISIBLE_DEVICES)"
            )
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
            check_positive(f"training.{key}", getattr(self, key))
        for key in ("weight_decay", "warmup_steps", "gradient_clip", "audio_examples"):
            check_positive(f"training.{key}", getattr(self, key), allow_zero=True)
        for key in ("max_steps", "val_every", "checkpoint_every", "log_every"):
            check_in_range(f"training.{key}", getattr(self, key), 1, MAX_STEPS)
        check_in_range("training.warmup_steps", self.warmup_steps, 0, MAX_STEPS)
        check_in_range("training.learning_rate", self.learning_rate, 0.0, 10.0)
        check_in_range("training.weight_decay", self.weight_decay, 0.0, 10.0)
        check_in_range("training.gradient_clip", self.gradient_clip, 0.0, 1e6)
        check_in_range("training.audio_examples", self.audio_examples, 0, 64)
        check_in_range("training.num_nodes", self.num_nodes, 1, 1024)
        check_in_range("training.seed", self.seed, 0, MAX_SEED)
