"""The exceptions of the training data: :class:`DatasetError` and :class:`DataReadError`.

:mod:`audioae.data` re-exports them (the CLI looks them up there): import them from there.
"""

from __future__ import annotations

_WORKER_PREFIX = "Caught "


class DatasetError(ValueError):
    """A folder cannot give a training set; the message says what to change."""


class DataReadError(DatasetError):
    """An indexed file could not be read during training (removed, changed or unreadable).

    Raised in a DataLoader worker, it reaches the training process through torch's
    re-raise, which builds a new exception of this type from a message holding the
    worker's whole traceback. The constructor keeps only the last line, the one the worker
    raised, so the user sees one line naming the file, not the worker's traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(_own_line(message, type(self).__name__))


def _own_line(message: str, name: str) -> str:
    """The worker's own message out of torch's ``Caught X in DataLoader worker`` text."""
    if not message.startswith(_WORKER_PREFIX) or "Traceback" not in message:
        return message
    marker = f"{name}: "
    lines = [line for line in message.splitlines() if marker in line]
    if not lines:
        return message
    return lines[-1].split(marker, 1)[1]
