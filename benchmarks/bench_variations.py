"""Variations of a sound from a VAE's posterior (``audioae sample --like``): how far they
spread, and how far they stray from the input, by temperature.

    python benchmarks/bench_variations.py [MODEL] [--temperatures 0 1 2 4 8] [--n 3]

For every held-out note of ``data/splits.yaml`` (the test split of the notes) it draws ``--n``
variations at each temperature (:meth:`audioae.pipeline.Pipeline.variations`, seed 0, the
model's default phase method) and prints, per temperature, the mean log-mel distance
(64 bands, n_fft 1024, hop 256, power in dB floored at -80 dB; mean absolute difference) of
the variations to the input and between one another, and the ratio of each to the input
distance at temperature 0 (the plain reconstruction's), measured in the same run. One torch
thread.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import load_audio  # noqa: E402
from audioae.pipeline import Pipeline  # noqa: E402
from benchmarks.bench_sampling import log_mel_db  # noqa: E402  (the same features)


def spread(pipe: Pipeline, files: list[Path], temperature: float, n: int) -> tuple[float, float]:
    """Mean log-mel distance (dB) of the variations to their input and between one another."""
    to_input, between = [], []
    for f in files:
        x, _ = load_audio(f, sample_rate=pipe.sample_rate, mono=True)
        gen = torch.Generator().manual_seed(0)
        wavs = pipe.variations(x, n, temperature=temperature, generator=gen).numpy()
        mels = [log_mel_db(w, pipe.sample_rate) for w in wavs]
        ref = log_mel_db(x[0].numpy(), pipe.sample_rate)
        to_input.append(np.mean([np.abs(m - ref).mean() for m in mels]))
        pairs = list(itertools.combinations(mels, 2))
        between.append(np.mean([np.abs(a - b).mean() for a, b in pairs]) if pairs else 0.0)
    return float(np.mean(to_input)), float(np.mean(between))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="timbre")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0, 1, 2, 4, 8])
    parser.add_argument("--n", type=int, default=3, help="variations per note")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pipe = Pipeline.load(args.model, device="cpu")
    splits = yaml.safe_load((ROOT / "data" / "splits.yaml").read_text())
    files = [ROOT / "data" / p for p in splits["notes"]["test"]]
    rows = [(t, *spread(pipe, files, t, args.n)) for t in sorted({0.0, *args.temperatures})]
    base = rows[0][1]
    print(f"{args.model}: {len(files)} held-out notes, {args.n} variations each, phase "
          f"{pipe.default_phase}")  # fmt: skip
    print("| temperature | to the input (dB) | / at 0 | between variations (dB) | / input at 0 |")
    print("|---|---|---|---|---|")
    for t, to_input, between in rows:
        print(f"| {t:g} | {to_input:.2f} | {to_input / base:.3f} | {between:.2f} | "
              f"{between / base:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
