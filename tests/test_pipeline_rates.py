"""Pipeline methods take a waveform at another sample rate with ``sample_rate=``: resampled to
the model's as the CLI resamples files, and (for waveform results) back, as long as the input.
Before, a 48 kHz array went through a 16 kHz model as if it were 16 kHz (3x the latent frames)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audioae.pipeline import Pipeline
from audioae.resampling import resample

MODELS = Path(__file__).parents[1] / "data" / "models"


@pytest.fixture(scope="module")
def codec() -> Pipeline:
    return Pipeline.load(MODELS / "codec.safetensors", device="cpu")


@pytest.fixture(scope="module")
def denoiser() -> Pipeline:
    return Pipeline.load(MODELS / "denoise.safetensors", device="cpu")


def _speechlike(n: int) -> torch.Tensor:
    rng = np.random.default_rng(0)
    t = np.arange(n) / 48000
    x = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    return torch.from_numpy((x + 0.02 * rng.standard_normal(n)).astype(np.float32))[None]


def test_encode_and_embed_resample_a_48_khz_waveform(codec: Pipeline) -> None:
    x48 = _speechlike(48000 * 2)
    x16 = resample(x48, 48000, codec.sample_rate)
    latent = codec.encode(x48, sample_rate=48000)
    assert latent.shape == codec.encode(x16).shape == (1, 64, codec.num_latent_frames(32000))
    torch.testing.assert_close(latent, codec.encode(x16))
    assert codec.encode(x48).shape[-1] > 2.9 * latent.shape[-1]  # taken as 16 kHz: 3x frames
    emb = codec.embed(x48, sample_rate=48000)
    torch.testing.assert_close(emb.frames, codec.embed(x16).frames)
    torch.testing.assert_close(codec.encode(x16, sample_rate=16000), codec.encode(x16))


def test_denoise_and_reconstruct_come_back_at_the_input_rate(
    codec: Pipeline, denoiser: Pipeline
) -> None:
    x44 = _speechlike(44100 + 7)  # a length that does not resample to whole samples
    for pipe, method in ((denoiser, "denoise"), (codec, "reconstruct")):
        out = getattr(pipe, method)(x44, sample_rate=44100)
        assert out.shape == x44.shape
        at_model = getattr(pipe, method)(resample(x44, 44100, pipe.sample_rate))
        back = resample(at_model, pipe.sample_rate, 44100)
        n = min(back.shape[-1], out.shape[-1])
        torch.testing.assert_close(out[..., :n], back[..., :n])
    with pytest.raises(ValueError, match="sample_rate"):
        denoiser.denoise(x44, sample_rate=0)


def test_one_sample_at_a_higher_rate_is_still_one_sample(denoiser: Pipeline) -> None:
    """Before: '(1, 1)' at 48 kHz resampled to nothing and was refused as an empty waveform."""
    with pytest.warns(UserWarning, match="shorter than one"):
        out = denoiser.denoise(torch.full((1, 1), 0.1), sample_rate=48000)
    assert out.shape == (1, 1)
