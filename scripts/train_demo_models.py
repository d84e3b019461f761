"""Train the demo models shipped in data/models/ with the project's recipes, on the train split only.

    python scripts/train_demo_models.py            # writes data/models/{denoise,codec,timbre}.safetensors
    python scripts/train_demo_models.py --only denoise --threads 1

Each model is trained by `audioae.demo.train_demo_models` on the *train* files of
data/splits.yaml (the held-out files stay unheard) with the recipe's own settings plus the
overrides below, then copied into data/models/. `audioae demo --train` runs the same code with
shorter schedules.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from audioae.demo import MODEL_FILES, train_demo_models
from audioae.modelfile import load_model_file, save_model_file

FULL_SCHEDULES = {
    # the recipe's own schedule (8000 steps) on the bundled split; the shipped denoiser trains
    # the same recipe on the corpus for 32000 steps instead: scripts/train_denoise_corpus.py
    "denoise": [],
    # the recipe's own schedule (14000 steps) on the bundled split; the shipped codec trains
    # the same recipe on the corpus instead: scripts/train_codec_corpus.py
    "codec": [],
    "timbre": ["training.max_steps=800", "training.val_every=400", "training.checkpoint_every=400"],
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data", type=Path)
    parser.add_argument(
        "--work", default="runs/demo_models", type=Path, help="run folders (checkpoints, logs)"
    )
    parser.add_argument("--out", default="data/models", type=Path)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's choice)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=sorted(FULL_SCHEDULES), help="train only these models"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    written = train_demo_models(args.data, args.work, overrides=FULL_SCHEDULES, names=args.only)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, path in written.items():
        # shipped in float16 (half the size; loading casts back to float32)
        loaded = load_model_file(path)
        target = save_model_file(
            args.out / MODEL_FILES[name],
            loaded.model,
            loaded.config,
            overwrite=True,
            dtype=torch.float16,
        )
        print(f"{name}: {target} ({target.stat().st_size / 1e6:.2f} MB)")
    print(f"trained in {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
