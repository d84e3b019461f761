"""The README's main job and its Python example, run as a user would."""

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from audioae.baselines import ffmpeg_has_libopus
from audioae.cli import main
from audioae.demo import find_data_dir, load_splits, run_denoise_stage, speech_metrics_available

ROOT = Path(__file__).parents[1]
MODELS = ROOT / "data" / "models"
needs_models = pytest.mark.skipif(
    not all(
        (MODELS / f).is_file()
        for f in ("denoise.safetensors", "codec.safetensors", "timbre.safetensors")
    ),
    reason="shipped models missing from data/models",
)


@needs_models
def test_demo_quick_writes_a_complete_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--data", str(ROOT / "data")]) == 0
    printed = capsys.readouterr().out
    assert "report:" in printed and "kbit/s" in printed
    page = (out / "report.html").read_text()
    audio = re.findall(r'<audio controls preload="none" src="([^"]+)"', page)
    images = re.findall(r'<img src="([^"]+)"', page)
    # every audio element and image the page names exists, and each stage is present
    assert audio and images and all((out / rel).is_file() for rel in audio + images)
    for heading in ("Denoising", "Compression", "Timbre morph"):
        assert heading in page
    assert sum("_denoised.wav" in a for a in audio) == 3  # one clip x one noise x 0/5/10 dB
    assert sum("_decoded.wav" in a for a in audio) == 2  # a note and a speech clip
    assert "morph/morph.wav" in audio and "morph/grid.png" in images
    assert sum(a.startswith("samples/") for a in audio) == 2
    assert "http" not in page and "<script" not in page  # opens from disk with no network
    # which direction is better, for every metric column
    for header in ("SI-SDR (dB) ↑", "RTF ↓", "x real time ↑", "kbit/s ↓", "log-mel L1 ↓"):
        assert f"<th>{header}</th>" in page, header
    # the baseline from the benchmark, the change over the noisy input and the means
    assert sum("_spectral_subtraction.wav" in a for a in audio) == 1
    rows, speed, codec = _tables(page)
    means = {r[0]: r for r in rows if r[0].startswith("mean: ")}
    assert {"mean: noisy input", "mean: spectral subtraction", "mean: audioae"} <= set(means)
    assert float(means["mean: audioae"][5]) > 0.5  # audioae raises SI-SDR over the noisy input
    assert means["mean: noisy input"][5] == ""  # no change for the input itself
    denoised = [r for r in rows if len(r) > 5 and r[3] == "audioae"]
    assert len(denoised) == 3 and all(
        float(r[5]) == pytest.approx(float(r[4]) - float(n[4]), abs=2e-3)
        for r, n in zip(denoised, [r for r in rows if len(r) > 5 and r[3] == "noisy input"])
    )
    if speech_metrics_available():
        assert "<th>PESQ ↑</th>" in page and "<th>STOI ↑</th>" in page
    else:
        assert "PESQ and STOI were not computed" in page
    if ffmpeg_has_libopus():
        assert "mean: Opus" in {r[0] for r in codec} and sum("_opus.wav" in a for a in audio) == 2
    else:
        assert "Opus baseline skipped" in page
    # RTF from one long clip, not per short call
    long_seconds = float(re.search(r"concatenated to (\d+) s", page).group(1))
    assert long_seconds >= 30
    assert [r[0] for r in speed] == ["spectral subtraction", "audioae"]
    assert "mean: audioae" in [r[0] for r in codec]
    # with a learned decoder, each decoded clip is also played through Griffin-Lim
    from audioae.pipeline import Pipeline

    learned = Pipeline.load(MODELS / "codec.safetensors").default_phase != "griffin-lim"
    assert sum("_decoded_griffin_lim.wav" in a for a in audio) == (2 if learned else 0)
    # captions say what the end steps and the prior samples are
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    assert sum("reconstructed from its own latent" in c for c in captions) == 2
    assert sum("a random latent z ~ N(0, I)" in c for c in captions) == 2
    # a second run does not replace the report without --force
    assert main(["demo", "--out", str(out), "--quick", "--data", str(ROOT / "data")]) == 2


def _tables(page: str) -> list[list[list[str]]]:
    """Every table of the report: its body rows as their cells' text."""
    return [
        [
            [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(<td>.*?)</tr>", table)
        ]
        for table in re.findall(r"<table>.*?</table>", page, re.S)
    ]


@needs_models
def test_demo_says_when_pesq_and_stoi_are_not_installed(tmp_path, monkeypatch):
    from audioae.pipeline import Pipeline

    monkeypatch.setattr("audioae.demo_denoise.speech_metrics_available", lambda: False)
    splits = load_splits(find_data_dir(ROOT / "data"))
    pipe = Pipeline.load(MODELS / "denoise.safetensors", device="cpu")
    section = run_denoise_stage(pipe, splits, tmp_path, quick=True)
    assert any("PESQ and STOI were not computed" in note for note in section.notes)
    (caption, header, rows), _speed = section.tables
    assert not any("PESQ" in h or "STOI" in h for h in header)
    assert len(header) == 6 and all(len(r) == 6 for r in rows)


@needs_models
def test_readme_python_example_saves_its_files(tmp_path):
    """The README's Python block, run as written in a fresh process: it loads the shipped
    models by name and writes denoised.wav and decoded.wav into its working folder."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"From Python:\n\n```python\n(.*?)```", text, re.S).group(1)
    assert 'Pipeline.load("denoise"' in block and "save_audio(" in block
    (tmp_path / "data").symlink_to(ROOT / "data")  # the block reads data/... as in a clone
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    source = sf.info(str(ROOT / "data/speech/en/allison/vm-savefolder.flac"))
    for name in ("denoised.wav", "decoded.wav"):
        info = sf.info(str(tmp_path / name))
        assert (info.frames, info.samplerate) == (source.frames, source.samplerate), name


def test_readme_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"(python -m pytest[^`\n]*)", readme).group(1)
    assert test_command in ci
    assert "audioae demo --out demo_out" in readme and "torch==2.13.0" in ci
