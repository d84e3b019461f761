"""Evaluation over files: every metric for an (estimate, reference) pair, CSV rows, per-condition
summaries and a printable table; :func:`evaluate_model` runs a model over folders (reconstruction
or denoising) and scores it. Noisy test mixtures come from :func:`audioae.augment.mix_at_snr`.

A *row* is one (file, condition) pair: an :class:`EvaluationRow` or a plain mapping with
``file`` and ``condition`` keys and one float per metric. A *condition* names what produced
the estimate (``"reconstruct"``, ``"codec-6bit"``, ``"noisy"``, ``"denoised"`` ...).
"""

from __future__ import annotations

import csv
import logging
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
from audioae.fileio import atomic_output, name_some
from audioae.functional import magnitude, stft

if TYPE_CHECKING:
    from audioae.pipeline import Pipeline

SPECTRAL_N_FFT = 1024
SPECTRAL_HOP = 256
SILENT_RMS = 1e-5
"""A reference quieter than this RMS (full scale 1; -100 dBFS) is silent: it is not scored (the
ratio metrics are undefined against it). A silent *estimate* is scored, as the worst output."""
PAIR_LENGTH_TOLERANCE_S = 0.1
"""Largest length difference in seconds :func:`evaluate_model` accepts between a recorded clean
file and its noisy partner: codecs pad (MP3 and AAC add up to about two 1152- or 1024-sample
frames, some 50 ms at 44.1 kHz), so such pairs are cropped to the shorter with a warning; a
larger difference most likely means the wrong pair, and that file fails."""
_NAMED = 5  # files named in one warning line; the rest are counted
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

log = logging.getLogger(__name__)


def evaluate_pair(
    estimate: Tensor, reference: Tensor, sample_rate: int, *, speech: bool
) -> dict[str, float]:
    """All metrics of one estimate against its reference, averaged over channels.

    Keys (see :mod:`audioae.metrics`): ``si_sdr`` and ``snr_db`` (dB), ``spectral_convergence``
    (ratio, STFT 1024/256), ``log_spectral_distance`` (dB), ``log_mel_l1`` (nepers, 80 mels),
    ``multi_resolution_stft``, and with ``speech=True`` also ``pesq`` (wide-band MOS) and
    ``stoi`` (0..1).

    A silent reference cannot be scored (below), but a silent *estimate* (all zeros, e.g. a
    model that outputs digital silence) is scored, as the worst output: ``si_sdr``
    :data:`audioae.metrics.SI_SDR_FLOOR_DB` (-100 dB), ``pesq``
    :data:`audioae.metrics.PESQ_WB_FLOOR` (0.999), ``stoi`` 0, ``snr_db`` 0 dB and
    ``spectral_convergence`` 1 (the error is the whole reference); the log-spectral metrics
    stay finite (their epsilons).

    Args:
        estimate, reference: ``(time,)`` or ``(channels, time)`` at ``sample_rate`` Hz; lengths
            are cropped to the shorter and a single channel broadcasts against several.
        sample_rate: Hz.
        speech: also compute PESQ and STOI (needs ``pip install "audioae[eval]"``).

    Raises:
        ValueError: shapes that do not broadcast, NaN or infinite samples in either signal, a
            silent reference (RMS below :data:`SILENT_RMS`: the ratio metrics are undefined),
            or PESQ found no speech.
        ImportError: ``speech=True`` without the pesq/pystoi packages.
    """
    if estimate.dim() not in (1, 2) or reference.dim() not in (1, 2):
        raise ValueError(
            f"expected (time,) or (channels, time), got {tuple(estimate.shape)} and {tuple(reference.shape)}"
        )
    est, ref = metrics.align(estimate.float(), reference.float())
    metrics.require_finite(est, ref)
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


def _names(paths: Sequence[Path]) -> str:
    """The first :data:`_NAMED` paths, then how many more."""
    return name_some(paths, _NAMED)


def _check_pair_length(
    n_noisy: int, clean: Path, n_clean: int, sr: int, tolerance_s: float
) -> bool:
    """Whether a recorded (noisy, clean) pair of ``n_noisy`` and ``n_clean`` samples at ``sr``
    Hz differs in length by more than one sample.

    Raises:
        ValueError: the lengths differ by more than ``tolerance_s`` seconds.
    """
    diff = abs(n_noisy - n_clean)
    if diff <= 1:  # one sample: rounding when the two are resampled from different rates
        return False
    lengths = f"noisy {n_noisy / sr:.3f} s, clean {clean} {n_clean / sr:.3f} s"
    if diff > tolerance_s * sr:
        raise ValueError(
            f"the pair differs in length by {diff / sr:.3f} s ({lengths}), more than the "
            f"{tolerance_s:g} s allowed for codec padding: probably the wrong pair"
        )
    return True


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
    length_tolerance_s: float = PAIR_LENGTH_TOLERANCE_S,
    phase: str | None = None,
) -> tuple[list[EvaluationRow], list[tuple[Path, str]]]:
    """Evaluate a model on files; returns ``(rows, skipped)``: one :class:`EvaluationRow` per
    (file, condition) and ``(path, reason)`` for every file that failed.

    Modes:
      * ``data``: reconstruction of every file (condition ``reconstruct``), its phase from
        ``phase`` (as :meth:`Pipeline.reconstruct`: a phase method, ``"input"`` to keep the
        input's; default the model's). SI-SDR and SNR compare waveforms, so with a rebuilt
        phase (Griffin-Lim, the learned decoder) they are low however close the spectra are
        (a mask model's spectral convergence 0.08 with SI-SDR -22 dB); ``"input"`` measures
        the spectra's effect alone.
      * ``clean`` + ``noisy``: denoising of recorded pairs matched by relative path
        (conditions ``noisy`` and ``denoised``).
      * ``clean`` + ``noise``: each clean file mixed with a noise file (cycled in sorted order)
        at every SNR in ``snr_db`` dB (conditions ``noisy@XdB`` and ``denoised@XdB``).

    Files are compared at the model's sample rate, mono. Bad files are skipped and listed.
    Mixtures are seeded by ``seed`` (:func:`audioae.augment.mix_at_snr`). An estimate of
    digital silence (all zeros) is scored as the worst output (see :func:`evaluate_pair`) and
    stays in the rows, with a warning naming the file.

    Recorded pairs (``clean`` + ``noisy``), each logged as a warning on the ``audioae.evaluate``
    logger (the command prints them to stderr):
      * a noisy file without a clean file of the same relative path fails (it is in
        ``skipped``); a clean file without a noisy partner is not used and does not fail. One
        warning line per side counts them and names the first five.
      * a pair whose lengths differ (by more than one sample at the model's rate) is cropped
        to the shorter and scored; the first five are named, one line each with both lengths
        in seconds. A pair that differs by more than ``length_tolerance_s`` seconds fails.
      * a last line sums up the unpaired files and the pairs of different lengths, when any.

    Raises:
        ValueError: no mode given, or a negative ``length_tolerance_s``.
        AudioError: no audio files in ``noise``.
    """
    from tqdm.auto import tqdm

    if not length_tolerance_s >= 0:
        raise ValueError(
            f"evaluate: length_tolerance_s must be >= 0 seconds, got {length_tolerance_s!r}"
        )
    rows: list[EvaluationRow] = []
    skipped: list[tuple[Path, str]] = []
    sr = pipe.sample_rate
    no_clean: list[Path] = []  # noisy files without a clean partner (failed)
    no_noisy: list[Path] = []  # clean files without a noisy partner (not used)
    cropped: list[float] = []  # length differences in seconds of the pairs cropped
    too_long: list[Path] = []  # pairs that differ by more than length_tolerance_s

    def load(path: Path) -> torch.Tensor:
        return load_audio(path, sample_rate=sr, mono=True)[0]

    def add(file: Path, condition: str, estimate: torch.Tensor, reference: torch.Tensor) -> None:
        estimate = estimate.cpu()
        rows.append(
            EvaluationRow(
                str(file), condition, evaluate_pair(estimate, reference, sr, speech=speech)
            )
        )
        if not estimate.any():
            log.warning(
                "evaluate: %s (%s): the estimate is digital silence: scored as the worst output",
                file,
                condition,
            )

    if data is not None:
        tasks = [(f, None) for f in find_audio_files(data)]
    elif clean is not None and noisy is not None:
        tasks = []
        noisy_files = find_audio_files(noisy)
        for f in noisy_files:
            ref = Path(clean) / f.relative_to(noisy)
            if ref.exists():
                tasks.append((f, ref))
            else:
                no_clean.append(f)
                skipped.append((f, f"no clean reference {ref}"))
        paired = {f.relative_to(noisy) for f in noisy_files}
        no_noisy = [f for f in find_audio_files(clean) if f.relative_to(clean) not in paired]
        if no_clean:
            log.warning(
                "evaluate: %d noisy file(s) have no clean file of the same relative path in %s "
                "and fail: %s",
                len(no_clean),
                clean,
                _names(no_clean),
            )
        if no_noisy:
            log.warning(
                "evaluate: %d clean file(s) have no noisy file of the same relative path in %s "
                "and are not used: %s",
                len(no_noisy),
                noisy,
                _names(no_noisy),
            )
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
                add(source, "reconstruct", pipe.reconstruct(wav, phase=phase)[0], wav[0])
            elif noisy is not None:
                reference = load(other)
                n_noisy, n_clean = wav.shape[-1], reference.shape[-1]
                try:
                    differ = _check_pair_length(n_noisy, other, n_clean, sr, length_tolerance_s)
                except ValueError:
                    too_long.append(source)
                    raise
                if differ:
                    cropped.append(abs(n_noisy - n_clean) / sr)
                    if len(cropped) <= _NAMED:
                        log.warning(
                            "evaluate: %s is %.3f s, its clean %s %.3f s: scored over the "
                            "shorter %.3f s%s",
                            source,
                            n_noisy / sr,
                            other,
                            n_clean / sr,
                            min(n_noisy, n_clean) / sr,
                            " (further pairs of different lengths are only counted)"
                            if len(cropped) == _NAMED
                            else "",
                        )
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
    if no_clean or no_noisy or cropped or too_long:
        parts = []
        if no_clean or no_noisy:
            parts.append(
                f"{len(no_clean) + len(no_noisy)} file(s) unpaired ({len(no_clean)} noisy "
                f"without a clean partner: failed; {len(no_noisy)} clean without a noisy "
                "partner: not used)"
            )
        if cropped:
            parts.append(
                f"{len(cropped)} pair(s) of different lengths cropped to the shorter "
                f"(by up to {max(cropped) * 1000:.1f} ms)"
            )
        if too_long:
            parts.append(
                f"{len(too_long)} pair(s) failed: lengths differ by more than "
                f"{length_tolerance_s:g} s"
            )
        log.warning("evaluate: recorded pairs: %s", "; ".join(parts))
    return rows, skipped


__all__ = [
    "METRIC_ORDER",
    "PAIR_LENGTH_TOLERANCE_S",
    "EvaluationRow",
    "evaluate_model",
    "evaluate_pair",
    "format_table",
    "summarize",
    "write_csv",
]
