"""A diverged training whose loss stayed finite (1e26) but whose model's magnitudes overflow
is refused at export: exit 1, no model file (found by a student's walk, 2026-12-03)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from audioae.cli import main
from audioae.config import load_config
from audioae.features import build_frontend
from audioae.model_check import check_finite_outputs, probe_signal
from audioae.modelfile import save_model_file
from audioae.models import build_model
from audioae.optim import TrainingDivergedError


def _model_file(path: Path, scale: float) -> Path:
    torch.manual_seed(0)
    cfg = load_config("tiny")
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    save_model_file(path, model, cfg)
    return path


def test_probe_signal_is_fixed_noise_and_a_sine():
    probe = probe_signal(16000)
    assert probe.shape == (2, 16000) and probe.dtype == torch.float32
    assert torch.equal(probe, probe_signal(16000))
    assert float(probe[0].square().mean().sqrt()) == pytest.approx(0.1, rel=0.05)
    assert float(probe[1].abs().max()) == pytest.approx(0.3, rel=1e-3)


def test_a_model_whose_magnitudes_overflow_is_refused(tmp_path):
    check_finite_outputs(_model_file(tmp_path / "ok.safetensors", 1.0))  # a fresh model passes
    blown = _model_file(tmp_path / "blown.safetensors", 1e4)
    with pytest.raises(TrainingDivergedError, match="overflow to Inf or NaN.*training diverged"):
        check_finite_outputs(blown)


def test_a_diverged_training_exits_1_without_a_model_file(tmp_path, capsys):
    from conftest import copy_notes

    data = copy_notes(tmp_path / "notes", count=8)
    out = tmp_path / "run"
    args = ["train", "tiny", "--data", str(data), "--out", str(out), "--quiet"]
    assert main([*args, "--set", "training.learning_rate=1", "training.max_steps=12"]) == 1
    err = capsys.readouterr().err
    assert "training diverged" in err and "no model file was written" in err
    assert not (out / "model.safetensors").exists()
    assert (out / "checkpoints" / "last.ckpt").is_file()
