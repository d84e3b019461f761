"""Latent embeddings for feature extraction: the encoder's output per frame, pooled per file.

An embedding is the encoder's posterior mean (VAEs) or its latent (deterministic models) for
every latent frame, ``(latent_dim, latent_frames)``, plus a pooled vector per file,
``(3 * latent_dim,)``: per latent channel the mean over frames, the (population) standard
deviation over frames, and the mean absolute frame-to-frame change ("delta",
``mean_t |z[:, t + 1] - z[:, t]|``, how fast the channel moves). Nothing is sampled, so the
same file always gives the same embedding.

The delta part was added because mean and std alone tied MFCC statistics in the instrument
probe for the deterministic codec AE (docs/benchmarks.md, "Embeddings and anomaly scores"). Multichannel input is mixed to mono (the channel
average) before encoding, so a file has one embedding whatever its channel count.

The encoder runs through :meth:`audioae.pipeline.Pipeline.encode`, which processes long files
in aligned chunks: chunked and whole-file embeddings agree within float rounding (tested).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .fileio import atomic_output
from .waveforms import as_waveform

if TYPE_CHECKING:  # annotations only: no import of the pipeline at run time
    from .pipeline import Pipeline


EMBEDDING_TABLE = "embeddings.csv"
"""Default name of the per-folder table written by :func:`write_embedding_table`."""


@dataclass
class Embedding:
    """One file's (or waveform's) embedding.

    Attributes:
        frames: encoder output per latent frame, ``(latent_dim, latent_frames)`` float32
            (VAEs: the posterior mean).
        mean: ``frames`` averaged over time, ``(latent_dim,)``.
        std: population standard deviation over time, ``(latent_dim,)`` (0 for one frame).
        delta: mean absolute frame-to-frame change, ``mean_t |frames[:, t + 1] - frames[:, t]|``,
            ``(latent_dim,)`` (0 for one frame).
        latent_rate_hz: latent frames per second of audio (``sample_rate / (hop x ds)``).
        duration_s: duration of the input (s), at its own sample rate.
    """

    frames: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    delta: torch.Tensor
    latent_rate_hz: float
    duration_s: float

    @property
    def pooled(self) -> torch.Tensor:
        """``mean``, ``std`` then ``delta``: ``(3 * latent_dim,)``, the per-file feature vector
        (the order of the table's ``mean_*``, ``std_*``, ``delta_*`` columns)."""
        return torch.cat([self.mean, self.std, self.delta])

    @property
    def latent_dim(self) -> int:
        return int(self.frames.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[1])


def latent_rate_hz(pipe: Pipeline) -> float:
    """Latent frames per second of audio for ``pipe``: ``sample_rate / (hop_length x time_downsampling)``."""
    return pipe.sample_rate / pipe.align


def pool_frames(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, population std and mean absolute frame-to-frame change of ``(latent_dim, latent_frames)``.

    Returns three ``(latent_dim,)`` tensors; std and delta are 0 for a single frame.

    Raises:
        ValueError: not 2-D, or no frames.
    """
    if frames.ndim != 2 or frames.shape[1] == 0:
        raise ValueError(
            f"expected frames (latent_dim, latent_frames >= 1), got {tuple(frames.shape)}"
        )
    if frames.shape[1] > 1:
        delta = frames.diff(dim=-1).abs().mean(-1)
    else:
        delta = torch.zeros_like(frames[:, 0])
    return frames.mean(-1), frames.std(-1, correction=0), delta


def embedding_of(frames: torch.Tensor, latent_rate_hz: float, duration_s: float) -> Embedding:
    """An :class:`Embedding` of encoder frames ``(latent_dim, latent_frames)`` (pooled here).

    Raises:
        ValueError: see :func:`pool_frames`.
    """
    frames = frames.detach().to("cpu", torch.float32)
    mean, std, delta = pool_frames(frames)
    return Embedding(
        frames=frames,
        mean=mean,
        std=std,
        delta=delta,
        latent_rate_hz=float(latent_rate_hz),
        duration_s=float(duration_s),
    )


def embed_waveform(
    pipe: Pipeline, wav: torch.Tensor, *, duration_s: float | None = None
) -> Embedding:
    """Embed a waveform ``(channels, time)`` or ``(time,)`` at ``pipe.sample_rate``.

    Channels are averaged to mono first. ``duration_s`` defaults to ``time / sample_rate``.

    Raises:
        ValueError: what :func:`audioae.waveforms.as_waveform` refuses (integer PCM, a
            ``(time, channels)`` layout, NaN/Inf samples, ...).
    """
    wav = as_waveform(wav).mean(0, keepdim=True)
    latent = pipe.encode(wav)  # (1, latent_dim, latent_frames), posterior mean
    if duration_s is None:
        duration_s = wav.shape[-1] / pipe.sample_rate
    return embedding_of(latent[0], latent_rate_hz(pipe), duration_s)


def save_embedding(
    path: str | os.PathLike, embedding: Embedding, *, overwrite: bool = False
) -> Path:
    """Write ``embedding.frames`` ``(latent_dim, latent_frames)`` float32 as a ``.npy`` file, atomically.

    The file holds the per-frame encoder output only (row ``i`` is latent channel ``i``, column
    ``t`` the latent frame starting at ``t / latent_rate_hz`` seconds); the pooled vector is in
    the table (:func:`write_embedding_table`).

    Raises:
        audioae.fileio.OutputExistsError: ``path`` exists and not ``overwrite``.
    """
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        np.save(fh, embedding.frames.numpy().astype(np.float32), allow_pickle=False)
    return Path(path)


def table_columns(latent_dim: int) -> list[str]:
    """Header of the embedding table: file, npy, duration_s, latent_rate_hz, frames, then the
    pooled vector (:attr:`Embedding.pooled`): mean_0.., std_0.., delta_0.. (``latent_dim`` each)."""
    return (
        ["file", "npy", "duration_s", "latent_rate_hz", "frames"]
        + [f"mean_{i}" for i in range(latent_dim)]
        + [f"std_{i}" for i in range(latent_dim)]
        + [f"delta_{i}" for i in range(latent_dim)]
    )


def write_embedding_table(
    path: str | os.PathLike,
    rows: Sequence[tuple[str, str, Embedding]],
    *,
    overwrite: bool = False,
) -> Path:
    """Write one CSV row per ``(file, npy, embedding)`` with the pooled vector, atomically.

    Raises:
        ValueError: no rows, or embeddings of different latent sizes.
        audioae.fileio.OutputExistsError: ``path`` exists and not ``overwrite``.
    """
    if not rows:
        raise ValueError("write_embedding_table: no embeddings to write")
    dims = {emb.latent_dim for _, _, emb in rows}
    if len(dims) != 1:
        raise ValueError(f"write_embedding_table: mixed latent sizes {sorted(dims)}")
    with atomic_output(path, overwrite=overwrite) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(table_columns(dims.pop()))
        for file, npy, emb in rows:
            writer.writerow(
                [file, npy, f"{emb.duration_s:.6f}", f"{emb.latent_rate_hz:.6f}", emb.num_frames]
                + [f"{v:.7g}" for v in emb.pooled.tolist()]
            )
    return Path(path)
