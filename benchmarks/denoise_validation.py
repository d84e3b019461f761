"""Score denoiser model files on the validation clips, against spectral subtraction.

    python benchmarks/denoise_validation.py runs/a/model.safetensors runs/b/model.safetensors

The clips are the speech files that training holds out of the *train* split for validation:
`audioae train`'s own rule (``split_by_hash``, ``data.val_fraction`` 0.1) applied to the
folder of train-split speech that `scripts/train_demo_models.py` links
(``--speech-folder``, default ``runs/demo_models/splits/speech``; run that script, or
`audioae demo --train`, once to create it). Models can so be compared without touching the
test split that `bench_quality.py` reports on. Each clip is mixed, like the
benchmark, with one unseen noise type (babble, bubbles, alternating) and one seen type at
0, 5, 10 and 15 dB SNR (seed 0); the script prints mean PESQ-WB and SI-SDR (dB) per SNR.
The "unseen" noises default to the bundled *test* noise types; ``--unseen-noise DIR`` takes
the noise files of a folder instead (e.g. the corpus noise that
``scripts/train_denoise_corpus.py`` holds out of training), so that choosing between variants
does not look at the test noise at all.
``--voices DIR...`` takes every speech file of those folders as the clips instead, e.g. the
validation voices that ``scripts/build_corpus.py`` writes to ``CORPUS/val_speech`` (readers
and languages no model trains on, English among them): the train split's validation clips
are voices the models trained on, and choices made on them did not carry over to the test
split's new voice three times (docs/benchmarks.md, Notes). ``--deepfilternet`` adds
DeepFilterNet3 (``pip install "audioae[bench]"``) as a row, delay measured on the first clip.
``--mask-exponents 1,1.25`` scores each model also with its mask sharpened
(``Pipeline.denoise(mask_exponent=...)``), ``--post-filters 0,0.02`` with PercepNet's
post-filter (``Pipeline.denoise(post_filter=...)``). ``--input-rate 48000`` gives every
method the mixture as a stream at that rate reaches a 16 kHz model: upsampled to it (soxr HQ,
as a 48 kHz recording of the same band) and back to 16 kHz at ``--input-quality`` (soxr;
default LQ, as :func:`audioae.live.denoise_live` does; HQ is the file jobs'), so the input
holds nothing in the resampler's top transition band (about 7.3-8 kHz); scores are still
against the full-band clean clip. One torch thread. The tuning table in
docs/benchmarks.md (Notes) was made with it.

After each noise group's table, every row after the first model's is compared with the
first model (the one a candidate would replace): the mean PESQ difference over the group's
clips and SNRs, with a 95 % confidence interval from a paired bootstrap over the clips
(``scipy.stats.bootstrap``, BCa, 2000 resamples, seed 0; Efron & Tibshirani 1993), so a
decision made at the table's third decimal can be read against how much the clips let it
move. It says how sure the ranking is *on these clips*, not on other voices.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scipy import stats  # noqa: E402

from audioae.audio import find_audio_files, load_audio  # noqa: E402
from audioae.augment import mix_at_snr  # noqa: E402
from audioae.data import split_by_hash  # noqa: E402
from audioae.metrics import pesq_wb, si_sdr  # noqa: E402
from audioae.pipeline import Pipeline  # noqa: E402
from benchmarks.baselines.classical import spectral_subtraction  # noqa: E402

SAMPLE_RATE = 16000
SNRS = (0.0, 5.0, 10.0, 15.0)


def validation_clips(folder: Path, val_fraction: float = 0.1) -> list[Path]:
    """The files of ``folder`` that `audioae train` holds out for validation."""
    paths = list(find_audio_files(folder))
    _, val = split_by_hash(paths, folder, val_fraction)
    return [paths[i] for i in val]


def paired_difference(
    candidate: np.ndarray, reference: np.ndarray, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``candidate - reference`` per clip and its 95 % paired-bootstrap interval.

    Args:
        candidate, reference: scores ``(clips, conditions)`` of two methods on the same clips
            (e.g. PESQ at each SNR); each clip's difference is averaged over its conditions.
        seed: the bootstrap's random state.

    Returns:
        ``(mean, low, high)``; the interval is ``(mean, mean)`` for fewer than 3 clips or
        differences that are all equal.

    Raises:
        ValueError: the shapes differ.
    """
    if candidate.shape != reference.shape:
        raise ValueError(f"shapes differ: {candidate.shape} and {reference.shape}")
    per_clip = (candidate - reference).reshape(len(candidate), -1).mean(axis=1)
    mean = float(per_clip.mean())
    if len(per_clip) < 3 or np.ptp(per_clip) == 0:
        return mean, mean, mean
    result = stats.bootstrap(
        (per_clip,), np.mean, n_resamples=2000, confidence_level=0.95, random_state=seed
    )
    return mean, float(result.confidence_interval.low), float(result.confidence_interval.high)


def through_rate(noisy: torch.Tensor, rate: int, quality: str) -> torch.Tensor:
    """``noisy (channels, time)`` at 16 kHz, upsampled to ``rate`` Hz (soxr HQ) and brought
    back to 16 kHz at ``quality``: the band a stream at ``rate`` brings to a 16 kHz model.
    Same shape."""
    import soxr

    x = noisy.numpy().T.astype(np.float64)
    up = soxr.resample(x, SAMPLE_RATE, rate, "HQ")
    back = soxr.resample(up, rate, SAMPLE_RATE, quality)[: x.shape[0]]
    back = np.pad(back, ((0, x.shape[0] - back.shape[0]), (0, 0)))
    return torch.from_numpy(np.ascontiguousarray(back.T)).to(noisy.dtype)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="denoiser model files")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    parser.add_argument(
        "--speech-folder",
        type=Path,
        default=ROOT / "runs/demo_models/splits/speech",
        help="the train-split speech folder that training was given",
    )
    parser.add_argument(
        "--unseen-noise",
        type=Path,
        help="a folder of noise files held out of training (default: the bundled test noise)",
    )
    parser.add_argument(
        "--voices",
        type=Path,
        nargs="+",
        help="score on every speech file of these folders (e.g. CORPUS/val_speech, voices no "
        "model trains on, or some of its language folders) instead of the train split's "
        "validation clips",
    )
    parser.add_argument("--deepfilternet", action="store_true", help="add DeepFilterNet3 as a row")
    parser.add_argument(
        "--mask-exponents",
        default="1",
        help="comma-separated mask exponents to score each model with (Pipeline.denoise's "
        "mask_exponent; default 1, the mask as trained)",
    )
    parser.add_argument(
        "--post-filters",
        default="0",
        help="comma-separated post-filter strengths to score each model with (Pipeline."
        "denoise's post_filter, PercepNet's beta; default 0, off), each with every exponent",
    )
    parser.add_argument(
        "--input-rate",
        type=int,
        metavar="HZ",
        help="give each method the mixture resampled to HZ and back (the band a stream at HZ "
        "brings to a 16 kHz model)",
    )
    parser.add_argument(
        "--input-quality",
        choices=["VHQ", "HQ", "MQ", "LQ"],
        default="LQ",
        help="soxr quality of the way back with --input-rate (default LQ, live denoising's)",
    )
    args = parser.parse_args(argv)
    try:
        exponents = [float(e) for e in args.mask_exponents.split(",")]
    except ValueError:
        parser.error(f"--mask-exponents {args.mask_exponents!r}: expected numbers")
    try:
        betas = [float(b) for b in args.post_filters.split(",")]
    except ValueError:
        parser.error(f"--post-filters {args.post_filters!r}: expected numbers")
    torch.set_num_threads(1)
    split = yaml.safe_load((args.data / "splits.yaml").read_text())
    if args.voices is not None:
        paths = sorted(p for folder in args.voices for p in find_audio_files(folder))
        if not paths:
            parser.error(f"{args.voices}: no audio files; run scripts/build_corpus.py first")
    elif not args.speech_folder.is_dir():
        parser.error(f"{args.speech_folder}: not found; run scripts/train_demo_models.py first")
    else:
        paths = validation_clips(args.speech_folder)
    clips = [load_audio(p, sample_rate=SAMPLE_RATE)[0] for p in paths]
    groups = {"unseen": split["noise"]["test"], "seen": split["noise"]["train"]}
    if args.unseen_noise is not None:
        # absolute, so that ``args.data / p`` below leaves them as they are
        groups["unseen"] = sorted(p.resolve() for p in find_audio_files(args.unseen_noise))
    noises = {
        g: [load_audio(args.data / p, sample_rate=SAMPLE_RATE)[0] for p in paths]
        for g, paths in groups.items()
    }
    methods = {"spectral subtraction": lambda x: spectral_subtraction(x, SAMPLE_RATE)}
    if args.deepfilternet:
        from benchmarks.baselines.deepfilternet import DeepFilterNet3

        dfn = DeepFilterNet3()
        dfn.measure_delay(clips[0], SAMPLE_RATE)
        methods["DeepFilterNet3"] = lambda x: dfn.denoise(x, SAMPLE_RATE)
    model_labels: list[str] = []
    for path in args.models:
        pipe = Pipeline.load(path, device="cpu")
        name = path.parent.name if path.name == "model.safetensors" else path.stem
        for e in exponents:
            for b in betas:
                label = name + ("" if e == 1.0 else f" ^{e:g}") + ("" if b == 0.0 else f" pf{b:g}")
                methods[label] = functools.partial(pipe.denoise, mask_exponent=e, post_filter=b)
                model_labels.append(label)
    scores: dict = {}
    for group in groups:
        gen = torch.Generator().manual_seed(0)
        for i, clean in enumerate(clips):
            noise = noises[group][i % len(noises[group])]
            noisy = mix_at_snr(
                clean.expand(len(SNRS), -1), noise, torch.tensor(SNRS), generator=gen
            )
            if args.input_rate is not None:
                noisy = through_rate(noisy, args.input_rate, args.input_quality)
            for name, fn in methods.items():
                est = fn(noisy)
                pesq, sdr = pesq_wb(est, clean, SAMPLE_RATE), si_sdr(est, clean)
                for k, snr in enumerate(SNRS):
                    scores.setdefault((group, name, snr), []).append(
                        (float(pesq[k]), float(sdr[k]))
                    )
    for group in groups:
        print(
            f"== {group} noise ({len(clips)} clips); columns: {', '.join(f'{s:g}' for s in SNRS)} dB"
        )
        for name in methods:
            means = [np.mean(scores[group, name, snr], axis=0) for snr in SNRS]
            pesq = " ".join(f"{m[0]:.3f}" for m in means)
            sdr = " ".join(f"{m[1]:6.2f}" for m in means)
            print(f"{name:>22}  PESQ {pesq} | SI-SDR {sdr}")
        # (clips, SNRs) PESQ of each model, in clip order; rows after the first against it
        pesq_of = {
            n: np.array([[scores[group, n, snr][i][0] for snr in SNRS] for i in range(len(clips))])
            for n in model_labels
        }
        reference = model_labels[0]  # models is nargs="+": never empty
        for name in model_labels[1:]:
            mean, low, high = paired_difference(pesq_of[name], pesq_of[reference])
            print(
                f"{name:>22}  PESQ - {reference}: {mean:+.4f} "
                f"(95 % CI {low:+.4f} .. {high:+.4f}, paired bootstrap over {len(clips)} clips)"
            )


if __name__ == "__main__":
    main()
