"""audioae.phase: mel inversion quality, kept-phase ISTFT and the PhaseReconstructor."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioae import functional as AF
from audioae.config import FeatureConfig, PhaseConfig
from audioae.features import LogMagnitude, LogMel, Spectrogram, build_frontend
from audioae.functional import StftParams, mel_to_linear
from audioae.phase import PHASE_METHODS, PhaseReconstructor, griffin_lim, istft_with_phase

DATA = Path(__file__).resolve().parents[1] / "data"
SR = 16000
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


def speech_clip(index: int = 0, seconds: float = 2.0) -> torch.Tensor:
    files = sorted(DATA.glob("speech/**/*.flac"))
    if not files:
        pytest.skip("data/speech/**/*.flac is absent (see data/README.md)")
    y, sr = sf.read(files[(index * 37) % len(files)], dtype="float32")
    assert sr == SR
    return torch.from_numpy(y[: int(seconds * sr)])


def sc(target: torch.Tensor, estimate: torch.Tensor) -> float:
    return float((target - estimate).norm() / target.norm())


def test_griffin_lim_is_the_functional_one():
    assert griffin_lim is AF.griffin_lim


@pytest.mark.parametrize("n_fft,n_mels,bound", [(1024, 80, 0.32), (512, 40, 0.38)])
def test_mel_to_linear_quality_gauge_on_speech(n_fft, n_mels, bound):
    """Mel inversion loses detail finer than a band, so the spectral convergence against the
    true magnitude is bounded away from 0; NNLS must fit the mel bands and beat the
    (clipped) pseudo-inverse."""
    y = speech_clip(0)
    mag = AF.stft(y, n_fft, n_fft // 4).abs()
    fb = AF.mel_filterbank(SR, n_fft, n_mels)
    mel = fb @ mag
    est = mel_to_linear(mel, fb)
    assert est.shape == mag.shape and bool((est >= 0).all())
    pinv = torch.linalg.pinv(fb.double()).float() @ mel
    assert sc(mag, est) < bound  # measured 0.291 (1024/80) and 0.353 (512/40) on this clip
    assert sc(mag, est) < sc(mag, pinv) - 0.01
    assert sc(mag, est) < sc(mag, pinv.clamp_min(0)) - 0.01
    # it fits the bands it was given, far better than the clipped pseudo-inverse (~0.04)
    assert sc(mel, fb @ est) < 1e-4 and sc(mel, fb @ est) < 0.01 * sc(mel, fb @ pinv.clamp_min(0))


def test_mel_to_linear_objective_falls_and_start_is_clipped_pinv():
    torch.manual_seed(0)
    fb = AF.mel_filterbank(SR, 512, 40)
    mel = fb @ torch.rand(3, 257, 20)
    start = mel_to_linear(mel, fb, n_iter=0)
    torch.testing.assert_close(start, (torch.linalg.pinv(fb.double()).float() @ mel).clamp_min(0))
    residuals = [float((fb @ mel_to_linear(mel, fb, n_iter=n) - mel).norm()) for n in (0, 10, 100)]
    assert residuals[0] > 10 * residuals[1] > 10 * residuals[2]


def test_mel_to_linear_batch_consistency_and_errors():
    torch.manual_seed(1)
    fb = AF.mel_filterbank(SR, 512, 40)
    mel = fb @ torch.rand(2, 3, 257, 15)
    batched = mel_to_linear(mel, fb)
    torch.testing.assert_close(mel_to_linear(mel[1, 2], fb), batched[1, 2], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not match"):
        mel_to_linear(torch.rand(41, 5), fb)
    with pytest.raises(ValueError, match="non-negative"):
        mel_to_linear(mel, -fb)


def test_istft_with_phase_restores_the_signal():
    y = speech_clip(1)
    spec = AF.stft(y, 1024, 256)
    wav = istft_with_phase(spec.abs(), spec, StftParams(1024, 256), length=y.shape[-1])
    assert wav.shape == y.shape
    assert (wav - y).abs().max() < 1e-5
    # a scaled magnitude with the kept phase scales the signal (the ISTFT is linear)
    half = istft_with_phase(0.5 * spec.abs(), spec, StftParams(1024, 256), length=y.shape[-1])
    assert (half - 0.5 * y).abs().max() < 1e-5
    # the reference's magnitude is ignored, only its phase is kept
    boosted = istft_with_phase(spec.abs(), spec * 3.0, StftParams(1024, 256), length=y.shape[-1])
    assert (boosted - y).abs().max() < 1e-5


def test_istft_with_phase_zero_reference_and_broadcast():
    mag = torch.ones(2, 129, 9)
    ref = torch.zeros(129, 9, dtype=torch.complex64)  # zero bins: zero phase
    wav = istft_with_phase(mag, ref, StftParams(256, 64))
    expected = AF.istft(mag.to(torch.complex64), 256, 64)
    torch.testing.assert_close(wav, expected)
    with pytest.raises(ValueError, match="complex"):
        istft_with_phase(mag, mag, StftParams(256, 64))
    with pytest.raises(ValueError, match="broadcast"):
        istft_with_phase(mag, torch.zeros(129, 8, dtype=torch.complex64), StftParams(256, 64))


def test_phase_reconstructor_griffin_lim_path():
    y = speech_clip(2, seconds=1.5)
    fe = LogMagnitude(SR, StftParams(n_fft=512, hop_length=128))
    feats = fe(y)
    rec = PhaseReconstructor(fe, PhaseConfig(n_iter=32, momentum=0.99, seed=3))
    wav = rec(feats, length=y.shape[-1])
    assert wav.shape == y.shape
    assert torch.equal(wav, rec(feats, length=y.shape[-1]))  # seeded: reproducible
    other = PhaseReconstructor(fe, PhaseConfig(n_iter=32, momentum=0.99, seed=4))(
        feats, length=y.shape[-1]
    )
    assert (other - wav).abs().max() > 1e-3
    mag = fe.to_magnitude(feats)
    assert sc(mag, AF.stft(wav, 512, 128).abs()) < 0.2  # Griffin-Lim quality on real speech
    # the same as calling griffin_lim with a generator seeded the same way
    direct = AF.griffin_lim(
        mag,
        512,
        128,
        n_iter=32,
        momentum=0.99,
        generator=torch.Generator().manual_seed(3),
        length=y.shape[-1],
    )
    torch.testing.assert_close(wav, direct)


def test_phase_reconstructor_kept_phase_path():
    y = speech_clip(3, seconds=1.0)
    for kind in ("spectrogram", "log_magnitude"):
        fe = build_frontend(FeatureConfig(kind=kind, n_fft=512, hop_length=128), SR)
        wav = PhaseReconstructor(fe, PhaseConfig())(
            fe(y), length=y.shape[-1], reference_stft=fe.stft(y)
        )
        assert (wav - y).abs().max() < 1e-4


def test_phase_reconstructor_log_mel_batch():
    y = torch.stack([speech_clip(i, seconds=1.0) for i in range(3)])
    fe = LogMel(SR, StftParams(n_fft=512, hop_length=128), n_mels=64)
    rec = PhaseReconstructor(fe, PhaseConfig(n_iter=16))
    wav = rec(fe(y))
    assert wav.shape == (3, (fe.num_frames(y.shape[-1]) - 1) * 128)
    # kept phase through mel inversion: close to, but not exactly, the input
    kept = rec(fe(y), length=y.shape[-1], reference_stft=fe.stft(y))
    assert kept.shape == y.shape
    assert sc(fe.stft(y).abs(), fe.stft(kept).abs()) < 0.4


def test_phase_reconstructor_float64_and_spectrogram():
    fe = Spectrogram(SR, StftParams(n_fft=256, hop_length=64)).to(torch.float64)
    t = torch.arange(4000, dtype=torch.float64) / SR
    y = torch.sin(2 * math.pi * 440 * t)
    wav = PhaseReconstructor(fe, PhaseConfig(n_iter=8))(fe(y), length=4000)
    assert wav.dtype == torch.float64 and wav.shape == (4000,)


@CUDA
def test_phase_reconstructor_cuda():
    fe = LogMel(SR, StftParams(n_fft=512, hop_length=128), n_mels=40).cuda()
    y = torch.randn(2, 8000, device="cuda") * 0.1
    rec = PhaseReconstructor(fe, PhaseConfig(n_iter=8))
    wav = rec(fe(y), length=8000)
    assert wav.device.type == "cuda" and wav.shape == (2, 8000)
    assert torch.equal(wav, rec(fe(y), length=8000))
    np.testing.assert_allclose(
        fe.to_magnitude(fe(y)).cpu().numpy(),
        LogMel(SR, StftParams(n_fft=512, hop_length=128), n_mels=40)
        .to_magnitude(fe(y).cpu())
        .numpy(),
        rtol=1e-3,
        atol=1e-4,
    )


def test_phase_methods_by_name_and_their_errors():
    y = speech_clip(1, seconds=0.5)
    fe = LogMagnitude(SR, StftParams(n_fft=512, hop_length=128))
    rec = PhaseReconstructor(fe, PhaseConfig(n_iter=4))
    feats, spec = fe(y), fe.stft(y)
    n = y.shape[-1]
    assert set(PHASE_METHODS) == {"griffin-lim", "kept-phase"}
    # the default picks kept-phase with a reference and griffin-lim without one
    torch.testing.assert_close(
        rec(feats, n, spec), rec(feats, n, spec, method="kept-phase"), rtol=0, atol=0
    )
    torch.testing.assert_close(rec(feats, n), rec(feats, n, method="griffin-lim"), rtol=0, atol=0)
    # features and their linear magnitude give the same waveform
    mag = fe.to_magnitude(feats)
    torch.testing.assert_close(rec.from_magnitude(mag, n), rec(feats, n), rtol=0, atol=0)
    torch.testing.assert_close(
        rec.from_magnitude(mag, n, spec), rec(feats, n, spec), rtol=0, atol=0
    )
    with pytest.raises(ValueError, match="learned"):
        rec(feats, n, method="learned")
    with pytest.raises(ValueError, match="reference_stft"):
        rec(feats, n, method="kept-phase")
    with pytest.raises(ValueError, match="reference_stft"):
        rec(feats, n, spec, method="griffin-lim")


def test_a_new_phase_method_plugs_in_and_sees_the_features():
    y = speech_clip(1, seconds=0.5)
    fe = LogMel(SR, StftParams(n_fft=512, hop_length=128), n_mels=40)
    seen = {}

    def silent(request):
        seen["features"] = request.features
        frames = request.features.shape[-1]
        return torch.zeros(*request.features.shape[:-2], (frames - 1) * fe.hop_length)

    rec = PhaseReconstructor(fe, PhaseConfig(n_iter=2), methods={"silent": silent})
    feats = fe(y)
    out = rec(feats, method="silent")
    assert seen["features"] is feats  # no mel inversion on the way
    assert out.shape == ((fe.num_frames(y.shape[-1]) - 1) * 128,) and not out.any()
    assert rec(feats, y.shape[-1]).abs().max() > 0  # the built-in methods are still there
