"""The ``demo`` subcommand: denoise, compress and morph held-out bundled audio into report.html.

Only argument parsing; the work is in :mod:`audioae.demo` (imported when the command runs).
"""

from __future__ import annotations

import argparse


def _run_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    run_demo(
        args.out,
        data=args.data,
        models=args.models,
        train=args.train,
        quick=args.quick,
        force=args.force,
        device=args.device,
    )
    return 0


def register(subparsers) -> None:
    """Add ``demo`` to the ``audioae`` parser."""
    p = subparsers.add_parser(
        "demo", help="denoise, compress and morph held-out bundled audio; write report.html"
    )
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument(
        "--train",
        action="store_true",
        help="train the demo models from scratch first (short schedules)",
    )
    p.add_argument("--quick", action="store_true", help="process fewer files (for CI)")
    p.add_argument("--data", help="the bundled data folder (default: ./data)")
    p.add_argument(
        "--models", help="folder with denoise/codec/timbre .safetensors (default: DATA/models)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing report")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_run_demo)
