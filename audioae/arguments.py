"""Checks of the public API's arguments that every layer shares: whole numbers.

:func:`check_integer` checks every count, length and sample rate the pipeline, the streaming
denoiser and the ``.aae`` encoder take, so a fraction or a bool is refused with one message
naming the argument instead of failing deep inside torch.
"""

from __future__ import annotations

import numbers

__all__ = ["check_integer", "is_integer"]


def is_integer(value: object) -> bool:
    """Whether ``value`` is a whole number: a Python or numpy integer (``numbers.Integral``),
    not a bool, float (even ``2.0``), string, tensor or None."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_integer(name: str, value: object, minimum: int | None = None) -> int:
    """``value`` as an ``int``, when it is a whole number (:func:`is_integer`) of at least
    ``minimum`` (None: any).

    Raises:
        ValueError: not a whole number (``"NAME must be an integer, got 2.5"``) or below
            ``minimum`` (``"need NAME >= 1, got 0"``).
    """
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise ValueError(f"need {name} >= {minimum}, got {number}")
    return number
