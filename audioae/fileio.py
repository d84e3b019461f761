"""Safe output files: atomic writes that never overwrite the user's files without ``force``.

Every writer in audioae (audio, model files, latent files, reports) goes through
:func:`atomic_output`, so a crash mid-write never leaves a half-written file under the
final name and an existing file is only replaced when the caller asked for it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputExistsError(FileExistsError):
    """Raised when an output path exists and overwriting was not requested (``--force``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: output exists; pass --force (overwrite=True) to replace it")
        self.path = Path(path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The temporary file lives in the destination folder (so the final ``os.replace`` is an
    atomic rename on the same file system) and keeps the destination's suffix, so writers
    that pick a format from the extension (soundfile) still work. On any exception the
    temporary file is removed and ``path`` is left untouched.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        PermissionError / OSError: the folder cannot be created or written.
    """
    path = Path(path)
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
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
