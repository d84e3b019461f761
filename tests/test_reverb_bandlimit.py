"""Room reverberation and band-limiting: the synthetic impulse response, FFT convolution, the
low-pass, and the denoising pairs they make (data.reverb_fraction, data.band_limit_fraction)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import sine

import audioae.mixtures as mixtures_module
from audioae.augment import EARLY_REVERB_SECONDS, fft_convolve, low_pass, synthetic_rir
from audioae.config import ConfigError, load_config
from audioae.data import AudioFolder, DenoisingFolder

SR = 16000


def _cfg(*overrides: str):
    base = [
        "data.segment_seconds=0.25",
        "data.samples_per_epoch=24",
        "data.val_segments=6",
        "data.batch_size=4",
        "data.denoise=true",
    ]
    return load_config(None, base + list(overrides))


def _rt60_of(rir: torch.Tensor, sample_rate: int) -> float:
    """RT60 from Schroeder's backward integration of the reverberant part ``rir[1:]``: the
    slope of the energy decay curve between -5 and -25 dB (T20), times 3 (ISO 3382-1)."""
    tail = rir[1:].double()
    edc = tail.square().flip(0).cumsum(0).flip(0)
    edc_db = 10 * torch.log10(edc / edc[0])
    t = torch.arange(tail.numel(), dtype=torch.float64) / sample_rate
    fit = (edc_db <= -5) & (edc_db >= -25)
    slope = np.polyfit(t[fit].numpy(), edc_db[fit].numpy(), 1)[0]  # dB per second
    return -60.0 / slope


def test_synthetic_rir_has_a_unit_direct_path_and_the_asked_drr() -> None:
    for rt60, drr_db in ((0.2, -3.0), (0.5, 4.0), (0.8, 12.0)):
        rir = synthetic_rir(SR, rt60, drr_db, torch.Generator().manual_seed(1))
        assert rir.shape == (math.ceil(rt60 * SR) + 1,) and rir.dtype == torch.float32
        assert float(rir[0]) == 1.0
        drr = 10 * math.log10(1.0 / float(rir[1:].double().square().sum()))
        assert drr == pytest.approx(drr_db, abs=1e-3)
        assert float(rir[1:].abs().max()) < 1.0  # the direct path is the strongest arrival


def test_synthetic_rir_is_seeded() -> None:
    a = synthetic_rir(SR, 0.4, 3.0, torch.Generator().manual_seed(7))
    b = synthetic_rir(SR, 0.4, 3.0, torch.Generator().manual_seed(7))
    c = synthetic_rir(SR, 0.4, 3.0, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    with pytest.raises(ValueError, match="rt60"):
        synthetic_rir(SR, 0.0, 3.0)


@pytest.mark.parametrize("rt60", [0.2, 0.5, 0.8])
def test_synthetic_rir_energy_decays_at_its_rt60(rt60: float) -> None:
    for seed in range(3):
        rir = synthetic_rir(SR, rt60, 6.0, torch.Generator().manual_seed(seed))
        assert _rt60_of(rir, SR) == pytest.approx(rt60, rel=0.1)


def test_fft_convolve_is_linear_or_circular_convolution() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 500, generator=gen)
    h = torch.randn(1300, generator=gen)  # longer than the signal
    linear = fft_convolve(x, h)
    assert linear.shape == x.shape and linear.dtype == x.dtype
    for row in range(2):
        ref = np.convolve(x[row].double().numpy(), h.double().numpy())[:500]
        np.testing.assert_allclose(linear[row].numpy(), ref, atol=1e-4)
    circular = fft_convolve(x[0], h, circular=True)
    folded = np.zeros(500)
    for k, v in enumerate(h.double().numpy()):
        folded += v * np.roll(x[0].double().numpy(), k)
    np.testing.assert_allclose(circular.numpy(), folded, atol=1e-4)


def _power_db(wav: torch.Tensor, low: float, high: float) -> float:
    """Energy of ``wav`` in ``[low, high)`` Hz (dB, arbitrary reference), measured through a
    Hann window so the crop's edges do not leak energy across the band."""
    freq = torch.fft.rfftfreq(wav.shape[-1], 1.0 / SR)
    band = (freq >= low) & (freq < high)
    windowed = wav.double() * torch.hann_window(wav.shape[-1], dtype=torch.float64)
    return 10 * math.log10(float(torch.fft.rfft(windowed).abs().square()[..., band].sum()))


def _band_db(wav: torch.Tensor, ref: torch.Tensor, low: float, high: float) -> float:
    """Energy of ``wav`` over that of ``ref`` in ``[low, high)`` Hz (dB)."""
    return _power_db(wav, low, high) - _power_db(ref, low, high)


@pytest.mark.parametrize("cutoff", [3400.0, 4000.0, 5500.0, 7000.0])
def test_low_pass_removes_the_band_above_the_cutoff_and_keeps_the_rest(cutoff: float) -> None:
    x = torch.randn(3, 16000, generator=torch.Generator().manual_seed(0))
    y = low_pass(x, SR, cutoff)
    assert y.shape == x.shape and y.dtype == x.dtype
    stop = min(2 * cutoff, cutoff * 1.13)  # an octave above, or past the roll-off (2^(1/6))
    assert _band_db(y, x, stop, SR / 2) < -40
    assert abs(_band_db(y, x, 50.0, 0.95 * cutoff)) < 0.05
    torch.testing.assert_close(y[1], low_pass(x[1], SR, cutoff))  # rows filtered alone
    with pytest.raises(ValueError, match="cutoff_hz"):
        low_pass(x, SR, 8000.0)


def _burst_folder(cfg) -> DenoisingFolder:
    """Pairs from one clip of one segment: silence, a 25 ms white burst at 1000..1400, silence."""
    clip = torch.zeros(cfg.segment_samples)
    clip[1000:1400] = 0.3 * torch.randn(400, generator=torch.Generator().manual_seed(3))
    return DenoisingFolder(AudioFolder([clip], cfg, "train"), None, cfg)


def test_reverberant_pairs_target_the_direct_path_and_early_reflections() -> None:
    cfg = _cfg(
        "data.reverb_fraction=1", "data.rt60_min=0.5", "data.rt60_max=0.8",
        "data.snr_db_min=60", "data.snr_db_max=60", "data.noise_colors=[white]",
    )  # fmt: skip
    ds = _burst_folder(cfg)
    early_end = 1400 + round(EARLY_REVERB_SECONDS * SR)
    for i in range(4):
        dry = ds.clean[i]
        noisy, target = ds[i]
        assert noisy.shape == target.shape == dry.shape and target.dtype == torch.float32
        assert float(target[:1000].abs().max()) < 1e-6  # causal: nothing before the burst
        assert float(target[1000]) == pytest.approx(float(dry[1000]), abs=1e-6)  # direct path 1
        assert float(target[early_end + 1 :].abs().max()) < 1e-6  # no late reverberation
        total = float(noisy.square().sum())
        late = float(noisy[early_end + 1 :].square().sum())
        assert 10 * math.log10(late / total) > -30  # while the input has its reverberant tail
        assert not torch.allclose(target, dry, atol=1e-3)  # early reflections are kept
        # the SNR is that of the reverberant speech; the noise is 60 dB below it
        assert float(noisy.square().sum()) > float(target.square().sum())


def test_band_limited_reverberant_pairs_lose_the_band_in_input_and_target() -> None:
    cfg = _cfg(
        "data.reverb_fraction=1", "data.band_limit_fraction=1", "data.band_limit_hz=[3400]",
        "data.rt60_min=0.5", "data.rt60_max=0.8", "data.snr_db_min=0", "data.snr_db_max=0",
        "data.noise_colors=[white]",
    )  # fmt: skip
    ds = _burst_folder(cfg)
    for i in range(4):
        noisy, target = ds[i]
        for wav in (noisy, target):
            assert _power_db(wav, 6800.0, SR / 2) - _power_db(wav, 50.0, 3300.0) < -40
        early_end = 1400 + round(EARLY_REVERB_SECONDS * SR)
        late_share = target[early_end + 160 :].square().sum() / target.square().sum()
        assert float(late_share) < 1e-5  # the target still ends with the early reflections


def test_the_channel_draws_leave_the_other_draws_alone() -> None:
    plain_cfg = _cfg("data.noise_colors=[white]")
    band_cfg = _cfg("data.noise_colors=[white]", "data.band_limit_fraction=1")
    clips = [torch.from_numpy(sine(220.0 * (i + 1), 1.0, SR)[0]) for i in range(3)]
    plain = DenoisingFolder(AudioFolder(clips, plain_cfg, "train"), None, plain_cfg)
    band = DenoisingFolder(AudioFolder(clips, band_cfg, "train"), None, band_cfg)
    cutoffs_seen = set()
    for i in range(8):
        noisy, clean = plain[i]
        band_noisy, band_target = band[i]
        matches = [
            c
            for c in band_cfg.data.band_limit_hz
            if torch.allclose(band_noisy, low_pass(noisy, SR, c), atol=1e-6)
        ]
        assert len(matches) == 1  # the same mixture, low-passed at one of the cutoffs
        torch.testing.assert_close(band_target, low_pass(clean, SR, matches[0]))
        cutoffs_seen.add(matches[0])
    assert len(cutoffs_seen) > 1


def test_off_by_default_gives_the_pairs_of_before(monkeypatch: pytest.MonkeyPatch) -> None:
    clips = [torch.from_numpy(sine(220.0 * (i + 1), 1.0, SR)[0]) for i in range(3)]
    default_cfg = _cfg("data.babble_fraction=0.5", "data.random_eq=true")
    assert default_cfg.data.reverb_fraction == 0 and default_cfg.data.band_limit_fraction == 0
    other_cfg = _cfg(
        "data.babble_fraction=0.5", "data.random_eq=true", "data.rt60_min=1", "data.rt60_max=2",
        "data.band_limit_hz=[1000]",
    )  # fmt: skip
    other = DenoisingFolder(AudioFolder(clips, other_cfg, "train"), None, other_cfg)
    expected = [other[i] for i in range(8)]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the channel ran with both fractions 0")

    for name in ("synthetic_rir", "fft_convolve", "low_pass"):
        monkeypatch.setattr(mixtures_module, name, refuse)
    default = DenoisingFolder(AudioFolder(clips, default_cfg, "train"), None, default_cfg)
    for i, (noisy, clean) in enumerate(expected):
        got_noisy, got_clean = default[i]
        assert torch.equal(got_noisy, noisy) and torch.equal(got_clean, clean)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.reverb_fraction=1.5"], "data.reverb_fraction"),
        (["data.band_limit_fraction=-0.1"], "data.band_limit_fraction"),
        (["data.rt60_min=0.9", "data.rt60_max=0.5"], "data.rt60_min"),
        (["data.rt60_max=.nan"], "data.rt60_max"),
        (["data.rt60_min=0"], "data.rt60_min"),
        (["data.band_limit_hz=[0]"], "data.band_limit_hz"),
        (["data.band_limit_fraction=0.5", "data.band_limit_hz=[3400,8000]"], "sample_rate / 2"),
        (["data.band_limit_fraction=0.5", "data.band_limit_hz=[]"], "at least one cutoff"),
    ],
)
def test_channel_keys_are_validated(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _cfg(*overrides)
