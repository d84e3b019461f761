"""Metrics against reference computations (numpy / librosa) on toy and real signals."""

from __future__ import annotations

import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from audioae import metrics
from audioae.features import LogMel
from audioae.functional import StftParams

DATA = Path(__file__).parents[1] / "data"
SR = 16000


def _noise(*shape, seed=0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _tone(n=SR, seed=0) -> torch.Tensor:
    t = torch.arange(n) / SR
    return (
        0.5 * torch.sin(2 * torch.pi * 220 * t)
        + 0.2 * torch.sin(2 * torch.pi * 1330 * t)
        + 0.05 * _noise(n, seed=seed)
    )


def _speech_clip() -> np.ndarray:
    preferred = DATA / "speech" / "en" / "allison" / "vm-savefolder.flac"
    candidates = [preferred] if preferred.exists() else sorted((DATA / "speech").rglob("*.flac"))
    if not candidates:
        pytest.skip("no speech clip in data/speech (bundled data not built)")
    wav, sr = sf.read(str(candidates[0]), dtype="float32", always_2d=True)
    if sr != SR:
        pytest.skip(f"expected 16 kHz speech, got {sr} Hz")
    return wav[: 3 * SR, 0]


def _np_mag(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    return np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop, center=True, pad_mode="constant"))


# ----------------------------------------------------------------------------- SI-SDR / SNR


def test_si_sdr_of_scaled_copy_is_huge():
    ref = _tone()
    assert metrics.si_sdr(0.37 * ref, ref).item() > 100
    assert metrics.si_sdr(ref + 3.0, ref).item() > 100  # zero-mean: an offset is ignored


def test_si_sdr_of_independent_noise_matches_formula():
    ref, est = _tone().double().numpy(), _noise(SR, seed=5).double().numpy()
    r, e = ref - ref.mean(), est - est.mean()
    a = e @ r / (r @ r)
    expected = 10 * np.log10(np.sum((a * r) ** 2) / np.sum((e - a * r) ** 2))
    got = metrics.si_sdr(torch.from_numpy(est), torch.from_numpy(ref)).item()
    assert got == pytest.approx(expected, abs=1e-9)
    assert got < -20  # independent noise carries almost none of the reference


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0, 30.0])
def test_si_sdr_and_snr_of_reference_plus_noise(snr):
    ref = _tone().double()
    ref = ref - ref.mean()
    noise = _noise(SR, seed=1).double()
    noise = noise - noise.mean()
    noise = (
        noise - (noise @ ref) / (ref @ ref) * ref
    )  # orthogonal to ref: SI-SDR is exactly the SNR
    noise = noise * torch.sqrt(ref.square().sum() / noise.square().sum() / 10 ** (snr / 10))
    est = ref + noise
    assert metrics.si_sdr(est, ref).item() == pytest.approx(snr, abs=1e-9)
    assert metrics.snr_db(est, ref).item() == pytest.approx(snr, abs=1e-9)
    plain = ref + _noise(SR, seed=2).double() * torch.sqrt(ref.square().mean() / 10 ** (snr / 10))
    # random (not orthogonalised) noise: SI-SDR is the SNR up to the chance correlation
    assert metrics.snr_db(plain, ref).item() == pytest.approx(snr, abs=0.1)
    assert metrics.si_sdr(plain, ref).item() == pytest.approx(snr, abs=0.5)


def test_snr_identical_is_inf_and_batched():
    ref = _noise(3, 1000)
    assert torch.isinf(metrics.snr_db(ref, ref)).all()
    est = ref + 0.1 * _noise(3, 1000, seed=9)
    batched = metrics.si_sdr(est, ref)
    assert batched.shape == (3,)
    for i in range(3):
        assert batched[i].item() == pytest.approx(metrics.si_sdr(est[i], ref[i]).item(), abs=1e-9)


def test_lengths_are_cropped_to_the_shorter():
    ref, est = _tone(), _tone(seed=1)
    longer = torch.cat([est, _noise(300)])
    for fn in (
        metrics.si_sdr,
        metrics.snr_db,
        metrics.log_spectral_distance,
        metrics.multi_resolution_stft_distance,
    ):
        assert fn(longer, ref).item() == pytest.approx(fn(est, ref).item(), rel=1e-6)
        assert fn(ref, longer).item() == pytest.approx(fn(ref, est).item(), rel=1e-6)
    a = metrics.log_mel_l1(longer, ref, SR).item()
    assert a == pytest.approx(metrics.log_mel_l1(est, ref, SR).item(), rel=1e-6)


# ----------------------------------------------------------------------------- spectral


def test_spectral_convergence_matches_numpy():
    ref = _noise(2, 257, 40).abs()
    est = ref + 0.3 * _noise(2, 257, 40, seed=3)
    got = metrics.spectral_convergence(est, ref)
    r, e = ref.double().numpy(), est.double().numpy()
    expected = np.linalg.norm(r - e, axis=(-2, -1)) / np.linalg.norm(r, axis=(-2, -1))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(
        metrics.spectral_convergence_db(est, ref).numpy(), 20 * np.log10(expected), rtol=1e-5
    )
    assert torch.equal(metrics.spectral_convergence(ref, ref), torch.zeros(2))
    # a silent reference: ||E|| over the floor (1e-12 unless given)
    norms = est.flatten(1).norm(dim=1)
    silent = torch.zeros_like(ref)
    assert torch.allclose(metrics.spectral_convergence(est, silent), norms / 1e-12, rtol=1e-5)
    assert torch.allclose(
        metrics.spectral_convergence(est, silent, floor=1e-3), norms / 1e-3, rtol=1e-5
    )
    # frames are cropped to the shorter
    assert metrics.spectral_convergence(est[..., :30], ref).allclose(
        metrics.spectral_convergence(est[..., :30], ref[..., :30])
    )


def test_log_spectral_distance_matches_numpy():
    ref, est = _tone(), _tone() + 0.05 * _noise(SR, seed=4)
    got = metrics.log_spectral_distance(est, ref, n_fft=512, hop_length=128).item()
    p_r = _np_mag(ref.double().numpy(), 512, 128) ** 2
    p_e = _np_mag(est.double().numpy(), 512, 128) ** 2
    diff = 10 * np.log10((p_r + 1e-10) / (p_e + 1e-10))
    expected = np.mean(np.sqrt(np.mean(diff**2, axis=0)))
    assert got == pytest.approx(expected, rel=1e-4)
    assert metrics.log_spectral_distance(ref, ref).item() == 0.0


def test_log_mel_l1_matches_librosa():
    ref, est = _tone(), 0.8 * _tone(seed=2)
    got = metrics.log_mel_l1(torch.stack([est, ref]), ref, SR)
    mel = lambda x: librosa.feature.melspectrogram(  # noqa: E731
        y=x.double().numpy(),
        sr=SR,
        n_fft=1024,
        hop_length=256,
        n_mels=80,
        power=1.0,
        center=True,
        pad_mode="constant",
    )
    expected = np.mean(np.abs(np.log(mel(est) + 1e-5) - np.log(mel(ref) + 1e-5)))
    assert got.shape == (2,)
    assert got[0].item() == pytest.approx(expected, rel=1e-4)
    assert got[1].item() == 0.0


@pytest.mark.parametrize(
    "settings",
    [{}, {"n_mels": 40, "n_fft": 512, "hop_length": 128, "f_min": 60.0, "f_max": 7000.0}],
)
def test_log_mel_l1_is_the_l1_of_log_mel_front_end_features(settings):
    ref = torch.stack([_tone(), _tone(seed=5)])
    est = 0.7 * ref + 0.02 * _noise(2, SR, seed=8)
    got = metrics.log_mel_l1(est, ref, SR, **settings)
    stft = StftParams(settings.get("n_fft", 1024), settings.get("hop_length", 256))
    mel_settings = {k: v for k, v in settings.items() if k not in ("n_fft", "hop_length")}
    frontend = LogMel(SR, stft, **mel_settings)
    expected = (frontend(est) - frontend(ref)).abs().mean(dim=(-2, -1))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0.0)
    mel = lambda x: librosa.feature.melspectrogram(  # noqa: E731
        y=x.double().numpy(),
        sr=SR,
        n_fft=settings.get("n_fft", 1024),
        hop_length=settings.get("hop_length", 256),
        n_mels=settings.get("n_mels", 80),
        fmin=settings.get("f_min", 0.0),
        fmax=settings.get("f_max"),
        power=1.0,
        center=True,
        pad_mode="constant",
    )
    librosa_l1 = np.mean(np.abs(np.log(mel(est[1]) + 1e-5) - np.log(mel(ref[1]) + 1e-5)))
    assert got[1].item() == pytest.approx(librosa_l1, rel=1e-4)


def test_multi_resolution_stft_matches_numpy_and_falls_with_noise():
    ref = _tone()
    est = ref + 0.1 * _noise(SR, seed=6)
    total = 0.0
    for n_fft, hop in metrics.DEFAULT_RESOLUTIONS:
        r, e = _np_mag(ref.double().numpy(), n_fft, hop), _np_mag(est.double().numpy(), n_fft, hop)
        sc = np.linalg.norm(r - e) / np.linalg.norm(r)
        mag = np.mean(np.abs(np.log(np.maximum(r, 1e-7)) - np.log(np.maximum(e, 1e-7))))
        total += sc + mag
    got = metrics.multi_resolution_stft_distance(est, ref).item()
    assert got == pytest.approx(total / 3, rel=1e-4)
    levels = [
        metrics.multi_resolution_stft_distance(ref + g * _noise(SR, seed=6), ref).item()
        for g in (0.3, 0.1, 0.01)
    ]
    assert levels == sorted(levels, reverse=True)
    assert metrics.multi_resolution_stft_distance(ref, ref).item() == 0.0
    with pytest.raises(ValueError):
        metrics.multi_resolution_stft_distance(est, ref, resolutions=())


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="broadcast"):
        metrics.si_sdr(_noise(2, 100), _noise(3, 100))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_metrics_run_on_cuda():
    ref = _tone()
    est = ref + 0.1 * _noise(SR, seed=6)
    for fn in (
        metrics.si_sdr,
        metrics.log_spectral_distance,
        metrics.multi_resolution_stft_distance,
    ):
        out = fn(est.cuda(), ref.cuda())
        assert out.device.type == "cuda"
        assert out.cpu().item() == pytest.approx(fn(est, ref).item(), rel=1e-4)
    out = metrics.log_mel_l1(est.cuda(), ref.cuda(), SR)
    assert out.cpu().item() == pytest.approx(metrics.log_mel_l1(est, ref, SR).item(), rel=1e-4)


# ----------------------------------------------------------------------------- PESQ / STOI


def test_pesq_and_stoi_on_real_speech():
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    clean = torch.from_numpy(_speech_clip())
    noisy = clean + _noise(clean.numel(), seed=7) * clean.square().mean().sqrt() * 10 ** (
        -20 / 20
    )  # 20 dB
    assert metrics.pesq_wb(clean, clean, SR).item() > 4.4
    assert metrics.stoi(clean, clean, SR).item() > 0.99
    p_noisy = metrics.pesq_wb(noisy, clean, SR).item()
    s_noisy = metrics.stoi(noisy, clean, SR).item()
    assert 1.0 < p_noisy < 2.5  # white noise at 20 dB SNR is clearly audible (measured 1.30)
    assert 0.9 < s_noisy < 0.985  # but barely hurts intelligibility (measured 0.969)
    both = metrics.stoi(torch.stack([clean, noisy]), clean, SR)
    assert both.shape == (2,) and both[1].item() == pytest.approx(s_noisy)


def test_pesq_resamples_other_rates():
    pytest.importorskip("pesq")
    from audioae.audio import resample

    clean = resample(torch.from_numpy(_speech_clip()), SR, 22050)
    assert metrics.pesq_wb(clean, clean, 22050).item() > 4.4


def test_pesq_silence_is_a_value_error():
    pytest.importorskip("pesq")
    with pytest.raises(ValueError, match="PESQ failed"):
        metrics.pesq_wb(torch.zeros(SR), torch.zeros(SR), SR)


def test_missing_eval_packages_say_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pesq", None)
    monkeypatch.setitem(sys.modules, "pystoi", None)
    with pytest.raises(ImportError, match=r"audioae\[eval\]"):
        metrics.pesq_wb(_tone(), _tone(), SR)
    with pytest.raises(ImportError, match=r"audioae\[eval\]"):
        metrics.stoi(_tone(), _tone(), SR)


# ----------------------------------------------------------------------------- silent estimates


def test_si_sdr_of_a_silent_estimate_is_the_floor():
    """0/0 by the formula (NaN before): defined as the worst score, -100 dB, for all zeros and
    for a constant (zero once the mean is removed); batched rows keep their own values."""
    ref = _tone()
    floor = metrics.SI_SDR_FLOOR_DB
    assert floor == -100.0
    assert metrics.si_sdr(torch.zeros(SR), ref).item() == floor
    assert metrics.si_sdr(torch.full((SR,), 0.25), ref).item() == floor
    noisy = ref + 0.1 * _noise(SR, seed=2)
    batch = metrics.si_sdr(torch.stack([torch.zeros(SR), noisy]), ref)
    assert batch.dtype == torch.float64 and batch.shape == (2,)
    assert batch[0].item() == floor
    assert batch[1].item() == metrics.si_sdr(noisy, ref).item() > 10.0
    # a silent reference stays undefined, whatever the estimate (evaluate_pair refuses it)
    assert torch.isnan(metrics.si_sdr(torch.zeros(SR), torch.zeros(SR))).item()
    assert torch.isnan(metrics.si_sdr(ref, torch.zeros(SR))).item()


def test_si_sdr_never_scores_below_silence():
    """An estimate orthogonal to the reference (-inf or about -300 dB by the formula) is
    clamped to the floor; an estimate just above the floor is left alone."""
    r = _tone().double()
    r = r - r.mean()
    n = _noise(SR, seed=4).double()
    n = n - n.mean()
    orthogonal = n - (n @ r) / (r @ r) * r
    assert metrics.si_sdr(orthogonal, r).item() == metrics.SI_SDR_FLOOR_DB
    # 10 log10(a^2 ||r||^2 / ||o||^2) = -90 dB exactly: above the floor, unchanged
    a = (1e-9 * (orthogonal @ orthogonal) / (r @ r)).sqrt()
    assert metrics.si_sdr(orthogonal + a * r, r).item() == pytest.approx(-90.0, abs=1e-6)


def test_pesq_of_a_silent_estimate_is_the_floor(monkeypatch):
    pesq = pytest.importorskip("pesq")
    clean = torch.from_numpy(_speech_clip())
    zeros = torch.zeros_like(clean)
    with pytest.raises(ValueError, match="NaN"):  # why: the package itself cannot score it
        pesq.pesq(SR, clean.double().numpy(), zeros.double().numpy(), "wb")
    assert metrics.PESQ_WB_FLOOR == 0.999
    assert metrics.pesq_wb(zeros, clean, SR).item() == 0.999
    from audioae.audio import resample

    assert metrics.pesq_wb(torch.zeros(30000), resample(clean, SR, 22050), 22050).item() == 0.999
    both = metrics.pesq_wb(torch.stack([zeros, clean]), clean, SR)
    assert both[0].item() == 0.999 and both[1].item() > 4.4
    # 1e-30 of full scale: pesq fails with its NaN error, and the estimate is silent in effect
    tiny = 1e-30 * _noise(clean.numel(), seed=1)
    assert metrics.pesq_wb(tiny, clean, SR).item() == 0.999
    # the floor lies below what the package gives any audible estimate (near-silent noise:
    # measured 1.02 to 1.15)
    quiet_noise = metrics.pesq_wb(1e-6 * _noise(clean.numel(), seed=1), clean, SR).item()
    assert 0.999 < 1.01 < quiet_noise < 1.2
    with pytest.raises(ValueError, match="estimate has 1 NaN or infinite"):
        metrics.pesq_wb(torch.cat([clean[:-1], torch.tensor([float("nan")])]), clean, SR)

    # the same cypesq error on an estimate with signal is not hidden
    def broken(*args, **kwargs):
        raise ValueError("cannot convert float NaN to integer")

    monkeypatch.setattr(pesq, "pesq", broken)
    with pytest.raises(ValueError, match="PESQ failed: cannot convert float NaN"):
        metrics.pesq_wb(clean, clean, SR)


def test_stoi_of_a_silent_estimate_is_zero():
    pytest.importorskip("pystoi")
    clean = torch.from_numpy(_speech_clip())
    zeros = torch.zeros_like(clean)
    assert metrics.stoi(zeros, clean, SR).item() == 0.0
    assert metrics.stoi(zeros, clean, SR, extended=True).item() == 0.0  # pystoi: -0.0019
    both = metrics.stoi(torch.stack([zeros, clean]), clean, SR)
    assert both[0].item() == 0.0 and both[1].item() > 0.99
