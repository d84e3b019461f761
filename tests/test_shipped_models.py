"""The shipped denoiser on held-out audio: a regression guard for data/models/denoise.safetensors.

docs/benchmarks.md has the full measurement (36 clips, 4 SNRs, PESQ/STOI/SI-SDR); this test
checks the claim it rests on for a few clips at 5 dB SNR, so a retrained model that loses
it fails CI: on the held-out English speaker the denoiser beats spectral subtraction, the
best classical filter there, on SI-SDR, with an unseen noise type and with a seen one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import load_audio  # noqa: E402
from audioae.augment import mix_at_snr  # noqa: E402
from audioae.metrics import si_sdr  # noqa: E402
from audioae.pipeline import Pipeline  # noqa: E402
from benchmarks.baselines.classical import spectral_subtraction  # noqa: E402

DATA = ROOT / "data"
MODEL = DATA / "models" / "denoise.safetensors"
SR = 16000


@pytest.mark.skipif(not MODEL.is_file(), reason="shipped denoiser missing from data/models")
@pytest.mark.parametrize("group", ["test", "train"])  # unseen and seen noise types
def test_shipped_denoiser_beats_spectral_subtraction_on_held_out_speech(group: str) -> None:
    split = yaml.safe_load((DATA / "splits.yaml").read_text())
    clips = [load_audio(DATA / p, sample_rate=SR)[0] for p in split["speech"]["test"][:4]]
    noises = [load_audio(DATA / p, sample_rate=SR)[0] for p in split["noise"][group]]
    pipe = Pipeline.load(MODEL, device="cpu")
    gen = torch.Generator().manual_seed(0)
    gain_ours, gain_classical = [], []
    for i, clean in enumerate(clips):
        noisy = mix_at_snr(clean, noises[i % len(noises)], 5.0, generator=gen)
        before = float(si_sdr(noisy, clean))
        gain_ours.append(float(si_sdr(pipe.denoise(noisy), clean)) - before)
        gain_classical.append(float(si_sdr(spectral_subtraction(noisy, SR), clean)) - before)
    mean_ours = sum(gain_ours) / len(clips)
    mean_classical = sum(gain_classical) / len(clips)
    # measured on these 4 clips when the model was shipped (2026-11-30, trained on the
    # corpus, 32000 steps): unseen +2.7 vs +0.8 dB, seen +7.7 vs +4.1 dB (24000 steps: +2.8
    # and +7.6; the model shipped before the corpus ones,
    # bundled split only: +1.9 and +8.2; the one before that, four training voices: +0.0 vs
    # +0.8 and +3.1 vs +4.1, so it fails both)
    assert mean_ours > mean_classical + 0.5, (gain_ours, gain_classical)
    assert mean_ours > 1.0
