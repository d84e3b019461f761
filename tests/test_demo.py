"""The README's main job and its Python example, run as a user would."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from audioae.cli import main

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
    # a second run does not replace the report without --force
    assert main(["demo", "--out", str(out), "--quick", "--data", str(ROOT / "data")]) == 2


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
