"""Run folders: checkpoint discovery, export from a Lightning-layout checkpoint, resume rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from audioae.config import ConfigError, load_config
from audioae.features import build_frontend
from audioae.fileio import OutputExistsError
from audioae.modelfile import ModelFileError, load_model_file
from audioae.models import build_model
from audioae.run_checkpoints import checkpoint_step
from audioae.run_export import export_run, find_checkpoint
from audioae.runfolder import (
    RunExistsError,
    RunFolder,
    prepare_run_folder,
)

RECIPES = Path(__file__).parents[1] / "recipes"


def _cfg(*overrides: str):
    return load_config(RECIPES / "tiny.yaml", list(overrides))


def _write_checkpoint(path: Path, cfg, *, seed: int = 0, with_config: bool = True, step: int = 7):
    """A checkpoint laid out as Lightning writes AutoEncoderModule's; returns the model."""
    torch.manual_seed(seed)
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    state["frontend.window"] = torch.ones(4)  # a non-model buffer: must not reach the model file
    ckpt = {"state_dict": state, "global_step": step, "epoch": 0}
    if with_config:
        ckpt["hyper_parameters"] = {"config": cfg.to_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return model


def test_export_run_takes_model_weights_and_config_from_the_checkpoint(tmp_path: Path) -> None:
    cfg = _cfg("model.latent_dim=5")
    run = RunFolder(tmp_path / "run")
    model = _write_checkpoint(run.last_checkpoint, cfg)
    assert checkpoint_step(run.last_checkpoint) == 7

    path = export_run(run.root)
    assert path == run.model_file
    loaded = load_model_file(path)
    assert loaded.config == cfg and loaded.config.model.latent_dim == 5
    expected = model.state_dict()
    got = loaded.model.state_dict()
    assert sorted(got) == sorted(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)

    with pytest.raises(OutputExistsError):
        export_run(run.root)
    export_run(run.root, overwrite=True)


def test_export_run_falls_back_to_config_yaml_and_refuses_misfits(tmp_path: Path) -> None:
    cfg = _cfg("model.latent_dim=6")
    run = RunFolder(tmp_path / "run")
    _write_checkpoint(run.last_checkpoint, cfg, with_config=False)
    with pytest.raises(ModelFileError, match="no config in the checkpoint"):
        export_run(run.root)
    run.write_config(cfg)
    assert load_model_file(export_run(run.root)).config.model.latent_dim == 6

    run.write_config(_cfg("model.latent_dim=3"))  # weights of latent_dim 6, config of 3
    with pytest.raises(ModelFileError, match="do not fit"):
        export_run(run.root, tmp_path / "other.safetensors")

    run.last_checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="cannot read checkpoint"):
        export_run(run.root, tmp_path / "other.safetensors")


def test_find_checkpoint_prefers_the_newest_best_and_falls_back_to_last(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    with pytest.raises(ModelFileError, match="no checkpoint"):
        find_checkpoint(run.root)
    with pytest.raises(ModelFileError, match="'best' or 'last'"):
        find_checkpoint(run.root, "first")
    run.checkpoint_dir.mkdir()
    run.last_checkpoint.write_bytes(b"")
    assert find_checkpoint(run.root) == run.last_checkpoint  # no validation ran yet
    older, newer = (
        run.checkpoint_dir / "best-step0000004.ckpt",
        run.checkpoint_dir / "best-step0000002.ckpt",
    )
    older.write_bytes(b"")
    newer.write_bytes(b"")
    os.utime(older, (1_000_000, 1_000_000))
    os.utime(newer, (2_000_000, 2_000_000))
    assert find_checkpoint(run.root, "best") == newer
    assert find_checkpoint(run.root, "last") == run.last_checkpoint


def test_prepare_run_folder_resume_rules(tmp_path: Path) -> None:
    cfg = _cfg()
    run = RunFolder(tmp_path / "run")
    with pytest.raises(ConfigError, match="nothing to resume from"):
        prepare_run_folder(run, cfg, resume=True)

    assert prepare_run_folder(run, cfg, resume=False) is None
    assert run.config_file.read_text() == cfg.to_yaml()
    _write_checkpoint(run.last_checkpoint, cfg)

    with pytest.raises(RunExistsError, match="--resume"):
        prepare_run_folder(run, cfg, resume=False)
    # other DDP processes leave refusing and writing to the main process
    assert prepare_run_folder(run, cfg, resume=False, main_process=False) is None

    with pytest.raises(ConfigError, match="model.latent_dim"):
        prepare_run_folder(run, _cfg("model.latent_dim=3"), resume=True)
    longer = _cfg("training.max_steps=99")  # training values may change on resume
    assert prepare_run_folder(run, longer, resume=True) == run.last_checkpoint
    assert run.config_file.read_text() == longer.to_yaml()


class _NotPlainData:
    pass


def test_checkpoint_step_refuses_what_read_checkpoint_refuses(tmp_path: Path) -> None:
    """The step is read with the tensors memory-mapped; a file that needs pickle, garbage
    and a non-dict give read_checkpoint's errors, never an unpickled object."""
    good = tmp_path / "good.ckpt"
    torch.save({"global_step": 12, "state_dict": {"w": torch.ones(3)}}, good)
    assert checkpoint_step(good) == 12
    torch.save({"global_step": 3, "x": _NotPlainData()}, tmp_path / "evil.ckpt")
    (tmp_path / "garbage.ckpt").write_bytes(b"not a checkpoint at all")
    torch.save([1, 2], tmp_path / "list.ckpt")
    for name, reason in [
        ("evil.ckpt", "holds pickled Python objects"),
        ("garbage.ckpt", "cannot read checkpoint"),
        ("list.ckpt", r"not a checkpoint \(holds a list\)"),
    ]:
        with pytest.raises(ModelFileError, match=reason):
            checkpoint_step(tmp_path / name)
