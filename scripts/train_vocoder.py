"""Train the learned decoder for the codec's front-end with the `vocoder` recipe, and on request
write it as data/models/vocoder.safetensors.

    nice python scripts/train_vocoder.py                       # new run in runs/vocoder
    nice python scripts/train_vocoder.py --resume              # continue it from its last checkpoint
    python scripts/train_vocoder.py --skip-training --ship     # write the float16 file from the run

Trains on the *train* files of data/splits.yaml, speech and notes together (the held-out files
stay unheard; no other audio), through `audioae.training.train` (the same Lightning path as
`audioae train vocoder`), with one torch thread by default. `--ship` writes the run's decoder
to `--out` in float16: do it only when benchmarks/bench_vocoder.py shows it beats Griffin-Lim
(docs/benchmarks.md, "Learned decoder"); the run's own file is RUN/model.safetensors.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from audioae.config import load_config, resolve_recipe
from audioae.demo import load_splits, split_folder
from audioae.training import train
from audioae.vocoderfile import load_vocoder_file, save_vocoder_file


def train_decoder_on_split(
    data: Path,
    work: Path,
    overrides: list[str],
    *,
    resume: bool,
    max_steps: int | None,
    extra: dict[Path, list[Path]] | None = None,
) -> Path:
    """Train the `vocoder` recipe (plus ``overrides``) on the train split of ``data`` (speech
    and notes, linked into ``WORK_data``) into the run folder ``work``; returns its decoder file.

    ``extra`` maps a base folder to more files under it, linked beside the split under
    ``WORK_data/extra`` with their paths relative to that base (e.g. corpus speech)."""
    started = time.perf_counter()
    splits = load_splits(data)
    folder = work.parent / (work.name + "_data")
    for group in ("speech", "notes"):
        split_folder(splits[group]["train"], folder, data)
    for base, files in (extra or {}).items():
        split_folder(files, folder / "extra", base)
    cfg = load_config(resolve_recipe("vocoder"), overrides)
    result = train(cfg, folder, out_dir=work, resume=resume, max_steps=max_steps, progress=False)
    print(f"trained {result.steps} steps in {(time.perf_counter() - started) / 60:.1f} min")
    return result.model_file


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data", type=Path)
    parser.add_argument("--work", default="runs/vocoder", type=Path, help="the run folder")
    parser.add_argument("--out", default="data/models/vocoder.safetensors", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --work")
    parser.add_argument("--max-steps", type=int, help="override training.max_steps")
    parser.add_argument("--set", nargs="*", default=[], dest="overrides", help="KEY=VALUE")
    parser.add_argument("--ship", action="store_true", help="write --out (float16) from the run")
    parser.add_argument("--skip-training", action="store_true", help="use the run as it is")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_file = args.work / "model.safetensors"
    if not args.skip_training:
        model_file = train_decoder_on_split(
            args.data, args.work, args.overrides, resume=args.resume, max_steps=args.max_steps
        )
    print(f"run's decoder file: {model_file}")
    if not args.ship:
        return
    loaded = load_vocoder_file(model_file)
    target = save_vocoder_file(
        args.out, loaded.vocoder, loaded.config, overwrite=True, dtype=torch.float16
    )
    print(f"decoder file: {target} ({target.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
