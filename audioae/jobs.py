"""File and folder jobs: map inputs to outputs, skip bad files, report, never overwrite.

A job takes files and/or folders. A folder's audio files (recursive) are mirrored into the
output folder under the same relative paths; a single input file with an output path that
has a file suffix writes exactly that file. A file that fails (unreadable, too short, an
existing output without ``--force``…) is skipped with its reason and the rest go on.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .audio import AUDIO_EXTENSIONS, find_audio_files, writable_format
from .audio_errors import AudioError
from .audio_probe import UNSUPPORTED_AUDIO_EXTENSIONS, unsupported_format_reason
from .fileio import OutputExistsError

log = logging.getLogger(__name__)

WRITABLE_SUFFIXES = (".wav", ".flac", ".ogg")


class JobError(ValueError):
    """A job that cannot start: e.g. an output path that is also an input."""


@dataclass
class JobReport:
    """What a job did: outputs written, outputs already there (``skip_existing``), and inputs
    that failed with the reason."""

    written: list[Path] = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no input failed (outputs left alone by ``skip_existing`` are not failures)."""
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when every input was written or already done, 1 when any failed."""
        return 0 if self.ok else 1

    def summary(self) -> str:
        lines = [
            f"{len(self.written)} written, {len(self.existing)} skipped (output exists), "
            f"{len(self.failed)} failed"
        ]
        lines += [f"  failed {path}: {reason}" for path, reason in self.failed]
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
    what: str = "audio files",
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Pair every input file with its output path.

    Args:
        inputs: files and/or folders; a folder's files under ``output`` (an output folder
            inside it) are left out, so a job rerun with ``skip_existing`` does not take its
            earlier outputs for inputs.
        output: a folder (a path ending in ``/`` always is one); or, for one input file, a
            file path with a suffix: ``suffix`` when that is not an audio suffix (``.aae``,
            ``.npy``), else one :func:`audioae.audio.save_audio` writes.
        suffix: force this output suffix (e.g. ``".aae"``); None keeps a writable audio suffix.
        find: how to list a folder's files (default: audio files, recursive, sorted).
        what: what ``find`` lists, for the problem of a folder without any ("audio files").

    Returns:
        ``(pairs, problems)``: ``(input, output)`` pairs, and inputs or sub-folders that could
        not be listed, or files in a folder in an audio format that cannot be decoded
        (``.m4a``, ``.aac``, ...: with the default ``find``), each with the reason.

    Raises:
        JobError: an output path equals an input path, two inputs map to the same output
            (e.g. ``take.wav`` and ``take.flac``), or several inputs (or a folder) with an
            ``output`` named like a file (``out.wav``, ``out.npy``) that is not a folder; one
            input file with an output file name this job cannot write (``-o out.wav`` for
            ``.aae`` files, ``-o out.aae`` for audio); nothing has been written.
    """
    folder_given = names_a_folder(output)
    output = Path(output)
    inputs = [Path(p) for p in inputs]
    one_file_each = len(inputs) > 1 or any(p.is_dir() for p in inputs)
    named_like_a_file = output.suffix.lower() in AUDIO_EXTENSIONS or (
        suffix is not None and output.suffix.lower() == suffix.lower()
    )
    if one_file_each and named_like_a_file and not output.is_dir() and not folder_given:
        raise JobError(
            f"-o {output} looks like a file, but these inputs give one output per file; "
            f"give a folder, e.g. -o {output.with_suffix('')}/"
        )
    pairs: list[tuple[Path, Path]] = []
    problems: list[tuple[Path, str]] = []
    single_file_target = (
        len(inputs) == 1 and output.suffix != "" and not output.is_dir() and not folder_given
    )
    if single_file_target and not inputs[0].is_dir():
        _check_output_name(output, suffix)
    many_folders = sum(p.is_dir() for p in inputs) > 1
    out_root = output.resolve()
    for item in inputs:
        if item.is_dir():
            unreadable: list[tuple[Path, str]] = []
            undecodable: list[tuple[Path, str]] = []
            if find is find_audio_files:  # one walk lists the audio libsndfile cannot decode too
                files = find(
                    item, (*AUDIO_EXTENSIONS, *UNSUPPORTED_AUDIO_EXTENSIONS), errors=unreadable
                )
                files, undecodable = _split_undecodable(files)
            else:
                files = find(item, errors=unreadable)
            in_root = item.resolve()
            if out_root != in_root and out_root.is_relative_to(in_root):
                # -o inside the input folder: its files are this job's outputs, not inputs
                files = [f for f in files if not f.resolve().is_relative_to(out_root)]
            problems.extend(unreadable)
            problems.extend(undecodable)  # said, not passed over
            if not files and not unreadable and not undecodable:
                problems.append((item, f"no {what} in this folder"))
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
    _refuse_collisions(pairs)
    return pairs, problems


def names_a_folder(output: str | os.PathLike) -> bool:
    """Whether an output path as given ends in a path separator (``out.v2/``): a folder,
    whatever its name's suffix (``Path`` drops the trailing separator)."""
    return os.fspath(output).endswith(("/", os.sep))


def _check_output_name(output: Path, suffix: str | None) -> None:
    """Refuse a single output file name the job cannot write: not ``suffix`` when that is not
    audio (an ``.aae`` or ``.npy`` under ``out.wav`` would be no audio file), or an audio
    output whose suffix :func:`audioae.audio.save_audio` cannot write.

    Raises:
        JobError: naming the output and the name to give instead.
    """
    if suffix is not None and suffix.lower() not in AUDIO_EXTENSIONS:
        if output.suffix.lower() != suffix.lower():
            raise JobError(
                f"-o {output}: this job writes {suffix} files, not {output.suffix}; name it "
                f"{output.with_suffix(suffix).name}, or give a folder"
            )
        return
    try:
        writable_format(output)
    except AudioError as exc:
        raise JobError(f"-o {exc} (or a folder: -o {output}/)") from None


def _split_undecodable(files: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """``files`` less those in a format libsndfile cannot decode (``.m4a``, ``.aac``, ...,
    by suffix, never opened), and those with the reason and a conversion command."""
    kept, undecodable = [], []
    for f in files:
        suffix = f.suffix.lower()
        if suffix in UNSUPPORTED_AUDIO_EXTENSIONS:
            undecodable.append((f, unsupported_format_reason(suffix)))
        else:
            kept.append(f)
    return kept, undecodable


def _refuse_collisions(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Raise :class:`JobError` naming every output that two or more inputs would write."""
    sources: dict[Path, list[Path]] = defaultdict(list)
    for source, target in pairs:
        sources[target.resolve()].append(source)
    clashes = [(target, names) for target, names in sources.items() if len(names) > 1]
    if clashes:
        shown = "; ".join(
            f"{' and '.join(str(n) for n in names)} -> {target}" for target, names in clashes[:5]
        )
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise JobError(
            f"{len(clashes)} output name(s) would be written by more than one input: {shown}{more}; "
            "rename the inputs or run them in separate jobs"
        )


def run_job(
    pairs: Sequence[tuple[Path, Path]],
    work: Callable[[Path, Path], None],
    *,
    desc: str,
    problems: Sequence[tuple[Path, str]] = (),
    progress: bool = True,
    skip_existing: bool = False,
    offers_skip: bool = True,
) -> JobReport:
    """Run ``work(input, output)`` for every pair with a progress bar.

    Every failure of one file (bad audio, a latent file from another model, a full disk, an
    out-of-memory, a bug) is caught, logged and recorded in :attr:`JobReport.failed`, and the
    job goes on with the next file; only ``KeyboardInterrupt``, ``SystemExit`` and the CLI's
    SIGTERM (:class:`audioae.cli.Terminated`, a BaseException) stop it.
    With ``skip_existing`` an output that already exists is left alone and counted in
    :attr:`JobReport.existing` (to resume an interrupted job); without it, an existing output
    is a failure unless ``work`` was told to overwrite; its reason suggests ``--skip-existing``
    when the command ``offers_skip``.
    """
    report = JobReport(failed=list(problems))
    for source, target in tqdm(
        pairs, desc=desc, unit="file", disable=not progress or len(pairs) < 2
    ):
        if skip_existing and target.exists():
            report.existing.append(target)
            continue
        try:
            work(source, target)
        except Exception as exc:  # noqa: BLE001 - one file's failure must not end the job
            reason = _reason(source, exc, offers_skip)
            report.failed.append((source, reason))
            log.warning("failed %s: %s", source, reason)
        else:
            report.written.append(target)
    return report


def _reason(source: Path, exc: BaseException, offers_skip: bool = True) -> str:
    """One line: the error's message without a repeated ``source:`` prefix; the type name
    where the message alone would not say what went wrong."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    prefix = f"{source}: "
    if reason.startswith(prefix):
        reason = reason[len(prefix) :]
    if isinstance(exc, OutputExistsError) and offers_skip:
        return f"{reason} (or --skip-existing to keep it)"
    if not isinstance(exc, (ValueError, OSError)) or not reason:
        reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    return reason
