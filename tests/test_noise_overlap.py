"""scripts/noise_overlap.py: a shared stretch of recording is found at any gain and offset,
independent recordings and short clicks are not flagged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

import noise_overlap as no  # noqa: E402

SR = no.SAMPLE_RATE


def _noise(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(seconds * SR)) * 0.1


def test_shared_stretch_found_at_any_gain_and_offset() -> None:
    reference = _noise(4.0, 0)
    train = _noise(20.0, 1)
    start = int(7.3 * SR)
    train[start : start + reference.size] = 0.25 * reference  # the same recording, quieter
    score = no.max_local_correlation(train, reference, int(no.PROBE_S * SR), SR)
    assert score > 0.999
    # order of the arguments does not matter: the shorter one is the probe
    assert no.max_local_correlation(reference, train, int(no.PROBE_S * SR), SR) == score


def test_independent_recordings_and_short_clicks_score_low() -> None:
    probe, min_probe = int(no.PROBE_S * SR), int(no.MIN_PROBE_S * SR)
    assert no.max_local_correlation(_noise(20.0, 2), _noise(4.0, 3), probe, min_probe) < 0.1
    click = _noise(0.1, 4)
    assert no.max_local_correlation(_noise(20.0, 2), click, probe, min_probe) == 0.0


def test_cli_flags_the_shared_file_and_exits_nonzero(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    reference = _noise(3.0, 5)
    shared = np.concatenate([_noise(5.0, 6), reference, _noise(2.0, 7)])
    sf.write(tmp_path / "val" / "market.wav", reference, SR)
    sf.write(tmp_path / "train" / "shared.flac", shared, SR)
    sf.write(tmp_path / "train" / "other.flac", _noise(6.0, 8), 22050)  # resampled
    cmd = [sys.executable, str(ROOT / "scripts" / "noise_overlap.py"), str(tmp_path / "train")]
    run = subprocess.run(
        cmd + ["--against", str(tmp_path / "val")], capture_output=True, text=True, check=False
    )
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert "shared.flac" in lines[0] and float(lines[0].split()[0]) > 0.99
    assert "other.flac" in lines[1] and float(lines[1].split()[0]) < 0.1
    assert "1 file(s) at or above 0.5" in run.stderr
    (tmp_path / "train" / "shared.flac").unlink()
    run = subprocess.run(
        cmd + ["--against", str(tmp_path / "val")], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
