"""The ``demo`` subcommand: denoise, compress and morph held-out bundled audio into report.html.

Only argument parsing; the work is in :mod:`audioae.demo` (imported when the command runs).
"""

from __future__ import annotations

import argparse

from .common import add_command


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
    p = add_command(
        subparsers,
        "demo",
        summary="denoise, compress and morph held-out bundled audio; write report.html",
        description="Denoise held-out speech mixed with real noise, compress a note and a "
        "speech clip into .aae files, render a timbre morph and VAE samples, and write "
        "OUT/report.html (opens from disk). Uses the shipped models and the held-out audio "
        "bundled with audioae (a clone's data/ folder, or the installed package's copy).",
        examples=[
            "audioae demo --out demo_out",
            "audioae demo --out demo_quick --quick --force",
            "audioae demo --out demo_trained --train --data path/to/audioae/data",
        ],
    )
    p.add_argument("--out", default="demo_out", help="output folder")
    p.add_argument(
        "--train",
        action="store_true",
        help="train the demo models from scratch first (short schedules; needs the full data/ "
        "folder of a clone as --data)",
    )
    p.add_argument("--quick", action="store_true", help="process fewer files (for CI)")
    p.add_argument(
        "--data",
        help="bundled audio folder with splits.yaml; unset: ./data, else the one bundled with "
        "audioae",
    )
    p.add_argument(
        "--models",
        help="folder with denoise/codec/timbre .safetensors; unset: DATA/models, else the "
        "shipped models",
    )
    p.add_argument("--force", action="store_true", help="replace an existing report")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1 …")
    p.set_defaults(func=_run_demo)
