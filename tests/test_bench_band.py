"""The 44.1/48 kHz input paths of the denoiser benchmarks: what reaches the model, and no shift."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import denoise_band, denoise_validation  # noqa: E402

RATE = 16000


def _tone(hz: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE), dtype=torch.float64) / RATE
    return (0.5 * torch.sin(2 * torch.pi * hz * t)).float()[None]


def _middle(x: torch.Tensor) -> torch.Tensor:
    return x[..., 800:-800]  # the resamplers' edges left out


@pytest.mark.parametrize("quality", ["LQ", "HQ"])
def test_validation_input_rate_keeps_the_band_and_empties_the_top(quality: str) -> None:
    low, top = _tone(1000.0), _tone(7900.0)
    out_low = denoise_validation.through_rate(low.expand(3, -1), 48000, quality)
    assert out_low.shape == (3, RATE)
    # a 1 kHz tone comes back in place (no delay, gain 1) within 1e-3 of full scale
    assert (_middle(out_low) - _middle(low)).abs().max() < 1e-3
    # a 7.9 kHz tone, in the resampler's transition band, is gone (below -40 dB)
    out_top = denoise_validation.through_rate(top, 48000, quality)
    assert _middle(out_top).pow(2).mean() < 1e-4 * _middle(top).pow(2).mean()


class _Identity:
    """A stand-in pipeline: returns its input (the path around the model is under test)."""

    sample_rate = RATE

    def __init__(self, steep: bool = False) -> None:
        self.steep_resampling = steep

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_band_file_job_path_is_aligned_and_as_long_as_the_input() -> None:
    x = _tone(1000.0, 1.3).expand(4, -1).contiguous()  # (SNRs, time) as the harness gives
    out, seconds = denoise_band.through_rate(_Identity(), 48000)(x)
    assert out.shape == x.shape and seconds == 0.0
    assert (_middle(out) - _middle(x)).abs().max() < 1e-3
    top = _tone(7900.0, 1.3)
    out_top, _ = denoise_band.through_rate(_Identity(), 44100)(top)
    assert _middle(out_top).pow(2).mean() < 1e-4 * _middle(top).pow(2).mean()


def test_band_file_job_path_keeps_the_top_band_when_both_filters_are_steep() -> None:
    top = _tone(7850.0, 1.3)
    for steep_model, kept in ((True, True), (False, False)):
        out, _ = denoise_band.through_rate(_Identity(steep_model), 48000, steep_recording=True)(top)
        ratio = _middle(out).pow(2).mean() / _middle(top).pow(2).mean()
        assert ratio > 0.8 if kept else ratio < 1e-2


def test_mean_pesq_weighs_every_group_and_snr_cell_alike() -> None:
    from collections import defaultdict

    from benchmarks.bench_quality import SNRS, DenoiseScores

    scores = DenoiseScores(defaultdict(list), defaultdict(float), defaultdict(float))
    for k, snr in enumerate(SNRS):
        scores.scores["unseen", "m", "PESQ", snr] += [1.0 + k, 1.0 + k]  # cell means 1, 2, ...
        scores.scores["seen", "m", "PESQ", snr] += [3.0, 4.0, 5.0]  # cell means 4
        for metric in ("STOI", "SI-SDR"):  # not PESQ: must not count
            scores.scores["unseen", "m", metric, snr].append(100.0)
            scores.scores["seen", "m", metric, snr].append(100.0)
        scores.scores["seen", "other", "PESQ", snr].append(9.0)  # another method: must not count
    unseen = sum(1.0 + k for k in range(len(SNRS))) / len(SNRS)
    assert scores.mean_pesq("m") == pytest.approx((unseen + 4.0) / 2)
    assert scores.mean_pesq("other") == pytest.approx(9.0)
