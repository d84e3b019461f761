"""The edges of the learned decoder's output on the shipped timbre VAE.

Before the fix the decoder (its convolutions zero-pad beyond the last feature frame) put a
burst into the last ~30 ms of a sound that does not end in silence: on the 1.5 s tone below
the last 30 ms peaked at 7.6x the body's peak (11.6x one sample past a frame centre). It now
sees reflected features beyond both ends (:meth:`audioae.vocoder.Vocoder.spectrum` with
``edge_context``); measured after: tail/body 0.95 and 1.09, head/body 1.00.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import DATA

from audioae.pipeline import Pipeline

SR = 16000
EDGE = int(0.030 * SR)  # the last / first 30 ms
TOLERANCE = 1.5  # edge peak at most 1.5x the body's peak


@pytest.fixture(scope="module")
def timbre() -> Pipeline:
    return Pipeline.load(DATA / "models" / "timbre.safetensors", device="cpu")


def _sustained(n: int, f0: float = 220.0) -> torch.Tensor:
    """A sawtooth-like tone (11 harmonics at 1/k) of ``n`` samples at 16 kHz, peak 0.3, at
    full level from the first sample to the last (no fade)."""
    t = torch.arange(n) / SR
    x = sum(torch.sin(2 * math.pi * f0 * k * t) / k for k in range(1, 12))
    return 0.3 * x / x.abs().max()


def _peaks(y: torch.Tensor) -> tuple[float, float, float]:
    """(head, body, tail) peaks: the first and last 30 ms, and all but the outer 0.2 s."""
    y = y.flatten()
    body = float(y[int(0.2 * SR) : -int(0.2 * SR)].abs().max())
    return float(y[:EDGE].abs().max()), body, float(y[-EDGE:].abs().max())


# 1.5 s, and a length one sample past a frame centre (the last frame mostly zero padding)
@pytest.mark.parametrize("n", [24000, 23809])
@pytest.mark.parametrize("phase", ["learned", "learned+griffin-lim"])
def test_sustained_tone_has_no_burst_at_either_edge(timbre: Pipeline, n: int, phase: str) -> None:
    assert timbre.default_phase == "learned"  # the path the shipped model decodes with
    head, body, tail = _peaks(timbre.reconstruct(_sustained(n), phase=phase))
    assert body > 0.05  # the tone came through
    assert tail <= TOLERANCE * body, (tail, body)
    assert head <= TOLERANCE * body, (head, body)


@pytest.mark.parametrize("n", [24000, 23809])
def test_edge_fix_leaves_the_body_unchanged(timbre: Pipeline, n: int) -> None:
    """The same latent decoded the old way (zero-padded edges) and the new way: identical
    (1e-5 of the peak) further than the decoder's reach from both ends; the old way has the
    burst (more than 3x the body), so this test tells the two apart."""
    x = _sustained(n)
    new = timbre.reconstruct(x, phase="learned").flatten()
    with torch.inference_mode():
        features = timbre._decode_features(timbre.encode(x), timbre.frontend.num_frames(n))
        old = timbre.vocoder.decode(features, n, edge_context=False).flatten()
    voc = timbre.vocoder
    hop = timbre.hop_length
    reach = (voc.receptive_frames + math.ceil(timbre.frontend.n_fft / (2 * hop))) * hop
    assert reach < n // 3  # a body is left to compare
    peak = float(new.abs().max())
    torch.testing.assert_close(new[reach:-reach], old[reach:-reach], rtol=0, atol=1e-5 * peak)
    _, old_body, old_tail = _peaks(old)
    assert old_tail > 3 * old_body
