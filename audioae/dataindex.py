"""The index (manifest) of a folder of audio: file headers and a loudness summary, computed once.

:func:`index_folder` lists a folder (:func:`audioae.audio.find_audio_files`), and for every
file it has not seen before decodes it once, chunk by chunk, at its native rate to record:
sample rate, channels, frames, the RMS level of its mono mix (dBFS), the share of clipped
samples, and the RMS level of every ``block_seconds`` block (so training can reject silent
crops without decoding a file). Files that cannot be used (unreadable, truncated, NaN/Inf
samples) are recorded with the reason, as :func:`audioae.audio.load_audio` words it.

The index is cached as JSON (never pickle), keyed by each file's path relative to the
folder, its size and its modification time: a later run, a resumed run, every DDP rank and
``audioae inspect`` re-read only the files that changed. The cache lives beside the data
(``<folder>/.audioae-index.json``, hidden, so folder scans skip it) when the folder is
writable, else in ``cache_dir`` (e.g. the run folder) as ``data-index-<hash>.json``; without
either it is kept in memory only, with a warning that says so and why (a read-only folder
indexed by ``audioae inspect``, which has no run folder). The pass over new files runs in
worker processes (``spawn``-safe) with a progress bar; its result does not depend on their
order.

Files that are not regular files (a named pipe, socket or device) and broken symbolic links
are recorded as bad from their ``stat`` alone, never opened (opening a named pipe blocks),
and cached like every bad file. Hidden audio files (a name, or a folder on the way, starting
with ``.``, e.g. macOS's ``._take.wav``) are left out, as every folder scan leaves them out,
and counted in one warning.
"""

from __future__ import annotations

import ast
import logging
import math
import os
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from .audio import (
    AUDIO_EXTENSIONS,
    AudioError,
    audio_info,
    find_audio_paths,
    iter_frames,
    mix_to_mono,
)
from .dataindex_cache import (
    INDEX_FILENAME,
    INDEX_VERSION,
    MAX_CACHE_BYTES,
    cache_candidates,
    decode_levels,
    encode_levels,
    read_cache,
    warn_not_cached,
    write_cache,
)
from .fileio import relative_posix
from .folder_keys import UNKNOWN_KEY, file_keys, report_hidden

log = logging.getLogger(__name__)

BLOCK_SECONDS = 0.25
"""Length (s) of the blocks whose RMS level the index records."""
CLIP_LEVEL = 0.999
"""``|x| >= CLIP_LEVEL`` counts as a clipped sample."""
_SILENCE_CENTI_DB = (
    -20000
)  # block levels are stored in 1/100 dB as int16; digital silence = -200 dB
_PARALLEL_FROM = 16  # fewer new files than this are scanned in-process (no worker start-up)


@dataclass(frozen=True)
class FileSummary:
    """What the index records about one usable file (levels of the mono mix, native rate).

    Attributes:
        sample_rate: Hz.
        channels: channel count.
        frames: samples per channel.
        rms_db: whole-file RMS level, dBFS (-inf for digital silence).
        clipped_fraction: share of samples (all channels) with ``|x| >= CLIP_LEVEL``.
        block_db: ``(ceil(frames / block),)`` int16 RMS level of each block in 1/100 dBFS
            (the last block may be partial; -200 dB for digital silence).
    """

    sample_rate: int
    channels: int
    frames: int
    rms_db: float
    clipped_fraction: float
    block_db: np.ndarray


def summarize_file(path: str | os.PathLike, block_seconds: float = BLOCK_SECONDS) -> FileSummary:
    """Decode ``path`` once (chunk by chunk) and summarise it (see :class:`FileSummary`).

    Raises:
        AudioError: unreadable, truncated, empty, or NaN/Inf samples.
    """
    path = Path(path)
    info = audio_info(path)
    block = max(1, round(block_seconds * info.sample_rate))
    sums: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    clipped = 0
    total = 0
    nonfinite = samples = 0
    for chunk in iter_frames(path, block * 256):  # whole blocks per chunk but the last
        finite = np.isfinite(chunk)
        if not finite.all():
            nonfinite += int(chunk.size - np.count_nonzero(finite))
            chunk = np.where(finite, chunk, 0.0).astype(np.float32)
        samples += chunk.size
        clipped += int(np.count_nonzero(np.abs(chunk) >= CLIP_LEVEL))
        mono = mix_to_mono(chunk.astype(np.float64))
        n = mono.size
        total += n
        n_blocks = -(-n // block)
        padded = np.zeros(n_blocks * block)
        padded[:n] = mono * mono
        sums.append(padded.reshape(n_blocks, block).sum(axis=1))
        lengths = np.full(n_blocks, block, dtype=np.float64)
        lengths[-1] = n - (n_blocks - 1) * block
        counts.append(lengths)
    if nonfinite:  # as load_audio words it
        raise AudioError(path, f"{nonfinite} of {samples} samples are NaN or Inf")
    energy, lengths = np.concatenate(sums), np.concatenate(counts)
    with np.errstate(divide="ignore"):
        block_db = 10.0 * np.log10(energy / lengths)
        rms = 10.0 * math.log10(energy.sum() / total) if energy.sum() > 0 else -math.inf
    centi = np.clip(
        np.nan_to_num(block_db * 100, neginf=_SILENCE_CENTI_DB), _SILENCE_CENTI_DB, 32767
    )
    return FileSummary(
        sample_rate=info.sample_rate,
        channels=info.channels,
        frames=total,
        rms_db=rms,
        clipped_fraction=clipped / max(total * info.channels, 1),
        block_db=np.round(centi).astype(np.int16),
    )


def _summarize_or_reason(args: tuple[str, float]) -> FileSummary | str:
    """Worker entry point: a :class:`FileSummary`, or the reason the file is unusable."""
    path, block_seconds = args
    try:
        return summarize_file(path, block_seconds)
    except AudioError as exc:
        return exc.reason
    except (OSError, RuntimeError, ValueError) as exc:
        return f"unreadable ({exc})"


@dataclass
class FolderIndex:
    """The index of one folder: columns over its usable files, in :func:`find_audio_files` order.

    Attributes:
        root: the folder.
        paths: POSIX paths relative to ``root``.
        size, mtime_ns: the cache key of each file (bytes, nanoseconds).
        sample_rate, channels, frames: header facts (Hz, count, samples per channel).
        rms_db: whole-file level of the mono mix, dBFS (-inf for digital silence).
        clipped_fraction: share of clipped samples.
        block_offsets: ``(n + 1,)``; file ``i``'s block levels are
            ``block_db[block_offsets[i]:block_offsets[i + 1]]``.
        block_db: int16 block levels in 1/100 dBFS (see :class:`FileSummary`).
        block_seconds: the block length (s).
        bad: ``(relative path, reason)`` for every unusable file.
        cache_file: where the index was cached (None: memory only).
        reused, scanned: files taken from the cache / decoded by this call.
        hidden: hidden audio files left out (a name or a folder starting with ``.``).
    """

    root: Path
    paths: list[str] = field(default_factory=list)
    size: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mtime_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sample_rate: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    channels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rms_db: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    clipped_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    block_offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    block_db: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    block_seconds: float = BLOCK_SECONDS
    bad: list[tuple[str, str]] = field(default_factory=list)
    bad_keys: list[tuple[int, int]] = field(default_factory=list)
    cache_file: Path | None = None
    reused: int = 0
    scanned: int = 0
    hidden: int = 0

    def __len__(self) -> int:
        return len(self.paths)

    def file(self, i: int) -> Path:
        """The path of usable file ``i`` (``root / paths[i]``)."""
        return self.root / self.paths[i]

    def block_levels(self, i: int) -> np.ndarray:
        """Block levels of file ``i`` in dBFS, float32 ``(n_blocks,)``."""
        a, b = self.block_offsets[i], self.block_offsets[i + 1]
        return self.block_db[a:b].astype(np.float32) / 100.0

    @property
    def duration(self) -> np.ndarray:
        """Seconds per usable file."""
        return self.frames / np.maximum(self.sample_rate, 1)

    @property
    def bad_files(self) -> list[tuple[Path, str]]:
        """``(path, reason)`` of the unusable files, paths under ``root``."""
        return [(self.root / rel, why) for rel, why in self.bad]


def _cache_payload(index: FolderIndex) -> dict:
    """The JSON payload of :func:`audioae.dataindex_cache.write_cache` for ``index``."""
    payload = {
        "version": INDEX_VERSION,
        "block_seconds": index.block_seconds,
        "clip_level": CLIP_LEVEL,
        "files": {
            "path": index.paths,
            "size": index.size.tolist(),
            "mtime_ns": index.mtime_ns.tolist(),
            "sample_rate": index.sample_rate.tolist(),
            "channels": index.channels.tolist(),
            "frames": index.frames.tolist(),
            "rms_db": [v if math.isfinite(v) else None for v in index.rms_db.tolist()],
            "clipped_fraction": index.clipped_fraction.tolist(),
            "blocks": [
                encode_levels(index.block_db[a:b])
                for a, b in zip(index.block_offsets[:-1], index.block_offsets[1:], strict=True)
            ],
        },
        "bad": {
            "path": [rel for rel, _ in index.bad],
            "reason": [why for _, why in index.bad],
            "size": [k[0] for k in index.bad_keys],
            "mtime_ns": [k[1] for k in index.bad_keys],
        },
    }
    return payload


def _scan(
    paths: Sequence[str], block_seconds: float, workers: int, progress: bool, root: Path
) -> list[FileSummary | str]:
    """Summaries (or reasons) for ``paths``, in order, in up to ``workers`` processes."""
    from tqdm.auto import tqdm

    jobs = [(str(p), block_seconds) for p in paths]
    bar = dict(total=len(jobs), desc=f"indexing {root.name or root}", unit="file")
    bar["disable"] = not progress or not jobs
    if workers > 1 and len(jobs) >= _PARALLEL_FROM and unguarded_main_call():
        # Spawned workers import the main script again; run from its top level without
        # `if __name__ == "__main__":`, each would run this call again and fail to start.
        log.warning(
            "%s: %d file(s) are indexed in this process, without worker processes (slower): "
            'this was called from a script\'s top level, outside `if __name__ == "__main__":`, '
            "and worker processes would run the script again",
            root,
            len(jobs),
        )
        workers = 1
    if workers <= 1 or len(jobs) < _PARALLEL_FROM:
        return [_summarize_or_reason(j) for j in tqdm(jobs, **bar)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        chunk = max(1, min(32, len(jobs) // (4 * workers)))
        return list(tqdm(pool.map(_summarize_or_reason, jobs, chunksize=chunk), **bar))


def unguarded_main_call() -> bool:
    """Whether this call comes from the top level of the ``__main__`` script, outside an
    ``if __name__ == "__main__":`` block: then a ``spawn``-ed process, which imports the
    script again, would make the same call and fail to start (``BrokenProcessPool``). The
    stack's frame of the script's module code gives the line; the script's syntax tree says
    whether that line is inside such a block. False for an interactive session, ``python
    -c``, a notebook (no script file to import again), a package's ``__main__.py`` (``python
    -m audioae``, which ``multiprocessing`` does not run again) or a script that cannot be
    read."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "__main__" and frame.f_code.co_name == "<module>":
            break
        frame = frame.f_back
    if frame is None:
        return False
    spec = frame.f_globals.get("__spec__")
    name = getattr(spec, "name", None)
    if name is not None and (name == "__main__" or name.endswith(".__main__")):
        return False  # a package's __main__.py (python -m audioae): spawn never reruns it
    script = frame.f_globals.get("__file__")
    if not script:
        return False
    try:
        tree = ast.parse(Path(script).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return False
    line = frame.f_lineno
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_guard(node.test):
            if node.lineno <= line <= (node.end_lineno or node.lineno):
                return False
    return True


def _is_main_guard(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either side)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return False
    sides = [test.left, *test.comparators]
    names = {getattr(s, "id", None) for s in sides}
    values = {getattr(s, "value", None) for s in sides}
    return isinstance(test.ops[0], ast.Eq) and "__name__" in names and "__main__" in values


def default_index_workers() -> int:
    """Processes for the index pass: the CPUs this process may use, at most 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def index_folder(
    root: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    extensions: Iterable[str] = AUDIO_EXTENSIONS,
    workers: int | None = None,
    progress: bool = False,
    block_seconds: float = BLOCK_SECONDS,
) -> FolderIndex:
    """Index ``root`` (a folder, searched recursively, or one file), reusing its cache.

    Files whose relative path, size and modification time match the cache are taken from
    it; new or changed files are decoded (in ``workers`` processes, default
    :func:`default_index_workers`); files that vanished are dropped. The cache is rewritten
    only when something changed (see the module docstring for where it lives).

    Args:
        root: the folder.
        cache_dir: where to cache when ``root`` is not writable (e.g. the run folder).
        extensions: audio suffixes to index.
        workers: processes for new files (1: in this process).
        progress: show a progress bar while decoding new files.
        block_seconds: block length of the loudness summary (s).

    Returns:
        a :class:`FolderIndex` (its ``bad`` lists the unusable files with reasons; its
        ``hidden`` counts the hidden audio files left out, see the module docstring).

    Raises:
        AudioError: ``root`` does not exist.
    """
    root = Path(root)
    extensions = tuple(extensions)
    hidden: list[str] = []
    files = find_audio_paths(root, extensions, hidden=hidden)  # strings: no Path per file
    base = os.path.abspath(root.parent if root.is_file() else root)
    rels = [relative_posix(p, base) for p in files]
    keys, refused = file_keys(files)
    beside, fallback = cache_candidates(root, Path(cache_dir) if cache_dir else None)
    source = beside if beside is not None and beside.is_file() else fallback
    cached = read_cache(source, block_seconds)
    known: dict[str, tuple[str, int]] = {}  # rel -> ("file" | "bad", row)
    if cached is not None:
        for row, rel in enumerate(cached["files"]["path"]):
            known[rel] = ("file", row)
        for row, rel in enumerate(cached["bad"]["path"]):
            known[rel] = ("bad", row)

    def cached_key(kind: str, row: int) -> tuple[int, int]:
        table = cached["files"] if kind == "file" else cached["bad"]  # type: ignore[index]
        return int(table["size"][row]), int(table["mtime_ns"][row])

    todo = [
        i
        for i, rel in enumerate(rels)
        if rel not in known or cached_key(*known[rel]) != keys[i] or keys[i] == UNKNOWN_KEY
    ]
    decode = [i for i in todo if i not in refused]
    fresh: dict[int, FileSummary | str] = {i: refused[i] for i in todo if i in refused}
    fresh.update(
        zip(
            decode,
            _scan(
                [files[i] for i in decode],
                block_seconds,
                default_index_workers() if workers is None else workers,
                progress,
                root,
            ),
            strict=True,
        )
    )

    index = FolderIndex(root=root.parent if root.is_file() else root, block_seconds=block_seconds)
    cols: dict[str, list] = {k: [] for k in ("sr", "ch", "fr", "rms", "clip", "size", "mtime")}
    blocks: list[np.ndarray] = []
    for i, rel in enumerate(rels):
        if i in fresh:
            result = fresh[i]
            if isinstance(result, str):
                index.bad.append((rel, result))
                index.bad_keys.append(keys[i])
                continue
            summary = (
                result.sample_rate,
                result.channels,
                result.frames,
                result.rms_db,
                result.clipped_fraction,
            )
            levels = result.block_db
        else:
            kind, row = known[rel]
            table = cached["files"] if kind == "file" else cached["bad"]  # type: ignore[index]
            if kind == "bad":
                index.bad.append((rel, table["reason"][row]))
                index.bad_keys.append(keys[i])
                continue
            rms = table["rms_db"][row]
            summary = (
                table["sample_rate"][row],
                table["channels"][row],
                table["frames"][row],
                -math.inf if rms is None else rms,
                table["clipped_fraction"][row],
            )
            levels = decode_levels(table["blocks"][row])
        index.paths.append(rel)
        for name, value in zip(("sr", "ch", "fr", "rms", "clip"), summary, strict=True):
            cols[name].append(value)
        cols["size"].append(keys[i][0])
        cols["mtime"].append(keys[i][1])
        blocks.append(levels)
    index.sample_rate = np.asarray(cols["sr"], dtype=np.int64)
    index.channels = np.asarray(cols["ch"], dtype=np.int64)
    index.frames = np.asarray(cols["fr"], dtype=np.int64)
    index.rms_db = np.asarray(cols["rms"], dtype=np.float64)
    index.clipped_fraction = np.asarray(cols["clip"], dtype=np.float64)
    index.size = np.asarray(cols["size"], dtype=np.int64)
    index.mtime_ns = np.asarray(cols["mtime"], dtype=np.int64)
    index.block_offsets = np.concatenate([[0], np.cumsum([b.size for b in blocks])]).astype(
        np.int64
    )
    index.block_db = np.concatenate(blocks) if blocks else np.zeros(0, np.int16)
    index.scanned = len(todo)
    index.reused = len(rels) - len(todo)
    unchanged = (
        cached is not None
        and not todo
        and len(known) == len(rels)
        and (source == beside or beside is None or not os.access(root, os.W_OK))
    )
    if root.is_file():
        index.cache_file = None
    elif unchanged:
        index.cache_file = source
    else:
        index.cache_file, why = write_cache(_cache_payload(index), beside, fallback)
        if index.cache_file is None:
            warn_not_cached(root, why, fallback, len(rels))
    if not root.is_file():
        index.hidden = report_hidden(root, hidden)
    if index.scanned:
        log.info(
            "%s: indexed %d new or changed file(s), reused %d (cache: %s)",
            root,
            index.scanned,
            index.reused,
            index.cache_file or "memory only",
        )
    return index


__all__ = [
    "BLOCK_SECONDS",
    "CLIP_LEVEL",
    "INDEX_FILENAME",
    "FileSummary",
    "FolderIndex",
    "MAX_CACHE_BYTES",
    "default_index_workers",
    "index_folder",
    "summarize_file",
]
