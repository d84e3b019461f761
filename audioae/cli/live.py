"""``audioae denoise MODEL - -o -``: live denoising between pipes (see :mod:`audioae.live`).

``-`` as the input reads raw PCM from stdin (``--sample-rate``, ``--channels``, ``--pcm``);
``-`` as the output writes raw PCM to stdout, flushed block by block. Either end may be a file
instead. Messages go to stderr only, so stdout carries nothing but audio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from .common import at_least

STDIO = "-"

FILE_SUBTYPES = {"s16le": "PCM_16", "s32le": "PCM_32", "f32le": "FLOAT"}
"""File subtype for each of :data:`audioae.live.PCM_FORMATS` (its keys: the ``--pcm`` choices,
kept here so that ``--help`` does not import torch; a test checks they agree)."""

_RESAMPLE_QUALITIES = ("VHQ", "HQ", "MQ", "LQ")
_DEFAULT_RESAMPLE_QUALITY = "LQ"  # audioae.live.LIVE_RESAMPLE_QUALITY (a test checks)


def is_live(args: argparse.Namespace) -> bool:
    """True when the input or the output is ``-`` (stdin / stdout)."""
    return STDIO in args.inputs or args.out == STDIO


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """The raw-stream options of ``audioae denoise``."""
    group = parser.add_argument_group(
        "live (input or output '-')",
        "'-' as the input reads raw PCM from stdin, '-o -' writes raw PCM to stdout; both run "
        "a causal model block by block as it arrives (16 ms blocks, output aligned with the "
        "input, flushed after each block), e.g. arecord ... | audioae denoise denoise_stream "
        "- -o - | aplay ...",
    )
    group.add_argument(
        "--sample-rate",
        type=at_least(1000, 768000),
        default=None,
        metavar="HZ",
        help="sample rate of the raw input (default: the model's); the output keeps it",
    )
    # None: not given (a file job refuses them, live_options_given); the defaults are
    # put in by run_denoise_live
    group.add_argument(
        "--channels", type=at_least(1, 64), default=None, help="channels of the raw input (1)"
    )
    group.add_argument(
        "--pcm",
        choices=list(FILE_SUBTYPES),
        default=None,
        help=f"sample format of raw input and output, interleaved little-endian ({DEFAULT_PCM})",
    )
    add_resample_quality(group, default=None)


DEFAULT_PCM = "s16le"
"""``--pcm`` when not given."""


def live_options_given(args: argparse.Namespace) -> list[str]:
    """The raw-stream options given to a ``denoise`` that reads and writes files (which they
    do not apply to: a file's header gives its rate, channels and format, and files are
    resampled as whole-file denoising resamples them)."""
    return [
        flag
        for flag, value in (
            ("--sample-rate", args.sample_rate),
            ("--channels", args.channels),
            ("--pcm", args.pcm),
            ("--resample-quality", args.resample_quality),
        )
        if value is not None
    ]


def add_resample_quality(parser, default: str | None = _DEFAULT_RESAMPLE_QUALITY) -> None:
    """``--resample-quality``: the streaming soxr recipe of live denoising (``audioae denoise``
    with ``-`` and ``audioae live``)."""
    parser.add_argument(
        "--resample-quality",
        choices=list(_RESAMPLE_QUALITIES),
        default=default,
        help="soxr quality when the stream's rate is not the model's (LQ, the default: the "
        "shortest delay; 71 ms in all at 48 kHz, HQ 112 ms)",
    )


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"denoise: {text}", file=sys.stderr, flush=True)


def run_denoise_live(args: argparse.Namespace, pipe) -> int:
    """Run ``audioae denoise`` with ``-`` as input or output; returns the exit status.

    Raises:
        PipelineError: more than one input, a folder, ``--phase griffin-lim``, ``--skip-existing``,
            a terminal as stdout, or a model that is not causal.
        AudioError, OutputExistsError: a bad input file or stream, an output that exists.
    """
    from ..audiostream import BlockReader, open_writer
    from ..live import RawPCMReader, RawPCMWriter, denoise_live
    from ..pipeline import PipelineError
    from ..streaming_denoiser import is_causal

    if len(args.inputs) != 1:
        raise PipelineError("'-' (stdin) or '-o -' (stdout) takes exactly one input")
    if args.phase != "noisy":
        raise PipelineError("live denoising keeps the noisy phase: drop --phase griffin-lim")
    if args.skip_existing:
        raise PipelineError("--skip-existing is for folder jobs, not for '-'")
    if not is_causal(pipe):
        raise PipelineError(
            "live denoising ('-' as input or output) needs a causal model (model.causal: true, "
            "e.g. the shipped denoise_stream); this model looks ahead"
        )
    source_name = args.inputs[0]
    if args.out == STDIO and sys.stdout.isatty():
        raise PipelineError("stdout is a terminal: pipe '-o -' into a player or a file")
    if source_name != STDIO and os.path.isdir(source_name):
        raise PipelineError(f"{source_name}: a folder; '-' works on one stream or file")

    if source_name != STDIO and (args.sample_rate is not None or args.channels is not None):
        raise PipelineError(
            f"{source_name}: --sample-rate and --channels describe raw input on stdin; a "
            "file's header gives its own (the output to stdout keeps them)"
        )
    args.channels = args.channels or 1
    args.pcm = args.pcm or DEFAULT_PCM
    args.resample_quality = args.resample_quality or _DEFAULT_RESAMPLE_QUALITY
    subtype = FILE_SUBTYPES[args.pcm]  # of a file output
    with contextlib.ExitStack() as stack:
        if source_name == STDIO:
            rate = args.sample_rate or pipe.sample_rate
            channels = args.channels
            source = RawPCMReader(sys.stdin.buffer, channels, args.pcm, name="stdin")
            what = f"stdin ({rate} Hz, {channels} channel(s), {args.pcm})"
        else:
            source = stack.enter_context(BlockReader(source_name))
            rate, channels = source.sample_rate, source.channels
            what = f"{source_name} ({rate} Hz, {channels} channel(s))"
        if args.out == STDIO:
            sink = RawPCMWriter(sys.stdout.buffer, channels, args.pcm)
            where = f"stdout ({args.pcm})"
        else:
            sink = stack.enter_context(
                open_writer(args.out, rate, channels, subtype=subtype, overwrite=args.force)
            )
            where = args.out

        def started(report) -> None:
            _say(
                args,
                f"live from {what} to {where}; blocks of "
                f"{1e3 * report.block_frames / rate:.0f} ms, latency "
                f"{1e3 * report.latency_seconds:.0f} ms",
            )

        try:
            report = denoise_live(
                pipe,
                source,
                sink,
                sample_rate=rate,
                channels=channels,
                wet=args.wet,
                mask_exponent=args.mask_exponent,
                post_filter=args.post_filter,
                resample_quality=args.resample_quality,
                on_start=started,
            )
        except BrokenPipeError:
            # the reader of stdout went away: stop, and keep Python from failing on exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            print("audioae: error: stdout was closed by its reader", file=sys.stderr)
            return 1
    clipped = getattr(sink, "clipped", 0)
    _say(args, report.summary() + (f"; {clipped} samples clipped" if clipped else ""))
    return 0
