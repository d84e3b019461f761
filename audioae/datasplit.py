"""The train/validation split of a data folder: deterministic, by a hash of each relative path.

:func:`split_by_hash` (paths relative to a folder), :func:`split_relative` (paths already
relative, as the data index stores them), :func:`split_kept` (a resumed run's recorded
split, kept while files come and go) and :func:`path_hash`. :mod:`audioae.data` re-exports
them: import them from there.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Sequence
from pathlib import Path

from .data_errors import DatasetError
from .fileio import relative_posix

__all__ = ["path_hash", "split_by_hash", "split_kept", "split_relative"]


def path_hash(relative_path: str) -> int:
    """Stable 64-bit hash of a POSIX relative path (SHA-1 prefix), used for the split."""
    return int.from_bytes(hashlib.sha1(relative_path.encode("utf-8")).digest()[:8], "big")


def split_by_hash(
    paths: Sequence[Path], root: str | os.PathLike, val_fraction: float
) -> tuple[list[int], list[int]]:
    """Deterministic train/validation split of ``paths`` by a hash of each path relative to ``root``.

    Paths are taken relative to ``root`` as spelled (absolute or relative to the working
    directory), without following symlinks.

    The ``round(val_fraction * n)`` files (at least one when ``val_fraction > 0``) with the
    smallest hashes are held out, so the split depends only on the file names, not on
    their order, the machine or the run.

    Returns:
        ``(train_indices, val_indices)`` into ``paths``, each sorted.

    Raises:
        DatasetError: ``val_fraction > 0`` with fewer than two files.
    """
    base = os.path.abspath(root)
    # Relative to the folder as scanned, symlinks not followed: a folder of links (such as
    # the demo's split folders) splits the same whichever way the folder is spelled.
    return split_relative([relative_posix(p, base) for p in paths], root, val_fraction)


def split_relative(
    relative_paths: Sequence[str], root: str | os.PathLike, val_fraction: float
) -> tuple[list[int], list[int]]:
    """:func:`split_by_hash` of paths already relative to ``root`` (POSIX strings, as the
    data index stores them); ``root`` only names the folder in errors.

    Raises:
        DatasetError: ``val_fraction > 0`` with fewer than two files.
    """
    n = len(relative_paths)
    if val_fraction <= 0:
        return list(range(n)), []
    if n < 2:
        raise DatasetError(
            f"{root}: {n} usable file(s) cannot be split into training and validation; "
            "add files or set data.val_fraction=0"
        )
    keys = [(path_hash(rel), rel, i) for i, rel in enumerate(relative_paths)]
    n_val = min(n - 1, max(1, round(val_fraction * n)))
    ranked = sorted(keys)
    val = sorted(i for _, _, i in ranked[:n_val])
    train = sorted(i for _, _, i in ranked[n_val:])
    return train, val


def split_kept(
    relative_paths: Sequence[str], recorded_val: Collection[str]
) -> tuple[list[int], list[int]]:
    """The split a run recorded, applied to its folder as it is now.

    The files in ``recorded_val`` that are still among ``relative_paths`` stay the
    validation files; every other file trains, files added since the run started included.
    Unlike :func:`split_relative`, whose held-out files are the smallest hashes of the
    folder *as it is*, this never moves a file between the two sets when files are added or
    removed, so a resumed run goes on validating on the audio its best checkpoint was
    chosen on and never trains on a file it validated on.

    Returns:
        ``(train_indices, val_indices)`` into ``relative_paths``, each sorted; ``val`` is
        empty when none of the recorded files is left.
    """
    keep = set(recorded_val)
    val = [i for i, rel in enumerate(relative_paths) if rel in keep]
    held = set(val)
    return [i for i in range(len(relative_paths)) if i not in held], val
