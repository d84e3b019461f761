"""The generative applications behind ``audioae interpolate`` and ``audioae sample``: morphs
between two files, draws from a VAE's prior or a fitted one, variations of a file, and fitting
a prior to a folder (:func:`fit_prior_files`). Outputs are mono at the model's sample rate,
written atomically and never over an existing file unless ``overwrite``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import torch

from .apps import refuse_existing, within_full_scale
from .audio import AudioError, NoAudioFilesError, find_audio_files, load_audio, save_audio
from .fileio import OutputExistsError, name_some
from .latent_interpolation import MAX_LEVEL_GAIN_DB, rms_db
from .latent_prior import LatentPrior, LatentPriorError
from .pipeline import Pipeline

__all__ = [
    "MAX_PRIOR_FILES",
    "MIN_PEAK_DB",
    "MIN_PRIOR_SECONDS",
    "PRIOR_SILENCE_DB",
    "QUIET_PEAK_DB",
    "fit_prior_files",
    "interpolate_files",
    "sample_files",
]

log = logging.getLogger(__name__)


def interpolate_files(
    pipe: Pipeline,
    source_a: str | os.PathLike,
    source_b: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    steps: int = 8,
    method: str = "linear",
    phase: str | None = None,
    overwrite: bool = False,
    level: str = "match",
) -> list[Path]:
    """Write ``step_00.wav`` … (A → B), ``morph.wav`` (A turning into B over time) and ``grid.png``.

    Outputs are mono at the model's sample rate with A's length, level-matched unless ``level``
    is ``"model"`` (see :meth:`Pipeline.interpolate`); the gains are logged.
    """
    from .plots import save_figure, spectrogram_grid

    out_dir = Path(out_dir)
    names = [f"step_{i:02d}.wav" for i in range(steps)] + ["morph.wav", "grid.png"]
    inputs = {Path(source_a).resolve(), Path(source_b).resolve()}
    for name in names:
        if (out_dir / name).resolve() in inputs:
            raise OutputExistsError(
                out_dir / name, "is one of the inputs; choose another output folder"
            )
        refuse_existing(out_dir / name, overwrite)
    a, _ = load_audio(source_a, sample_rate=pipe.sample_rate, mono=True)
    b, _ = load_audio(source_b, sample_rate=pipe.sample_rate, mono=True)
    result = pipe.interpolate(a, b, steps, method=method, phase=phase, level=level)
    inner = result.gains_db[1:-1]
    if level == "match" and inner:
        log.info(
            "%s: the %s between the ends level-matched by %s dB "
            "(--level model keeps the decoder's levels)",
            out_dir,
            "step" if len(inner) == 1 else f"{len(inner)} steps",
            f"{inner[0]:+.1f}" if len(inner) == 1 else f"{min(inner):+.1f} to {max(inner):+.1f}",
        )
    sounds = within_full_scale(result.steps + [result.morph], out_dir)
    written = []
    for name, wav in zip(names, sounds):
        save_audio(out_dir / name, wav.cpu(), pipe.sample_rate, overwrite=overwrite)
        written.append(out_dir / name)
    titles = [f"step {i} (alpha={alpha:.2f})" for i, alpha in enumerate(result.alphas)]
    grid = spectrogram_grid([w.cpu() for w in result.steps], pipe.sample_rate, titles)
    written.append(save_figure(grid, out_dir / "grid.png", overwrite=overwrite))
    _warn_left_over(out_dir, "step", written)
    return written


def sample_files(
    pipe: Pipeline,
    out_dir: str | os.PathLike,
    *,
    n: int = 4,
    seconds: float = 2.0,
    seed: int = 0,
    phase: str | None = None,
    overwrite: bool = False,
    temperature: float = 1.0,
    like: str | os.PathLike | None = None,
    prior: LatentPrior | None = None,
    peak_db: float | None = None,
) -> list[Path]:
    """Draw ``n`` sounds from a VAE's prior (``temperature`` as :meth:`Pipeline.sample`) and
    write ``sample_00.wav`` … into ``out_dir``; with ``like``, ``n`` variations of that audio
    file from the posterior (:meth:`Pipeline.variations`, ``seconds`` unused), written as
    ``variation_00.wav`` …. ``prior``: the prior to draw from (:meth:`Pipeline.sample`; not
    with ``like``). ``phase`` as :meth:`Pipeline.decode`. ``peak_db``: scale each sound so
    its peak is at that many dBFS, raising it by at most
    :data:`~audioae.latent_interpolation.MAX_LEVEL_GAIN_DB` (a near-silent draw is not made
    noise at full level; such draws are named in a warning; silent ones stay silent); None
    keeps the decoder's levels and logs them when every sound peaks below
    :data:`QUIET_PEAK_DB`.

    Raises:
        OutputExistsError: an output exists and ``overwrite`` is false (before any work).
        AudioError: ``like`` cannot be read.
        PipelineError, ValueError: as the pipeline's methods; ValueError also for ``like``
            with a ``prior``, or ``peak_db`` outside [:data:`MIN_PEAK_DB`, 0].
    """
    if like is not None and prior is not None:
        raise ValueError("variations (like=) come from the sound's posterior, not a prior")
    if peak_db is not None and not MIN_PEAK_DB <= peak_db <= 0:
        raise ValueError(f"peak_db must be in [{MIN_PEAK_DB:g}, 0] dBFS, got {peak_db!r}")
    out_dir = Path(out_dir)
    stem = "sample" if like is None else "variation"
    names = [out_dir / f"{stem}_{i:02d}.wav" for i in range(n)]
    for path in names:
        refuse_existing(path, overwrite)
    generator = torch.Generator().manual_seed(seed)
    if like is None:
        wavs = pipe.sample(
            n, seconds, temperature=temperature, generator=generator, phase=phase, prior=prior
        )
    else:
        source, _ = load_audio(like, sample_rate=pipe.sample_rate, mono=True)
        level = rms_db(source)
        if level < PRIOR_SILENCE_DB:
            log.warning(
                "%s is silent (RMS %.0f dBFS): its variations are what the model makes of silence",
                like,
                level,
            )
        wavs = pipe.variations(source, n, temperature=temperature, generator=generator, phase=phase)
    wavs = list(wavs)
    peaks = [float(w.abs().max()) for w in wavs]
    if peak_db is not None:
        target = 10 ** (peak_db / 20)
        most = 10 ** (MAX_LEVEL_GAIN_DB / 20)
        gains = [min(target / p, most) if p > 0 else 1.0 for p in peaks]
        capped = [
            n.name for n, g, p in zip(names, gains, peaks, strict=True) if p > 0 and g == most
        ]
        if capped:
            log.warning(
                "%s: %s raised by %g dB only, the most --peak-db raises a sound (near "
                "silent as drawn)",
                out_dir,
                ", ".join(capped),
                MAX_LEVEL_GAIN_DB,
            )
        wavs = [w * g for w, g in zip(wavs, gains, strict=True)]  # every peak <= 0 dBFS now
    else:
        if max(peaks) < 10 ** (QUIET_PEAK_DB / 20):
            shown = [20 * math.log10(p) for p in peaks if p > 0]
            log.info(
                "%s: the sounds peak at %s dBFS, as the decoder made them; --peak-db -1 "
                "(peak_db=-1.0) scales each to peak at -1 dBFS",
                out_dir,
                f"{min(shown):.0f} to {max(shown):.0f}" if shown else "-inf (silence)",
            )
        # each draw on its own: they are separate sounds, unlike a morph's steps
        wavs = [within_full_scale([w], path)[0] for w, path in zip(wavs, names, strict=True)]
    for path, wav in zip(names, wavs):
        save_audio(path, wav.cpu(), pipe.sample_rate, overwrite=overwrite)
    _warn_left_over(out_dir, stem, names)
    return names


MIN_PRIOR_SECONDS = 10.0
""":func:`fit_prior_files` warns when it fits on less audio than this (s) in all."""

PRIOR_SILENCE_DB = -60.0
""":func:`fit_prior_files` counts files whose RMS level is below this (dBFS) as silent."""

MIN_PEAK_DB = -60.0
"""The lowest peak level (dBFS) :func:`sample_files` normalises to."""

QUIET_PEAK_DB = -12.0
""":func:`sample_files` says so when every sound it drew peaks below this (dBFS)."""

MAX_PRIOR_FILES = 500
"""At most this many files of a folder are encoded to fit a prior (evenly spaced in sorted
order, so every sub-folder is represented)."""


def fit_prior_files(
    pipe: Pipeline,
    inputs: list[str | os.PathLike],
    *,
    max_files: int = MAX_PRIOR_FILES,
    problems: list[tuple[Path, str]] | None = None,
) -> tuple[LatentPrior, int]:
    """A :class:`~audioae.latent_prior.LatentPrior` fitted to the posterior means of the audio
    files in ``inputs`` (files and/or folders, searched recursively; at most ``max_files``,
    evenly spaced): ``(prior, files used)``. An unreadable file is skipped and, with
    ``problems``, appended to it as ``(path, reason)``.

    Fitting on less than :data:`MIN_PRIOR_SECONDS` of audio, or on silent files, is warned
    about (the prior then stands for little).

    Raises:
        NoAudioFilesError: no readable audio file among ``inputs``.
        AudioError: an input does not exist.
        PipelineError: the model is not variational.
        LatentPriorError: the audio gives fewer than 2 latent frames in all.
    """
    files = [f for root in inputs for f in find_audio_files(root)]
    if len(files) > max_files:
        step = len(files) / max_files
        files = [files[int(i * step)] for i in range(max_files)]
    wavs = []
    for f in files:
        try:
            wavs.append(load_audio(f, sample_rate=pipe.sample_rate, mono=True)[0])
        except AudioError as exc:
            if problems is not None:
                problems.append((Path(f), str(exc)))
    where = ", ".join(str(i) for i in inputs)
    if not wavs:
        raise NoAudioFilesError(where, "no readable audio file to fit a prior on")
    seconds = sum(w.shape[-1] for w in wavs) / pipe.sample_rate
    silent = sum(rms_db(w) < PRIOR_SILENCE_DB for w in wavs)
    if seconds < MIN_PRIOR_SECONDS or silent:
        log.warning(
            "%s: the prior is fitted on %.1f s of audio in %d file(s)%s; draws follow what it "
            "was fitted on, so fit it on at least %g s of the sounds you want (the model's "
            "training audio, say)",
            where,
            seconds,
            len(wavs),
            f", {silent} of them silent (below {PRIOR_SILENCE_DB:g} dBFS)" if silent else "",
            MIN_PRIOR_SECONDS,
        )
    try:
        return pipe.fit_prior(wavs), len(wavs)
    except LatentPriorError as exc:
        seconds = sum(w.shape[-1] for w in wavs) / pipe.sample_rate
        raise LatentPriorError(
            f"{where}: {seconds:.3f} s of audio in all is too short: {exc}"
        ) from None


def _warn_left_over(out_dir: Path, stem: str, written: list[Path]) -> None:
    """One warning naming the ``STEM_NN.wav`` files in ``out_dir`` that this run did not
    write (an earlier run with more outputs): they are left as they were, not removed, but
    are not part of this run's set."""
    kept = {p.name for p in written}
    stale = sorted(
        p.name
        for p in out_dir.glob(f"{stem}_[0-9][0-9]*.wav")
        if p.name not in kept and p.stem[len(stem) + 1 :].isdigit()
    )
    if stale:
        log.warning(
            "%s: %d %s file(s) from an earlier run are not part of this one and were left as "
            "they were: %s",
            out_dir,
            len(stale),
            stem,
            name_some(stale),
        )
