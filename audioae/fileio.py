"""Safe output files: atomic writes that never overwrite the user's files without ``force``.

Every writer in audioae (audio, model files, latent files, reports) goes through
:func:`atomic_output`, so a crash mid-write never leaves a half-written file under the
final name and an existing file is only replaced when the caller asked for it.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path


def name_some(items: Sequence[object], limit: int = 5, sep: str = ", ") -> str:
    """The first ``limit`` of ``items`` joined by ``sep``, then ``" and N more"`` for the rest:
    the way messages name a few files (or settings) of a longer list."""
    shown = sep.join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _umask() -> int:
    """The process umask: from ``/proc/self/status`` where there is one (no race with other
    threads), else by setting and restoring it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class OutputExistsError(FileExistsError):
    """Raised when an output path exists and overwriting was not requested (``--force``)."""

    def __init__(self, path: Path, reason: str | None = None) -> None:
        super().__init__(
            f"{path}: {reason or 'output exists; pass --force to replace it (overwrite=True from Python)'}"
        )
        self.path = Path(path)


class OutputNotWritableError(PermissionError):
    """Raised before any work when an output's folder cannot be created or written."""


def check_output(path: str | os.PathLike, overwrite: bool) -> None:
    """Refuse, before any work, an output that exists (without ``overwrite``) or cannot be
    written (:func:`check_writable`); :func:`atomic_output` checks again when it writes.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        OutputNotWritableError: as :func:`check_writable`.
    """
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(Path(path))
    check_writable(path)


def check_writable(path: str | os.PathLike) -> None:
    """Refuse, before any work is done, an output file whose folder cannot be made or written.

    The nearest existing folder above ``path`` must be a folder the process may write in
    (``os.access``); folders below it are created when the output is written.

    Raises:
        OutputNotWritableError: that folder is a file, or not writable; the message names both.
    """
    path = Path(path)
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputNotWritableError(f"{path}: cannot write here: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputNotWritableError(
            f"{path}: cannot write here: no permission to write in {folder}"
        )


_RANDOM_PART = r"[a-z0-9_]{8}"
"""The random part of a :func:`tempfile.mkstemp` name (CPython's ``_RandomNameSequence``)."""


def is_atomic_temporary(name: str, stem_regex: str, suffix: str) -> bool:
    """Whether ``name`` is a temporary file :func:`atomic_output` makes for a file whose stem
    matches ``stem_regex`` (a regular expression) and whose suffix is ``suffix``: the name
    of what a process killed mid-write (``kill -9``, a power cut) leaves behind."""
    pattern = rf"\.(?:{stem_regex})\.{_RANDOM_PART}{re.escape(suffix)}"
    return re.fullmatch(pattern, name) is not None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The temporary file lives in the destination folder (so the final ``os.replace`` is an
    atomic rename on the same file system) and keeps the destination's suffix, so writers
    that pick a format from the extension (soundfile) still work. Before the rename the file
    gets the mode a new file would get under the process umask (``0o666 & ~umask``) and is
    fsync'ed, and the folder is fsync'ed after it, so a crash or power cut leaves either the
    old file or the complete new one. On any exception the temporary file is removed and
    ``path`` is left untouched.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        PermissionError / OSError: the folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputExistsError(path, "is a folder; give a file name for this output")
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if path.exists() and not overwrite:  # created by someone else meanwhile
            raise OutputExistsError(path)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a new file honours the umask
        with open(tmp, "rb+") as written:  # data on disk before the name points at it
            os.fsync(written.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def relative_posix(path: str | os.PathLike, base: str) -> str:
    """``path`` relative to the absolute folder ``base``, as a POSIX string; symlinks not followed.

    Equal to ``Path(os.path.relpath(os.path.abspath(path), base)).as_posix()``, with a fast
    path for the usual case of a file under ``base`` (a string prefix, no path objects): the
    data index and the train/validation split compute it for every file of a corpus.
    """
    full = os.path.abspath(path)
    prefix = base if base.endswith(os.sep) else base + os.sep
    rel = full[len(prefix) :] if full.startswith(prefix) else os.path.relpath(full, base)
    return rel if os.sep == "/" else rel.replace(os.sep, "/")


def check_not_input(output: str | os.PathLike, inputs: list[Path]) -> None:
    """Refuse an output path that resolves to one of ``inputs`` (an input is never an output).

    Raises:
        OutputExistsError: ``output`` is one of ``inputs``, whatever ``--force`` says.
    """
    out = Path(output).resolve()
    if any(Path(p).resolve() == out for p in inputs):
        raise OutputExistsError(Path(output), "is one of the inputs; choose another output")
