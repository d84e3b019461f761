"""``audioae live MODEL``: denoise a microphone live, to the loudspeaker and/or a file
(see :mod:`audioae.sound_devices`; needs the optional ``sounddevice`` package).

Messages go to stderr; Ctrl-C ends the run (what arrived is played and recorded).
"""

from __future__ import annotations

import argparse
import sys

from .common import add_command, add_mask_options, at_least, positive_float
from .live import FILE_SUBTYPES, add_resample_quality


def _device(text: str) -> int | str:
    """A PortAudio device: an index, or a substring of its name."""
    return int(text) if text.strip().isdigit() else text


def register(subparsers) -> None:
    """Add ``audioae live`` to the ``audioae`` parser."""
    p = add_command(
        subparsers,
        "live",
        summary="denoise a microphone live, to the loudspeaker and/or a file",
        description="Denoise a sound card's input as it arrives with a causal model (the "
        "shipped denoise_stream), block by block in 16 ms, and play it and/or record it. "
        "Runs until --duration or Ctrl-C. Needs the sounddevice package "
        "(pip install 'audioae[live]'; on Linux also PortAudio, apt install libportaudio2).\n"
        "Latency heard: the stream's (40 ms at the model's 16 kHz, more when the sound card "
        "runs at another rate) plus one 16 ms block plus the sound card's own; all stated "
        "when the stream starts.",
        examples=[
            "audioae live --list-devices",
            "audioae live denoise_stream",
            "audioae live denoise_stream --input-device 2 --output-device 'USB' --sample-rate 48000",
            "audioae live denoise_stream --input-device 'USB' --output-device 'USB' --duplex",
            "audioae live denoise_stream --no-play --record call_clean.wav --duration 60",
        ],
    )
    p.add_argument(
        "model",
        nargs="?",
        help="a causal denoising model: a bundled name (denoise_stream) or a .safetensors file",
    )
    p.add_argument("--list-devices", action="store_true", help="list the sound devices and exit")
    p.add_argument(
        "--input-device",
        type=_device,
        default=None,
        metavar="DEVICE",
        help="input device: index or part of its name (default: the system's default input)",
    )
    p.add_argument(
        "--output-device",
        type=_device,
        default=None,
        metavar="DEVICE",
        help="output device: index or part of its name (default: the system's default output)",
    )
    p.add_argument(
        "--duplex",
        action="store_true",
        help="open input and output as one full-duplex stream (one clock, no drift between "
        "them), for a sound card that records and plays",
    )
    p.add_argument("--no-play", action="store_true", help="do not play the denoised sound")
    p.add_argument(
        "--record",
        default=None,
        metavar="FILE",
        help="also write the denoised sound to FILE (atomic; aligned with the input)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing --record file")
    p.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="stop after this much input (default: run until Ctrl-C)",
    )
    p.add_argument(
        "--sample-rate",
        type=at_least(1000, 768000),
        default=None,
        metavar="HZ",
        help="the sound card's rate (default: the input device's default rate)",
    )
    p.add_argument("--channels", type=at_least(1, 64), default=1, help="input channels")
    p.add_argument(
        "--pcm",
        choices=list(FILE_SUBTYPES),
        default="s16le",
        help="sample format of the --record file",
    )
    add_mask_options(p)
    add_resample_quality(p)
    p.add_argument(
        "--device", default="auto", help="torch device: auto (CUDA if available), cpu, cuda …"
    )
    p.add_argument("--quiet", action="store_true", help="no messages but errors")
    p.set_defaults(func=_run_live)


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"live: {text}", file=sys.stderr, flush=True)


def _run_live(args: argparse.Namespace) -> int:
    from ..pipeline import PipelineError
    from ..sound_devices import denoise_devices, list_devices
    from .common import load_pipeline

    if args.list_devices:
        table = list_devices()
        if not table.strip():
            print("audioae: PortAudio sees no sound devices on this machine", file=sys.stderr)
            return 1
        print(table)
        return 0
    if args.model is None:
        raise PipelineError("live: give a causal denoising model (e.g. denoise_stream)")
    if args.no_play and args.record is None:
        raise PipelineError("live: --no-play without --record has nothing to do")
    if args.no_play and args.duplex:
        raise PipelineError("live: --duplex plays what it records; it cannot go with --no-play")
    pipe = load_pipeline(args, task="denoise")  # denoise_devices refuses a look-ahead model

    def started(report) -> None:
        live = report.live
        where = (["'" + report.output_name + "'"] if not args.no_play else []) + (
            [args.record] if args.record else []
        )
        _say(
            args,
            f"'{report.input_name}' at {live.sample_rate} Hz, {args.channels} channel(s) -> "
            f"{' and '.join(where)}{' (one duplex stream)' if args.duplex else ''}; blocks of {1e3 * live.block_frames / live.sample_rate:.0f}"
            f" ms; latency {1e3 * live.latency_seconds:.0f} ms (denoiser and resamplers)"
            + (
                f", {1e3 * report.heard_latency_seconds:.0f} ms heard (with one block of buffer "
                f"and the sound cards' {1e3 * report.device_latency_seconds:.0f} ms)"
                if not args.no_play
                else ""
            )
            + ("; Ctrl-C stops" if args.duration is None else f"; {args.duration:g} s"),
        )

    report = denoise_devices(
        pipe,
        input_device=args.input_device,
        output_device=args.output_device,
        play=not args.no_play,
        record=args.record,
        record_subtype=FILE_SUBTYPES[args.pcm],
        overwrite=args.force,
        sample_rate=args.sample_rate,
        channels=args.channels,
        duration=args.duration,
        wet=args.wet,
        mask_exponent=args.mask_exponent,
        post_filter=args.post_filter,
        resample_quality=args.resample_quality,
        duplex=args.duplex,
        on_start=started,
    )
    _say(args, report.summary())
    return 0
