"""The JSON cache of a folder's index (:mod:`audioae.dataindex`): where it lives, how it is
read back (bounded, checked column by column, rebuilt with a warning when damaged or of
another layout) and written (atomically, beside the data or in a fallback folder). Block
levels are stored as little-endian int16 hundredths of a dB in base64. Never pickle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from .fileio import atomic_output
from .jsonfile import read_bounded_json

__all__ = [
    "INDEX_FILENAME",
    "INDEX_VERSION",
    "MAX_CACHE_BYTES",
    "cache_candidates",
    "decode_levels",
    "encode_levels",
    "read_cache",
    "warn_not_cached",
    "write_cache",
]

log = logging.getLogger(__name__)

INDEX_FILENAME = ".audioae-index.json"
"""Name of the cache file written beside the data."""
INDEX_VERSION = 1
MAX_CACHE_BYTES = 1 << 31
"""The largest index cache read (2 GiB; a larger one is rebuilt, like a damaged one).

Measured: 235 bytes per file for 300 files of 2-15 s (mean 8.5 s) with 70-character paths,
about 140 bytes per file plus 11 bytes per second of audio (the block levels). A million
10-second files take about 250 MB, a million 1-minute files about 800 MB. An index larger
than this is not written (the next run would refuse it)."""


def encode_levels(array: np.ndarray) -> str:
    return base64.b64encode(array.astype("<i2").tobytes()).decode("ascii")


def decode_levels(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<i2").astype(np.int16)


_INT = (int,)
_NUM = (int, float)
_FILE_COLUMNS = {
    "path": (str,),
    "size": _INT,
    "mtime_ns": _INT,
    "sample_rate": _INT,
    "channels": _INT,
    "frames": _INT,
    "rms_db": (int, float, type(None)),
    "clipped_fraction": _NUM,
    "blocks": (str,),
}
_BAD_COLUMNS = {"path": (str,), "reason": (str,), "size": _INT, "mtime_ns": _INT}


def _check_columns(table: dict, columns: dict[str, tuple[type, ...]]) -> None:
    """Every column present, a list as long as ``path``, of the expected types (bools refused).

    Raises:
        KeyError, TypeError, ValueError: a column missing, of another length or type.
    """
    n = len(table["path"])
    for key, types in columns.items():
        values = table[key]
        if not isinstance(values, list) or len(values) != n:
            raise ValueError(f"column {key!r} is not a list of {n} values")
        if not all(isinstance(v, types) and not isinstance(v, bool) for v in values):
            raise TypeError(f"column {key!r} holds a value of another type")


def read_cache(path: Path | None, block_seconds: float) -> dict | None:
    """The cached columns, or None when absent, unreadable, larger than
    :data:`MAX_CACHE_BYTES` or of another layout (with a warning: it is then rebuilt)."""
    if path is None or not path.is_file():
        return None
    try:
        data = read_bounded_json(path, MAX_CACHE_BYTES)  # BoundedJsonError: a ValueError
        if data.get("version") != INDEX_VERSION or data.get("block_seconds") != block_seconds:
            return None
        files, bad = data["files"], data["bad"]
        _check_columns(files, _FILE_COLUMNS)
        _check_columns(bad, _BAD_COLUMNS)
        for row, text in enumerate(files["blocks"]):
            if len(base64.b64decode(text, validate=True)) % 2:  # binascii.Error: a ValueError
                raise ValueError(f"row {row}: block levels of an odd byte count")
            if files["sample_rate"][row] < 1 or files["channels"][row] < 1:
                raise ValueError(f"row {row}: a sample rate or channel count below 1")
        return {"files": files, "bad": bad}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s: ignoring an unreadable index cache (%s); rebuilding it", path, exc)
        return None


def cache_candidates(root: Path, cache_dir: Path | None) -> tuple[Path | None, Path | None]:
    """``(beside the data, in cache_dir)``; either may be None."""
    beside = root / INDEX_FILENAME if root.is_dir() else None
    fallback = None
    if cache_dir is not None:
        key = hashlib.sha1(os.path.abspath(root).encode("utf-8")).hexdigest()[:12]
        fallback = Path(cache_dir) / f"data-index-{key}.json"
    return beside, fallback


def write_cache(
    payload: dict, beside: Path | None, fallback: Path | None
) -> tuple[Path | None, list[str]]:
    """Write the index's JSON ``payload`` beside the data, else in ``fallback``: ``(the file
    written or None, why each place was not used)``. Not written above :data:`MAX_CACHE_BYTES`
    (it could not be read back)."""
    text = json.dumps(payload, separators=(",", ":"))  # ASCII: characters are bytes
    if len(text) > MAX_CACHE_BYTES:  # it could not be read back
        return None, [f"it would take {len(text)} bytes, above the {MAX_CACHE_BYTES} limit"]
    why: list[str] = []
    for target in (beside, fallback):
        if target is None:
            continue
        if target is beside and not os.access(target.parent, os.W_OK):
            why.append(f"{target.parent} is not writable")
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(target, overwrite=True) as tmp:
                tmp.write_text(text)
            return target, why
        except OSError as exc:
            why.append(f"cannot write {target}: {exc.strerror or exc}")
    return None, why


def warn_not_cached(root: Path, why: list[str], fallback: Path | None, files: int) -> None:
    """One warning: the index of ``root`` was not cached, why, and what that costs."""
    reasons = "; ".join(why)
    if fallback is None:  # inspect, or the Python API without a cache_dir
        reasons += ", and no other cache folder was given (`audioae train` uses its run folder)"
    log.warning(
        "%s: the index was not cached: %s; the next run reads all %d file(s) again",
        root,
        reasons,
        files,
    )
