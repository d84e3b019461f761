"""Benchmark the DSP front-end: Griffin-Lim and log-mel against librosa and against bare torch.

Cases, on real speech from ``data/speech`` at 16 kHz with the default features (n_fft 1024,
hop 256, Hann, ``center=True``, zero padding, 80 Slaney mels):

* a 10 s clip: the first speech files (sorted paths) concatenated and cut to 10.0 s;
* a batch of 16 clips: the first 16 speech files of at least 2 s, each cut to 2.0 s.

Measured: ``audioae.functional.griffin_lim`` (32 iterations, momentum 0.99, random init) vs
``librosa.griffinlim`` (same settings) and vs the bare cost of 32 x (``torch.stft`` +
``torch.istft``) of the same signal; ``audioae.features.LogMel`` vs
``librosa.feature.melspectrogram(power=1)`` + ``np.log(mel + eps)``. Every timing is the
median (and minimum) of ``--repeats`` runs after one warm-up, the contenders of a case timed in
interleaved rounds so load changes hit them alike. Spectral convergence of a Griffin-Lim output
``y`` for a target magnitude ``S``: ``||S - |STFT(y)|||_F / ||S||_F`` (over the whole batch),
averaged over three seeds of the random initial phase for both implementations.

Usage::

    python benchmarks/bench_frontend.py [--repeats 5] [--threads 2 1] [--write]   # --write updates docs/benchmarks.md
"""

from __future__ import annotations

import os

# Threads that spin while waiting are ruinous on a shared, oversubscribed machine, so both
# sides get their best setting here (set before torch/numpy load their runtimes; an explicit
# setting in the environment wins):
# - torch's OpenMP threads sleep instead of spinning (measured: Griffin-Lim on 10 s with 2
#   threads, 0.3 s passive vs 4-8 s spinning);
# - numpy's OpenBLAS (librosa's mel projection) runs single-threaded (measured: librosa log-mel
#   of 10 s, 4.5 ms with 1 thread vs 11-48 ms with 2 spinning threads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from docs_section import replace_section  # noqa: E402  (sibling module: run as a script)

from audioae import functional as AF  # noqa: E402
from audioae import metrics  # noqa: E402
from audioae.config import FeatureConfig  # noqa: E402
from audioae.features import LogMel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SAMPLE_RATE = 16000
N_ITER = 32
MOMENTUM = 0.99
SEEDS = (0, 1, 2)
LOGMEL_INNER = 10  # log-mel calls per timing sample


def load_cases() -> dict[str, np.ndarray]:
    files = sorted((ROOT / "data" / "speech").glob("**/*.flac"))
    if not files:
        raise SystemExit("data/speech is empty; see data/README.md")
    pieces, total = [], 0
    for path in files:
        y, sr = sf.read(path, dtype="float32")
        assert sr == SAMPLE_RATE, path
        pieces.append(y)
        total += len(y)
        if total >= 10 * SAMPLE_RATE:
            break
    long_clip = np.concatenate(pieces)[: 10 * SAMPLE_RATE]
    batch = []
    for path in files:
        y, _ = sf.read(path, dtype="float32")
        if len(y) >= 2 * SAMPLE_RATE:
            batch.append(y[: 2 * SAMPLE_RATE])
        if len(batch) == 16:
            break
    return {"10 s clip": long_clip[None], "16 x 2 s batch": np.stack(batch)}


def timed(
    fns: dict[str, Callable[[], object]], repeats: int, inner: int = 1
) -> dict[str, list[float]]:
    """Seconds per call for each function: one warm-up, then ``repeats`` interleaved rounds,
    each timing ``inner`` back-to-back calls (short calls: less timer and scheduler noise)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - start) / inner)
    return times


def spectral_convergence(target: torch.Tensor, wav: torch.Tensor, n_fft: int, hop: int) -> float:
    """Spectral convergence (float64) of ``wav``'s STFT magnitude against ``target``
    ``(batch, n_freq, frames)``, the whole batch taken as one spectrogram (one norm)."""
    rebuilt = AF.spectrogram(wav.double(), n_fft, hop)
    return float(
        metrics.spectral_convergence(rebuilt.flatten(0, -2), target.double().flatten(0, -2))
    )


def run(repeats: int, threads: int) -> str:
    torch.set_num_threads(threads)
    load_before = os.getloadavg()[0]
    cfg = FeatureConfig()
    n_fft, hop, eps = cfg.n_fft, cfg.hop_length, cfg.eps
    window = torch.hann_window(n_fft)
    frontend = LogMel(SAMPLE_RATE, AF.StftParams(n_fft, hop), eps, n_mels=cfg.n_mels)
    rows = []
    for case, wav_np in load_cases().items():
        wav = torch.from_numpy(wav_np)
        length = wav.shape[-1]
        mag = AF.stft(wav, n_fft, hop).abs()  # (batch, 513, frames)
        mag_np = mag.numpy()
        out: dict[str, object] = {}

        def ours(mag=mag, length=length, out=out):
            out["ours"] = AF.griffin_lim(
                mag,
                n_fft,
                hop,
                n_iter=N_ITER,
                momentum=MOMENTUM,
                generator=torch.Generator().manual_seed(0),
                length=length,
            )

        def theirs(mag_np=mag_np, length=length, out=out):
            out["librosa"] = librosa.griffinlim(
                mag_np,
                n_iter=N_ITER,
                hop_length=hop,
                n_fft=n_fft,
                momentum=MOMENTUM,
                random_state=0,
                length=length,
            )

        def bare(wav=wav, length=length):
            y = wav
            for _ in range(N_ITER):
                spec = torch.stft(
                    y,
                    n_fft,
                    hop,
                    window=window,
                    center=True,
                    pad_mode="constant",
                    return_complex=True,
                )
                y = torch.istft(spec, n_fft, hop, window=window, center=True, length=length)

        print(f"{case}: Griffin-Lim ...", flush=True)
        t = timed({"ours": ours, "librosa": theirs, "bare": bare}, repeats)
        # quality: both start from a random phase, so average over seeds
        sc_ours = statistics.mean(
            spectral_convergence(
                mag,
                AF.griffin_lim(
                    mag,
                    n_fft,
                    hop,
                    n_iter=N_ITER,
                    momentum=MOMENTUM,
                    generator=torch.Generator().manual_seed(seed),
                    length=length,
                ),
                n_fft,
                hop,
            )
            for seed in SEEDS
        )
        sc_lib = statistics.mean(
            spectral_convergence(
                mag,
                torch.from_numpy(
                    librosa.griffinlim(
                        mag_np,
                        n_iter=N_ITER,
                        hop_length=hop,
                        n_fft=n_fft,
                        momentum=MOMENTUM,
                        random_state=seed,
                        length=length,
                    )
                ),
                n_fft,
                hop,
            )
            for seed in SEEDS
        )
        rows.append(
            (
                f"Griffin-Lim, {case}",
                "librosa.griffinlim",
                t["ours"],
                t["librosa"],
                sc_ours,
                sc_lib,
                3.0,
            )
        )
        rows.append(
            (
                f"Griffin-Lim, {case}",
                f"{N_ITER} x (torch.stft + torch.istft)",
                t["ours"],
                t["bare"],
                None,
                None,
                1 / 1.3,
            )
        )

        def logmel_ours(wav=wav):
            return frontend(wav)

        def logmel_librosa(wav_np=wav_np):
            mel = librosa.feature.melspectrogram(
                y=wav_np, sr=SAMPLE_RATE, n_fft=n_fft, hop_length=hop, power=1.0, n_mels=cfg.n_mels
            )
            return np.log(mel + eps)

        print(f"{case}: log-mel ...", flush=True)
        t = timed({"ours": logmel_ours, "librosa": logmel_librosa}, repeats * 2, inner=LOGMEL_INNER)
        diff = np.abs(np.exp(logmel_ours().numpy()) - np.exp(logmel_librosa())).max()
        assert diff < 1e-4, f"log-mel disagrees with librosa: {diff}"
        rows.append(
            (
                f"log-mel, {case}",
                "librosa melspectrogram + log",
                t["ours"],
                t["librosa"],
                None,
                None,
                3.0,
            )
        )

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.0f} ({min(values) * 1000:.0f})"

    lines = [
        f"### torch threads: {threads}",
        "",
        f"Measured {datetime.date.today().isoformat()} with torch {torch.__version__} on {platform.machine()} "
        f"{_cpu_name()} ({os.cpu_count()} CPUs shared with other jobs; 1-min load average {load_before:.1f} before "
        f"and {os.getloadavg()[0]:.1f} after the run, so times are inflated and noisy); {repeats} runs "
        f"(log-mel: {2 * repeats} samples); "
        f"`torch.set_num_threads({threads})`, `OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}`; "
        f"librosa {librosa.__version__} (FFTs by `{librosa.get_fftlib().__name__}`; {_blas_threads()}).",
        "",
        "| case | reference | ours ms | reference ms | speed-up | speed-up (min) | target | met | SC ours | SC librosa |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for case, ref, t_ours, t_ref, sc_o, sc_l, target in rows:
        speed = statistics.median(t_ref) / statistics.median(t_ours)
        speed_min = min(t_ref) / min(t_ours)
        sc_cols = f"{sc_o:.4f} | {sc_l:.4f}" if sc_o is not None else "- | -"
        met = "yes" if speed >= target and (sc_o is None or sc_o <= sc_l) else "no"
        lines.append(
            f"| {case} | {ref} | {ms(t_ours)} | {ms(t_ref)} | {speed:.2f} | {speed_min:.2f} "
            f"| >= {target:.2f} | {met} | {sc_cols} |"
        )
    return "\n".join(lines)


DESCRIPTION = (
    "Real speech from `data/speech`, 16 kHz, n_fft 1024, hop 256, Hann, centred, zero padding; "
    f"Griffin-Lim {N_ITER} iterations, momentum {MOMENTUM}, random init; log-mel 80 Slaney mels of the "
    "magnitude, `audioae.features.LogMel` vs `librosa.feature.melspectrogram(power=1)` + `np.log(mel + eps)`. "
    "Cases: a 10 s clip (the first speech files concatenated, cut to 10.0 s) and a batch of 16 clips "
    "(the first 16 speech files of at least 2 s, cut to 2.0 s). Times: median (minimum) in ms of "
    "`--repeats` runs after a warm-up, contenders interleaved (log-mel: of twice as many samples, each "
    f"the mean of {LOGMEL_INNER} back-to-back calls). `speed-up` = reference median / ours median "
    "(> 1: ours faster); `speed-up (min)` the same with the minima, the least disturbed runs. Targets: "
    "Griffin-Lim and log-mel >= 3x librosa (Griffin-Lim at equal or better SC); Griffin-Lim within "
    "1.3x of 32 x (torch.stft + torch.istft), i.e. speed-up >= 1 / 1.3 = 0.77; `met` judges the "
    "median. SC = spectral convergence `||S - |STFT(y)|||_F / ||S||_F` of the Griffin-Lim output, "
    f"mean over seeds {SEEDS} (both start from a random phase). Both sides get their best thread "
    "settings for a shared machine (see the top of the script): torch's OpenMP threads sleep "
    "instead of spinning, numpy's OpenBLAS runs one thread. The brief's configuration is 2 torch "
    "threads; the 1-thread table shows how much of the spread is thread contention. On this "
    "shared 2-core machine whole runs of the script differ by up to 2-3x from one another (other "
    "jobs' load): compare the rows of one table, not tables of different runs."
)


def _blas_threads() -> str:
    """numpy's BLAS and its thread count, as threadpoolctl reports them (if installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "numpy BLAS threads not reported (threadpoolctl missing)"
    blas = [
        f"{d['internal_api']} {d['num_threads']} threads"
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]
    return "numpy BLAS: " + (", ".join(blas) if blas else "none found")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_section(tables: list[str]) -> None:
    """Replace (or append) the ``## Front-end`` section of ``docs/benchmarks.md``, keeping the rest."""
    body = "\n\n".join(tables)
    replace_section(
        "## Front-end\n\nMeasured by `python benchmarks/bench_frontend.py --write` "
        f"(`benchmarks/bench_frontend.py`).\n\n{DESCRIPTION}\n\n{body}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs per contender (default 5)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[2, 1],
        help="torch intra-op thread counts, one table each (default 2 1)",
    )
    parser.add_argument(
        "--write", action="store_true", help="write the tables into docs/benchmarks.md"
    )
    args = parser.parse_args()
    print(DESCRIPTION)
    tables = []
    for threads in args.threads:
        tables.append(run(args.repeats, threads))
        print()
        print(tables[-1])
    if args.write:
        write_section(tables)
        print(f"\nwrote the ## Front-end section of {DOCS}")


if __name__ == "__main__":
    main()
