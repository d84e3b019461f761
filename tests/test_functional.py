"""audioae.functional: STFT/ISTFT, log compression, mel filterbank and Griffin-Lim, checked
against librosa (0.11) and against their own contracts."""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from audioae import functional as AF
from audioae import griffin_lim as griffin_lim_module

DATA = Path(__file__).resolve().parents[1] / "data"
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


def harmonic(
    n: int = 8000, sr: int = 16000, f0: float = 220.0, dtype=torch.float32
) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / sr
    y = sum(torch.sin(2 * math.pi * f0 * k * t + k) / k for k in range(1, 8)) * torch.exp(-2 * t)
    return (0.3 * y).to(dtype)


def real_clips(count: int, seconds: float) -> list[np.ndarray]:
    """``count`` speech/notes clips from data/ (float32 @ 16 kHz), cropped to ``seconds``."""
    speech = sorted(DATA.glob("speech/**/*.flac"))
    notes = sorted(DATA.glob("notes/*.flac"))
    if not speech or not notes:
        pytest.skip("data/speech/**/*.flac and data/notes/*.flac are absent (see data/README.md)")
    picks = [
        speech[len(speech) // 3],
        speech[2 * len(speech) // 3],
        notes[len(notes) // 2],
        speech[0],
    ][:count]
    out = []
    for path in picks:
        y, sr = sf.read(path, dtype="float32")
        assert sr == 16000
        out.append(y[: int(seconds * sr)])
    return out


def spectral_convergence(target: np.ndarray, wav: np.ndarray, n_fft: int, hop: int) -> float:
    """||S - |STFT(wav)|||_F / ||S||_F with librosa's STFT."""
    rebuilt = np.abs(librosa.stft(wav, n_fft=n_fft, hop_length=hop))
    return float(np.linalg.norm(target - rebuilt) / np.linalg.norm(target))


# ---------------------------------------------------------------- STFT / ISTFT

STFT_CASES = [
    (512, 128, None, True, "constant"),
    (512, 100, None, True, "reflect"),  # hop does not divide n_fft
    (512, 128, 400, True, "constant"),  # window shorter than n_fft
    (400, 160, None, False, "constant"),
]


@pytest.mark.parametrize("n_fft,hop,win,center,pad_mode", STFT_CASES)
def test_stft_matches_librosa(n_fft, hop, win, center, pad_mode):
    torch.manual_seed(0)
    y = torch.randn(2, 3, 4000, dtype=torch.float64)
    ours = AF.stft(y, n_fft, hop, win, center=center, pad_mode=pad_mode)
    ref = librosa.stft(
        y.numpy(), n_fft=n_fft, hop_length=hop, win_length=win, center=center, pad_mode=pad_mode
    )
    assert ours.shape == ref.shape == (2, 3, n_fft // 2 + 1, ref.shape[-1])
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-10)  # float64: rounding only
    # float32: atol relative to the largest bin
    ours32 = AF.stft(y.float(), n_fft, hop, win, center=center, pad_mode=pad_mode).numpy()
    assert np.abs(ours32 - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.parametrize("n_fft,hop,win,center,pad_mode", STFT_CASES)
def test_istft_matches_librosa(n_fft, hop, win, center, pad_mode):
    torch.manual_seed(1)
    spec = AF.stft(torch.randn(2, 4000, dtype=torch.float64), n_fft, hop, win, center=center)
    spec = spec * (
        1.0 + torch.rand(spec.shape, dtype=torch.float64)
    )  # inconsistent: a true least-squares inverse
    length = 3999 if center else None
    ours = AF.istft(spec, n_fft, hop, win, center=center, length=length)
    ref = librosa.istft(
        spec.numpy(), n_fft=n_fft, hop_length=hop, win_length=win, center=center, length=length
    )
    assert ours.shape == ref.shape
    # librosa divides by the window envelope wherever it exceeds finfo.tiny; at the first
    # sample of a center=False Hann STFT that envelope is ~1e-12, where both differ by ~1e-11
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("n_fft,hop,win", [(512, 128, None), (1024, 256, None), (512, 100, 300)])
def test_round_trip_float32_and_float64(n_fft, hop, win):
    torch.manual_seed(2)
    y = torch.rand(3, 7001) * 2 - 1  # in [-1, 1)
    spec = AF.stft(y, n_fft, hop, win)
    back = AF.istft(spec, n_fft, hop, win, length=y.shape[-1])
    assert back.shape == y.shape and back.dtype == torch.float32
    assert (back - y).abs().max() < 1e-5  # float32, full-scale signal
    y64 = y.double()
    back64 = AF.istft(AF.stft(y64, n_fft, hop, win), n_fft, hop, win, length=y.shape[-1])
    assert (back64 - y64).abs().max() < 1e-12


@pytest.mark.parametrize("n", [1, 100, 300, 600])
@pytest.mark.parametrize("hop", [128, 100])
def test_short_signals_match_librosa(n, hop):
    """Fewer frames than a window spans (no fully overlapped sample) still invert exactly."""
    y = torch.randn(n, dtype=torch.float64)
    spec = AF.stft(y, 512, hop)
    ref = librosa.istft(spec.numpy(), n_fft=512, hop_length=hop, length=n)
    np.testing.assert_allclose(AF.istft(spec, 512, hop, length=n).numpy(), ref, rtol=0, atol=1e-12)
    gl = AF.griffin_lim(spec.abs(), 512, hop, n_iter=3, init="zeros", length=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # librosa: "n_fft=512 is too large"
        gl_ref = librosa.griffinlim(
            spec.abs().numpy(), n_iter=3, n_fft=512, hop_length=hop, init=None, length=n
        )
    np.testing.assert_allclose(gl.numpy(), gl_ref, rtol=0, atol=1e-10)


def test_istft_default_and_explicit_length():
    y = harmonic(5000)
    spec = AF.stft(y, 512, 128)
    assert spec.shape[-1] == 1 + 5000 // 128
    assert AF.istft(spec, 512, 128).shape[-1] == (spec.shape[-1] - 1) * 128
    longer = AF.istft(spec.to(torch.complex128), 512, 128, length=6000)
    ref = librosa.istft(spec.to(torch.complex128).numpy(), n_fft=512, hop_length=128, length=6000)
    assert longer.shape[-1] == 6000
    np.testing.assert_allclose(longer.numpy(), ref, rtol=0, atol=1e-9)
    assert torch.all(longer[(spec.shape[-1] - 1) * 128 + 256 :] == 0)  # past the last frame


def test_stft_rejects_bad_input():
    y = torch.randn(1000)
    with pytest.raises(ValueError, match="pad_mode"):
        AF.stft(y, 256, 64, pad_mode="edge")
    with pytest.raises(ValueError, match="win_length"):
        AF.stft(y, 256, 64, win_length=300)
    with pytest.raises(ValueError, match="shorter"):
        AF.stft(y[:100], 256, 64, center=False)
    with pytest.raises(ValueError, match="complex"):
        AF.istft(torch.randn(129, 5), 256, 64)
    with pytest.raises(ValueError, match="expected"):
        AF.istft(torch.randn(100, 5, dtype=torch.complex64), 256, 64)


def test_stft_istft_gradcheck():
    torch.manual_seed(3)
    y = torch.randn(2, 40, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: torch.view_as_real(AF.stft(x, 16, 4)), (y,))
    assert torch.autograd.gradcheck(lambda x: AF.magnitude(AF.stft(x, 16, 4), power=2.0), (y,))
    spec = AF.stft(y.detach(), 16, 4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: AF.istft(s, 16, 4, length=40), (spec,))
    spec = AF.stft(y.detach(), 16, 6, win_length=12, center=False).requires_grad_(
        True
    )  # uneven hop
    assert torch.autograd.gradcheck(
        lambda s: AF.istft(s, 16, 6, win_length=12, center=False), (spec,)
    )


# ---------------------------------------------------------------- magnitude / log / mel


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_spectrogram_equals_projected_magnitude(power):
    torch.manual_seed(5)
    y = torch.randn(2, 3, 4000, dtype=torch.float64)
    plain = AF.magnitude(AF.stft(y, 512, 100, 400), power)
    torch.testing.assert_close(
        AF.spectrogram(y, 512, 100, 400, power=power), plain, rtol=1e-12, atol=1e-12
    )
    proj = torch.rand(7, 257, dtype=torch.float64)
    out = AF.spectrogram(y, 512, 100, 400, power=power, projection=proj)
    assert out.shape == (2, 3, 7, plain.shape[-1])
    torch.testing.assert_close(out, proj @ plain, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="projection"):
        AF.spectrogram(y, 512, 100, projection=proj[:, 1:])


def test_magnitude_gradient_is_finite_at_zero():
    spec = torch.zeros(3, 4, dtype=torch.complex128, requires_grad=True)
    AF.magnitude(spec).sum().backward()
    assert torch.isfinite(torch.view_as_real(spec.grad)).all()


def test_magnitude_powers():
    spec = torch.randn(2, 33, 7, dtype=torch.complex128)
    np.testing.assert_allclose(AF.magnitude(spec).numpy(), np.abs(spec.numpy()), rtol=1e-12)
    np.testing.assert_allclose(
        AF.magnitude(spec, 2.0).numpy(), np.abs(spec.numpy()) ** 2, rtol=1e-12
    )
    np.testing.assert_allclose(
        AF.magnitude(spec, 0.5).numpy(), np.abs(spec.numpy()) ** 0.5, rtol=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=50),
    st.sampled_from([1e-5, 1e-3, 1.0]),
)
def test_log_decompress_inverts_log_compress(values, eps):
    mag = torch.tensor(values, dtype=torch.float64)
    back = AF.log_decompress(AF.log_compress(mag, eps), eps)
    torch.testing.assert_close(back, mag, rtol=1e-12, atol=1e-12 * max(eps, 1.0))
    assert torch.all(
        AF.log_decompress(torch.tensor([-100.0, math.log(eps) - 1e-3]), eps) == 0
    )  # clamped


@pytest.mark.parametrize(
    "sr,n_fft,n_mels,f_min,f_max,htk,norm",
    [
        (16000, 1024, 80, 0.0, None, False, "slaney"),
        (22050, 2048, 128, 50.0, 8000.0, True, None),
        (16000, 512, 40, 20.0, 7600.0, False, "slaney"),
    ],
)
def test_mel_filterbank_is_librosas(sr, n_fft, n_mels, f_min, f_max, htk, norm):
    fb = AF.mel_filterbank(sr, n_fft, n_mels, f_min, f_max, htk=htk, norm=norm, dtype=torch.float64)
    ref = librosa.filters.mel(
        sr=sr,
        n_fft=n_fft,
        n_mels=n_mels,
        fmin=f_min,
        fmax=f_max,
        htk=htk,
        norm=norm,
        dtype=np.float64,
    )
    assert fb.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_array_equal(fb.numpy(), ref)
    fb32 = AF.mel_filterbank(sr, n_fft, n_mels, f_min, f_max, htk=htk, norm=norm)
    assert fb32.dtype == torch.float32
    np.testing.assert_allclose(fb32.numpy(), ref, rtol=1e-6, atol=0)


def test_mel_filterbank_returns_fresh_copies():
    a = AF.mel_filterbank(16000, 512, 40)
    a.zero_()
    b = AF.mel_filterbank(16000, 512, 40)
    assert b.abs().sum() > 0
    with pytest.raises(ValueError, match="norm"):
        AF.mel_filterbank(16000, 512, 40, norm="l2")


# ---------------------------------------------------------------- Griffin-Lim


@pytest.mark.parametrize("momentum", [0.0, 0.99])
@pytest.mark.parametrize("pad_mode", ["constant", "reflect"])
def test_griffin_lim_zero_phase_matches_librosa(momentum, pad_mode):
    """Deterministic start (zero phase) in float64: the same iterates as librosa.griffinlim."""
    y = harmonic(8000, dtype=torch.float64).numpy()
    mag = np.abs(librosa.stft(y, n_fft=512, hop_length=128))
    ref = librosa.griffinlim(
        mag, n_iter=12, hop_length=128, n_fft=512, momentum=momentum, init=None, pad_mode=pad_mode
    )
    ours = AF.griffin_lim(
        torch.from_numpy(mag),
        512,
        128,
        n_iter=12,
        momentum=momentum,
        init="zeros",
        pad_mode=pad_mode,
    )
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_griffin_lim_center_false_and_short_window_match_librosa():
    y = harmonic(6000, dtype=torch.float64).numpy()
    mag = np.abs(librosa.stft(y, n_fft=512, hop_length=128, win_length=384, center=False))
    ref = librosa.griffinlim(
        mag, n_iter=8, hop_length=128, n_fft=512, win_length=384, init=None, center=False
    )
    ours = AF.griffin_lim(
        torch.from_numpy(mag), 512, 128, win_length=384, n_iter=8, init="zeros", center=False
    )
    assert ours.shape == ref.shape
    # differences only where the window envelope is ~0 (first/last samples), see istft test
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_griffin_lim_quality_on_real_clips_vs_librosa():
    """Random init on both sides: mean spectral convergence over 3 real clips x 2 seeds."""
    n_fft, hop = 1024, 256
    ours, theirs = [], []
    for clip in real_clips(3, 1.5):
        mag = np.abs(librosa.stft(clip, n_fft=n_fft, hop_length=hop))
        for seed in (0, 1):
            ref = librosa.griffinlim(
                mag, n_iter=32, hop_length=hop, n_fft=n_fft, momentum=0.99, random_state=seed
            )
            gen = torch.Generator().manual_seed(seed)
            wav = AF.griffin_lim(
                torch.from_numpy(mag), n_fft, hop, n_iter=32, momentum=0.99, generator=gen
            )
            assert wav.shape == ref.shape
            ours.append(spectral_convergence(mag, wav.numpy(), n_fft, hop))
            theirs.append(spectral_convergence(mag, ref, n_fft, hop))
    assert np.mean(ours) <= 1.1 * np.mean(theirs), (ours, theirs)
    assert np.mean(ours) < 0.2  # and it is a real reconstruction, not noise (noise gives ~1)


def test_griffin_lim_seed_reproducible_and_seeds_differ():
    mag = AF.stft(harmonic(4000), 512, 128).abs()
    a = AF.griffin_lim(mag, 512, 128, n_iter=5, generator=torch.Generator().manual_seed(7))
    b = AF.griffin_lim(mag, 512, 128, n_iter=5, generator=torch.Generator().manual_seed(7))
    c = AF.griffin_lim(mag, 512, 128, n_iter=5, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-3


def test_griffin_lim_batch_consistency():
    torch.manual_seed(4)
    wavs = torch.stack([harmonic(4000, f0=f) for f in (110.0, 220.0, 330.0)])
    mag = AF.stft(wavs, 512, 128).abs()  # (3, 257, frames)
    phases = torch.rand(mag.shape) * 2 * math.pi
    for init in ("zeros", phases):
        batched = AF.griffin_lim(mag, 512, 128, n_iter=10, init=init)
        for i in range(3):
            single = AF.griffin_lim(
                mag[i], 512, 128, n_iter=10, init=init if isinstance(init, str) else init[i]
            )
            torch.testing.assert_close(single, batched[i], rtol=0, atol=1e-5)
    # random init: the first item of a batch draws the same phases as the item alone
    first = AF.griffin_lim(mag, 512, 128, n_iter=4, generator=torch.Generator().manual_seed(3))[0]
    alone = AF.griffin_lim(mag[0], 512, 128, n_iter=4, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, alone, rtol=0, atol=1e-5)


def test_griffin_lim_cpu_chunks_equal_one_batch(monkeypatch):
    """On CPU the batch runs in cache-sized chunks; the result (random init included) must not
    depend on the chunking."""
    mag = AF.stft(
        torch.stack([harmonic(3000, f0=f) for f in (100.0, 150.0, 200.0, 250.0, 300.0)]), 256, 64
    ).abs()
    whole = AF.griffin_lim(mag, 256, 64, n_iter=6, generator=torch.Generator().manual_seed(1))
    monkeypatch.setattr(
        griffin_lim_module, "_CPU_CHUNK_SAMPLES", 2 * mag.shape[-1] * 256
    )  # 2 items per chunk (1 thread)
    chunked = AF.griffin_lim(mag, 256, 64, n_iter=6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)


def test_griffin_lim_length_and_leading_dims():
    mag = AF.stft(harmonic(4000).expand(2, 3, -1), 512, 128).abs()
    frames = mag.shape[-1]
    assert AF.griffin_lim(mag, 512, 128, n_iter=2).shape == (2, 3, (frames - 1) * 128)
    for length in (4000, (frames - 1) * 128, frames * 128 - 1):
        assert AF.griffin_lim(mag, 512, 128, n_iter=2, length=length).shape == (2, 3, length)
    with pytest.raises(ValueError, match="frames"):
        AF.griffin_lim(mag, 512, 128, length=frames * 128)


def test_griffin_lim_given_phase_init():
    """Started from the true phase, there is nothing to fix: the signal comes back."""
    y = harmonic(6000)
    spec = AF.stft(y, 512, 128)
    wav = AF.griffin_lim(spec.abs(), 512, 128, n_iter=0, init=spec, length=6000)
    assert (wav - y).abs().max() < 1e-5
    wav = AF.griffin_lim(
        spec.abs(), 512, 128, n_iter=3, init=spec.angle(), length=6000
    )  # phases in radians
    assert (wav - y).abs().max() < 1e-4
    # a zero-phase start is a different, worse estimate than the true phase
    zero = AF.griffin_lim(spec.abs(), 512, 128, n_iter=0, init="zeros", length=6000)
    assert (zero - y).abs().max() > 0.05


def test_griffin_lim_convergence_improves_with_iterations():
    y = harmonic(8000)
    mag = AF.stft(y, 512, 128).abs()
    errs = []
    for n_iter in (1, 8, 32):
        wav = AF.griffin_lim(
            mag, 512, 128, n_iter=n_iter, generator=torch.Generator().manual_seed(0)
        )
        errs.append(float((AF.stft(wav, 512, 128).abs() - mag).norm() / mag.norm()))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.1


def test_griffin_lim_rejects_bad_arguments():
    mag = torch.rand(257, 10)
    with pytest.raises(ValueError, match="init"):
        AF.griffin_lim(mag, 512, 128, init="ones")
    with pytest.raises(ValueError, match="momentum"):
        AF.griffin_lim(mag, 512, 128, momentum=-0.1)
    with pytest.raises(ValueError, match="expected"):
        AF.griffin_lim(torch.rand(100, 10), 512, 128)
    with pytest.raises(ValueError, match="real"):
        AF.griffin_lim(mag.to(torch.complex64), 512, 128)


def test_float64_follows_input_dtype():
    y = harmonic(3000, dtype=torch.float64)
    spec = AF.stft(y, 256, 64)
    assert spec.dtype == torch.complex128
    assert AF.istft(spec, 256, 64).dtype == torch.float64
    assert AF.griffin_lim(spec.abs(), 256, 64, n_iter=2).dtype == torch.float64


@CUDA
def test_cuda_matches_cpu():
    y = harmonic(6000)
    spec = AF.stft(y, 512, 128)
    torch.testing.assert_close(AF.stft(y.cuda(), 512, 128).cpu(), spec, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(
        AF.istft(spec.cuda(), 512, 128).cpu(), AF.istft(spec, 512, 128), rtol=1e-5, atol=1e-5
    )
    gen = torch.Generator(device="cuda").manual_seed(0)
    wav = AF.griffin_lim(spec.abs().cuda(), 512, 128, n_iter=16, generator=gen)
    assert wav.device.type == "cuda"
    err = (AF.stft(wav, 512, 128).abs().cpu() - spec.abs()).norm() / spec.abs().norm()
    assert err < 0.2


def test_stft_params_resolve_derive_and_validate():
    p = AF.StftParams(512, 128)
    assert (p.n_fft, p.hop_length, p.win_length, p.center, p.pad_mode, p.n_freq) == (
        512,
        128,
        512,
        True,
        "constant",
        257,
    )
    assert AF.StftParams(512, 128, win_length=400).win_length == 400
    assert p.num_frames(0) == 1
    for n in (1, 127, 128, 5000):
        assert p.num_frames(n) == AF.stft(torch.randn(n), 512, 128).shape[-1] == 1 + n // 128
    no_center = AF.StftParams(256, 64, center=False)
    y = torch.randn(1000)
    assert no_center.num_frames(1000) == AF.stft(y, 256, 64, center=False).shape[-1] == 12
    with pytest.raises(ValueError, match="shorter"):
        no_center.num_frames(100)
    with pytest.raises(ValueError, match="win_length"):
        AF.StftParams(256, 64, win_length=300)
    with pytest.raises(ValueError, match="pad_mode"):
        AF.StftParams(256, 64, pad_mode="edge")
    with pytest.raises(ValueError, match="hop_length"):
        AF.StftParams(256, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.n_fft = 1024  # type: ignore[misc]


def test_stft_params_methods_equal_the_functions():
    p = AF.StftParams(256, 64, win_length=200, center=True, pad_mode="reflect")
    y = torch.randn(2, 3000)
    spec = AF.stft(y, 256, 64, 200, None, True, "reflect")
    assert torch.equal(p.stft(y), spec)
    assert torch.equal(
        p.spectrogram(y, power=2.0), AF.spectrogram(y, 256, 64, 200, None, True, "reflect", 2.0)
    )
    assert torch.equal(p.istft(spec, length=3000), AF.istft(spec, 256, 64, 200, length=3000))
    gl = p.griffin_lim(spec.abs(), n_iter=3, init="zeros", length=3000)
    ref = AF.griffin_lim(
        spec.abs(), 256, 64, 200, n_iter=3, init="zeros", length=3000, pad_mode="reflect"
    )
    assert torch.equal(gl, ref)
