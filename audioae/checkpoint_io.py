"""Lightning checkpoint files written atomically and read without unpickling.

:class:`SafeCheckpointIO` is the ``CheckpointIO`` plugin of every :func:`audioae.training.train`
run. Saving writes the checkpoint to a temporary file in the checkpoint's own folder,
fsyncs it and renames it onto the final name (:func:`audioae.fileio.atomic_output`), so a
crash, a full disk or a Ctrl-C mid-write leaves the previous checkpoint intact and never a
truncated file under the final name. Loading (Lightning's resume) goes through
:func:`audioae.run_checkpoints.read_checkpoint`: ``torch.load(..., weights_only=True)`` whatever
the caller asks, so a checkpoint that needs pickle is refused with
:class:`~audioae.modelfile.ModelFileError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from .fileio import atomic_output
from .run_checkpoints import read_checkpoint


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's ``TorchCheckpointIO`` with atomic saves and ``weights_only=True`` loads."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None
    ) -> None:
        """Write ``checkpoint`` to ``path`` through a temporary file and a rename.

        Raises:
            TypeError: ``storage_options`` given (not supported, as in Lightning's plugin).
            OSError: the folder cannot be written (``path`` is then left as it was).
        """
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        with atomic_output(Path(path), overwrite=True) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(
        self,
        path: str | os.PathLike,
        map_location: Callable | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """The checkpoint dict on the CPU (Lightning moves the states to the device itself).

        ``map_location`` and ``weights_only`` are ignored: loading is always on the CPU with
        ``weights_only=True``.

        Raises:
            FileNotFoundError: no file at ``path``.
            audioae.modelfile.ModelFileError: the file needs pickle or cannot be read.
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f"Checkpoint file not found: {path}")
        return read_checkpoint(path)
