"""The `audioae` train/inspect/export/config subcommands, in-process and as real processes
(SIGKILL mid-training then --resume; DDP over 2 CPU processes with gloo)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import DATA

from audioae.cli import main
from audioae.config import load_config
from audioae.modelfile import load_model_file

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> Path:
    src = sorted((DATA / "notes").glob("*.flac"))
    if len(src) < 6:
        pytest.skip("data/notes not present")
    root = tmp_path_factory.mktemp("notes")
    for path in src[:: max(1, len(src) // 6)][:6]:
        shutil.copy(path, root / path.name)
    return root


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "audioae.cli", *args]


def test_help_lists_commands_and_recipes_without_importing_torch() -> None:
    code = "import sys; from audioae.cli import build_parser; build_parser().format_help(); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True
    )
    assert out.stdout.strip() == "False"
    proc = subprocess.run(
        _cli("train", "--help"), capture_output=True, text=True, env=_env(), check=True
    )
    for name in ("tiny", "conv2d_vae", "denoise", "codec", "--resume", "--devices", "--set"):
        assert name in proc.stdout


def test_config_show_prints_the_effective_config(capsys) -> None:
    assert (
        main(["config", "tiny", "--set", "model.latent_dim=5", "training.max_steps=3", "--show"])
        == 0
    )
    shown = yaml.safe_load(capsys.readouterr().out)
    assert (
        shown
        == load_config(
            ROOT / "recipes" / "tiny.yaml", ["model.latent_dim=5", "training.max_steps=3"]
        ).to_dict()
    )
    assert main(["config", "--show"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["name"] == "custom"
    assert main(["config", "tiny", "--set", "model.architecture=transformer"]) == 2
    err = capsys.readouterr().err
    assert "model.architecture" in err and "conv1d" in err


def test_config_of_a_model_file_prints_its_stored_config(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    from audioae.features import build_frontend
    from audioae.modelfile import save_model_file
    from audioae.models import build_model

    cfg = load_config(ROOT / "recipes" / "tiny.yaml", ["model.latent_dim=5"])
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    assert main(["config", str(path)]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == cfg.to_dict()
    assert main(["config", str(path), "--set", "model.latent_dim=4"]) == 2
    assert "--set applies to recipes only" in capsys.readouterr().err
    assert main(["config", str(tmp_path / "missing.safetensors")]) != 0
    assert "missing.safetensors" in capsys.readouterr().err
    # only the metadata is read, never the weights
    import audioae.modelfile as mf

    def no_tensors(*args, **kwargs):
        raise AssertionError("audioae config read the weights")

    monkeypatch.setattr(mf, "read_checked_tensors", no_tensors)
    assert main(["config", str(path)]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == cfg.to_dict()


def test_config_of_a_shipped_model_by_name(tmp_path: Path, capsys, monkeypatch) -> None:
    """A shipped model's name prints its stored config: with --model always, and without it
    when no recipe has that name; a name that is both says which it printed and how to get
    the other."""
    from audioae import bundled
    from audioae.features import build_frontend
    from audioae.modelfile import save_model_file
    from audioae.models import build_model

    shipped = tmp_path / "models"
    shipped.mkdir()
    cfgs = {}
    for name, overrides in (("tiny", ["model.latent_dim=5"]), ("morph", ["model.latent_dim=6"])):
        cfg = load_config(ROOT / "recipes" / "tiny.yaml", overrides)
        model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
        save_model_file(shipped / f"{name}.safetensors", model, cfg)
        cfgs[name] = cfg.to_dict()
    monkeypatch.setattr(bundled, "MODELS_DIR", shipped)
    import audioae.modelfile as mf

    monkeypatch.setattr(mf, "MODELS_DIR", shipped)

    def printed() -> tuple[dict, str]:
        captured = capsys.readouterr()
        return yaml.safe_load(captured.out), captured.err

    monkeypatch.chdir(tmp_path)
    (tmp_path / "morph").mkdir()  # folders of those names (an earlier `-o morph/`) change nothing
    (tmp_path / "tiny").mkdir()
    assert main(["config", "morph"]) == 0  # a shipped model only
    out, err = printed()
    assert out == cfgs["morph"] and "morph is a shipped model, not a recipe" in err
    assert main(["config", "tiny", "--model"]) == 0
    assert printed()[0] == cfgs["tiny"]
    assert main(["config", "tiny", "--show"]) == 0  # both: the recipe, and a pointer
    out, err = printed()
    assert out == load_config(ROOT / "recipes" / "tiny.yaml").to_dict()
    assert "audioae config tiny --model" in err
    assert main(["config", "nosuch", "--model"]) == 2
    assert "shipped models: morph, tiny" in capsys.readouterr().err
    assert main(["config", "--model"]) == 2
    assert main(["config", "morph", "--model", "--set", "model.latent_dim=4"]) == 2


def test_inspect(notes: Path, tmp_path: Path, capsys) -> None:
    assert main(["inspect", str(notes), "--recipe", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "audio files: 6" in out and "validation split: 1 of 6" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["inspect", str(empty)]) == 1
    assert str(empty) in capsys.readouterr().err


def test_train_export_and_errors(notes: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    args = ["train", "tiny", "--data", str(notes), "--out", str(run), "--quiet"]
    assert main([*args, "--max-steps", "3", "--set", "training.val_every=3"]) == 0
    out = capsys.readouterr().out
    assert f"model file: {run / 'model.safetensors'}" in out and "trained 3 steps" in out
    # the run folder holds a run: refused without --resume, no traceback
    assert main([*args, "--max-steps", "3"]) == 2
    assert "--resume" in capsys.readouterr().err
    # resuming a run already at its last step says there is nothing to train, and leaves the
    # run folder as it was (it was re-exported, with "trained 3 steps")
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert main([*args, "--max-steps", "3", "--resume", "--set", "training.val_every=3"]) == 0
    shown = capsys.readouterr()
    assert "already at step 3 of training.max_steps 3: nothing to train, nothing rewritten" in (
        shown.err
    )
    assert f"nothing to train: {run} is at step 3" in shown.out and "trained" not in shown.out
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before
    # ... and a finished run whose model file is gone only exports it, and says so
    (run / "model.safetensors").unlink()
    assert main([*args, "--max-steps", "3", "--resume", "--set", "training.val_every=3"]) == 0
    shown = capsys.readouterr()
    assert "already at step 3 of training.max_steps 3: nothing to train, exporting" in shown.err
    assert (run / "model.safetensors").is_file()
    # the folders a run trained on are recorded; resuming from others is said
    assert json.loads((run / "sources.json").read_text()) == {
        "data": str(notes.resolve()),
        "noise": None,
    }
    other = tmp_path / "other_notes"
    shutil.copytree(notes, other)
    resumed = ["train", "tiny", "--data", str(other), "--out", str(run), "--quiet", "--resume"]
    assert main([*resumed, "--max-steps", "4", "--set", "training.val_every=3"]) == 0
    err = capsys.readouterr().err
    assert (
        f"with other folders: --data {other.resolve()} (the run trained on {notes.resolve()})"
        in err
    )
    assert json.loads((run / "sources.json").read_text())["data"] == str(other.resolve())
    # export: default path exists -> refused without --force; -o elsewhere; --checkpoint last
    assert main(["export", str(run)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["export", str(run), "--force"]) == 0
    other = tmp_path / "exported.safetensors"
    assert main(["export", str(run), "-o", str(other), "--checkpoint", "last"]) == 0
    a, b = load_model_file(run / "model.safetensors"), load_model_file(other)
    assert a.config.model == b.config.model and a.config.features == b.config.features
    # -o a folder (trailing / or existing): the file inside, named after the run folder;
    # -o without the suffix: refused (it wrote a file called "out_dir")
    assert main(["export", str(run), "-o", str(tmp_path / "models") + "/"]) == 0
    assert (tmp_path / "models" / "run.safetensors").is_file()
    assert main(["export", str(run), "-o", str(tmp_path / "models"), "--force"]) == 0
    assert main(["export", str(run), "-o", str(tmp_path / "mymodel")]) == 2
    assert "a model file is written as .safetensors" in capsys.readouterr().err
    assert not (tmp_path / "mymodel").exists()
    assert main(["export", str(tmp_path / "not_a_run")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_train_on_bad_folders_gives_clear_errors(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        main(["train", "tiny", "--data", str(empty), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("audioae: error:") and "no audio files" in err and "Traceback" not in err
    single = tmp_path / "single"
    single.mkdir()
    shutil.copy(sorted((DATA / "notes").glob("*.flac"))[0], single / "one.flac")
    assert (
        main(["train", "tiny", "--data", str(single), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    )
    assert "data.val_fraction=0" in capsys.readouterr().err
    assert main(["train", "tiny", "--data", str(empty), "--set", "model.latnet_dim=3"]) == 2
    assert "latnet_dim" in capsys.readouterr().err


def test_killed_run_resumes_from_its_last_checkpoint(notes: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    steps = 150
    args = [
        "train",
        "tiny",
        "--data",
        str(notes),
        "--out",
        str(run),
        "--quiet",
        "--max-steps",
        str(steps),
    ]
    args += ["--set", "training.checkpoint_every=10", "training.val_every=100"]
    proc = subprocess.Popen(
        _cli(*args), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # still training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    killed_at = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert 10 <= killed_at < steps and killed_at % 10 == 0
    assert not (run / "model.safetensors").exists()

    # --max-steps at the killed step: only the model file is written, and said so (before:
    # 'resuming ... from step 80 of 70', 'training ... 70 steps', 'trained 80 steps')
    below = [a if a != str(steps) else str(killed_at) for a in args]
    exported = subprocess.run(
        _cli(*below, "--resume"), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert f"nothing to train: {run} is at step {killed_at}; exported" in exported.stdout
    assert "resuming" not in exported.stderr and "training tiny into" not in exported.stderr
    assert (run / "model.safetensors").is_file()

    done = subprocess.run(
        _cli(*args, "--resume"), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming {run} from step {killed_at}" in done.stderr
    assert f"trained {steps} steps" in done.stdout
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == steps
    assert load_model_file(run / "model.safetensors").config.training.max_steps == steps


@pytest.mark.slow
def test_ddp_two_cpu_processes(notes: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    args = [
        "train",
        "tiny",
        "--data",
        str(notes),
        "--out",
        str(run),
        "--quiet",
        "--devices",
        "2",
        "--max-steps",
        "4",
        "--verbose",  # Lightning's DDP lines are checked below
    ]
    args += ["--set", "training.val_every=2", "training.checkpoint_every=2"]
    env = dict(_env(), CUDA_VISIBLE_DEVICES="")  # CPU processes on a CUDA machine too
    done = subprocess.run(_cli(*args), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained 4 steps" in done.stdout
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 4
    assert load_model_file(run / "model.safetensors").config.training.devices == "2"
    assert "MEMBER: 2/2" in done.stderr and "distributed_backend=gloo" in done.stderr
    assert done.stderr.count("training file(s)") == 1  # rank 0 says it, not every rank
