"""Evaluation over files: every metric for an (estimate, reference) pair, CSV rows, per-condition
summaries and a printable table; :func:`evaluate_model` runs a model over folders (reconstruction
or denoising) and scores it. Noisy test mixtures come from :func:`audioae.augment.mix_at_snr`.

A *row* is one (file, condition) pair: an :class:`EvaluationRow` or a plain mapping with
``file`` and ``condition`` keys and one float per metric. A *condition* names what produced
the estimate (``"reconstruct"``, ``"codec-6bit"``, ``"noisy"``, ``"denoised"`` ...).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from audioae import metrics
from audioae.audio import AudioError, find_audio_files, load_audio
from audioae.augment import mix_at_snr
from audioae.fileio import atomic_output
from audioae.functional import magnitude, stft

if TYPE_CHECKING:
    from audioae.pipeline import Pipeline

SPECTRAL_N_FFT = 1024
SPECTRAL_HOP = 256
SILENT_RMS = 1e-5
"""A reference quieter than this RMS (full scale 1; -100 dBFS) is silent: it is not scored."""
METRIC_ORDER = (
    "si_sdr",
    "snr_db",
    "spectral_convergence",
    "log_spectral_distance",
    "log_mel_l1",
    "multi_resolution_stft",
    "pesq",
    "stoi",
)


def evaluate_pair(
    estimate: Tensor, reference: Tensor, sample_rate: int, *, speech: bool
) -> dict[str, float]:
    """All metrics of one estimate against its reference, averaged over channels.

    Keys (see :mod:`audioae.metrics`): ``si_sdr`` and ``snr_db`` (dB), ``spectral_convergence``
    (ratio, STFT 1024/256), ``log_spectral_distance`` (dB), ``log_mel_l1`` (nepers, 80 mels),
    ``multi_resolution_stft``, and with ``speech=True`` also ``pesq`` (wide-band MOS) and
    ``stoi`` (0..1).

    Args:
        estimate, reference: ``(time,)`` or ``(channels, time)`` at ``sample_rate`` Hz; lengths
            are cropped to the shorter and a single channel broadcasts against several.
        sample_rate: Hz.
        speech: also compute PESQ and STOI (needs ``pip install "audioae[eval]"``).

    Raises:
        ValueError: shapes that do not broadcast, a silent reference (RMS below
            :data:`SILENT_RMS`: the ratio metrics are undefined), or PESQ found no speech.
        ImportError: ``speech=True`` without the pesq/pystoi packages.
    """
    if estimate.dim() not in (1, 2) or reference.dim() not in (1, 2):
        raise ValueError(
            f"expected (time,) or (channels, time), got {tuple(estimate.shape)} and {tuple(reference.shape)}"
        )
    est, ref = metrics.align(estimate.float(), reference.float())
    rms = float(ref.square().mean().sqrt())
    if not rms >= SILENT_RMS:
        raise ValueError(
            f"the reference is silent (RMS {rms:.2g}, below {SILENT_RMS:g}): SNR, SI-SDR and "
            "spectral convergence are undefined against it"
        )
    mag_est = magnitude(stft(est, SPECTRAL_N_FFT, SPECTRAL_HOP))
    mag_ref = magnitude(stft(ref, SPECTRAL_N_FFT, SPECTRAL_HOP))
    values = {
        "si_sdr": metrics.si_sdr(est, ref),
        "snr_db": metrics.snr_db(est, ref),
        "spectral_convergence": metrics.spectral_convergence(mag_est, mag_ref),
        "log_spectral_distance": metrics.log_spectral_distance(est, ref),
        "log_mel_l1": metrics.log_mel_l1(est, ref, sample_rate),
        "multi_resolution_stft": metrics.multi_resolution_stft_distance(est, ref),
    }
    if speech:
        values["pesq"] = metrics.pesq_wb(est, ref, sample_rate)
        values["stoi"] = metrics.stoi(est, ref, sample_rate)
    return {key: float(v.double().mean()) for key, v in values.items()}


@dataclass
class EvaluationRow:
    """One evaluated file under one condition; ``metrics`` maps metric name to value."""

    file: str
    condition: str
    metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """``{"file": ..., "condition": ..., **metrics}``."""
        return {"file": self.file, "condition": self.condition, **self.metrics}


def _as_dict(row: EvaluationRow | Mapping[str, object]) -> dict[str, object]:
    d = row.as_dict() if isinstance(row, EvaluationRow) else dict(row)
    if "file" not in d or "condition" not in d:
        raise ValueError(f"an evaluation row needs 'file' and 'condition', got keys {sorted(d)}")
    return d


def _metric_columns(rows: Sequence[Mapping[str, object]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in ("file", "condition", "n"):
                seen.setdefault(key, None)
    known = [k for k in METRIC_ORDER if k in seen]
    return known + [k for k in seen if k not in METRIC_ORDER]


def write_csv(
    rows: Iterable[EvaluationRow | Mapping[str, object]],
    path: str | os.PathLike,
    overwrite: bool = False,
) -> Path:
    """Write rows as CSV (columns ``file, condition``, then every metric seen; missing cells
    empty), atomically.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is false.
        ValueError: a row without ``file`` or ``condition``.
    """
    dicts = [_as_dict(r) for r in rows]
    columns = ["file", "condition", *_metric_columns(dicts)]
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            for d in dicts:
                writer.writerow({k: d.get(k, "") for k in columns})
    return path


def summarize(rows: Iterable[EvaluationRow | Mapping[str, object]]) -> list[dict[str, object]]:
    """Per-condition means, conditions in first-seen order.

    Each summary is ``{"condition": str, "n": rows, metric: mean, ...}``. A metric's mean is
    over the rows that have a numeric, non-NaN value for it (``+inf``, e.g. the SI-SDR of an
    exact copy, propagates); a metric no row of the condition has is left out.
    """
    groups: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        d = _as_dict(row)
        groups.setdefault(str(d["condition"]), []).append(d)
    out = []
    for condition, group in groups.items():
        summary: dict[str, object] = {"condition": condition, "n": len(group)}
        for key in _metric_columns(group):
            values = []
            for d in group:
                try:
                    v = float(d.get(key, "nan"))  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    continue
                if not math.isnan(v):
                    values.append(v)
            if values:
                finite = all(map(math.isfinite, values))
                summary[key] = (math.fsum(values) if finite else sum(values)) / len(values)
        out.append(summary)
    return out


def format_table(summary: Sequence[Mapping[str, object]], precision: int = 3) -> str:
    """A fixed-width text table: one line per condition, one column per metric.

    Columns are ``condition``, ``n`` and the metrics in :data:`METRIC_ORDER` then any others;
    missing values print as ``-``. Returns the table without a trailing newline.
    """
    columns = ["condition", "n", *_metric_columns(summary)]

    def cell(row: Mapping[str, object], key: str) -> str:
        v = row.get(key)
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.{precision}f}"
        return str(v)

    cells = [[cell(r, k) for k in columns] for r in summary]
    widths = [
        max(len(k), *(len(c[i]) for c in cells)) if cells else len(k) for i, k in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(values[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(c) for c in cells)])


def evaluate_model(
    pipe: Pipeline,
    *,
    data: str | os.PathLike | None = None,
    clean: str | os.PathLike | None = None,
    noisy: str | os.PathLike | None = None,
    noise: str | os.PathLike | None = None,
    snr_db: tuple[float, ...] = (0.0, 5.0, 10.0),
    speech: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> tuple[list[EvaluationRow], list[tuple[Path, str]]]:
    """Evaluate a model on files; returns ``(rows, skipped)``: one :class:`EvaluationRow` per
    (file, condition) and ``(path, reason)`` for every file left out.

    Modes:
      * ``data``: reconstruction of every file (condition ``reconstruct``).
      * ``clean`` + ``noisy``: denoising of recorded pairs matched by relative path
        (conditions ``noisy`` and ``denoised``).
      * ``clean`` + ``noise``: each clean file mixed with a noise file (cycled in sorted order)
        at every SNR in ``snr_db`` dB (conditions ``noisy@XdB`` and ``denoised@XdB``).

    Files are compared at the model's sample rate, mono. Bad files are skipped and listed.
    Mixtures are seeded by ``seed`` (:func:`audioae.augment.mix_at_snr`).

    Raises:
        ValueError: no mode given. AudioError: no audio files in ``noise``.
    """
    from tqdm.auto import tqdm

    rows: list[EvaluationRow] = []
    skipped: list[tuple[Path, str]] = []
    sr = pipe.sample_rate

    def load(path: Path) -> torch.Tensor:
        return load_audio(path, sample_rate=sr, mono=True)[0]

    def add(file: Path, condition: str, estimate: torch.Tensor, reference: torch.Tensor) -> None:
        rows.append(
            EvaluationRow(
                str(file), condition, evaluate_pair(estimate.cpu(), reference, sr, speech=speech)
            )
        )

    if data is not None:
        tasks = [(f, None) for f in find_audio_files(data)]
    elif clean is not None and noisy is not None:
        tasks = []
        for f in find_audio_files(noisy):
            ref = Path(clean) / f.relative_to(noisy)
            if ref.exists():
                tasks.append((f, ref))
            else:
                skipped.append((f, f"no clean reference {ref}"))
    elif clean is not None and noise is not None:
        noise_files = find_audio_files(noise)
        if not noise_files:
            raise AudioError(noise, "no audio files to use as noise")
        tasks = [
            (f, noise_files[i % len(noise_files)]) for i, f in enumerate(find_audio_files(clean))
        ]
    else:
        raise ValueError("evaluate: give data, or clean with noisy or noise")

    generator = torch.Generator().manual_seed(seed)
    for source, other in tqdm(tasks, desc="evaluate", unit="file", disable=not progress):
        try:
            wav = load(source)
            if data is not None:
                add(source, "reconstruct", pipe.reconstruct(wav)[0], wav[0])
            elif noisy is not None:
                reference = load(other)
                add(source, "noisy", wav[0], reference[0])
                add(source, "denoised", pipe.denoise(wav)[0], reference[0])
            else:
                noise_wav = load(other)
                for snr in snr_db:
                    mixture = mix_at_snr(wav, noise_wav, float(snr), generator=generator)
                    add(source, f"noisy@{snr:g}dB", mixture[0], wav[0])
                    add(source, f"denoised@{snr:g}dB", pipe.denoise(mixture)[0], wav[0])
        except (AudioError, ValueError) as exc:
            skipped.append((source, str(exc)))
    return rows, skipped


__all__ = [
    "METRIC_ORDER",
    "EvaluationRow",
    "evaluate_model",
    "evaluate_pair",
    "format_table",
    "summarize",
    "write_csv",
]
