"""audioae.features: front-ends against librosa, their inverses, masks, batching and devices."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch

from audioae import functional as AF
from audioae.config import FeatureConfig
from audioae.features import FrontEnd, LogMagnitude, LogMel, Spectrogram, build_frontend
from audioae.functional import StftParams

SR = 16000
KINDS = [Spectrogram, LogMagnitude, LogMel]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


def chord(n: int = 12000, dtype=torch.float32) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / SR
    y = sum(torch.sin(2 * math.pi * f * t) for f in (196.0, 247.0, 294.0, 1500.0)) * 0.2
    return (y + 0.01 * torch.sin(2 * math.pi * 5000 * t)).to(dtype)


def make(
    cls: type[FrontEnd], n_fft: int = 512, hop_length: int = 128, win_length=None, eps=1e-5, **kw
) -> FrontEnd:
    if cls is LogMel:
        kw.setdefault("n_mels", 40)
    return cls(SR, StftParams(n_fft, hop_length, win_length), eps, **kw)


def test_shapes_attributes_and_frames():
    for cls, n_bins in [(Spectrogram, 257), (LogMagnitude, 257), (LogMel, 40)]:
        fe = make(cls)
        assert (fe.n_fft, fe.hop_length, fe.win_length, fe.sample_rate, fe.n_freq, fe.n_bins) == (
            512,
            128,
            512,
            SR,
            257,
            n_bins,
        )
        for n in (1, 127, 128, 129, 5000):
            out = fe(torch.randn(2, 3, n))
            assert out.shape == (2, 3, n_bins, fe.num_frames(n))
            assert fe.num_frames(n) == 1 + n // 128
        assert fe(torch.randn(777)).shape == (n_bins, fe.num_frames(777))


def test_log_magnitude_matches_librosa():
    y = chord()
    ref_mag = np.abs(librosa.stft(y.double().numpy(), n_fft=512, hop_length=128))
    # float64: rounding only
    fe64 = make(LogMagnitude, eps=1e-5).to(torch.float64)
    np.testing.assert_allclose(fe64(y.double()).numpy(), np.log(ref_mag + 1e-5), rtol=0, atol=1e-9)
    # float32: compared in the linear domain (log amplifies float32 rounding near eps)
    out = make(LogMagnitude, eps=1e-5)(y)
    assert out.shape == ref_mag.shape
    np.testing.assert_allclose(
        np.exp(out.double().numpy()) - 1e-5, ref_mag, rtol=0, atol=1e-6 * ref_mag.max()
    )
    np.testing.assert_allclose(
        make(Spectrogram)(y).numpy(), ref_mag, rtol=0, atol=1e-6 * ref_mag.max()
    )


@pytest.mark.parametrize(
    "mel_scale,f_min,f_max,win", [("slaney", 0.0, None, None), ("htk", 60.0, 7000.0, 400)]
)
def test_log_mel_matches_librosa(mel_scale, f_min, f_max, win):
    y = chord()
    kw = dict(f_min=f_min, f_max=f_max, mel_scale=mel_scale, win_length=win, eps=1e-5)
    mel = librosa.feature.melspectrogram(
        y=y.double().numpy(), sr=SR, n_fft=512, hop_length=128, win_length=win, power=1.0, n_mels=40,
        fmin=f_min, fmax=f_max, htk=mel_scale == "htk", norm="slaney", dtype=np.float64,
    )  # fmt: skip
    # float64 (librosa computes the filterbank in float64 here too): rounding only
    fe64 = make(LogMel, **kw).to(torch.float64)
    np.testing.assert_allclose(fe64(y.double()).numpy(), np.log(mel + 1e-5), rtol=0, atol=1e-9)
    # float32: mel magnitude within 1e-6 of the largest band; log-mel within 1e-3 where the
    # band is above 1e-3 of the largest (near eps, log amplifies float32 rounding)
    fe = make(LogMel, **kw)
    np.testing.assert_allclose(
        fe.mel(AF.magnitude(fe.stft(y))).numpy(), mel, rtol=0, atol=1e-6 * mel.max()
    )
    loud = mel > 1e-3 * mel.max()
    np.testing.assert_allclose(fe(y).numpy()[loud], np.log(mel + 1e-5)[loud], rtol=0, atol=1e-3)


def test_to_magnitude_is_exact_for_linear_front_ends():
    y = chord()
    mag = AF.magnitude(AF.stft(y, 512, 128))
    for cls in (Spectrogram, LogMagnitude):
        fe = make(cls)
        back = fe.to_magnitude(fe(y))
        assert back.shape == mag.shape
        torch.testing.assert_close(back, mag, rtol=1e-5, atol=2e-6)
        torch.testing.assert_close(fe.from_magnitude(back), fe(y), rtol=1e-5, atol=1e-5)


def test_bin_magnitude_is_the_per_bin_magnitude():
    y = chord()
    mag = AF.magnitude(AF.stft(y, 512, 128))
    for cls in (Spectrogram, LogMagnitude):
        fe = make(cls)
        torch.testing.assert_close(fe.bin_magnitude(fe(y)), mag, rtol=1e-5, atol=2e-6)
    fe = make(LogMel)  # mel-band magnitudes, no inversion
    torch.testing.assert_close(fe.bin_magnitude(fe(y)), fe.mel(mag), rtol=1e-5, atol=2e-6)


def test_log_mel_to_magnitude_reproduces_the_features():
    y = chord()
    fe = make(LogMel)
    feats = fe(y)
    mag = fe.to_magnitude(feats)
    assert mag.shape == (257, feats.shape[-1]) and bool((mag >= 0).all())
    # NNLS fits the mel bands: re-analysing the inverted magnitude gives the features back
    again = fe.from_magnitude(mag)
    mel = fe.mel(AF.magnitude(fe.stft(y)))
    assert float((fe.mel(mag) - mel).norm() / mel.norm()) < 1e-3
    # in the log domain: bands above 1e-4 of the loudest within 0.01 (bands far below eps,
    # 1e-8 here, converge slowly; see mel_to_linear)
    audible = mel > 1e-4 * mel.max()
    assert float((again - feats)[audible].abs().max()) < 0.01


@pytest.mark.parametrize("cls", KINDS)
def test_apply_mask(cls):
    y = chord()
    fe = make(cls)
    feats = fe(y)
    torch.testing.assert_close(
        fe.apply_mask(feats, torch.ones_like(feats)), feats, rtol=1e-5, atol=1e-5
    )
    # half the linear magnitude == features of half the signal (the STFT is linear)
    torch.testing.assert_close(
        fe.apply_mask(feats, torch.full_like(feats, 0.5)), fe(0.5 * y), rtol=1e-5, atol=1e-5
    )
    zeroed = fe.apply_mask(feats, torch.zeros_like(feats))
    floor = 0.0 if cls is Spectrogram else math.log(fe.eps)
    torch.testing.assert_close(zeroed, torch.full_like(feats, floor))
    # per-bin mask acts on that bin only
    mask = torch.zeros_like(feats)
    mask[3] = 1.0
    masked = fe.apply_mask(feats, mask)
    torch.testing.assert_close(masked[3], feats[3], rtol=1e-5, atol=1e-5)
    assert torch.all(masked[4:] == floor)


@pytest.mark.parametrize("cls", KINDS)
def test_batch_consistency(cls):
    torch.manual_seed(0)
    fe = make(cls)
    wavs = torch.randn(4, 5000) * 0.3
    batched = fe(wavs)
    for i in range(4):
        torch.testing.assert_close(fe(wavs[i]), batched[i], rtol=1e-5, atol=1e-5)
    inv = fe.to_magnitude(batched)
    for i in range(4):
        torch.testing.assert_close(fe.to_magnitude(batched[i]), inv[i], rtol=1e-4, atol=1e-5)


def test_buffers_follow_dtype_and_are_not_saved():
    fe = make(LogMel)
    assert fe.window.dtype == torch.float32 and fe.filterbank.dtype == torch.float32
    assert fe.state_dict() == {}
    fe64 = make(LogMel).to(torch.float64)
    assert fe64.window.dtype == torch.float64 and fe64.filterbank.dtype == torch.float64
    out = fe64(chord(dtype=torch.float64))
    assert out.dtype == torch.float64
    # same features up to float32 rounding (compared as mel magnitudes: log amplifies it near eps)
    torch.testing.assert_close(out.exp().float(), fe(chord()).exp(), rtol=1e-4, atol=1e-6)
    names = {name for name, _ in fe.named_buffers()}
    assert names == {"window", "filterbank"}
    assert fe.to("meta").window.device.type == "meta"


def test_log_mel_gradcheck():
    fe = LogMel(SR, StftParams(n_fft=32, hop_length=8), eps=1e-3, n_mels=6).to(torch.float64)
    torch.manual_seed(1)
    y = torch.randn(2, 40, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fe, (y,))
    feats = fe(y.detach()).requires_grad_(True)
    mask = torch.rand_like(feats)
    assert torch.autograd.gradcheck(lambda x: fe.apply_mask(x, mask), (feats,))


def test_build_frontend_from_config():
    for kind, cls in [
        ("spectrogram", Spectrogram),
        ("log_magnitude", LogMagnitude),
        ("log_mel", LogMel),
    ]:
        cfg = FeatureConfig(
            kind=kind, n_fft=512, hop_length=160, win_length=400, n_mels=64, f_max=7600.0, eps=1e-4
        )
        fe = build_frontend(cfg, SR)
        assert type(fe) is cls
        assert (fe.n_fft, fe.hop_length, fe.win_length, fe.n_bins, fe.n_freq) == (
            512,
            160,
            400,
            64 if kind == "log_mel" else 257,
            257,
        )
        assert fe.eps == 1e-4
    mel = build_frontend(
        FeatureConfig(kind="log_mel", mel_scale="htk", n_fft=512, f_max=7600.0), SR
    )
    ref = librosa.filters.mel(sr=SR, n_fft=512, n_mels=80, fmax=7600.0, htk=True)
    np.testing.assert_allclose(mel.filterbank.numpy(), ref, rtol=1e-6)


def test_constructor_validation():
    with pytest.raises(ValueError, match="mel_scale"):
        LogMel(SR, mel_scale="bark")
    with pytest.raises(ValueError, match="f_max"):
        LogMel(SR, f_max=9000.0)
    with pytest.raises(ValueError, match="win_length"):
        Spectrogram(SR, StftParams(n_fft=256, win_length=512))
    with pytest.raises(ValueError, match="eps"):
        LogMagnitude(SR, eps=0.0)
    with pytest.raises(ValueError, match="expected"):
        make(LogMel).to_magnitude(torch.zeros(257, 4))  # linear bins given to a mel front-end
    with pytest.raises(TypeError):
        FrontEnd(SR)  # abstract


@CUDA
@pytest.mark.parametrize("cls", KINDS)
def test_cuda_matches_cpu(cls):
    fe = make(cls)
    y = chord()
    gpu = fe.to("cuda")
    assert gpu.window.device.type == "cuda"
    out = gpu(y.cuda())
    assert out.device.type == "cuda"
    # float32: cuFFT and the CPU FFT round differently, about 1e-7 of the peak per bin, which
    # log features amplify near eps (seen on an H200: 0.32 in log at a bin ~100 dB down); so
    # compared in the linear domain against the peak, as in test_log_magnitude_matches_librosa
    ref = make(cls)(y)
    # per feature bin (mel bands too): exp(x) - eps undoes the log exactly
    lin_gpu, lin_ref = (v if cls is Spectrogram else v.exp() - 1e-5 for v in (out.cpu(), ref))
    torch.testing.assert_close(lin_gpu, lin_ref, rtol=0, atol=1e-6 * float(lin_ref.max()))
    # float64: the same features to rounding, log domain included
    out64 = make(cls).to(device="cuda", dtype=torch.float64)(y.double().cuda())
    ref64 = make(cls).to(torch.float64)(y.double())
    torch.testing.assert_close(out64.cpu(), ref64, rtol=0, atol=1e-8)
    assert gpu.to_magnitude(out).device.type == "cuda"


@pytest.mark.parametrize("kind", ["spectrogram", "log_magnitude", "log_mel"])
def test_an_empty_waveform_is_a_value_error(kind: str) -> None:
    front = build_frontend(FeatureConfig(kind=kind), sample_rate=16000)
    with pytest.raises(ValueError, match=r"empty waveform \(shape \(2, 0\)\)"):
        front(torch.zeros(2, 0))
