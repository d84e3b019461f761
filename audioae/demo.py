"""``audioae demo``: denoising, compression and timbre morphs on held-out bundled audio, as a report.

By default the demo uses the small models shipped in ``data/models/`` (package data when
installed, see :mod:`audioae.bundled`; trained by
``scripts/train_demo_models.py`` with the project's recipes on the *train* split of
``data/splits.yaml``); ``--train`` first trains them from scratch with short schedules. Every
input it processes comes from the *test* split, so no model heard it in training.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .audio import load_audio, save_audio
from .bundled import DATA_DIR, MODELS_DIR
from .config import load_config, load_yaml, resolve_recipe
from .report import Item, Section, write_report

if TYPE_CHECKING:
    from .pipeline import Pipeline

Splits = dict[str, dict[str, list[Path]]]
"""``{group: {"train": [...], "test": [...]}}``, as :func:`load_splits` returns it."""


MODEL_FILES = {
    "denoise": "denoise.safetensors",
    "codec": "codec.safetensors",
    "timbre": "timbre.safetensors",
}
"""Demo model name → file name in the models folder."""

TRAINING_PLAN = {
    # name: (recipe, data subfolder, noise subfolder or None, --set overrides for a short schedule)
    "denoise": ("denoise", "speech", "noise", ["training.max_steps=400", "training.val_every=200"]),
    "codec": (
        "codec",
        "speech",
        None,
        # the recipe's rate and warm-up are for its long schedule
        [
            "training.max_steps=300",
            "training.val_every=150",
            "training.learning_rate=1e-3",
            "training.warmup_steps=50",
        ],
    ),
    "timbre": (
        "conv2d_vae",
        "notes",
        None,
        ["training.max_steps=300", "training.val_every=150", "loss.kl_cycle_steps=150"],
    ),
}
SNRS_DB = (0.0, 5.0, 10.0)


class DemoError(RuntimeError):
    """The demo cannot run: missing bundled data or models; the message says what to do."""


def find_data_dir(data: str | os.PathLike | None = None) -> Path:
    """The bundled audio folder (with ``splits.yaml``): ``data`` if given, else ``./data``, else
    :data:`audioae.bundled.DATA_DIR` (a clone's ``data/``, or the held-out audio an installed
    package carries).

    Raises:
        DemoError: no ``splits.yaml`` in any candidate; the message says to pass ``--data``.
    """
    candidates = [Path(data)] if data else [Path("data"), DATA_DIR]
    for path in candidates:
        if (path / "splits.yaml").is_file():
            return path
    raise DemoError(
        f"bundled audio not found (looked for splits.yaml in {', '.join(map(str, candidates))}); "
        "pass --data DIR with the data/ folder of a clone of the audioae repository"
    )


def _require_files(files: list[Path], data_dir: Path, what: str) -> None:
    """Refuse with one line when ``data_dir`` lacks split files (an installed package carries
    only the held-out audio, not the training split).

    Raises:
        DemoError: names the first missing file and says to pass ``--data``.
    """
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DemoError(
            f"{data_dir}: {len(missing)} file(s) of the {what} are missing (e.g. {missing[0]}); "
            "pass --data DIR with the full data/ folder of a clone of the audioae repository"
        )


def load_splits(data_dir: Path) -> Splits:
    """``{group: {"train": [...], "test": [...]}}`` with absolute paths, from ``data/splits.yaml``."""
    raw = load_yaml((data_dir / "splits.yaml").read_text(), str(data_dir / "splits.yaml"))
    return {
        group: {part: [data_dir / p for p in files] for part, files in parts.items()}
        for group, parts in raw.items()
    }


def split_folder(files: list[Path], root: Path, base: Path) -> Path:
    """A folder of links (copies where links fail) to ``files``, keeping their paths relative to ``base``."""
    root.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = root / f.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                target.symlink_to(f.resolve())
            except OSError:
                shutil.copy2(f, target)
    return root


def train_demo_models(
    data_dir: Path,
    out_dir: Path,
    *,
    overrides: dict[str, list[str]] | None = None,
    progress: bool = True,
    names: list[str] | None = None,
) -> dict[str, Path]:
    """Train the three demo models on the train split with the project's recipes.

    ``overrides`` maps a model name to extra ``--set`` strings; the defaults are the short
    schedules of :data:`TRAINING_PLAN` (minutes on a 2-core CPU). ``names`` picks a subset
    of :data:`TRAINING_PLAN` (default: all).

    Raises:
        ValueError: an unknown name in ``names``.
    """
    unknown = sorted(set(names or []) - set(TRAINING_PLAN))
    if unknown:
        raise ValueError(f"unknown demo model(s) {unknown}; choose from {sorted(TRAINING_PLAN)}")
    from .training import train

    splits = load_splits(data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, (recipe, group, noise_group, short) in TRAINING_PLAN.items():
        if names and name not in names:
            continue
        _require_files(splits[group]["train"], data_dir, f"{group} training split")
        if noise_group:
            _require_files(splits[noise_group]["train"], data_dir, f"{noise_group} training split")
        sets = (overrides or {}).get(name, short)
        cfg = load_config(resolve_recipe(recipe), sets)
        clean = split_folder(splits[group]["train"], out_dir / "splits" / group, data_dir)
        noise = (
            split_folder(splits[noise_group]["train"], out_dir / "splits" / noise_group, data_dir)
            if noise_group
            else None
        )
        result = train(
            cfg, clean, noise_dir=noise, out_dir=out_dir / "runs" / name, progress=progress
        )
        target = out_dir / MODEL_FILES[name]
        shutil.copy2(result.model_file, target)
        written[name] = target
    return written


def _figure(wav: torch.Tensor, sample_rate: int, path: Path, title: str) -> None:
    from .plots import save_figure, spectrogram_figure

    save_figure(spectrogram_figure(wav.reshape(-1).cpu(), sample_rate, title), path, overwrite=True)


def _sound(out: Path, rel: str, wav: torch.Tensor, sample_rate: int, caption: str) -> Item:
    save_audio(out / f"{rel}.wav", wav.reshape(1, -1).cpu(), sample_rate, overwrite=True)
    _figure(wav, sample_rate, out / f"{rel}.png", caption)
    return Item(caption, f"{rel}.wav", f"{rel}.png")


LONG_CLIP_SECONDS = 30.0
"""The real-time factor is measured on held-out speech concatenated to at least this long."""

UP, DOWN = "↑", "↓"
"""Header marks: a higher (↑) or lower (↓) value is better."""


def speech_metrics_available() -> bool:
    """True when the eval extra (``pesq`` and ``pystoi``) is installed."""
    return all(importlib.util.find_spec(name) for name in ("pesq", "pystoi"))


def _mean_row(label: str, rows: list[list[object]], skip: int) -> list[object]:
    """``label`` then blanks for the ``skip - 1`` other label columns, then each column's mean."""
    columns = list(zip(*(row[skip:] for row in rows)))
    means = [sum(c) / len(c) if all(isinstance(v, float | int) for v in c) else "" for c in columns]
    return [label] + [""] * (skip - 1) + means


def _long_clip(splits: Splits, sr: int) -> torch.Tensor:
    """Held-out speech clips concatenated (repeated if needed) to >= :data:`LONG_CLIP_SECONDS`: ``(1, time)``."""
    files = splits["speech"]["test"]
    pieces: list[torch.Tensor] = []
    total = 0
    while total < LONG_CLIP_SECONDS * sr:
        pieces.append(load_audio(files[len(pieces) % len(files)], sample_rate=sr)[0])
        total += pieces[-1].shape[-1]
    return torch.cat(pieces, -1)


def _timed(fn: Callable[[], torch.Tensor]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_denoise_stage(pipe: Pipeline, splits: Splits, out: Path, quick: bool) -> Section:
    """Denoise held-out speech mixed with real noise at :data:`SNRS_DB`; sounds under ``out/denoise``.

    ``pipe``: the denoising :class:`~audioae.pipeline.Pipeline`; ``splits``: from
    :func:`load_splits`. ``quick``: one clip and one (unseen) noise instead of two of each.
    Every mixture is also denoised by the classical baseline
    (:func:`audioae.baselines.spectral_subtraction`). Returns the report section: sounds,
    figures, a table of SI-SDR (plus PESQ and STOI when installed) per method with the change
    over the noisy input and the mean per method, and the real-time factor of both methods
    measured on one long clip (>= :data:`LONG_CLIP_SECONDS`).
    """
    from .augment import mix_at_snr
    from .baselines import spectral_subtraction
    from .metrics import pesq_wb, si_sdr, stoi

    speech_metrics = speech_metrics_available()
    sr = pipe.sample_rate
    clips = splits["speech"]["test"][: 1 if quick else 2]
    noises = [splits["noise"]["test"][0]] + ([] if quick else [splits["noise"]["train"][0]])
    section = Section("Denoising (held-out speaker, real noise)")
    methods = ("noisy input", "spectral subtraction", "audioae")
    rows: list[list[object]] = []
    per_method: dict[str, list[list[object]]] = {m: [] for m in methods}
    generator = torch.Generator().manual_seed(0)

    def scores(wav: torch.Tensor, reference: torch.Tensor) -> list[float]:
        values = [float(si_sdr(wav[0], reference[0]))]
        if speech_metrics:
            values += [
                float(pesq_wb(wav[0], reference[0], sr)),
                float(stoi(wav[0], reference[0], sr)),
            ]
        return values

    for clip in clips:
        clean = load_audio(clip, sample_rate=sr)[0]
        section.items.append(
            _sound(out, f"denoise/{clip.stem}_clean", clean, sr, f"clean: {clip.stem}")
        )
        for noise_path in noises:
            noise = load_audio(noise_path, sample_rate=sr)[0]
            seen = "unseen" if noise_path in splits["noise"]["test"] else "seen"
            for snr in SNRS_DB:
                noisy = mix_at_snr(clean, noise, snr, generator=generator)
                gain = min(1.0, 0.99 / float(noisy.abs().max()))  # mixture within full scale
                noisy, reference = noisy * gain, clean * gain
                outputs = {
                    "noisy input": noisy,
                    "spectral subtraction": spectral_subtraction(noisy, sr),
                    "audioae": pipe.denoise(noisy).cpu(),
                }
                tag = f"{clip.stem}_{noise_path.stem}_{snr:g}dB"
                section.items.append(
                    _sound(
                        out,
                        f"denoise/{tag}_noisy",
                        noisy,
                        sr,
                        f"noisy: {noise_path.stem} ({seen}) at {snr:g} dB",
                    )
                )
                section.items.append(
                    _sound(
                        out,
                        f"denoise/{tag}_denoised",
                        outputs["audioae"],
                        sr,
                        f"audioae denoised: {noise_path.stem} at {snr:g} dB",
                    )
                )
                if snr == SNRS_DB[0]:
                    section.items.append(
                        _sound(
                            out,
                            f"denoise/{tag}_spectral_subtraction",
                            outputs["spectral subtraction"],
                            sr,
                            f"spectral subtraction (baseline): {noise_path.stem} at {snr:g} dB",
                        )
                    )
                before = scores(noisy, reference)
                for method in methods:
                    values = (
                        before if method == "noisy input" else scores(outputs[method], reference)
                    )
                    row: list[object] = [
                        clip.stem,
                        f"{noise_path.stem} ({seen})",
                        f"{snr:g}",
                        method,
                    ]
                    for value, base in zip(values, before):
                        row += [value, "" if method == "noisy input" else value - base]
                    rows.append(row)
                    per_method[method].append(row)
    metric_names = [f"SI-SDR (dB) {UP}"] + ([f"PESQ {UP}", f"STOI {UP}"] if speech_metrics else [])
    header = ["clip", "noise", "SNR (dB)", "method"]
    for name in metric_names:
        header += [name, f"Δ {name.replace(' ' + UP, '')} vs noisy {UP}"]
    rows += [_mean_row(f"mean: {m}", per_method[m], 4) for m in methods]
    section.table(
        "Each mixture: the noisy input, the classical baseline (spectral subtraction, as in "
        "benchmarks/bench_quality.py) and audioae's denoiser; Δ = the change over the noisy "
        "input; the last rows are the means per method",
        header,
        rows,
    )
    if not speech_metrics:
        section.notes.append(
            'PESQ and STOI were not computed: they need `pip install "audioae[eval]"` '
            "(the pesq and pystoi packages)."
        )
    long = _long_clip(splits, sr)
    long_noisy = mix_at_snr(
        long, load_audio(noises[0], sample_rate=sr)[0], 5.0, generator=generator
    )
    long_noisy = long_noisy * min(1.0, 0.99 / float(long_noisy.abs().max()))
    seconds = long.shape[-1] / sr
    timing = []
    for method, fn in (
        ("spectral subtraction", lambda: spectral_subtraction(long_noisy, sr)),
        ("audioae", lambda: pipe.denoise(long_noisy)),
    ):
        elapsed = _timed(fn)
        timing.append([method, seconds, elapsed, elapsed / seconds, seconds / elapsed])
    section.table(
        f"Speed on one long clip: the held-out speech concatenated to {seconds:.0f} s, "
        f"denoised in one call on this machine ({torch.get_num_threads()} torch threads, "
        f"{pipe.device.type}); RTF = processing time / audio duration",
        ["method", "audio (s)", f"time (s) {DOWN}", f"RTF {DOWN}", f"x real time {UP}"],
        timing,
    )
    return section


def _phase_words(pipe: Pipeline) -> str:
    """How ``pipe`` turns features into a waveform by default, in words for a caption."""
    method, cfg = pipe.default_phase, pipe.config.phase
    if method == "learned":
        return "learned decoder"
    if method == "learned+griffin-lim":
        return f"learned decoder + {cfg.warm_start_iter} Griffin-Lim iterations"
    return f"Griffin-Lim, {cfg.n_iter} iterations"


def run_codec_stage(pipe: Pipeline, splits: Splits, out: Path) -> Section:
    """Encode a held-out note and speech clip into ``.aae`` files and decode them (``out/codec``).

    Prints each file's size and bitrate; returns the report section with the sounds and a
    table of real bitrates and the log-mel L1 of the decoded audio, with Opus at its lowest
    bitrate (6 kbit/s, :func:`audioae.baselines.opus_roundtrip`) as the baseline when
    ``ffmpeg`` with libopus is on the PATH (else a note says it was skipped), and the means.
    When the codec decodes with a learned decoder, each clip is also decoded with Griffin-Lim
    and played beside it.
    """
    from .apps import decode_file, encode_file
    from .baselines import OPUS_MIN_KBPS, ffmpeg_has_libopus, opus_roundtrip
    from .metrics import log_mel_l1

    work = out / "codec"
    work.mkdir(exist_ok=True)
    sr = pipe.sample_rate
    opus = ffmpeg_has_libopus()
    compare_gl = pipe.default_phase != "griffin-lim"
    section = Section("Compression (.aae latent files)")
    rows: list[list[object]] = []
    per_method: dict[str, list[list[object]]] = {"audioae": [], "Opus": []}
    for clip in (splits["notes"]["test"][0], splits["speech"]["test"][0]):
        original = load_audio(clip, sample_rate=sr)[0]
        aae = work / f"{clip.stem}.aae"
        stats = encode_file(pipe, clip, aae, overwrite=True)
        decoded_path = work / f"{clip.stem}_decoded.wav"
        decode_file(pipe, aae, decoded_path, overwrite=True)
        decoded = load_audio(decoded_path, sample_rate=sr)[0]
        section.items.append(
            _sound(out, f"codec/{clip.stem}_original", original, sr, f"original: {clip.stem}")
        )
        section.items.append(
            _sound(
                out,
                f"codec/{clip.stem}_decoded",
                decoded,
                sr,
                f"audioae decoded at {stats.bitrate_kbps:.1f} kbit/s ({_phase_words(pipe)})",
            )
        )
        if compare_gl:  # the same file through Griffin-Lim, to hear what the decoder adds
            gl_path = work / f"{clip.stem}_decoded_griffin_lim.wav"
            decode_file(pipe, aae, gl_path, phase="griffin-lim", overwrite=True)
            section.items.append(
                _sound(
                    out,
                    f"codec/{clip.stem}_decoded_griffin_lim",
                    load_audio(gl_path, sample_rate=sr)[0],
                    sr,
                    f"the same .aae file decoded with Griffin-Lim ({pipe.config.phase.n_iter} "
                    "iterations, no learned decoder), for comparison",
                )
            )
        ours = float(log_mel_l1(decoded[0], original[0], sr))
        row: list[object] = [
            clip.stem,
            "audioae",
            stats.num_bytes,
            stats.bitrate_kbps,
            stats.pcm16_ratio,
            ours,
        ]
        rows.append(row)
        per_method["audioae"].append(row)
        if opus:
            res = opus_roundtrip(original, sr, OPUS_MIN_KBPS)
            baseline = float(log_mel_l1(res.decoded, original[0], sr))
            section.items.append(
                _sound(
                    out,
                    f"codec/{clip.stem}_opus",
                    res.decoded,
                    sr,
                    f"Opus (baseline) at {res.bitrate_kbps:.1f} kbit/s",
                )
            )
            pcm = original.shape[-1] * 2
            opus_row: list[object] = [
                clip.stem,
                "Opus",
                res.num_bytes,
                res.bitrate_kbps,
                pcm / res.num_bytes,
                baseline,
            ]
            rows.append(opus_row)
            per_method["Opus"].append(opus_row)
            row.append(ours - baseline)
            opus_row.append("")
        print(
            f"  {clip.name}: {stats.num_bytes} bytes, {stats.bitrate_kbps:.2f} kbit/s, {stats.pcm16_ratio:.0f}x smaller than 16-bit PCM"
        )
    header = [
        "clip",
        "codec",
        f"bytes {DOWN}",
        f"kbit/s {DOWN}",
        f"x smaller than PCM16 {UP}",
        f"log-mel L1 {DOWN}",
    ]
    if opus:
        header.append(f"Δ log-mel L1 vs Opus {DOWN}")
    rows += [_mean_row(f"mean: {m}", r, 2) for m, r in per_method.items() if r]
    section.table(
        "Real bitrate (header included) and log-mel L1 distance of the decoded audio to the "
        "original"
        + (
            f"; Opus at its lowest bitrate ({OPUS_MIN_KBPS:g} kbit/s requested) is the baseline"
            if opus
            else ""
        )
        + "; the last rows are the means",
        header,
        rows,
    )
    if not opus:
        section.notes.append(
            "Opus baseline skipped: `ffmpeg` with libopus is not on the PATH "
            "(Debian/Ubuntu: apt-get install ffmpeg)."
        )
    return section


def _pick_pair(test_notes: list[Path]) -> tuple[Path, Path]:
    """Two held-out notes of different instruments, at the same pitch if possible (else the closest)."""
    parsed = [(p, p.stem.rsplit("_", 1)[0], int(p.stem.rsplit("_", 1)[1])) for p in test_notes]
    preferred = [("flute", "trumpet"), ("violin", "saxophone"), ("piano", "organ")]
    best = None
    for a, ia, pa in parsed:
        for b, ib, pb in parsed:
            if ia == ib:
                continue
            score = (abs(pa - pb), 0 if (ia, ib) in preferred else 1)
            if best is None or score < best[0]:
                best = (score, a, b)
    if best is None:
        raise DemoError("the held-out notes need at least two instruments")
    return best[1], best[2]


def _step_caption(i: int, steps: int, a: str, b: str) -> str:
    """What morph step ``i`` of ``steps`` is: an end step is a reconstruction, the rest a blend."""
    alpha = i / (steps - 1)
    if i == 0:
        return f"step 0 (alpha=0): {a} reconstructed from its own latent"
    if i == steps - 1:
        return f"step {i} (alpha=1): {b} reconstructed from its own latent"
    return f"step {i}: latent blend, alpha={alpha:.2f} ({1 - alpha:.0%} A, {alpha:.0%} B)"


def run_morph_stage(pipe: Pipeline, splits: Splits, out: Path, quick: bool) -> Section:
    """Morph between two held-out notes (``out/morph``) and sample the VAE prior (``out/samples``).

    ``quick``: 5 morph steps and 2 samples instead of 8 and 4. Returns the report section.

    Raises:
        DemoError: the held-out notes hold fewer than two instruments.
    """
    from .apps import interpolate_files, sample_files

    sr = pipe.sample_rate
    a, b = _pick_pair(splits["notes"]["test"])
    steps = 5 if quick else 8
    section = Section(f"Timbre morph: {a.stem} → {b.stem} (conv2d VAE)")
    section.notes.append(
        f"Steps 0 to {steps - 1} decode a blend (1 - alpha) z_A + alpha z_B of the two inputs' "
        "posterior-mean latents, alpha from 0 to 1; the end steps are the model's own "
        f"reconstructions of A and B (encoded, decoded; {_phase_words(pipe)}), not the inputs. "
        "The prior samples decode random latents and show what the VAE makes of noise."
    )
    interpolate_files(pipe, a, b, out / "morph", steps=steps, overwrite=True)
    for name, path in (("A", a), ("B", b)):
        section.items.append(
            _sound(
                out,
                f"morph/input_{name}",
                load_audio(path, sample_rate=sr)[0],
                sr,
                f"input {name}: {path.stem}",
            )
        )
    for i in range(steps):
        wav = load_audio(out / "morph" / f"step_{i:02d}.wav")[0]
        _figure(wav, sr, out / "morph" / f"step_{i:02d}.png", f"step {i}")
        section.items.append(
            Item(
                _step_caption(i, steps, a.stem, b.stem),
                f"morph/step_{i:02d}.wav",
                f"morph/step_{i:02d}.png",
            )
        )
    _figure(
        load_audio(out / "morph" / "morph.wav")[0],
        sr,
        out / "morph" / "morph.png",
        "morph over time",
    )
    section.items.append(
        Item("morph: A turns into B over time", "morph/morph.wav", "morph/morph.png")
    )
    section.items.append(Item("all steps on one dB scale", None, "morph/grid.png"))
    n = 2 if quick else 4
    sample_files(pipe, out / "samples", n=n, seconds=1.5, seed=0, overwrite=True)
    for i in range(n):
        wav = load_audio(out / "samples" / f"sample_{i:02d}.wav")[0]
        _figure(wav, sr, out / "samples" / f"sample_{i:02d}.png", f"sample {i}")
        section.items.append(
            Item(
                f"prior sample #{i}: a random latent z ~ N(0, I), 1.5 s, decoded with "
                f"{_phase_words(pipe)} (no input involved)",
                f"samples/sample_{i:02d}.wav",
                f"samples/sample_{i:02d}.png",
            )
        )
    return section


def prepare_models(
    data_dir: Path,
    out: Path,
    *,
    models: str | os.PathLike | None = None,
    train: bool = False,
    device: str = "auto",
    say: Callable[[str], None] = print,
) -> tuple[Path, dict[str, Pipeline]]:
    """The demo's three pipelines: from ``models`` (default ``data_dir/models`` if it holds
    them, else the shipped models, :data:`audioae.bundled.MODELS_DIR`), or trained first.

    With ``train`` the models are trained with short schedules into ``out/models``.
    Returns the models folder and ``{name: Pipeline}`` for the names of :data:`MODEL_FILES`.

    Raises:
        DemoError: a model file is missing.
    """
    from .pipeline import Pipeline

    if models:
        models_dir = Path(models)
    elif all((data_dir / "models" / f).is_file() for f in MODEL_FILES.values()):
        models_dir = data_dir / "models"
    else:
        models_dir = MODELS_DIR
    if train:
        say("[1/5] training the demo models from scratch (short schedules)…")
        models_dir = out / "models"
        train_demo_models(data_dir, models_dir)
    missing = [f for f in MODEL_FILES.values() if not (models_dir / f).is_file()]
    if missing:
        raise DemoError(
            f"{models_dir}: missing model files {', '.join(missing)}; run `audioae demo --train` to train them"
        )
    pipes = {name: Pipeline.load(models_dir / f, device=device) for name, f in MODEL_FILES.items()}
    return models_dir, pipes


def write_demo_report(out: Path, sections: list[Section], data_dir: Path, models_dir: Path) -> Path:
    """Write ``out/report.html`` from the stage sections (replacing it); returns its path."""
    intro = (
        f"Every input is from the held-out split of {data_dir / 'splits.yaml'}; models from {models_dir}. "
        "Spectrograms: power in dB, 1024-point STFT. In table headers ↑ means higher is better "
        "and ↓ lower is better."
    )
    return write_report(out / "report.html", "audioae demo", sections, intro=intro, overwrite=True)


def run_demo(
    out_dir: str | os.PathLike = "demo_out",
    *,
    data: str | os.PathLike | None = None,
    models: str | os.PathLike | None = None,
    train: bool = False,
    quick: bool = False,
    force: bool = False,
    device: str = "auto",
    say: Callable[[str], None] = print,
) -> Path:
    """Run every demo stage and write ``out_dir/report.html``; returns the report's path.

    The steps: :func:`prepare_models`, :func:`run_denoise_stage`, :func:`run_codec_stage`,
    :func:`run_morph_stage`, :func:`write_demo_report`.

    Raises:
        DemoError: bundled data or models missing.
        audioae.fileio.OutputExistsError: ``out_dir/report.html`` exists and not ``force``.
    """
    from .fileio import OutputExistsError

    out = Path(out_dir)
    if (out / "report.html").exists() and not force:
        raise OutputExistsError(out / "report.html")
    data_dir = find_data_dir(data)
    splits = load_splits(data_dir)
    for group, parts in splits.items():
        _require_files(parts["test"], data_dir, f"{group} held-out split")
    out.mkdir(parents=True, exist_ok=True)
    models_dir, pipes = prepare_models(
        data_dir, out, models=models, train=train, device=device, say=say
    )
    sections = []
    say("[2/5] denoising held-out speech mixed with real noise at 0, 5 and 10 dB…")
    sections.append(run_denoise_stage(pipes["denoise"], splits, out, quick))
    say("[3/5] compressing a held-out note and speech clip…")
    sections.append(run_codec_stage(pipes["codec"], splits, out))
    say("[4/5] rendering a timbre morph and sampling from the VAE prior…")
    sections.append(run_morph_stage(pipes["timbre"], splits, out, quick))
    say("[5/5] writing the report…")
    report = write_demo_report(out, sections, data_dir, models_dir)
    say(f"report: {report.resolve()}")
    return report
