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
from collections.abc import Iterable, Sequence
from pathlib import Path

from .audio_probe import not_regular_reason
from .fileio import relative_posix

log = logging.getLogger("audioae.dataindex")

UNKNOWN_KEY = (-1, -1)
"""The key of a file whose ``stat`` failed: decoded (and reported) on every run."""
_LINK_SIZE = -2  # the size in the key of a broken symbolic link (its mtime: the link's own)

__all__ = ["UNKNOWN_KEY", "count_hidden_audio", "file_keys", "report_hidden"]


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


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def count_hidden_audio(root: Path, extensions: Iterable[str]) -> tuple[int, str | None]:
    """Audio files under the folder ``root`` that folder scans leave out as hidden (their
    name, or a folder between ``root`` and them, starts with ``.``), and the first one's
    path relative to ``root`` (None when there is none). Symbolic links to folders are
    followed once, as :func:`audioae.audio.find_audio_paths` does; unreadable folders are
    skipped (the scan itself reports them)."""
    wanted = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    count, first, seen = 0, None, set()
    base = os.path.abspath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        rel = os.path.relpath(dirpath, root)
        in_hidden = any(_is_hidden(part) for part in Path(rel).parts)
        for name in filenames:
            if (in_hidden or _is_hidden(name)) and os.path.splitext(name)[1].lower() in wanted:
                count += 1
                first = first or relative_posix(os.path.join(dirpath, name), base)
    return count, first


def report_hidden(root: Path, extensions: Iterable[str]) -> int:
    """The number of hidden audio files under ``root`` (:func:`count_hidden_audio`), with
    one warning when there are any."""
    hidden, first = count_hidden_audio(root, extensions)
    if hidden:
        log.warning(
            "%s: left out %d hidden audio file(s) (a name or folder starting with '.', e.g. "
            "%s; often editor or macOS '._' copies); rename any that should be used",
            root,
            hidden,
            first,
        )
    return hidden
