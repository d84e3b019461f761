"""Score codec model files on speech no shipped model trains on, to choose between variants.

    python benchmarks/codec_validation.py runs/a/model.safetensors runs/b/model.safetensors \
        [--corpus ~/.cache/audioae/corpus] [--bits 4 6] [--vocoder data/models/vocoder.safetensors]

The clips come from the corpus that ``scripts/build_corpus.py`` writes (its ``manifest.csv``):
one clip of at least 2 s from each wide-band speaker group (source sample rate >= 22.05 kHz)
outside the languages of the bundled training voices that the corpus repeats (Czech and Dutch),
drawn with seed 0 and cut to its first 6 s (30 clips in 28 languages with the corpus of
data/README.md). The codec trains on the bundled train split, or on the corpus outside these
speaker groups (``scripts/train_codec_corpus.py`` and ``train_model_decoder.py --corpus`` leave
out every group :func:`is_validation_row` marks), so these voices are unheard, and the bundled
test split (which ``bench_quality.py`` reports on) is not touched.

Every model is decoded the same way, so that the codec, not its decoder, is compared: by the
stand-alone exact-feature decoder (``--vocoder``) with ``learned+griffin-lim`` (16 Griffin-Lim
iterations started from its phase) when the model's front-end matches it, else by Griffin-Lim
(``--griffin-lim-iter``). Rows: the unquantised latent, and a real ``.aae`` round trip at each
of ``--bits`` (bitrate = bytes written / duration, header included). Printed per model: mean
PESQ-WB and log-mel L1 (the compression table's metrics). One torch thread.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import load_audio  # noqa: E402
from audioae.config import PhaseConfig  # noqa: E402
from audioae.metrics import log_mel_l1, pesq_wb  # noqa: E402
from audioae.phase import PhaseReconstructor, learned_methods  # noqa: E402
from audioae.pipeline import Pipeline  # noqa: E402
from audioae.vocoderfile import VocoderMismatchError  # noqa: E402
from benchmarks.bench_vocoder import SAMPLE_RATE, aae_round_trip  # noqa: E402

# scripts/build_corpus.py's default (it honours XDG_CACHE_HOME, as the corpus scripts do)
DEFAULT_CORPUS = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "audioae" / "corpus"
)
CLIP_SECONDS = 6.0
MIN_SECONDS = 2.0
LEFT_OUT_LANGUAGES = ("cs", "nl")  # the bundled training voices' languages the corpus repeats


def is_validation_row(row: dict[str, str]) -> bool:
    """Whether a ``manifest.csv`` row belongs to a validation speaker group: speech recorded at
    22.05 kHz or more, outside :data:`LEFT_OUT_LANGUAGES` (a codec trained for comparison must
    leave out every group with such a row; ``scripts/train_codec_corpus.py`` does)."""
    return (
        row["kind"] == "speech"
        and int(row["source_sample_rate"]) >= 22050
        and row["group"].split("/")[0] not in LEFT_OUT_LANGUAGES
    )


def manifest_rows(corpus: Path) -> list[dict[str, str]]:
    """The rows of the corpus's ``manifest.csv`` (``file``, ``kind``, ``group``,
    ``source_sample_rate``, ``duration_s``, ...).

    Raises:
        FileNotFoundError: ``corpus/manifest.csv`` is missing (build the corpus first).
    """
    manifest = corpus / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: no corpus manifest; run scripts/build_corpus.py")
    with manifest.open(newline="") as f:
        return list(csv.DictReader(f))


def validation_clips(corpus: Path, seed: int = 0) -> list[tuple[str, Path]]:
    """``(group, path)`` of one wide-band clip per corpus speaker group (see the module text).

    Raises:
        FileNotFoundError: ``corpus/manifest.csv`` is missing (build the corpus first).
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for row in manifest_rows(corpus):
        if is_validation_row(row) and float(row["duration_s"]) >= MIN_SECONDS:
            groups[row["group"]].append(row["file"])
    rng = random.Random(seed)
    return [(g, corpus / rng.choice(groups[g])) for g in sorted(groups)]


def _decoder(model_file: Path, vocoder: Path, griffin_lim_iter: int):
    """``(pipeline, reconstructor, method)`` for one model file."""
    try:
        pipe = Pipeline.load(model_file, device="cpu", vocoder=vocoder)
    except VocoderMismatchError:
        pipe = Pipeline.load(model_file, device="cpu")
        gl = PhaseReconstructor(pipe.frontend, PhaseConfig(n_iter=griffin_lim_iter))
        return pipe, gl, "griffin-lim"
    config = PhaseConfig(n_iter=32, warm_start_iter=16)
    return (
        pipe,
        PhaseReconstructor(pipe.frontend, config, learned_methods(pipe.vocoder)),
        "learned+griffin-lim",
    )


@torch.no_grad()
def score_model(
    model_file: Path,
    clips: list[tuple[str, Path]],
    bits: list[int],
    vocoder: Path,
    griffin_lim_iter: int = 64,
) -> dict[str, dict[str, float]]:
    """Row name (``unquantised``, ``N bits``) -> mean ``pesq``, ``log_mel_l1``, ``kbps``."""
    pipe, reconstructor, method = _decoder(model_file, vocoder, griffin_lim_iter)
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for _, path in clips:
        wav = load_audio(path, sample_rate=SAMPLE_RATE)[0][:1, : int(CLIP_SECONDS * SAMPLE_RATE)]
        length = wav.shape[-1]
        latent = pipe.encode(wav)
        frames = pipe.frontend.num_frames(length)
        for b in [None, *bits]:
            name, coded = "unquantised", latent
            if b is not None:
                coded, num_bytes = aae_round_trip(pipe, latent, length, b)
                name = f"{b} bits"
                rows[name]["kbps"].append(num_bytes * 8 / (length / SAMPLE_RATE) / 1000)
            features = pipe._decode_features(coded.float(), frames)
            out = reconstructor(features, length, method=method).reshape(1, -1)[:, :length]
            rows[name]["pesq"].append(float(pesq_wb(out, wav, SAMPLE_RATE)))
            rows[name]["log_mel_l1"].append(float(log_mel_l1(out, wav, SAMPLE_RATE)))
    return {
        name: {k: float(np.mean(v)) for k, v in metrics.items()} | {"method": method}
        for name, metrics in rows.items()
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="codec model files")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--bits", type=int, nargs="*", default=[4, 6])
    parser.add_argument(
        "--vocoder", type=Path, default=ROOT / "data" / "models" / "vocoder.safetensors"
    )
    parser.add_argument("--griffin-lim-iter", type=int, default=64)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    clips = validation_clips(args.corpus)
    print(f"{len(clips)} clips from {len(clips)} speaker groups of {args.corpus}")
    for model_file in args.models:
        rows = score_model(model_file, clips, args.bits, args.vocoder, args.griffin_lim_iter)
        cells = [
            f"{name} PESQ {r['pesq']:.3f} log-mel L1 {r['log_mel_l1']:.3f}"
            + (f" at {r['kbps']:.2f} kbit/s" if "kbps" in r else "")
            for name, r in rows.items()
        ]
        print(f"{model_file} ({rows['unquantised']['method']}): " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
