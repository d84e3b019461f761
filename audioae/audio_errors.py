"""The exceptions and warnings of audio file I/O, shared by the modules that read or write audio.

:class:`AudioError` (a file cannot be used as audio) and its :class:`NoAudioFilesError`, and
:class:`ClippingWarning`. :mod:`audioae.audio` re-exports all three: import them from there.
"""

from __future__ import annotations

import os
from pathlib import Path


class AudioError(ValueError):
    """A file cannot be used as audio. ``str(err)`` is ``"<path>: <reason>"``.

    Attributes:
        path: the offending file or folder.
        reason: what is wrong with it and, where possible, what to do.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class NoAudioFilesError(AudioError):
    """A folder holds no audio file with a recognised extension (raised by ``inspect_folder``)."""


class ClippingWarning(UserWarning):
    """:func:`save_audio` had to clip samples outside [-1, 1] to write an integer/lossy format."""


__all__ = ["AudioError", "ClippingWarning", "NoAudioFilesError"]
