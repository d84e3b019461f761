"""Config sections of the learned inverse-STFT decoder: its network (``vocoder``) and its
training objective (``vocoder_loss``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config_checks import MAX_N_FFT, MIN_N_FFT, check_finite, check_in_range
from .config_yaml import ConfigError


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
        check_in_range("vocoder.dim", self.dim, 1, 4096)
        check_in_range("vocoder.n_blocks", self.n_blocks, 1, 64)
        check_in_range("vocoder.expansion", self.expansion, 1, 16)
        check_in_range("vocoder.kernel_size", self.kernel_size, 1, 255)
        if self.kernel_size % 2 == 0:
            raise ConfigError(f"vocoder.kernel_size: must be odd, got {self.kernel_size}")
        # a natural-log magnitude; exp stays finite in float32 (and bfloat16) below 88
        check_in_range("vocoder.max_log_magnitude", self.max_log_magnitude, 0.0, 80.0)


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
            check_in_range(f"vocoder_loss.{key}", getattr(self, key), 0.0, 1e6)
        if not any(getattr(self, key) > 0 for key in weights):
            raise ConfigError(
                f"vocoder_loss: at least one of {', '.join(weights)} must be > 0 (all are 0)"
            )
        check_finite("vocoder_loss.compression", self.compression)
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
