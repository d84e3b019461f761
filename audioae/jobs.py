"""File and folder jobs: map inputs to outputs, skip bad files, report, never overwrite.

A job takes files and/or folders. A folder's audio files (recursive) are mirrored into the
output folder under the same relative paths; a single input file with an output path that
has a file suffix writes exactly that file. A file that fails (unreadable, too short, an
existing output without ``--force``…) is skipped with its reason and the rest go on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .audio import AudioError, find_audio_files

log = logging.getLogger(__name__)

WRITABLE_SUFFIXES = (".wav", ".flac", ".ogg")


class JobError(ValueError):
    """A job that cannot start: e.g. an output path that is also an input."""


@dataclass
class JobReport:
    """What a job did: outputs written, and inputs skipped with the reason."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.skipped

    def summary(self) -> str:
        lines = [f"{len(self.written)} written, {len(self.skipped)} skipped"]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped]
        return "\n".join(lines)


def audio_output_name(path: Path, suffix: str | None = None) -> str:
    """The output file name for ``path``: its own suffix if soundfile can write it, else ``.wav``."""
    if suffix:
        return path.stem + suffix
    return path.name if path.suffix.lower() in WRITABLE_SUFFIXES else path.stem + ".wav"


def plan_job(
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    suffix: str | None = None,
    find: Callable = find_audio_files,
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Pair every input file with its output path.

    Args:
        inputs: files and/or folders.
        output: a folder; or, for one input file, a file path with a suffix.
        suffix: force this output suffix (e.g. ``".aae"``); None keeps a writable audio suffix.
        find: how to list a folder's files (default: audio files, recursive, sorted).

    Returns:
        ``(pairs, problems)``: ``(input, output)`` pairs and inputs that could not be listed.

    Raises:
        JobError: an output path equals an input path.
    """
    output = Path(output)
    inputs = [Path(p) for p in inputs]
    pairs: list[tuple[Path, Path]] = []
    problems: list[tuple[Path, str]] = []
    single_file_target = len(inputs) == 1 and output.suffix != "" and not output.is_dir()
    many_folders = sum(p.is_dir() for p in inputs) > 1
    for item in inputs:
        if item.is_dir():
            files = find(item)
            if not files:
                problems.append((item, "no audio files in this folder"))
            base = output / item.name if many_folders else output
            for f in files:
                rel = f.relative_to(item)
                pairs.append((f, base / rel.parent / audio_output_name(f, suffix)))
        elif item.exists():
            target = output if single_file_target else output / audio_output_name(item, suffix)
            pairs.append((item, target))
        else:
            problems.append((item, "no such file or folder"))
    all_inputs = {p.resolve() for p, _ in pairs}
    for _, out in pairs:
        if out.resolve() in all_inputs:
            raise JobError(f"{out}: output path is also an input; choose another output folder")
    return pairs, problems


def run_job(
    pairs: Sequence[tuple[Path, Path]],
    work: Callable[[Path, Path], None],
    *,
    desc: str,
    problems: Sequence[tuple[Path, str]] = (),
    progress: bool = True,
) -> JobReport:
    """Run ``work(input, output)`` for every pair with a progress bar; collect skips.

    Expected failures (bad audio, an existing output, a latent file from another model,
    an unwritable folder) skip that file; anything else is a bug and propagates.
    """
    from .fileio import OutputExistsError

    report = JobReport(skipped=list(problems))
    expected = (AudioError, OutputExistsError, ValueError, OSError)
    for source, target in tqdm(
        pairs, desc=desc, unit="file", disable=not progress or len(pairs) < 2
    ):
        try:
            work(source, target)
        except expected as exc:
            reason = str(exc)
            prefix = f"{source}: "
            report.skipped.append(
                (source, reason[len(prefix) :] if reason.startswith(prefix) else reason)
            )
            log.warning("skipped %s: %s", source, reason)
        else:
            report.written.append(target)
    return report
