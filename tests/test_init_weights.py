"""``training.init_from``: a run starts from a trained model's weights (fine-tuning)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from conftest import copy_notes

from audioae.config import load_config
from audioae.features import build_frontend
from audioae.init_weights import load_model_weights
from audioae.modelfile import ModelFileError, load_model_file, save_model_file
from audioae.models import build_model
from audioae.training import train

ROOT = Path(__file__).parents[1]
CONV = ["model.architecture=conv1d", "model.n_res_blocks=2", "model.strides=[]"]
FAST = ["training.max_steps=2", "training.val_every=2", "training.checkpoint_every=2"]


def _cfg(*overrides: str):
    return load_config(ROOT / "recipes" / "tiny.yaml", [*CONV, *overrides])


def _model(cfg):
    return build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    cfg = _cfg("model.dilations=[1,2]")
    torch.manual_seed(1)
    return save_model_file(tmp_path / "source.safetensors", _model(cfg), cfg)


def test_weights_load_into_a_model_with_other_dilations(source: Path, caplog) -> None:
    cfg = _cfg("model.dilations=[1,3]")
    torch.manual_seed(2)
    model = _model(cfg)
    with caplog.at_level("WARNING", logger="audioae.init_weights"):
        load_model_weights(model, source, cfg)
    assert "model.dilations: [1, 2] -> [1, 3]" in caplog.text  # allowed, but said
    theirs = load_model_file(source).model.state_dict()
    ours = model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_a_new_resampling_filter_is_allowed(source: Path) -> None:
    cfg = _cfg("model.dilations=[1,2]", "audio.resampler=steep")
    model = _model(cfg)
    load_model_weights(model, source, cfg)
    theirs = load_model_file(source).model.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in model.state_dict().items())


def test_other_features_or_shapes_are_refused(source: Path) -> None:
    cfg = _cfg("features.n_mels=24")
    with pytest.raises(
        ModelFileError,
        match=r"source\.safetensors.*front-end differs .* in features\.n_mels: \d+ \(this run: 24\)$",
    ):
        load_model_weights(_model(cfg), source, cfg)
    cfg = _cfg("model.latent_dim=4")
    with pytest.raises(ModelFileError, match=r"source\.safetensors.*do not fit"):
        load_model_weights(_model(cfg), source, cfg)
    cfg = _cfg("audio.sample_rate=22050")
    with pytest.raises(
        ModelFileError,
        match=r"source\.safetensors.*audio\.sample_rate 16000 differs from this run's 22050",
    ):
        load_model_weights(_model(cfg), source, cfg)
    cfg = _cfg()
    with pytest.raises(ModelFileError, match="not found"):
        load_model_weights(_model(cfg), source.with_name("missing.safetensors"), cfg)


def test_a_run_starts_from_the_source_weights(source: Path, tmp_path: Path, caplog) -> None:
    folder = copy_notes(tmp_path / "notes")
    theirs = load_model_file(source).model.state_dict()

    def max_change(*overrides: str) -> float:
        cfg = _cfg("model.dilations=[1,3]", "training.learning_rate=1e-9", *FAST, *overrides)
        out = tmp_path / f"run{len(overrides)}"
        result = train(cfg, folder, out_dir=out, progress=False)
        ours = load_model_file(result.model_file).model.state_dict()
        return max((ours[k] - theirs[k]).abs().max().item() for k in theirs)

    # two steps at a learning rate of 1e-9 leave the source weights where they were ...
    with caplog.at_level("INFO", logger="audioae.training"):
        assert max_change(f"training.init_from={source}") < 1e-6
    assert f"starting from the weights of {source} (training.init_from)" in caplog.text
    caplog.clear()
    # ... while a run without init_from has its own random initial weights, and says nothing
    with caplog.at_level("INFO", logger="audioae.training"):
        assert max_change() > 1e-2
    assert "init_from" not in caplog.text
    assert "synthetic noise" not in caplog.text  # tiny does not denoise


def test_a_denoising_run_says_where_its_noise_comes_from(tmp_path: Path, caplog) -> None:
    notes = sorted((ROOT / "data" / "notes").glob("*.flac"))[:4]
    noise = sorted((ROOT / "data" / "noise").glob("*.flac"))[:2]
    if len(notes) < 4 or len(noise) < 2:
        pytest.skip("data/notes or data/noise not present")
    folder, noise_dir = tmp_path / "notes", tmp_path / "noise"
    for files, where in ((notes, folder), (noise, noise_dir)):
        where.mkdir()
        for path in files:
            shutil.copy(path, where / path.name)
    cfg = _cfg("data.denoise=true", *FAST)
    with caplog.at_level("INFO", logger="audioae.training"):
        train(cfg, folder, out_dir=tmp_path / "synthetic", progress=False)
    assert "use synthetic noise (white, pink, brown), no noise recordings" in caplog.text
    assert "--noise DIR" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="audioae.training"):
        train(cfg, folder, noise_dir=noise_dir, out_dir=tmp_path / "recorded", progress=False)
    assert f"use the noise in {noise_dir}" in caplog.text and "synthetic" not in caplog.text


def test_the_noise_line_names_every_share() -> None:
    """Babble and a synthetic share are named beside the recordings or the synthetic noise."""
    import logging

    from audioae.training import _log_sources

    class Lines(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(record.getMessage())

    logger = logging.getLogger("audioae.training")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        denoise = ["data.denoise=true", "data.babble_fraction=0.2"]
        _log_sources(_cfg(*denoise), None, resuming=False)
        _log_sources(_cfg(*denoise, "data.synthetic_noise_fraction=0.5"), "/n", resuming=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    synthetic, recorded = handler.lines
    assert "synthetic noise (white, pink, brown) and, in 20 %, babble" in synthetic
    assert "only" not in synthetic
    assert recorded == (
        "denoising mixtures use the noise in /n; of the mixtures, 50 % synthetic noise "
        "(white, pink, brown) and 20 % babble made from the clean folder"
    )
