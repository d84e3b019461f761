"""Which resampler brings a full-band recording to a 16 kHz denoiser: validation on the corpus.

    python benchmarks/denoise_resampler.py [--corpus DIR] [--models denoise denoise_stream]

A recording at 44.1 or 48 kHz reaches a 16 kHz model through a resampler; its transition band
decides how much of the model's top band (7.5-8 kHz) survives. This script scores candidate
resamplers on *full-band* recordings, which neither the bundled test split (16 kHz) nor the
corpus (16 kHz) holds: the corpus's validation voices (``val_speech``, never trained on) are
decoded again from their 44.1 kHz Ogg originals in the cached Debian packages that
``scripts/build_corpus.py`` downloaded, and mixed with full-band noise recordings (44.1/48 kHz
originals of the corpus's noise packages; the models heard them at 16 kHz only).

Each clean clip is mixed at each rate of ``--rates`` (clean and noise brought to it with soxr
VHQ when their own rate differs) at 0/5/10/15 dB (``audioae.augment.mix_at_snr``, seed 0) and
each model denoises the mixture brought to 16 kHz by each candidate:

- ``hq``: soxr HQ (:func:`audioae.audio.resample`);
- ``steep``: soxr HQ with libsoxr's ``SOXR_STEEP_FILTER`` flag (passband to 0.99 of the lower
  Nyquist frequency, no aliasing);
- ``kaiser``: ``scipy.signal.resample_poly`` with its default Kaiser window (cut-off at the
  lower Nyquist frequency, some aliasing just below it).

The model's 16 kHz output is scored (PESQ-WB, STOI, SI-SDR) against the clean recording brought
to 16 kHz with soxr VHQ, the same reference for every candidate (``--reference steep``: with the
steep filter instead, flat to 7.9 kHz; a check of how much the verdict owes to the reference). The script prints one table
per rate and the verdict of the rule in docs/benchmarks.md ("Resampling into a 16 kHz model"),
after the time each candidate takes (``--time-only``: that alone, no corpus needed).
One torch thread.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import subprocess
import sys
import tarfile
import time
from collections import defaultdict
from collections.abc import Callable
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import resample  # noqa: E402
from audioae.augment import mix_at_snr  # noqa: E402
from audioae.metrics import pesq_wb, si_sdr, stoi  # noqa: E402
from audioae.pipeline import Pipeline  # noqa: E402
from benchmarks.quality_metrics import markdown_table  # noqa: E402

MODEL_RATE = 16000
SNRS = (0.0, 5.0, 10.0, 15.0)
SEED = 0
NOISE_GROUPS = ("ambient", "stationary", "non_stationary", "music", "babble")
DEFAULT_CORPUS = Path.home() / ".cache" / "audioae" / "corpus"


def steep(x: torch.Tensor, orig_sr: int, target_sr: int) -> torch.Tensor:
    """soxr HQ with the steep-filter flag (:func:`audioae.audio.resample` ``steep=True``)."""
    return resample(x, orig_sr, target_sr, steep=True)


def kaiser(x: torch.Tensor, orig_sr: int, target_sr: int) -> torch.Tensor:
    """``scipy.signal.resample_poly`` with its default window, ``x (rows, time)``."""
    g = gcd(orig_sr, target_sr)
    y = signal.resample_poly(x.double().numpy(), target_sr // g, orig_sr // g, axis=-1)
    return torch.from_numpy(y).float()


CANDIDATES: dict[str, Callable[[torch.Tensor, int, int], torch.Tensor]] = {
    "hq": lambda x, a, b: resample(x, a, b),
    "steep": steep,
    "kaiser": kaiser,
}


def time_filters(seconds: float = 60.0, repeats: int = 5) -> list[str]:
    """Time of each candidate bringing ``seconds`` of mono noise from 48 / 44.1 kHz to 16 kHz
    (best of ``repeats``, one thread), and its ratio to ``hq``'s in the same run."""
    lines = []
    for rate in (48000, 44100):
        x = torch.randn(1, int(seconds * rate), generator=torch.Generator().manual_seed(SEED))
        best = {}
        for name, fn in CANDIDATES.items():
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn(x, rate, MODEL_RATE)
                times.append(time.perf_counter() - start)
            best[name] = min(times)
        lines += [
            f"  {rate} Hz -> 16 kHz, {name}: {1e3 * t:.1f} ms per {seconds:g} s "
            f"({t / best['hq']:.2f}x hq)"
            for name, t in best.items()
        ]
    return lines


def vhq(x: torch.Tensor, orig_sr: int, target_sr: int) -> torch.Tensor:
    if orig_sr == target_sr:
        return x
    y = soxr.resample(np.ascontiguousarray(x.numpy().T, np.float32), orig_sr, target_sr, "VHQ")
    return torch.from_numpy(np.ascontiguousarray(y.reshape(len(y), -1).T))


def read_members(deb: Path, members: set[str]) -> dict[str, bytes]:
    """The bytes of ``members`` (paths inside the package) of the Debian package ``deb``."""
    found: dict[str, bytes] = {}
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for info in tar:
                name = info.name.removeprefix("./")
                if name in members and info.isfile():
                    found[name] = tar.extractfile(info).read()
        proc.stdout.read()
    missing = members - found.keys()
    if missing:
        raise FileNotFoundError(f"{deb.name}: {len(missing)} members missing, e.g. {min(missing)}")
    return found


def decode_sources(rows: list[dict[str, str]], debs: Path) -> dict[str, tuple[torch.Tensor, int]]:
    """Each row's sources decoded, mono, concatenated: ``{file: (wav (time,), sample_rate)}``."""
    by_package: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        by_package[row["package"]].update(row["source"].split(" + "))
    data: dict[str, bytes] = {}
    for package, members in by_package.items():
        deb = sorted(debs.glob(f"{package}_*.deb"))
        if not deb:
            raise FileNotFoundError(f"{package}: no cached package in {debs} (run build_corpus.py)")
        data.update(read_members(deb[-1], members))
    out = {}
    for row in rows:
        pieces, rates = [], set()
        for source in row["source"].split(" + "):
            x, sr = sf.read(io.BytesIO(data[source]), dtype="float32", always_2d=True)
            pieces.append(x.mean(axis=1))
            rates.add(sr)
        if len(rates) != 1:
            raise ValueError(f"{row['file']}: sources at several rates {sorted(rates)}")
        wav = torch.from_numpy(np.concatenate(pieces))
        out[row["file"]] = (wav / wav.abs().max().clamp_min(1e-6) * 0.5, rates.pop())
    return out


def select(corpus: Path, clips_per_voice: int, noises: int) -> tuple[list, list]:
    """Validation speech rows (``clips_per_voice`` per voice) and ``noises`` full-band noise rows."""
    with open(corpus / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    speech: dict[str, list] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["file"]):
        if row["kind"] == "val_speech" and int(row["source_sample_rate"]) >= 44100:
            speech[row["group"]].append(row)
    clips = [r for group in sorted(speech) for r in speech[group][:clips_per_voice]]
    pool = [
        r
        for r in sorted(rows, key=lambda r: r["file"])
        if r["kind"] == "noise"
        and r["group"] in NOISE_GROUPS
        and int(r["source_sample_rate"]) >= 44100
        and float(r["duration_s"]) >= 4.0
    ]
    return clips, random.Random(SEED).sample(pool, noises)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--models", nargs="+", default=["denoise", "denoise_stream"])
    parser.add_argument("--rates", type=int, nargs="+", default=[44100, 48000])
    parser.add_argument("--clips-per-voice", type=int, default=4)
    parser.add_argument("--noises", type=int, default=8)
    parser.add_argument(
        "--reference",
        choices=["vhq", "steep"],
        default="vhq",
        help="how the clean recording is brought to 16 kHz to score against (default vhq, the rule's)",
    )
    parser.add_argument(
        "--time-only", action="store_true", help="only time the candidates (no corpus needed)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print("time per filter (one thread):\n" + "\n".join(time_filters()))
    if args.time_only:
        return
    clip_rows, noise_rows = select(args.corpus, args.clips_per_voice, args.noises)
    debs = args.corpus / ".cache" / "debs"
    clean = decode_sources(clip_rows, debs)
    noise = decode_sources(noise_rows, debs)
    print(f"{len(clean)} clips of {len({r['group'] for r in clip_rows})} voices; noises:")
    for r in noise_rows:
        print(f"  {r['file']} ({r['group']}, {r['source_sample_rate']} Hz)")
    pipes = {name: Pipeline.load(name, device="cpu") for name in args.models}
    scores: dict[tuple, list[float]] = defaultdict(list)
    for rate in args.rates:
        gen = torch.Generator().manual_seed(SEED)
        noises = [vhq(noise[r["file"]][0][None], noise[r["file"]][1], rate)[0] for r in noise_rows]
        for i, row in enumerate(clip_rows):
            wav, sr = clean[row["file"]]
            x = vhq(wav[None], sr, rate)[0]
            noisy = mix_at_snr(
                x.expand(len(SNRS), -1),
                noises[i % len(noises)],
                torch.tensor(SNRS),
                generator=gen,
            )
            ref = (vhq if args.reference == "vhq" else steep)(x[None], rate, MODEL_RATE)[0]
            for cand, fn in CANDIDATES.items():
                model_in = fn(noisy, rate, MODEL_RATE)[..., : ref.shape[-1]]
                model_in = torch.nn.functional.pad(
                    model_in, (0, ref.shape[-1] - model_in.shape[-1])
                )
                for name, pipe in pipes.items():
                    est = pipe.denoise(model_in)
                    refs = ref.expand_as(est)
                    for metric, v in (
                        ("PESQ", pesq_wb(est, refs, MODEL_RATE)),
                        ("STOI", stoi(est, refs, MODEL_RATE)),
                        ("SI-SDR", si_sdr(est, refs)),
                    ):
                        for snr, value in zip(SNRS, v.tolist()):
                            scores[rate, name, cand, metric, snr].append(value)
            print(f"  {rate} Hz: {i + 1}/{len(clip_rows)} clips", flush=True)
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    header = ["model", "resampler", *[f"PESQ {s:g} dB" for s in SNRS], "STOI", "SI-SDR"]
    for rate in args.rates:
        rows = [
            [
                name,
                cand,
                *[f"{mean[rate, name, cand, 'PESQ', s]:.3f}" for s in SNRS],
                f"{np.mean([mean[rate, name, cand, 'STOI', s] for s in SNRS]):.3f}",
                f"{np.mean([mean[rate, name, cand, 'SI-SDR', s] for s in SNRS]):.2f}",
            ]
            for name in pipes
            for cand in CANDIDATES
        ]
        print(f"\n**{rate} Hz recordings**, means over {len(clip_rows)} clips:\n")
        print(markdown_table(header, rows))

    def avg(name: str, cand: str, metric: str) -> float:
        return float(np.mean([mean[r, name, cand, metric, s] for r in args.rates for s in SNRS]))

    print("\nmeans over rates and SNRs (difference to hq):")
    for name in pipes:
        for cand in CANDIDATES:
            d = [avg(name, cand, m) - avg(name, "hq", m) for m in ("PESQ", "STOI", "SI-SDR")]
            print(
                f"  {name:16s} {cand:7s} PESQ {avg(name, cand, 'PESQ'):.3f} ({d[0]:+.3f})"
                f"  STOI {avg(name, cand, 'STOI'):.3f} ({d[1]:+.4f})"
                f"  SI-SDR {avg(name, cand, 'SI-SDR'):.2f} ({d[2]:+.2f})"
            )

    def passes(cand: str) -> bool:
        return all(
            avg(n, cand, "PESQ") - avg(n, "hq", "PESQ") >= 0.03
            and avg(n, cand, "STOI") - avg(n, "hq", "STOI") >= -0.005
            and avg(n, cand, "SI-SDR") - avg(n, "hq", "SI-SDR") >= -0.2
            for n in pipes
        )

    print("\nmean PESQ per noise recording (over models, rates and SNRs):")
    for k, row in enumerate(noise_rows):
        line = []
        for cand in CANDIDATES:
            v = [
                scores[r, n, cand, "PESQ", s][i]
                for r in args.rates
                for n in pipes
                for s in SNRS
                for i in range(k, len(clip_rows), len(noise_rows))
            ]
            line.append(f"{cand} {np.mean(v):.3f}")
        print(f"  {Path(row['file']).stem:32s} " + "  ".join(line))

    overall = {c: float(np.mean([avg(n, c, "PESQ") for n in pipes])) for c in CANDIDATES}
    best = max(overall, key=overall.get)
    verdict = "hq (unchanged)"
    if best != "hq" and passes(best):
        verdict = best
        if best == "kaiser" and passes("steep") and overall["kaiser"] - overall["steep"] <= 0.02:
            verdict = "steep (within 0.02 of kaiser, streams)"
    print("\nmean PESQ over models: " + ", ".join(f"{c} {v:.3f}" for c, v in overall.items()))
    print(f"rule: best {best}, passes {passes(best) if best != 'hq' else '-'}; verdict: {verdict}")


if __name__ == "__main__":
    main()
