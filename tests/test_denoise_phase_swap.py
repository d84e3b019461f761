"""benchmarks/denoise_phase_swap.py: a magnitude under another signal's phase."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import denoise_phase_swap as ps  # noqa: E402


def _signal(seed: int, n: int = 8000) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(2, n, generator=g, dtype=torch.float64)


def test_swap_keeps_a_signal_under_its_own_phase_and_flips_under_the_opposite():
    x = _signal(0)
    torch.testing.assert_close(ps.swap(x, x), x, atol=1e-9, rtol=0)
    torch.testing.assert_close(ps.swap(x, 3.0 * x), x, atol=1e-9, rtol=0)  # same phase
    torch.testing.assert_close(ps.swap(x, -x), -x, atol=1e-9, rtol=0)  # phase + pi


def test_swap_takes_the_magnitude_of_the_first_and_the_phase_of_the_second():
    a, b = _signal(1), _signal(2)
    y = ps.swap(a, b)
    assert y.shape == a.shape
    window = torch.hann_window(512, dtype=torch.float64)
    spec = ps.STFT.stft(y, window)
    target = torch.polar(ps.STFT.stft(a, window).abs(), torch.angle(ps.STFT.stft(b, window)))
    # the overlap-add of a modified STFT is the least-squares signal (Griffin & Lim 1984), so
    # its STFT is nearer the target than any other signal's, a's and b's among them (for
    # white noise, the most inconsistent target there is: measured 1.35e4 against 1.2e5, 2.6e4)
    err = (spec - target).abs().square().sum()
    assert err < (ps.STFT.stft(a, window) - target).abs().square().sum()
    assert err < (ps.STFT.stft(b, window) - target).abs().square().sum()
    assert err < (ps.STFT.stft(y + 0.01 * a, window) - target).abs().square().sum()
    with pytest.raises(ValueError, match="shapes differ"):
        ps.swap(a, b[:, :-1])


def test_rows_for_names_every_row_with_the_input_shape():
    c, n, m, d = (_signal(s) for s in range(4))
    rows = ps.rows_for(c, n, m, d)
    assert list(rows)[:7] == [
        "noisy",
        "model",
        "DeepFilterNet3",
        "|model| + DFN3 phase",
        "|DFN3| + noisy phase",
        "|model| + clean phase",
        "|clean| + noisy phase",
    ]
    assert all(v.shape == c.shape for v in rows.values())
    torch.testing.assert_close(rows["|clean| + noisy phase"], ps.swap(c, n))


def test_noise_only_frames_and_attenuation():
    t = torch.arange(16000, dtype=torch.float64) / 16000
    clean = torch.sin(2 * torch.pi * 440 * t) * (t < 0.5)  # speech in the first half only
    pauses = ps.noise_only_frames(clean[None])
    assert pauses.shape == (1, 1, 16000 // 128 + 1)
    frames = pauses[0, 0]
    assert not frames[:55].any() and frames[70:].all()  # 0.5 s = frame 62.5, +- a window
    noisy = clean + 0.01 * torch.randn(16000, dtype=torch.float64)
    half = ps.attenuation_db(0.5 * noisy[None], noisy[None], pauses)
    torch.testing.assert_close(
        half, torch.tensor([20 * torch.log10(torch.tensor(0.5)).item()], dtype=torch.float64)
    )


def test_smoothing_keeps_a_flat_gain_and_flattens_a_comb():
    flat = torch.full((257, 4), 0.3, dtype=torch.float64)
    torch.testing.assert_close(ps.smooth_over_bands(flat), flat)
    comb = torch.zeros(257, 1, dtype=torch.float64)
    comb[100::2] = 1.0  # every other bin above 3 kHz
    smooth = ps.smooth_over_bands(comb)[120:240, 0]
    assert float(smooth.std()) < 0.1 * float(comb[120:240, 0].std())
    assert abs(float(smooth.mean()) - 0.5) < 0.05


def test_gain_rows_change_only_what_they_name():
    c, n, m, d = (_signal(s) for s in range(4))
    c[:, 4000:] = 0.0  # the second half is noise-only
    rows = ps.gain_rows(c, n, m, d)
    assert list(rows) == ["model, DFN3 gains in pauses", "model, 32-band gains"]
    assert all(v.shape == n.shape for v in rows.values())
