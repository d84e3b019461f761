"""Train the codec on the training corpus's wide-band speech, holding its validation voices out.

    python scripts/build_corpus.py                                   # once: ~/.cache/audioae/corpus
    nice python scripts/train_codec_corpus.py --work runs/codec_corpus --extend-to 24000  # (--resume continues)
    python benchmarks/codec_validation.py runs/codec_corpus/model.safetensors

What it trains on (links, not copies, under ``WORK/data``): every corpus speech clip recorded
at 16 kHz or more (narrow-band clips would teach a 16 kHz codec an empty upper band) whose
speaker group is not one that ``benchmarks/codec_validation.py`` scores. Those are the
wide-band groups outside Czech and Dutch, so what remains are the seven bundled training voices'
full recordings (Czech and Dutch children's stories, the French, Italian and Russian prompts)
and the Czech and Dutch letter names: about 2.6 hours against the 17 minutes of the bundled
train split, and still no voice the validation or the bundled test split (English) holds.

The recipe (default ``codec``) runs through ``audioae.training.train`` on one torch thread;
``--set`` overrides it. ``--extend-to STEPS`` then resumes the finished run up to ``STEPS`` in
total: the cosine schedule is stretched to the new length (audioae.optim), so the learning
rate jumps back up (to 0.38 of its peak going from 14000 to 24000 steps) and decays to 0
again, a warm restart (Loshchilov & Hutter, "SGDR", 2017). The run's model is saved in float16 to ``--out`` (default
``WORK/model.safetensors``); whether it ships is decided by the validation, then reported on
the test split by ``benchmarks/bench_quality.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from train_denoise_corpus import (  # noqa: E402  (the sibling script)
    add_run_options,
    link_file,
    save_run_float16,
    train_with_restarts,
)

from audioae.config import load_config, resolve_recipe  # noqa: E402
from benchmarks.codec_validation import (  # noqa: E402
    is_validation_row,
    manifest_rows,
)

MIN_SOURCE_RATE = 16000


def training_files(corpus: Path) -> list[Path]:
    """The corpus speech clips the codec trains on (see the module text), sorted.

    Raises:
        FileNotFoundError: ``corpus/manifest.csv`` is missing.
    """
    rows = [row for row in manifest_rows(corpus) if row["kind"] == "speech"]
    held_groups = {row["group"] for row in rows if is_validation_row(row)}
    return sorted(
        corpus / row["file"]
        for row in rows
        if row["group"] not in held_groups and int(row["source_sample_rate"]) >= MIN_SOURCE_RATE
    )


def link_folder(files: list[Path], corpus: Path, folder: Path) -> Path:
    """Links to ``files`` in the flat ``folder``, each named by its path under
    ``corpus/speech`` with ``_`` for ``/`` (``cs/big_fish/x.flac`` -> ``cs_big_fish_x.flac``:
    the names the shipped run was trained on, which fix its validation hold-out)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        link_file(f, folder / "_".join(f.relative_to(corpus / "speech").parts))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recipe", default="codec", help="recipe name or file (default codec)")
    add_run_options(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    started = time.perf_counter()
    files = training_files(args.corpus)
    folder = link_folder(files, args.corpus, args.work / "data")
    print(f"{len(files)} corpus speech clips linked under {folder}", flush=True)
    cfg = load_config(resolve_recipe(args.recipe), args.sets)
    run = args.work / "run"
    model_file = train_with_restarts(
        cfg, folder, run, resume=args.resume, extend_to=args.extend_to, stop_at=args.stop_at
    )
    save_run_float16(model_file, args.out or args.work / "model.safetensors", args.recipe, started)


if __name__ == "__main__":
    main()
