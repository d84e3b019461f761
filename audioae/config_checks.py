"""Range and choice checks for config values: each raises :class:`ConfigError` naming the key,
the bound and the value (NaN and infinities are refused wherever a number is checked).

:func:`check_shape` checks a recipe's structure against the config dataclasses (sections
are mappings, lists are lists, no unknown keys) before OmegaConf merges it, and
:func:`expected_message` words a value of the wrong type, so that no message speaks
OmegaConf's language.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import typing
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


_SCALARS = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
_PLURALS = {int: "integers", float: "numbers", bool: "true/false values", str: "names"}
_EXAMPLES = {int: "[1, 2]", float: "[0.5, 2.0]", str: "[a, b]"}


@functools.cache
def field_types(section: type) -> dict[str, Any]:
    """``{key: type}`` of a config dataclass's fields (resolved annotations)."""
    hints = typing.get_type_hints(section)
    return {f.name: hints[f.name] for f in dataclasses.fields(section)}


def _optional(hint: Any) -> tuple[bool, Any]:
    """``(accepts None, the type without None)`` of ``X | None`` or ``X``."""
    args = typing.get_args(hint)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return True, rest[0] if len(rest) == 1 else hint
    return False, hint


def _list_item(hint: Any) -> Any:
    """The item type of ``list[X]``, or None when ``hint`` is not a list type."""
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (Any,)
        return item
    return None


def describe_type(hint: Any) -> str:
    """What a value of type ``hint`` is written as in a recipe, e.g. ``"an integer"``."""
    if dataclasses.is_dataclass(hint):
        return "a section (its keys indented under it)"
    optional, hint = _optional(hint)
    item = _list_item(hint)
    if item is not None:
        plural, inner = "", item
        while _list_item(inner) is not None:
            plural, inner = plural + "lists of ", _list_item(inner)
        example = _EXAMPLES.get(inner, "[a, b]")
        if plural:
            example = f"[{example}]"
        words = f"a list of {plural}{_PLURALS.get(inner, 'values')}, e.g. {example}"
    else:
        words = _SCALARS.get(hint, getattr(hint, "__name__", str(hint)))
    return f"{words} or null" if optional else words


def describe_value(value: Any) -> str:
    """A value as a message shows it: ``nothing``, ``a section``, ``the list [1, 2]``, ``'abc'``."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, dict):
        return "a section (keys under it)"
    shown = repr(list(value) if isinstance(value, tuple) else value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"the list {shown}" if isinstance(value, list | tuple) else shown


def expected_message(key: str, hint: Any, value: Any) -> str:
    """``"<key>: expected <what hint is>, got <value>"``."""
    return f"{key}: expected {describe_type(hint)}, got {describe_value(value)}"


def type_at(root: type, key: str) -> Any:
    """The type of the config value at ``key`` (``"model.channels[0]"``) under the dataclass
    ``root``, or None when ``key`` names nothing there."""
    hint: Any = root
    for part in re.findall(r"\[\d+\]|[^.\[\]]+", key):
        hint = _optional(hint)[1]
        if part.startswith("["):
            hint = _list_item(hint)
        elif dataclasses.is_dataclass(hint):
            hint = field_types(hint).get(part)
        else:
            hint = None
        if hint is None:
            return None
    return hint


def unknown_key_message(key: str, name: str, section: type) -> str:
    """``"<key>: unknown key; did you mean <closest>?"`` for ``name`` in ``section``."""
    close = difflib.get_close_matches(name, list(field_types(section)), n=3)
    guess = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"{key}: unknown key{guess} (`audioae config --show` lists every valid key)"


def check_shape(value: Any, hint: Any, key: str = "") -> None:
    """Check that ``value`` has the structure of type ``hint`` (a config dataclass for a
    whole config or section): a section is a mapping of its own keys, a list a list, a
    single value neither; ``None`` only where the type allows it. Whether a single value
    converts (``"abc"`` for an integer) is left to OmegaConf's merge. ``key`` is the dotted
    path of ``value`` in messages.

    Raises:
        ConfigError: an unknown key (with the closest valid ones) or a value of the wrong
            structure; names the key and what was expected.
    """
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(expected_message(key or "top level", hint, value))
        fields = field_types(hint)
        for name, item in value.items():
            child = f"{key}.{name}" if key else str(name)
            if name not in fields:
                raise ConfigError(unknown_key_message(child, str(name), hint))
            check_shape(item, fields[name], child)
        return
    optional, inner = _optional(hint)
    item_hint = _list_item(inner)
    if value is None:
        if not optional:
            raise ConfigError(expected_message(key, hint, value))
    elif item_hint is not None:
        if not isinstance(value, list | tuple):
            raise ConfigError(expected_message(key, hint, value))
        for i, item in enumerate(value):
            check_shape(item, item_hint, f"{key}[{i}]")
    elif isinstance(value, dict | list | tuple):
        raise ConfigError(expected_message(key, hint, value))
