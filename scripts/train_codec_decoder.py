"""Fine-tune the learned decoder on the codec's own output and ship it inside the codec's file.

    nice python scripts/train_vocoder.py --ship                       # 1. the exact-feature decoder
    nice python scripts/train_codec_decoder.py                        # 2. fine-tune it on the codec
    nice python scripts/train_codec_decoder.py --resume               #    (continue after an interruption)
    python scripts/train_codec_decoder.py --skip-training --ship      # 3. attach it to the codec

Step 2 runs the `vocoder` recipe through `audioae.training.train` (the same Lightning path as
`audioae train vocoder`) on the *train* files of data/splits.yaml (speech and notes; the
held-out files stay unheard), starting from the exact-feature decoder (`vocoder_loss.init_from`)
and decoding what the shipped codec makes of each segment (`vocoder_loss.source_model`), with
the latent quantised as `audioae encode` does at 4, 5 or 6 bits (`vocoder_loss.source_bits`).
So the decoder learns to undo the codec's smoothing on the way to the waveform. Defaults:
2500 steps of 1 s segments at learning rate 5e-4, one torch thread.

`--ship` writes a copy of the codec file that carries the decoder (float16) and makes
`--method` (default `learned+griffin-lim` with `--warm-start-iter` 16) its default phase
method; the codec's weights and hash, and so its .aae files, do not change. Do it only when
benchmarks/bench_vocoder.py and bench_quality.py (compression) show it beats Griffin-Lim.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from audioae.config import load_config, resolve_recipe
from audioae.demo import load_splits, split_folder
from audioae.modelfile import attach_vocoder
from audioae.training import train

FINE_TUNE = [
    "vocoder_loss.source_bits=[4,5,6]",
    "data.segment_seconds=1.0",
    "training.max_steps=2500",
    "training.learning_rate=5e-4",
    "training.warmup_steps=100",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data", type=Path)
    parser.add_argument("--work", default="runs/codec_decoder", type=Path, help="the run folder")
    parser.add_argument("--codec", default="data/models/codec.safetensors", type=Path)
    parser.add_argument(
        "--init-from",
        default="runs/vocoder/model.safetensors",
        type=Path,
        help="the exact-feature decoder to start from (scripts/train_vocoder.py's run)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --work")
    parser.add_argument("--max-steps", type=int, help="override training.max_steps")
    parser.add_argument("--set", nargs="*", default=[], dest="overrides", help="KEY=VALUE")
    parser.add_argument("--skip-training", action="store_true", help="use the run as it is")
    parser.add_argument("--ship", action="store_true", help="attach the run's decoder to --codec")
    parser.add_argument("--method", default="learned+griffin-lim", help="the codec's new default")
    parser.add_argument("--warm-start-iter", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_file = args.work / "model.safetensors"
    if not args.skip_training:
        started = time.perf_counter()
        splits = load_splits(args.data)
        folder = args.work.parent / (args.work.name + "_data")
        for group in ("speech", "notes"):
            split_folder(splits[group]["train"], folder, args.data)
        overrides = [
            f"vocoder_loss.source_model={args.codec}",
            f"vocoder_loss.init_from={args.init_from}",
            *FINE_TUNE,
            *args.overrides,
        ]
        cfg = load_config(resolve_recipe("vocoder"), overrides)
        result = train(
            cfg,
            folder,
            out_dir=args.work,
            resume=args.resume,
            max_steps=args.max_steps,
            progress=False,
        )
        model_file = result.model_file
        print(f"trained {result.steps} steps in {(time.perf_counter() - started) / 60:.1f} min")
    print(f"run's decoder file: {model_file}")
    if not args.ship:
        return
    target = attach_vocoder(
        args.codec,
        model_file,
        args.codec,
        method=args.method,
        warm_start_iter=args.warm_start_iter,
        overwrite=True,
        dtype=torch.float16,
    )
    print(f"codec file with its decoder: {target} ({target.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
