"""Chunked decoding: chunk seams, and :meth:`Pipeline.decode_stream` for flat memory.

Before the fix the chunk outputs were joined with crossfades centred in the windows'
overlap, of the full margin: with chunks shorter than the margin (or windows clamped at the
signal's start) the fades of neighbouring boundaries overlapped and the weights no longer
summed to one, and the fade reached into the decoder's edge effects. Measured on 12 s of
speech with the shipped codec, ``learned`` phase: chunked minus whole decode up to 0.17
(1 s chunks) and 0.64 (0.5 s chunks) against a peak of 0.79; the timbre model 0.013 even at
2 s chunks. Now the fades are centred on the keep boundaries (at most a chunk long) and the
windows carry the decoder's receptive field beyond them: 2.7e-6 and below.
"""

from __future__ import annotations

import pytest
import torch
from conftest import DATA

from audioae.audio import load_audio
from audioae.chunking import CrossfadeWriter, Span, centred_spans, plan_windows
from audioae.pipeline import Pipeline


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    files = sorted((DATA / "speech" / "en" / "allison").glob("*.flac"))[:4]
    return torch.cat([load_audio(f, sample_rate=16000)[0][:1] for f in files], -1)[:, :96000]


@pytest.mark.parametrize("name", ["codec", "timbre"])
def test_chunked_learned_decode_equals_whole(name, speech) -> None:
    whole = Pipeline.load(name, device="cpu", chunk_seconds=1000.0)
    latent = whole.encode(speech)
    n = speech.shape[-1]
    reference = whole.decode(latent, n, phase="learned")
    peak = float(reference.abs().max())
    assert peak > 0.05
    for chunk_seconds in (0.5, 2.0):
        chunked = Pipeline.load(name, device="cpu", chunk_seconds=chunk_seconds, margin_seconds=0.0)
        if chunk_seconds == 0.5:  # chunks shorter than the margin (1.7 s codec, 2.5 s timbre)
            assert chunked._chunking()[0] < chunked.decode_margin("learned")
        out = chunked.decode(latent, n, phase="learned")
        torch.testing.assert_close(out, reference, rtol=0, atol=1e-5 * peak)


def test_decode_stream_pieces_are_decode(speech) -> None:
    pipe = Pipeline.load("codec", device="cpu", chunk_seconds=1.0)
    latent = pipe.encode(speech).repeat(1, 1, 5)  # 30 s
    n = latent.shape[-1] * pipe.align - 77  # not a multiple of the hop
    pieces = list(pipe.decode_stream(latent, n, phase="learned"))
    # each piece at most one window (a chunk and two margins): memory does not grow with
    # the length
    window = 16384 + 2 * (pipe.decode_margin("learned") + 16384 // 2 + 256 + 512)
    assert len(pieces) > 10 and max(p.shape[-1] for p in pieces) <= window < n // 5
    assert torch.equal(torch.cat(pieces, dim=-1), pipe.decode(latent, n, phase="learned"))
    with pytest.raises(ValueError, match="length"):  # checked at the call, not on iteration
        pipe.decode_stream(latent, latent.shape[-1] * pipe.align + 1)


@pytest.mark.parametrize("total", [1000, 5000, 10_001])
@pytest.mark.parametrize("chunk, margin", [(256, 512), (512, 512), (1024, 300), (300, 1000)])
def test_centred_spans_join_identical_pieces_exactly(total, chunk, margin) -> None:
    """Windows of one signal joined on centred spans give the signal back, also where the
    chunk is shorter than the margin (the case whole-window fades got wrong: up to 1.9 off
    on a unit-variance signal with chunk 256 and margin 512)."""
    signal = torch.randn(2, total)
    windows = plan_windows(total, chunk, margin, 256)
    fade = min(windows[0].keep_stop - windows[0].keep_start, margin)
    writer = CrossfadeWriter(total, fade)
    for w, span in zip(windows, centred_spans(windows, fade, total)):
        assert w.start <= span.begin and span.end <= w.stop
        writer.add(span.begin, signal[:, span.begin : span.end], span.next_begin)
    torch.testing.assert_close(writer.result(), signal, rtol=0, atol=1e-6)


def test_centred_spans_overlap_by_the_fade_around_each_boundary() -> None:
    windows = plan_windows(3000, 1000, 600, 100)
    spans = centred_spans(windows, 400, 3000)
    assert spans == [Span(0, 1200, 800), Span(800, 2200, 1800), Span(1800, 3000, None)]
    with pytest.raises(ValueError, match="fade 1200"):
        centred_spans(windows, 1200, 3000)
