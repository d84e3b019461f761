"""Typed configuration: one dataclass per recipe section, merged from YAML and ``--set`` overrides.

A recipe (``recipes/*.yaml``) is a short delta over the defaults below. :func:`load_config`
merges defaults <- recipe <- overrides with OmegaConf structured configs, so an unknown key
or a value of the wrong type is an error naming the key and what was expected (the structure
is checked against the dataclasses first, :func:`audioae.config_checks.check_shape`, and
OmegaConf's own wording never reaches the user); the dataclasses' ``__post_init__`` then
checks choices and ranges and names the valid values. Every error starts with where the bad
value came from: the recipe file, or the ``--set KEY=VALUE`` that gave it. Derived values
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

Layout: this module holds the whole :class:`Config` (the checks across sections) and
loading; :mod:`audioae.config_model` the model-side sections (``audio``, ``features``,
``model``, ``loss``, ``phase``), :mod:`audioae.config_training` the ``data`` and
``training`` sections, :mod:`audioae.config_vocoder` the ``vocoder`` and ``vocoder_loss``
sections, :mod:`audioae.config_checks` the value checks and numeric bounds,
:mod:`audioae.config_yaml` the bounded YAML reader, :mod:`audioae.config_recipes` the
bundled recipe lookup. Import every name from here.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException, ValidationError

from .bundled import RECIPES_DIR as RECIPES_DIR
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
    check_shape,
    expected_message,
    type_at,
)
from .config_model import ARCHITECTURES as ARCHITECTURES
from .config_model import BOTTLENECKS as BOTTLENECKS
from .config_model import FEATURE_KINDS as FEATURE_KINDS
from .config_model import KL_SCHEDULES as KL_SCHEDULES
from .config_model import OUTPUTS as OUTPUTS
from .config_model import PHASE_METHOD_NAMES as PHASE_METHOD_NAMES
from .config_model import RECONSTRUCTION_LOSSES as RECONSTRUCTION_LOSSES
from .config_model import RESAMPLERS as RESAMPLERS
from .config_model import AudioConfig, FeatureConfig, LossConfig, ModelConfig, PhaseConfig
from .config_recipes import available_recipes, resolve_recipe
from .config_training import (
    SHORT_CLIP_POLICIES,
    DataConfig,
    TrainingConfig,
    is_short_clip,
    segment_length,
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

TASKS = ("autoencoder", "vocoder")

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
    "SHORT_CLIP_POLICIES",
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
    "is_short_clip",
    "load_config",
    "load_yaml",
    "resolve_recipe",
    "segment_length",
]


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
        if segment < self.features.n_fft:
            raise ConfigError(
                f"data.segment_seconds: {self.data.segment_seconds:g} s ({segment} samples) is "
                f"shorter than one STFT window (features.n_fft = {self.features.n_fft} samples, "
                f"{1000 * self.features.n_fft / self.audio.sample_rate:g} ms): every crop would "
                "be mostly zero padding; for short files set data.short_clips=skip or pad"
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
        """Training crop length in samples (:func:`segment_length`)."""
        return segment_length(self.data.segment_seconds, self.audio.sample_rate)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON-serialisable)."""
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _parse_override(text: str) -> dict[str, Any]:
    """``--set`` text ``a.b=VALUE`` as the nested delta ``{"a": {"b": VALUE}}``, the value
    parsed as YAML (bounded, plain data)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected KEY=VALUE, e.g. training.max_steps=500")
    key, value = text.split("=", 1)
    source = _set_source(text)
    key = key.strip()
    parsed = load_yaml(value, source, key) if value.strip() else None
    delta: dict[str, Any] = {}
    node = delta
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = parsed
    check_plain_data(delta, source)
    return delta


def _set_source(text: str) -> str:
    """``--set KEY=VALUE`` as error messages name it (at most 200 characters of it)."""
    return f"--set {text[:200]}" + ("..." if len(text) > 200 else "")


def _merge(base: Any, delta: dict[str, Any], source: str) -> Any:
    """``base`` <- ``delta`` (a nested dict over the whole :class:`Config`), structure and
    types checked; errors start with ``source``."""
    try:
        check_shape(delta, Config)
        return OmegaConf.merge(base, OmegaConf.create(delta))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{source}: {_omegaconf_message(exc)}") from None


def _omegaconf_message(exc: OmegaConfBaseException) -> str:
    """OmegaConf's error in recipe words: ``key: expected <type>, got <value>`` when the key
    is known, else OmegaConf's first line."""
    key = str(getattr(exc, "full_key", None) or "")
    hint = type_at(Config, key) if key else None
    if isinstance(exc, ValidationError) and hint is not None:
        return expected_message(key, hint, getattr(exc, "value", None))
    msg = str(exc).splitlines()[0]
    return f"{key}: {msg}" if key else msg


def _to_config(merged: Any) -> Config:
    """The validated :class:`Config` of a merged OmegaConf config (runs every ``__post_init__``).

    Raises:
        ConfigError: an invalid value; names the key, not yet the source.
    """
    try:
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise ConfigError(_omegaconf_message(exc)) from None


def config_from_dict(data: dict[str, Any], source: str = "config") -> Config:
    """Build a validated :class:`Config` from a (possibly partial) nested dict.

    Raises:
        ConfigError: unknown key, wrong type or structure, invalid choice or range; one
            line naming ``source``, the key and what was expected.
    """
    check_plain_data(data, source)
    merged = _merge(OmegaConf.structured(Config), data or {}, source)
    try:
        return _to_config(merged)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _read_recipe(path: Path) -> dict[str, Any]:
    """A recipe file's sections (bounded YAML; ``name`` defaults to the file's stem).

    Raises:
        ConfigError: missing file, not valid YAML, a key given twice, or not a mapping.
    """
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
    return data


def _validated(stages: list[tuple[str, Any]]) -> Config:
    """The :class:`Config` of the last of ``stages`` (``(source, merged config)``: the
    recipe, then each ``--set`` applied in turn). When it is invalid, the error names the
    source that made it so: the earliest stage from which every later one fails with the
    same message (a value given in the recipe and left alone by ``--set`` names the
    recipe; one a ``--set`` changed, that ``--set``).

    Raises:
        ConfigError: ``<source>: <key>: <problem>``.
    """
    try:
        return _to_config(stages[-1][1])
    except ConfigError as exc:
        message = str(exc)
    culprit = stages[-1][0]
    for source, merged in reversed(stages[:-1]):
        try:
            _to_config(merged)
        except ConfigError as exc:
            if str(exc) == message:
                culprit = source
                continue
        break
    raise ConfigError(f"{culprit}: {message}")


def load_config(
    recipe: str | os.PathLike | None = None, overrides: list[str] | None = None
) -> Config:
    """Defaults <- recipe YAML <- ``KEY=VALUE`` overrides, validated.

    Args:
        recipe: path to a recipe YAML file, a bundled recipe's name (``"tiny"``, as the CLI
            takes it; :func:`resolve_recipe`), or None for the defaults.
        overrides: ``["training.max_steps=500", "model.latent_dim=16"]``; values are parsed as YAML.

    Raises:
        ConfigError: missing or malformed recipe (not valid YAML, a key given twice), unknown
            key, wrong type or structure, or invalid value; one line that starts with where
            the bad value came from: the recipe file (``defaults`` without one) or the
            ``--set KEY=VALUE`` that gave it.
    """
    if isinstance(overrides, (str, bytes)):
        raise ConfigError(
            f"overrides: a list of KEY=VALUE strings, got the string {overrides!r}; "
            f"pass [{overrides!r}]"
        )
    source, data = "defaults", {}
    if recipe is not None:
        path = resolve_recipe(recipe)
        source, data = str(path), _read_recipe(path)
    stages = [(source, _merge(OmegaConf.structured(Config), data, source))]
    for text in overrides or []:
        source = _set_source(text)
        stages.append((source, _merge(stages[-1][1], _parse_override(text), source)))
    return _validated(stages)
