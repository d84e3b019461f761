"""What a learned decoder trains on: exact features, or a frozen model's reconstruction of them.

A decoder trained on exact features meets, at inference, a model's *decoded* features, which
are smoother (and quantised, for the codec). :class:`SourceFeatures` lets the ``vocoder``
task train on exactly those instead: each training segment's features go through a frozen
audioae model (encode to the posterior mean, optionally quantise the latent as a ``.aae``
file does, decode), and the decoder learns to map that reconstruction to the true waveform
(``vocoder_loss.source_model`` / ``source_bits``). :func:`load_initial_weights` starts a
decoder from a trained one (``vocoder_loss.init_from``), so such a fine-tuning run starts
where the exact-feature decoder ended.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .config import Config
from .modelfile import (
    VOCODER_FORMAT,
    ModelFileError,
    file_format,
    load_model_file,
)
from .vocoderfile import load_vocoder_file

__all__ = ["SourceFeatures", "load_initial_weights", "quantise_latent"]


def quantise_latent(latent: Tensor, bits: int) -> Tensor:
    """``latent (batch, latent_dim, frames)`` quantised to ``2**bits`` uniform levels over each
    example's and dimension's ``[min, max]`` over the frames, returned as bin centres: the
    scalar quantiser of :func:`audioae.codec.encode_latent` (there the range is the whole
    file's; here each segment's).

    Raises:
        ValueError: ``bits`` not in 1..16, or ``latent`` not 3-D.
    """
    if not 1 <= int(bits) <= 16:
        raise ValueError(f"bits must be in 1..16, got {bits}")
    if latent.dim() != 3:
        raise ValueError(
            f"expected a latent (batch, latent_dim, frames), got {tuple(latent.shape)}"
        )
    levels = 1 << int(bits)
    lo = latent.amin(dim=-1, keepdim=True)
    width = latent.amax(dim=-1, keepdim=True) - lo
    safe = torch.where(width > 0, width, torch.ones_like(width))
    q = torch.floor((latent - lo) * (levels / safe)).clamp(0, levels - 1)
    centres = lo + (q + 0.5) * (safe / levels)
    return torch.where(width > 0, centres, latent)


class SourceFeatures:
    """A frozen audioae model's reconstruction of front-end features.

    Args:
        path: the model file (or a shipped model's name, e.g. ``"codec"``).
        cfg: the decoder's config (``task: vocoder``); the model must have the same
            ``audio.sample_rate`` and ``features`` section, and decode features
            (``model.output: features``).
        bits: the quantiser resolutions to draw from per call; empty: no quantisation.
        seed: seed of the draws.

    Raises:
        ModelFileError: the file cannot be loaded, has another front-end, or does not decode
            features (a mask model).
    """

    def __init__(
        self, path: str | os.PathLike, cfg: Config, bits: Sequence[int] = (), seed: int = 0
    ) -> None:
        loaded = load_model_file(path)
        mcfg = loaded.config
        if mcfg.audio.sample_rate != cfg.audio.sample_rate or mcfg.features != cfg.features:
            raise ModelFileError(
                f"{path}: vocoder_loss.source_model has another front-end than the decoder "
                f"({mcfg.audio.sample_rate} Hz, {mcfg.features}) vs ({cfg.audio.sample_rate} Hz, {cfg.features})"
            )
        if getattr(mcfg.model, "output", "features") != "features":
            raise ModelFileError(
                f"{path}: vocoder_loss.source_model must decode features, this model outputs a "
                f"{mcfg.model.output}"
            )
        self.path = str(path)
        self.model: nn.Module = loaded.model.requires_grad_(False).eval()
        self.bits = [int(b) for b in bits]
        self._rng = random.Random(seed)

    @torch.no_grad()
    def __call__(self, features: Tensor) -> Tensor:
        """The model's reconstruction ``(batch, n_bins, frames)`` of ``features`` (same shape);
        runs on ``features``' device (the model is moved there on first use)."""
        model = self.model.to(features.device)
        latent = model.encode(features, sample_posterior=False).sample  # the posterior mean
        if self.bits:
            latent = quantise_latent(latent, self._rng.choice(self.bits))
        # the encoder pads to whole latent frames, so the decoder covers every input frame
        return model.decode(latent, features.shape[-1]).to(features.dtype)


def load_initial_weights(vocoder: nn.Module, path: str | os.PathLike) -> None:
    """Copy a trained decoder's weights into ``vocoder`` (same architecture).

    Args:
        path: a decoder file (``format: audioae-vocoder``) or a model file carrying one.

    Raises:
        ModelFileError: the file has no decoder, or its config differs from ``vocoder``'s.
    """
    if file_format(path) == VOCODER_FORMAT:
        source = load_vocoder_file(path).vocoder
    else:
        source = load_model_file(path).vocoder
        if source is None:
            raise ModelFileError(
                f"{path}: vocoder_loss.init_from: the model file carries no learned decoder"
            )
    if source.config != vocoder.config:
        raise ModelFileError(
            f"{path}: vocoder_loss.init_from: its decoder config {source.config} differs from this "
            f"run's vocoder section {vocoder.config}"
        )
    state = {k: v.float() for k, v in source.state_dict().items()}
    vocoder.load_state_dict(state)
