"""The candidates and the data selection of benchmarks/denoise_resampler.py."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import denoise_resampler as dr  # noqa: E402

RATE = 48000


def _tone(hz: float, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(seconds * RATE), dtype=torch.float64) / RATE
    return (0.5 * torch.sin(2 * torch.pi * hz * t)).float()[None]


def _gain_db(x: torch.Tensor, y: torch.Tensor) -> float:
    """Level of ``y`` (16 kHz) against ``x`` (48 kHz), edges left out."""
    return float(10 * torch.log10(y[..., 800:-800].pow(2).mean() / x.pow(2).mean()))


@pytest.mark.parametrize("name", ["hq", "steep", "kaiser"])
def test_candidates_keep_length_and_pass_1_khz_in_place(name: str) -> None:
    x = _tone(1000.0).expand(2, -1).contiguous()
    y = dr.CANDIDATES[name](x, RATE, 16000)
    assert y.shape == (2, 16000)
    ref = x[:, ::3]
    assert (y[:, 400:-400] - ref[:, 400:-400]).abs().max() < 2e-3  # no delay, gain 1


def test_transition_bands_are_what_the_docs_say() -> None:
    # the steep flag moves soxr HQ's passband edge from about 7.5 kHz to 7.9 kHz
    hq = dr.CANDIDATES["hq"]
    at_7800 = _tone(7800.0)
    assert _gain_db(at_7800, hq(at_7800, RATE, 16000)) < -20.0
    assert _gain_db(at_7800, dr.steep(at_7800, RATE, 16000)) > -0.5
    at_7900 = _tone(7900.0)
    assert _gain_db(at_7900, dr.steep(at_7900, RATE, 16000)) > -1.0
    # no aliasing with the steep filter: 8.3 kHz would fold to 7.7 kHz
    above = _tone(8300.0)
    assert _gain_db(above, dr.steep(above, RATE, 16000)) < -100.0
    # the Kaiser default rolls off gently from 7 kHz and folds 8.1-8.6 kHz back (-7 to -17 dB)
    at_7700 = _tone(7700.0)
    assert -4.0 < _gain_db(at_7700, dr.kaiser(at_7700, RATE, 16000)) < -2.0
    assert _gain_db(above, dr.kaiser(above, RATE, 16000)) > -12.0


def _manifest(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    keys = ["file", "kind", "group", "package", "source", "source_sample_rate", "duration_s"]
    with open(tmp_path / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        for row in rows:
            w.writerow({k: row.get(k, "") for k in keys})
    return tmp_path


def test_select_takes_full_band_validation_voices_and_noise(tmp_path: Path) -> None:
    rows = [
        {
            "file": f"val_speech/{v}/c{i}.flac",
            "kind": "val_speech",
            "group": v,
            "source_sample_rate": rate,
            "duration_s": "5",
        }
        for v, rate in (("aa", "44100"), ("bb", "44100"), ("cc", "22050"))
        for i in range(3)
    ]
    rows += [
        {
            "file": f"noise/{g}/n{i}.flac",
            "kind": "noise",
            "group": g,
            "source_sample_rate": rate,
            "duration_s": dur,
        }
        for i, (g, rate, dur) in enumerate(
            [
                ("ambient", "48000", "9"),
                ("music", "44100", "5"),
                ("ambient", "22050", "9"),
                ("impulsive", "48000", "9"),
                ("ambient", "44100", "2"),
                ("stationary", "44100", "6"),
            ]
        )
    ]
    rows.append(
        {
            "file": "speech/x.flac",
            "kind": "speech",
            "group": "dd",
            "source_sample_rate": "44100",
            "duration_s": "5",
        }
    )
    clips, noises = dr.select(_manifest(tmp_path, rows), clips_per_voice=2, noises=3)
    assert [r["file"] for r in clips] == [
        "val_speech/aa/c0.flac",
        "val_speech/aa/c1.flac",
        "val_speech/bb/c0.flac",
        "val_speech/bb/c1.flac",
    ]  # 22.05 kHz voices and training speech left out
    assert sorted(r["file"] for r in noises) == [
        "noise/ambient/n0.flac",
        "noise/music/n1.flac",
        "noise/stationary/n5.flac",
    ]  # low-rate, impulsive and short noise left out
    with pytest.raises(ValueError):
        dr.select(tmp_path, clips_per_voice=2, noises=4)  # only 3 qualify


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_decode_sources_reads_and_joins_members_of_a_package(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: fake-sounds\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: t <t@example.org>\nDescription: test\n"
    )
    share = root / "usr" / "share" / "s"
    share.mkdir(parents=True)
    a = np.full(441, 0.25, np.float32)
    b = np.stack([np.full(882, 0.5, np.float32), np.zeros(882, np.float32)], axis=1)
    sf.write(share / "a.wav", a, 44100, subtype="FLOAT")
    sf.write(share / "b.wav", b, 44100, subtype="FLOAT")
    debs = tmp_path / "debs"
    debs.mkdir()
    subprocess.run(
        ["dpkg-deb", "--build", str(root), str(debs / "fake-sounds_1.0_all.deb")],
        check=True,
        capture_output=True,
    )
    row = {
        "file": "x.flac",
        "package": "fake-sounds",
        "source": "usr/share/s/a.wav + usr/share/s/b.wav",
    }
    wav, rate = dr.decode_sources([row], debs)["x.flac"]
    assert rate == 44100
    assert wav.shape == (441 + 882,)
    # mono mix of b is 0.25, the same as a; peak-normalised to 0.5
    assert torch.allclose(wav, torch.full_like(wav, 0.5))
    with pytest.raises(FileNotFoundError, match="members missing"):
        dr.decode_sources([{**row, "source": "usr/share/s/none.wav"}], debs)
    with pytest.raises(FileNotFoundError, match="no cached package"):
        dr.decode_sources([{**row, "package": "other"}], debs)


def test_time_filters_reports_every_candidate_against_hq() -> None:
    lines = dr.time_filters(seconds=0.05, repeats=1)
    assert len(lines) == 2 * len(dr.CANDIDATES)
    assert all("x hq)" in line for line in lines)
    assert sum("(1.00x hq)" in line for line in lines) >= 2  # hq against itself
