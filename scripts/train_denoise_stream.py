"""Train the causal streaming denoiser (recipes/denoise_stream.yaml) on the train split only.

    nice python scripts/train_denoise_stream.py --threads 1     # writes data/models/denoise_stream.safetensors

Like scripts/train_demo_models.py: the *train* speech and noise files of data/splits.yaml
(the held-out files stay unheard), the recipe's own schedule unless ``--set`` overrides it,
then the model file is saved in float16 (half the size; loading casts back to float32).
Whether to ship it is decided by the benchmark (docs/benchmarks.md), not by this script:
``--out`` may point elsewhere.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from audioae.config import load_config, resolve_recipe
from audioae.demo import load_splits, split_folder
from audioae.modelfile import load_model_file, save_model_file


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="data", type=Path)
    parser.add_argument("--work", default="runs/denoise_stream", type=Path, help="run folder")
    parser.add_argument("--out", default="data/models/denoise_stream.safetensors", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="config override")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from audioae.training import train

    started = time.perf_counter()
    splits = load_splits(args.data)
    cfg = load_config(resolve_recipe("denoise_stream"), args.sets)
    clean = split_folder(splits["speech"]["train"], args.work / "splits" / "speech", args.data)
    noise = split_folder(splits["noise"]["train"], args.work / "splits" / "noise", args.data)
    result = train(cfg, clean, noise_dir=noise, out_dir=args.work / "run", progress=False)
    loaded = load_model_file(result.model_file)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    target = save_model_file(
        args.out, loaded.model, loaded.config, overwrite=True, dtype=torch.float16
    )
    print(f"denoise_stream: {target} ({target.stat().st_size / 1e6:.2f} MB)")
    print(f"trained in {(time.perf_counter() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
