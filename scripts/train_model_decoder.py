"""Train the learned decoder a shipped model carries, on that model's own output, and attach it.

    nice python scripts/train_vocoder.py                              # 1. the exact-feature decoder (codec's front-end)
    nice python scripts/train_model_decoder.py codec                  # 2. fine-tune it on the codec's output
    nice python scripts/train_model_decoder.py timbre                 #    the timbre VAE's decoder (its own 64-band front-end)
    nice python scripts/train_model_decoder.py codec --resume         #    (continue after an interruption)
    nice python scripts/train_model_decoder.py codec --corpus ~/.cache/audioae/corpus  # + the codec's corpus speech
    python scripts/train_model_decoder.py codec --skip-training --ship  # 3. attach it to data/models/codec.safetensors

Step 2 runs the `vocoder` recipe through `audioae.training.train` (the same Lightning path as
`audioae train vocoder`) on the *train* files of data/splits.yaml (speech and notes; the
held-out files stay unheard), decoding what the shipped model makes of each segment
(`vocoder_loss.source_model`), so the decoder learns to undo that model's smoothing on the way
to the waveform. ``--corpus`` adds the corpus speech the shipped codec trained on
(scripts/train_codec_corpus.py's files: the validation voices of benchmarks/codec_validation.py
stay unheard). Presets (one torch thread):

- ``codec``: starts from the exact-feature decoder (`vocoder_loss.init_from`, scripts/train_vocoder.py's
  run), the latent quantised as `audioae encode` does at 4, 5 or 6 bits (`vocoder_loss.source_bits`),
  2500 steps of 1 s segments at learning rate 5e-4;
- ``timbre``: the VAE's 64-band log-mel front-end, from scratch, 6000 steps of 0.5 s segments
  (its posterior-mean reconstruction; interpolations and samples are not quantised).

`--ship` writes a copy of the model file that carries the decoder (float16) and makes
`--method` (default `learned+griffin-lim` with `--warm-start-iter` 32) its default phase
method; the model's weights and hash, and so its .aae files, do not change. Do it only when
benchmarks/bench_vocoder.py (and bench_quality.py's compression table for the codec) show it
beats Griffin-Lim.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from train_vocoder import train_decoder_on_split  # the sibling script (scripts/ is on sys.path)

from audioae.vocoderfile import attach_vocoder

PRESETS: dict[str, list[str]] = {
    "codec": [
        "vocoder_loss.init_from={init_from}",
        "vocoder_loss.source_bits=[4,5,6]",
        "data.segment_seconds=1.0",
        "training.max_steps=2500",
        "training.learning_rate=5e-4",
        "training.warmup_steps=100",
    ],
    "timbre": ["features.n_mels=64", "training.max_steps=6000"],
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data", type=Path)
    parser.add_argument("model", choices=sorted(PRESETS), help="the shipped model")
    parser.add_argument("--work", type=Path, help="the run folder (default runs/MODEL_decoder)")
    parser.add_argument("--models", default="data/models", type=Path, help="the models folder")
    parser.add_argument(
        "--init-from",
        default="runs/vocoder/model.safetensors",
        type=Path,
        help="codec: the exact-feature decoder to start from (scripts/train_vocoder.py's run)",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        help="also train on this corpus's codec training speech (scripts/train_codec_corpus.py)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --work")
    parser.add_argument("--max-steps", type=int, help="override training.max_steps")
    parser.add_argument("--set", nargs="*", default=[], dest="overrides", help="KEY=VALUE")
    parser.add_argument("--skip-training", action="store_true", help="use the run as it is")
    parser.add_argument("--ship", action="store_true", help="attach the run's decoder to --codec")
    parser.add_argument("--method", default="learned+griffin-lim", help="the codec's new default")
    parser.add_argument(
        "--warm-start-iter",
        type=int,
        default=32,
        help="Griffin-Lim iterations of learned+griffin-lim (32: chosen on the codec validation)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = args.work or Path("runs") / f"{args.model}_decoder"
    source = args.models / f"{args.model}.safetensors"
    model_file = work / "model.safetensors"
    if not args.skip_training:
        overrides = [
            f"vocoder_loss.source_model={source}",
            *(o.format(init_from=args.init_from) for o in PRESETS[args.model]),
            *args.overrides,
        ]
        extra = None
        if args.corpus is not None:
            from train_codec_corpus import training_files  # the sibling script

            extra = {args.corpus / "speech": training_files(args.corpus)}
        model_file = train_decoder_on_split(
            args.data, work, overrides, resume=args.resume, max_steps=args.max_steps, extra=extra
        )
    print(f"run's decoder file: {model_file}")
    if not args.ship:
        return
    target = attach_vocoder(
        source,
        model_file,
        source,
        method=args.method,
        warm_start_iter=args.warm_start_iter,
        overwrite=True,
        dtype=torch.float16,
    )
    print(f"model file with its decoder: {target} ({target.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
