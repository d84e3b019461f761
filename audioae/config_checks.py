"""Range and choice checks for config values: each raises :class:`ConfigError` naming the key,
the bound and the value (NaN and infinities are refused wherever a number is checked)."""

from __future__ import annotations

import math
from typing import Any

from .config_yaml import ConfigError

MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384_000
MIN_N_FFT = 16
MAX_N_FFT = 65_536
MAX_INPAINT_GROUPS = 256
"""The largest ``model.inpaint_groups``."""
MAX_STEPS = 10**9
MAX_SEED = 2**63 - 1
MAX_BATCH_SAMPLES = 1 << 28  # batch_size x segment samples: 1 GiB of float32 waveform


def check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    """``value`` is one of ``choices`` (the message lists them)."""
    if value not in choices:
        raise ConfigError(
            f"{key}: {value!r} is not a valid choice; choose one of {', '.join(choices)}"
        )


def check_finite(key: str, value: float) -> None:
    """A float ``value`` is neither NaN nor infinite (integers always pass)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value!r}")


def check_positive(key: str, value: float, *, allow_zero: bool = False) -> None:
    """Finite and ``> 0`` (``>= 0`` with ``allow_zero``)."""
    check_finite(key, value)
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{key}: must be {bound}, got {value!r}")


def check_in_range(key: str, value: float, low: float, high: float) -> None:
    """``low <= value <= high`` (NaN and infinities refused)."""
    check_finite(key, value)
    if not low <= value <= high:
        raise ConfigError(f"{key}: must be in {low}..{high}, got {value!r}")


def check_fraction(key: str, value: float) -> None:
    """``0 <= value <= 1`` (NaN fails the comparison and is refused)."""
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key}: must be in [0, 1], got {value}")


def check_int_list(key: str, values: list[int], low: int, high: int, max_len: int) -> None:
    """At most ``max_len`` entries, each in ``low..high``."""
    values = list(values)
    if len(values) > max_len:
        raise ConfigError(f"{key}: at most {max_len} entries, got {len(values)}")
    for v in values:
        if not low <= v <= high:
            raise ConfigError(f"{key}: every entry must be in {low}..{high}, got {values}")
