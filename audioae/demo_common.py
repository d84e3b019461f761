"""Shared pieces of the demo's report stages: the error, the splits type, sounds with their
spectrograms, table means and captions (used by :mod:`audioae.demo` and its stage modules)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .audio import save_audio
from .report import Item

if TYPE_CHECKING:
    from .pipeline import Pipeline

Splits = dict[str, dict[str, list[Path]]]
"""``{group: {"train": [...], "test": [...]}}``, as :func:`audioae.demo.load_splits` returns it."""

UP, DOWN = "↑", "↓"
"""Header marks: a higher (↑) or lower (↓) value is better."""


class DemoError(RuntimeError):
    """The demo cannot run: missing bundled data or models; the message says what to do."""


def save_spectrogram(wav: torch.Tensor, sample_rate: int, path: Path, title: str) -> None:
    """Save the spectrogram figure of ``wav`` to ``path`` (replacing it), titled ``title``."""
    from .plots import save_figure, spectrogram_figure

    save_figure(spectrogram_figure(wav.reshape(-1).cpu(), sample_rate, title), path, overwrite=True)


def sound_item(out: Path, rel: str, wav: torch.Tensor, sample_rate: int, caption: str) -> Item:
    """Save ``wav`` as ``out/rel.wav`` with its spectrogram ``out/rel.png``; the report item for both."""
    save_audio(out / f"{rel}.wav", wav.reshape(1, -1).cpu(), sample_rate, overwrite=True)
    save_spectrogram(wav, sample_rate, out / f"{rel}.png", caption)
    return Item(caption, f"{rel}.wav", f"{rel}.png")


def mean_row(label: str, rows: list[list[object]], skip: int) -> list[object]:
    """``label`` then blanks for the ``skip - 1`` other label columns, then each column's mean."""
    columns = list(zip(*(row[skip:] for row in rows)))
    means = [sum(c) / len(c) if all(isinstance(v, float | int) for v in c) else "" for c in columns]
    return [label] + [""] * (skip - 1) + means


def phase_words(pipe: Pipeline) -> str:
    """How ``pipe`` turns features into a waveform by default, in words for a caption."""
    method, cfg = pipe.default_phase, pipe.config.phase
    if method == "learned":
        return "learned decoder"
    if method == "learned+griffin-lim":
        return f"learned decoder + {cfg.warm_start_iter} Griffin-Lim iterations"
    return f"Griffin-Lim, {cfg.n_iter} iterations"
