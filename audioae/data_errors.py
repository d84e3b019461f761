"""The exception of the training data: :class:`DatasetError`.

:mod:`audioae.data` re-exports it (the CLI looks it up there): import it from there.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A folder cannot give a training set; the message says what to change."""
