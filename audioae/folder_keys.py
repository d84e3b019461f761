"""What a data folder's files are before any is decoded: their cache keys from ``stat``,
the files refused from ``stat`` alone, and the hidden audio files folder scans leave out.

:mod:`audioae.dataindex` keys its cache on :func:`file_keys` (``(bytes, mtime ns)`` per
file). A named pipe, socket or device is refused without being opened (opening a named pipe
blocks); a broken symbolic link is keyed on the link's own mtime, so it is cached as bad and
read again once its target appears. Hidden audio files (a name, or a folder on the way,
starting with ``.``) are counted for one warning (:func:`report_hidden`).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from .audio_probe import not_regular_reason
from .fileio import relative_posix

log = logging.getLogger("audioae.dataindex")

UNKNOWN_KEY = (-1, -1)
"""The key of a file whose ``stat`` failed: decoded (and reported) on every run."""
_LINK_SIZE = -2  # the size in the key of a broken symbolic link (its mtime: the link's own)

__all__ = ["UNKNOWN_KEY", "file_keys", "report_hidden"]


def _file_key(path: str) -> tuple[tuple[int, int], str | None]:
    """The cache key ``(bytes, mtime ns)`` of ``path``, and the reason it is unusable when
    its ``stat`` alone tells (not a regular file, a broken symbolic link), without opening
    it; :data:`UNKNOWN_KEY` when even that fails."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return _broken_link_key(path, exc)
    return (int(st.st_size), int(st.st_mtime_ns)), not_regular_reason(st.st_mode)


def file_keys(files: Sequence[str]) -> tuple[list[tuple[int, int]], dict[int, str]]:
    """:func:`_file_key` of every file: the keys, and ``{row: reason}`` of the files refused
    from their ``stat`` alone (never opened)."""
    keys, refused = [], {}
    for row, path in enumerate(files):
        key, reason = _file_key(path)
        keys.append(key)
        if reason is not None:
            refused[row] = reason
    return keys, refused


def _broken_link_key(path: str, exc: OSError) -> tuple[tuple[int, int], str | None]:
    """The key and reason of a symbolic link whose target does not exist (or that loops): the
    link's own mtime, so it is read again once it is replaced or its target appears (its
    ``stat`` then works). Any other failure: :data:`UNKNOWN_KEY` (it may pass)."""
    if not isinstance(exc, FileNotFoundError) and exc.errno != errno.ELOOP:
        return UNKNOWN_KEY, None
    try:
        link = os.lstat(path)
        target = os.readlink(path) if stat.S_ISLNK(link.st_mode) else None
    except OSError:
        return UNKNOWN_KEY, None
    if target is None:  # not a link: the file went away while the folder was listed
        return UNKNOWN_KEY, None
    problem = "does not exist" if isinstance(exc, FileNotFoundError) else "is a loop of links"
    return (_LINK_SIZE, int(link.st_mtime_ns)), f"a broken symbolic link: {target} {problem}"


def report_hidden(root: Path, hidden: Sequence[str]) -> int:
    """Warn once about the hidden audio files under the folder ``root`` that a scan left out
    (``hidden``: their paths, from :func:`audioae.audio.find_audio_paths`); returns their
    number."""
    if not hidden:
        return 0
    first = relative_posix(min(hidden, key=lambda p: p.split(os.sep)), os.path.abspath(root))
    log.warning(
        "%s: left out %d hidden audio file(s) (a name or folder starting with '.', e.g. "
        "%s; often editor or macOS '._' copies); rename any that should be used",
        root,
        len(hidden),
        first,
    )
    return len(hidden)
