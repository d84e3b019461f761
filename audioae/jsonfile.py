"""Bounded reading of small JSON files (anomaly reference statistics, fitted latent priors).

:func:`read_bounded_json` reads at most ``max_bytes`` (a file that is larger, or endless like
``/dev/zero``, is refused before it is parsed), and refuses what Python's ``json`` would
otherwise let through or fail on with an internal error: ``NaN``/``Infinity``, numbers that
overflow a float, integers of more than :data:`MAX_INT_DIGITS` digits, nesting deep enough to
exhaust the recursion limit, and text that is not UTF-8.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

MAX_INT_DIGITS = 30
"""Longest integer literal accepted (Python refuses above 4300 digits with its own error)."""


class BoundedJsonError(ValueError):
    """A JSON file that is unreadable, too large, not UTF-8, malformed, or holds a value this
    reader refuses. The message says which, without the path (callers add it)."""


def _refuse_constant(name: str) -> float:
    raise BoundedJsonError(f"{name} is not a finite number")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BoundedJsonError(f"an integer of {len(text.lstrip('-'))} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BoundedJsonError(f"{text[:20]} overflows a float")
    return value


def read_bounded_json(path: str | os.PathLike, max_bytes: int) -> Any:
    """The JSON document in ``path``, read with the bounds of the module docstring.

    Raises:
        BoundedJsonError: see the module docstring; an OSError's message for a file that
            cannot be opened or read.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise BoundedJsonError(exc.strerror or str(exc)) from None
    if len(data) > max_bytes:
        raise BoundedJsonError(f"larger than {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BoundedJsonError("not UTF-8 text") from None
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except RecursionError:
        raise BoundedJsonError("nested too deeply") from None
    except BoundedJsonError:
        raise
    except ValueError as exc:  # json.JSONDecodeError
        raise BoundedJsonError(str(exc)) from None
