"""Every Python entry that takes a waveform refuses the same mistakes in one line
(``audioae.waveforms.as_waveform``): integer PCM, the ``(time, channels)`` layout
``soundfile.read`` returns, NaN samples. Before, a ``(41920, 2)`` array given to
``Pipeline.reconstruct`` was taken as 41920 channels and used 23.5 GB before the kernel killed
it; int16 samples were scored and embedded as amplitudes of +-32767 (an anomaly score of 106
against 5.4); ``si_sdr`` of ``(16000, 2)`` arrays returned +inf."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audioae.anomaly import fit_reference, score_waveform
from audioae.metrics import si_sdr, snr_db, spectral_convergence
from audioae.pipeline import Pipeline
from audioae.streaming_denoiser import StreamingDenoiser
from audioae.waveforms import MAX_CHANNELS, as_waveform

LAYOUT = r"of shape \(16000, 2\) looks like \(time, channels\).*pass \(channels, time\)"
INTEGER = (
    r"got torch.int16 \(integer samples: convert to float in \[-1, 1\], e.g. int16 PCM / 32768\)"
)


@pytest.fixture(scope="module")
def codec() -> Pipeline:
    return Pipeline.load("codec", device="cpu")


def _speechlike(n: int = 16000) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(1, n, generator=gen) * 0.1


def test_as_waveform_keeps_good_input_and_names_the_bad() -> None:
    x = np.random.default_rng(0).normal(0, 0.1, 1000)  # float64 numpy, (time,)
    y = as_waveform(x)
    assert y.shape == (1, 1000) and y.dtype == torch.float32
    assert np.allclose(y.numpy()[0], x, atol=1e-7)
    assert as_waveform(torch.zeros(MAX_CHANNELS, 10)).shape == (MAX_CHANNELS, 10)  # allowed
    assert as_waveform(torch.zeros(2, 0), allow_empty=True).shape == (2, 0)
    for bad, message in (
        (torch.zeros(16000, 2), LAYOUT),
        (torch.zeros(2, 16000, dtype=torch.int16), INTEGER),
        (torch.zeros(4, dtype=torch.bool), r"got torch.bool$"),
        (torch.zeros(2, 3, 4), r"got shape \(2, 3, 4\)"),
        (torch.zeros(2, 0), r"empty waveform"),
        (torch.tensor([0.0, float("nan")]), "NaN or Inf"),
    ):
        with pytest.raises(ValueError, match=message):
            as_waveform(bad)


def test_the_pipeline_embeddings_and_anomaly_scores_refuse_alike(codec) -> None:
    x = _speechlike()
    pcm = (x * 32767).round().short()
    transposed = torch.cat([x, x]).T  # (16000, 2)
    stats, _ = fit_reference(codec, [_speechlike(8000 + 1000 * i) for i in range(5)])
    calls = {
        "reconstruct": codec.reconstruct,
        "encode": codec.encode,
        "embed": codec.embed,
        "score_waveform": lambda w: score_waveform(codec, w, reference=stats),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=LAYOUT):
            call(transposed)
        with pytest.raises(ValueError, match=INTEGER):
            call(pcm)
        assert call(x) is not None, name  # the float (channels, time) input works


def test_the_streaming_denoiser_refuses_integer_blocks_and_takes_empty_ones() -> None:
    stream = StreamingDenoiser(Pipeline.load("denoise_stream", device="cpu"))
    with pytest.raises(ValueError, match=r"floating-point block .*int16"):
        stream.process(torch.zeros(256, dtype=torch.int16))
    assert stream.process(torch.zeros(0)).shape == (1, 0)
    with pytest.raises(ValueError, match=r"expected a block \(1, samples\).*got shape \(2, 256\)"):
        stream.process(torch.zeros(2, 256))


def test_waveform_metrics_refuse_time_channels_but_spectrograms_pass() -> None:
    a, b = torch.randn(16000, 2), torch.randn(16000, 2)
    for metric in (si_sdr, snr_db):
        with pytest.raises(ValueError, match="estimate of shape"):
            metric(a, b)
        assert torch.isfinite(metric(a.T, b.T)).all()
    mag = torch.rand(257, 40)  # (n_freq, frames): more bins than frames is normal here
    assert float(spectral_convergence(mag, mag)) == 0.0
    batch = torch.randn(100, 50)  # 100 signals of 50 samples: a batch, not (time, channels)
    assert si_sdr(batch, batch + 0.1 * torch.randn(100, 50)).shape == (100,)


def test_files_and_tensors_give_the_same_scores_and_embeddings_when_short(codec, tmp_path):
    """A 300-sample clip (shorter than the codec's STFT window): the file helpers read it as it
    is, as the tensor methods take it (they zero-padded it to one window: a log error of 0.310
    against 0.963, and 3 latent frames against 1)."""
    from audioae.anomaly import score_file
    from audioae.apps import embed_file
    from audioae.audio import save_audio

    short = _speechlike(300)
    path = save_audio(tmp_path / "short.wav", short, codec.sample_rate, subtype="FLOAT")
    from_file = score_file(codec, path, error="log")
    from_tensor = score_waveform(codec, short, error="log")
    assert from_file.mean == pytest.approx(from_tensor.mean, rel=1e-5)
    assert from_file.rms_db == pytest.approx(
        20 * np.log10(float(short.square().mean().sqrt())), abs=0.01
    )
    e_file, e_tensor = embed_file(codec, path), codec.embed(short)
    assert e_file.frames.shape == e_tensor.frames.shape == (codec.model.latent_dim, 1)
    torch.testing.assert_close(e_file.pooled, e_tensor.pooled, rtol=1e-5, atol=1e-6)
