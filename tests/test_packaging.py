"""Installed like a real package: bundled recipes, models and demo audio are package data,
models can be named, and a built wheel runs `train`, `denoise` and `demo` from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from audioae import Pipeline
from audioae.bundled import DATA_DIR, MODELS_DIR, RECIPES_DIR, available_models, is_bare_name
from audioae.cli import main
from audioae.config import ConfigError, resolve_recipe
from audioae.modelfile import ModelFileError, load_model_file, resolve_model_file

ROOT = Path(__file__).parents[1]
SHIPPED = ("codec", "denoise", "denoise_stream", "timbre")
needs_models = pytest.mark.skipif(
    not all((ROOT / "data" / "models" / f"{n}.safetensors").is_file() for n in SHIPPED),
    reason="shipped models missing from data/models",
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # not this checkout
    return env | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"} | extra


# --- names -----------------------------------------------------------------------------------


def test_bundled_folders_in_a_clone_are_the_repository_folders() -> None:
    assert RECIPES_DIR == ROOT / "recipes"
    assert MODELS_DIR == ROOT / "data" / "models"
    assert DATA_DIR == ROOT / "data"


@pytest.mark.parametrize(
    ("text", "bare"),
    [("denoise", True), ("my-model_2", True), ("denoise.safetensors", False)]
    + [("./denoise", False), ("runs/denoise", False), ("", False)],
)
def test_bare_names(text: str, bare: bool) -> None:
    assert is_bare_name(text) is bare


@needs_models
def test_a_name_resolves_to_the_shipped_model() -> None:
    assert available_models() == list(SHIPPED)
    assert resolve_model_file("denoise") == MODELS_DIR / "denoise.safetensors"
    # the stand-alone decoder is listed apart from the models, and resolves by name too
    from audioae.bundled import available_vocoders

    assert available_vocoders() == ["vocoder"]
    assert resolve_model_file("vocoder") == MODELS_DIR / "vocoder.safetensors"


def test_a_path_still_wins(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("denoise").write_bytes(b"x")  # a file named like a shipped model is that file
    assert resolve_model_file("denoise") == Path("denoise")
    with pytest.raises(ModelFileError, match=r"denoise: not a readable safetensors"):
        load_model_file("denoise")


def test_unknown_name_lists_the_shipped_models() -> None:
    with pytest.raises(ModelFileError) as exc:
        resolve_model_file("no_such_model")
    assert "no_such_model" in str(exc.value)
    for name in available_models():
        assert name in str(exc.value)


def test_a_missing_path_is_not_looked_up_by_name(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="model file not found"):
        resolve_model_file(tmp_path / "denoise")
    with pytest.raises(ModelFileError, match="model file not found"):
        resolve_model_file("denoise.safetensors")


def test_only_bare_recipe_names_are_bundled(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_recipe("tiny") == RECIPES_DIR / "tiny.yaml"
    with pytest.raises(ConfigError, match="bundled: "):
        resolve_recipe("../recipes/tiny")  # not a file here, and not a name


@needs_models
def test_pipeline_load_by_name_equals_load_by_path() -> None:
    by_name = Pipeline.load("denoise", device="cpu")
    by_path = Pipeline.load(ROOT / "data" / "models" / "denoise.safetensors", device="cpu")
    assert by_name.model_hash == by_path.model_hash and by_name.config == by_path.config
    wav = torch.randn(1, 8000, generator=torch.Generator().manual_seed(0)) * 0.1
    torch.testing.assert_close(by_name.denoise(wav), by_path.denoise(wav))


@needs_models
def test_cli_takes_model_names(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in.wav"
    sf.write(src, 0.1 * np.sin(np.linspace(0, 2000, 16000)).astype("float32"), 16000)
    assert main(["denoise", "denoise", str(src), "-o", str(tmp_path / "out.wav"), "--quiet"]) == 0
    assert sf.info(str(tmp_path / "out.wav")).frames == 16000
    assert main(["encode", "codec", str(src), "-o", str(tmp_path / "in.aae"), "--quiet"]) == 0
    assert (tmp_path / "in.aae").stat().st_size > 0
    capsys.readouterr()
    assert main(["denoise", "nope", str(src), "-o", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audioae: error: nope: no such model file or shipped model")
    assert "codec, denoise, denoise_stream, timbre" in err


# --- the wheel -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy-free staging folder (links to the sources), so the build's
    own folders (build/, *.egg-info) never land in the repository."""
    stage = tmp_path_factory.mktemp("stage")
    for name in ("audioae", "recipes", "data"):
        (stage / name).symlink_to(ROOT / name)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (stage / name).write_bytes((ROOT / name).read_bytes())
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(stage)],
        capture_output=True,
        text=True,
        env=_env(PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {proc.stderr.strip()[-300:]}")
    (path,) = out.glob("audioae-*.whl")
    return path


def test_wheel_holds_the_code_recipes_models_and_demo_audio(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    code = {p.relative_to(ROOT).as_posix() for p in (ROOT / "audioae").rglob("*.py")}
    assert code - names == set(), "a module or subpackage is missing from pyproject's packages"
    for recipe in RECIPES_DIR.glob("*.yaml"):
        assert f"audioae/recipes/{recipe.name}" in names
    for model in SHIPPED:
        assert f"audioae/pretrained/{model}.safetensors" in names
    splits = yaml.safe_load((ROOT / "data" / "splits.yaml").read_text())
    needed = [f for parts in splits.values() for f in parts["test"]] + splits["noise"]["train"]
    assert {f"audioae/heldout/{f}" for f in needed} - names == set()
    assert "audioae/heldout/splits.yaml" in names and "audioae/heldout/licenses/GPL-2.txt" in names
    assert not any(n.startswith("audioae/heldout/models/") for n in names)  # no second copy
    # models ~27 MB (the codec 13.5 MB with its decoder; three carry or are a learned decoder of
    # ~3.5 MB) + held-out audio ~6 MB: about 32 MB
    assert wheel.stat().st_size < 36e6


# data/manifest.csv's licence names -> SPDX identifiers (GPL-2: "version 2 dated June, 1991")
SPDX = {
    "MIT": "MIT",
    "GPL-2": "GPL-2.0-only",
    "CC-BY-SA-3.0": "CC-BY-SA-3.0",
    "CC-BY-3.0": "CC-BY-3.0",
    "CC0": "CC0-1.0",
}


def test_wheel_metadata_names_every_licence_and_carries_the_licence_files(wheel: Path) -> None:
    """PEP 639: the License-Expression covers the MIT code and every licence of the bundled
    audio (all of manifest.csv: the held-out files are in the wheel and the shipped models
    were trained on the rest), and the licence texts are in the wheel's dist-info."""
    import csv
    from email.parser import HeaderParser

    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    meta = HeaderParser().parsestr(archive.read(meta_name).decode("utf-8"))
    version = tuple(int(part) for part in meta["Metadata-Version"].split("."))
    assert version >= (2, 4) and meta["License"] is None  # PEP 639: no free-text License
    expression = meta["License-Expression"]
    terms = expression.split(" AND ")
    with (ROOT / "data" / "manifest.csv").open(newline="") as f:
        data_licences = {row["license"] for row in csv.DictReader(f)}
    assert data_licences <= set(SPDX), f"a manifest licence with no SPDX id: {data_licences}"
    assert {"MIT"} | {SPDX[name] for name in data_licences} == set(terms), expression

    dist_info = meta_name.rsplit("/", 1)[0]
    wanted = ["LICENSE"] + [
        p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "data" / "licenses").iterdir())
    ]
    assert "data/licenses/GPL-2.txt" in wanted
    assert sorted(meta.get_all("License-File")) == sorted(wanted)
    for name in wanted:
        assert archive.read(f"{dist_info}/licenses/{name}") == (ROOT / name).read_bytes()


@pytest.mark.slow
@needs_models
def test_installed_wheel_runs_train_denoise_and_demo_from_any_folder(
    wheel: Path, tmp_path: Path
) -> None:
    """The wheel unpacked as a site folder, run from a folder with no ``data/`` or ``recipes/``:
    a recipe and a model by name, and the demo on the package's own held-out audio."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "work"
    (work / "wavs").mkdir(parents=True)
    t = np.arange(16000) / 16000
    for i in range(4):
        sf.write(work / "wavs" / f"a{i}.wav", 0.3 * np.sin(2 * np.pi * (220 + 40 * i) * t), 16000)
    env = _env(PYTHONPATH=str(site))

    def run(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "audioae.cli", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    where = subprocess.run(
        [sys.executable, "-c", "import audioae.bundled as b; print(b.MODELS_DIR, b.DATA_DIR)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr
    assert where.stdout.split() == [
        str(site / "audioae" / "pretrained"),
        str(site / "audioae" / "heldout"),
    ]

    run("train", "tiny", "--data", "wavs", "--out", "run", "--max-steps", "2", "--quiet")
    assert (work / "run" / "model.safetensors").is_file()
    run("denoise", "denoise", "wavs/a0.wav", "-o", "clean.wav", "--quiet")
    assert sf.info(str(work / "clean.wav")).frames == 16000
    assert "report:" in run("demo", "--out", "demo", "--quick")
    assert (work / "demo" / "report.html").is_file()

    proc = subprocess.run(
        [sys.executable, "-m", "audioae.cli", "demo", "--out", "d2", "--train"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "training split are missing" in proc.stderr and "pass --data DIR" in proc.stderr
