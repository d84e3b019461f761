"""The ``audioae`` command: argparse only, the work is in the library modules.

One module per command group, each with a ``register(subparsers)``: :mod:`.train` (train,
inspect, export, config), :mod:`.apps` (denoise, reconstruct, encode, decode, interpolate,
sample, evaluate), :mod:`.analysis` (embed, anomaly), :mod:`.devices` (live) and :mod:`.demo`
(demo); :mod:`.common` holds their shared helpers. Every
subcommand is a pair ``_add_<cmd>(subparsers)`` / ``_run_<cmd>(args) -> int``; heavy modules
(torch, Lightning) are imported inside the ``_run_`` functions so that ``audioae --help``
stays fast. User errors (bad config, unreadable audio, bad model file, an output that exists)
print ``audioae: error: <message>`` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings

from ..config import ConfigError
from . import analysis, apps, demo, devices, train
from .common import split_set_values

# (module, class) pairs printed as user errors; looked up only in already-imported modules.
_USER_ERRORS = (
    ("audioae.config", "ConfigError"),
    ("audioae.audio", "AudioError"),
    ("audioae.modelfile", "ModelFileError"),
    ("audioae.fileio", "OutputExistsError"),
    ("audioae.fileio", "OutputNotWritableError"),
    ("audioae.cli.common", "UsageError"),
    ("audioae.data", "DatasetError"),
    ("audioae.data_errors", "DatasetError"),
    ("audioae.codec", "CodecError"),
    ("audioae.pipeline", "PipelineError"),
    ("audioae.pipeline_errors", "PipelineError"),
    ("audioae.jobs", "JobError"),
    ("audioae.demo", "DemoError"),
    ("audioae.anomaly", "AnomalyReferenceError"),
    ("audioae.sound_devices", "SoundDeviceError"),
    ("audioae.latent_prior", "LatentPriorError"),
)


# --- main ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``audioae`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="audioae",
        description="Audio autoencoders: train on a folder of audio, denoise, compress to latent files, morph timbres, evaluate, and run the demo.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"audioae {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for group in (train, apps, analysis, devices, demo):
        group.register(subparsers)
    return parser


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, (PermissionError, IsADirectoryError, NotADirectoryError)):
        return True  # an output the file system refuses: the message names the path
    for module_name, class_name in _USER_ERRORS:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if cls is not None and isinstance(exc, cls):
            return True
    return False


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (so redirections made after set-up are honoured)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("audioae: %(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _setup_logging() -> None:
    logger = logging.getLogger("audioae")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _warning_printer(fallback):
    """A ``warnings.showwarning`` for a command: audioae's own warnings (a clipped output,
    an input too short to denoise) as one ``audioae: ...`` line, like its log messages;
    other packages' warnings through ``fallback`` (the one in place before)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if os.path.abspath(filename).startswith(_PACKAGE_DIR + os.sep):
            print(f"audioae: {message}", file=sys.stderr if file is None else file)
        else:
            fallback(message, category, filename, lineno, file, line)

    return show


def main(argv: list[str] | None = None) -> int:
    """Run the ``audioae`` command; returns the exit status (0 ok, 1 failure, 2 user error)."""
    parser = build_parser()
    args = parser.parse_args(split_set_values(sys.argv[1:] if argv is None else list(argv)))
    _setup_logging()
    shown = warnings.showwarning
    warnings.showwarning = _warning_printer(shown)
    try:
        return _run(args)
    finally:
        warnings.showwarning = shown


class Terminated(BaseException):
    """SIGTERM (``kill``, ``timeout``, a scheduler) during a command other than ``train``:
    raised where the command is, so that every ``finally`` runs and a half-written output's
    temporary file is removed (before, a killed job left hidden ``.NAME.<random>.wav`` files as large
    as the output). A BaseException, so folder jobs, which skip a failed file and go on,
    do not take it for one file's failure."""


def _terminate(signum, frame) -> None:
    raise Terminated


def _run(args) -> int:
    previous = None
    if args.command != "train" and threading.current_thread() is threading.main_thread():
        # training keeps Lightning's SIGTERM handling (a resume removes killed writes' leftovers)
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run_command(args)
    except Terminated:
        print(
            f"audioae {args.command}: terminated (SIGTERM); unfinished output files removed",
            file=sys.stderr,
        )
        return 128 + signal.SIGTERM
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run_command(args) -> int:
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # outside a training step (whose Ctrl-C saves and says how to resume)
        print(f"audioae {args.command}: interrupted", file=sys.stderr)
        return 130
    except ConfigError as exc:
        print(f"audioae: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if _is_user_error(exc):
            print(f"audioae: error: {exc}", file=sys.stderr)
            return 2
        diverged = getattr(sys.modules.get("audioae.optim"), "TrainingDivergedError", None)
        if diverged is not None and isinstance(exc, diverged):
            print(f"audioae: error: {exc}", file=sys.stderr)
            return 1
        raise
