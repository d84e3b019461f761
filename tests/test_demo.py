"""The README's main job and its Python example, run as a user would."""

import re
from pathlib import Path

import pytest

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
def test_readme_python_example_runs(monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"From Python:\n\n```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert scope["clean"].shape == scope["noisy"].shape
    assert scope["decoded"].shape == scope["noisy"].shape
    assert scope["latent"].shape[:2] == (1, scope["codec"].model.latent_dim)


def test_readme_commands_match_ci():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"(python -m pytest[^`\n]*)", readme).group(1)
    assert test_command in ci
    assert "audioae demo --out demo_out" in readme and "torch==2.13.0" in ci
