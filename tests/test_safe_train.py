"""Training and run folders are safe (issue 12, items 1, 3 and 7): no file is ever unpickled,
checkpoints are written atomically, a run folder is locked and ``--out`` cannot be a
foreign folder or escape ``runs/``, and the console shows one bar and handles Ctrl-C.

The pickle payload (:class:`_Payload`) creates a marker file when unpickled; each test
plants it where audioae reads a file and checks that the marker never appears."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

import pytest
import torch
import yaml
from conftest import DATA

from audioae.checkpoint_io import SafeCheckpointIO
from audioae.cli import main
from audioae.config import ConfigError, load_config
from audioae.modelfile import ModelFileError, load_model_file, save_model_file
from audioae.run_checkpoints import read_checkpoint
from audioae.runfolder import (
    NotARunFolderError,
    RunExistsError,
    RunFolder,
    check_out_folder,
    default_run_dir,
)
from audioae.runlock import LOCK_FILE, RunLock, RunLockedError
from audioae.training import AutoEncoderModule, train

RECIPES = Path(__file__).parents[1] / "recipes"
FAST = ["training.val_every=2", "training.checkpoint_every=2", "training.log_every=1"]


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> Path:
    src = sorted((DATA / "notes").glob("*.flac"))
    if len(src) < 6:
        pytest.skip("data/notes not present")
    root = tmp_path_factory.mktemp("notes")
    for path in src[:: max(1, len(src) // 6)][:6]:
        shutil.copy(path, root / path.name)
    return root


@pytest.fixture(scope="module")
def trained(notes: Path, tmp_path_factory) -> Path:
    """A finished 4-step tiny run (copied by the tests that change it)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    cfg = load_config(RECIPES / "tiny.yaml", ["training.max_steps=4", *FAST])
    train(cfg, notes, out_dir=run, progress=False)
    return run


def _copy_run(trained: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    return run


def _plant(path: Path, marker: Path, base: Path | None = None) -> None:
    """Replace ``path`` by a checkpoint (``base``'s content, if given) holding the payload."""
    ckpt = torch.load(base, weights_only=True) if base is not None else {"global_step": 1}
    ckpt["payload"] = _Payload(marker)
    torch.save(ckpt, path)


def test_the_payload_runs_when_unpickled(tmp_path: Path) -> None:
    # the planted file is live: a plain torch.load would run it (so the tests below can fail)
    marker = tmp_path / "pwned"
    _plant(tmp_path / "x.ckpt", marker)
    torch.load(tmp_path / "x.ckpt", weights_only=False)
    assert marker.exists()


# --- item 1: never unpickle -------------------------------------------------------------------


def test_read_checkpoint_refuses_pickle_with_a_clear_error(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _plant(tmp_path / "x.ckpt", marker)
    with pytest.raises(ModelFileError, match="holds pickled Python objects.*never unpickles"):
        read_checkpoint(tmp_path / "x.ckpt")
    with pytest.raises(ModelFileError, match="never unpickles"):
        SafeCheckpointIO().load_checkpoint(tmp_path / "x.ckpt", weights_only=False)
    assert not marker.exists()


def test_checkpoint_hyperparameters_are_plain_data(trained: Path) -> None:
    ckpt = read_checkpoint(trained / "checkpoints" / "last.ckpt")  # weights_only=True
    config = ckpt["hyper_parameters"]["config"]
    assert type(config) is dict and yaml.safe_load(yaml.safe_dump(config)) == config


@pytest.mark.parametrize("which", ["best", "last"])
def test_export_refuses_a_pickled_checkpoint(trained, tmp_path, capsys, which) -> None:
    run = _copy_run(trained, tmp_path)
    marker = tmp_path / "pwned"
    target = (
        next((run / "checkpoints").glob("best*.ckpt"))
        if which == "best"
        else run / "checkpoints" / "last.ckpt"
    )
    _plant(target, marker, base=target)
    out = tmp_path / "m.safetensors"
    assert main(["export", str(run), "-o", str(out), "--checkpoint", which]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audioae: error:") and "never unpickles" in err
    assert "Traceback" not in err and not marker.exists() and not out.exists()


def test_model_files_cannot_carry_code(trained: Path, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned"
    # a pickle named like a model file
    fake = tmp_path / "fake.safetensors"
    torch.save({"x": _Payload(marker)}, fake)
    with pytest.raises(ModelFileError):
        load_model_file(fake)
    # a real safetensors file whose stored config is a YAML object constructor
    good = load_model_file(trained / "model.safetensors")
    crafted = tmp_path / "crafted.safetensors"
    save_model_file(crafted, good.model, good.config)
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(crafted))
    metadata = dict(load_model_file(crafted).metadata)
    metadata["config"] = f"!!python/object/apply:builtins.open [{str(marker)!r}, w]\n"
    save_file(tensors, str(crafted), metadata=metadata)
    with pytest.raises(ModelFileError):
        load_model_file(crafted)
    shutil.copy(sorted((DATA / "notes").glob("*.flac"))[0], tmp_path / "in.flac")
    out = tmp_path / "out"
    assert main(["reconstruct", str(crafted), str(tmp_path / "in.flac"), "-o", str(out)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not marker.exists()


def test_resume_never_unpickles(notes, trained, tmp_path, monkeypatch, capsys) -> None:
    marker = tmp_path / "pwned"
    run = _copy_run(trained, tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    _plant(last, marker, base=last)
    args = ["train", "tiny", "--data", str(notes), "--out", str(run), "--quiet", "--resume"]
    # audioae's own read of last.ckpt (the step to resume from) refuses it
    assert main([*args, "--max-steps", "6"]) == 2
    assert "never unpickles" in capsys.readouterr().err
    # Lightning's resume refuses it too when audioae's own read is skipped
    import audioae.runfolder as runfolder
    import audioae.training as training

    # every name audioae reads the step through before Lightning loads the checkpoint
    monkeypatch.setattr(runfolder, "checkpoint_step", lambda path: None)
    monkeypatch.setattr(training, "checkpoint_step", lambda path: None)
    assert main([*args, "--max-steps", "6"]) == 2
    assert "never unpickles" in capsys.readouterr().err
    assert not marker.exists()


def test_export_at_the_end_of_a_resume_never_unpickles(notes, trained, tmp_path, capsys) -> None:
    marker = tmp_path / "pwned"
    run = _copy_run(trained, tmp_path)
    best = run / "checkpoints" / "best-step9999999.ckpt"  # the newest best: the one exported
    _plant(best, marker, base=run / "checkpoints" / "last.ckpt")
    os.utime(best, (4_000_000_000, 4_000_000_000))
    args = ["train", "tiny", "--data", str(notes), "--out", str(run), "--quiet", "--resume"]
    assert main([*args, "--max-steps", "5", "--set", "training.val_every=100"]) == 2
    err = capsys.readouterr().err
    assert "best-step9999999.ckpt" in err and "never unpickles" in err
    assert not marker.exists()


def test_resume_through_lightning_loads_with_weights_only(notes, trained, tmp_path) -> None:
    run = _copy_run(trained, tmp_path)
    cfg = load_config(RECIPES / "tiny.yaml", ["training.max_steps=6", *FAST])
    loads: list[bool | None] = []
    real = torch.load

    def spy(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    torch.load = spy
    try:
        result = train(cfg, notes, out_dir=run, resume=True, progress=False)
    finally:
        torch.load = real
    assert result.steps == 6 and loads and all(w is True for w in loads)


# --- item 3: atomic checkpoints ---------------------------------------------------------------


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch) -> None:
    io = SafeCheckpointIO()
    path = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()

    def disk_full(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\x03\x04 half")  # a partial write, then the failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(3)}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temp file left
    assert read_checkpoint(path)["global_step"] == 1


def test_training_saves_checkpoints_through_the_atomic_plugin(notes, tmp_path, monkeypatch):
    import audioae.checkpoint_io as checkpoint_io

    saved: list[str] = []
    real = checkpoint_io.atomic_output

    def spy(path, **kwargs):
        saved.append(Path(path).name)
        return real(path, **kwargs)

    monkeypatch.setattr(checkpoint_io, "atomic_output", spy)
    cfg = load_config(RECIPES / "tiny.yaml", ["training.max_steps=2", *FAST])
    train(cfg, notes, out_dir=tmp_path / "run", progress=False)
    assert "last.ckpt" in saved and any(n.startswith("best") for n in saved)


# --- item 3: run folder safety ----------------------------------------------------------------


def test_second_training_into_a_held_folder_is_refused(notes, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    args = ["train", "tiny", "--data", str(notes), "--out", str(run), "--quiet"]
    with RunLock(run):  # as a first `audioae train` holds it
        assert main([*args, "--max-steps", "2"]) == 2
        err = capsys.readouterr().err
        assert "another training run is using this folder" in err and f"pid {os.getpid()}" in err
        assert sorted(p.name for p in run.iterdir()) == [LOCK_FILE]  # nothing else written
    assert not (run / LOCK_FILE).exists()
    assert main([*args, "--max-steps", "2"]) == 0  # free again


def test_two_trainings_at_once_one_refused(notes, tmp_path) -> None:
    run = tmp_path / "run"
    cfg = load_config(RECIPES / "tiny.yaml", ["training.max_steps=30", *FAST])
    outcome: dict[str, object] = {}
    started = threading.Event()

    def first() -> None:
        try:
            outcome["first"] = train(cfg, notes, out_dir=run, progress=False)
        except Exception as exc:  # pragma: no cover - reported by the assert below
            outcome["first"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    while thread.is_alive() and not (run / LOCK_FILE).exists():
        started.wait(0.01)
    with pytest.raises(RunLockedError):
        train(cfg, notes, out_dir=run, progress=False)
    thread.join()
    assert getattr(outcome["first"], "steps", None) == 30


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog) -> None:
    (tmp_path / LOCK_FILE).write_text("pid 999999 on somehost since 2020-01-01 00:00:00\n")
    with caplog.at_level("WARNING", logger="audioae.runlock"), RunLock(tmp_path) as lock:
        assert lock.held and f"pid {os.getpid()}" in (tmp_path / LOCK_FILE).read_text()
    assert "taking over the lock left by pid 999999" in caplog.text
    # a folder the lock created is removed again when nothing else was written there
    with RunLock(tmp_path / "new"):
        assert (tmp_path / "new" / LOCK_FILE).is_file()
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a process")
def test_lock_still_flocked_by_a_dead_owners_child_is_taken_over(tmp_path, caplog) -> None:
    """A run killed by SIGKILL leaves DataLoader workers that share its locked file for a few
    seconds; their flock must not block the resume (the owner pid is dead)."""
    import signal
    import subprocess
    import sys

    code = (
        "import os, sys, time\n"
        "from audioae.runlock import RunLock\n"
        "lock = RunLock(sys.argv[1]).acquire()\n"
        "if os.fork() == 0:\n"
        "    time.sleep(30)\n"  # the 'worker': inherits the locked file, outlives its parent
        "    os._exit(0)\n"
        "print('locked', flush=True)\n"
        "time.sleep(30)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    owner = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, env=env
    )
    try:
        assert owner.stdout.readline().strip() == b"locked"
        with pytest.raises(RunLockedError):  # the owner is alive: refused
            RunLock(tmp_path).acquire()
        owner.send_signal(signal.SIGKILL)
        owner.wait()
        with caplog.at_level("WARNING", logger="audioae.runlock"), RunLock(tmp_path) as lock:
            assert lock.held
        assert "taking over the lock left by pid" in caplog.text
    finally:
        owner.kill()
        subprocess.run(["pkill", "-f", str(tmp_path)], check=False)


def test_out_must_be_new_empty_or_a_run_folder(notes, tmp_path, capsys) -> None:
    cfg = load_config(RECIPES / "tiny.yaml")
    check_out_folder(RunFolder(tmp_path / "new"), cfg, resume=False)
    (tmp_path / "empty").mkdir()
    check_out_folder(RunFolder(tmp_path / "empty"), cfg, resume=False)

    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    for resume in (False, True):
        with pytest.raises(NotARunFolderError, match="thesis.tex"):
            check_out_folder(RunFolder(home), cfg, resume=resume)
    args = ["train", "tiny", "--data", str(notes), "--out", str(home), "--quiet"]
    assert main([*args, "--max-steps", "2"]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert sorted(p.name for p in home.iterdir()) == ["thesis.tex"]  # nothing written there

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(NotARunFolderError, match="not a folder"):
        check_out_folder(RunFolder(a_file), cfg, resume=False)


def test_a_run_folder_needs_resume_or_the_same_recipe(trained: Path, tmp_path: Path) -> None:
    run = _copy_run(trained, tmp_path)
    cfg = load_config(RECIPES / "tiny.yaml")
    with pytest.raises(RunExistsError, match="--resume"):
        check_out_folder(RunFolder(run), cfg, resume=False)
    check_out_folder(RunFolder(run), cfg, resume=True)
    # a run started but never checkpointed: the same recipe may start over, another may not
    shutil.rmtree(run / "checkpoints")
    check_out_folder(RunFolder(run), cfg, resume=False)
    other = load_config(RECIPES / "tiny.yaml", ["name=other"])
    with pytest.raises(RunExistsError, match="recipe 'tiny'"):
        check_out_folder(RunFolder(run), other, resume=False)


@pytest.mark.parametrize("name", ["/tmp/evil", "../evil", "a/../../b", "a/b", "a\\b", "..", ""])
def test_recipe_names_cannot_escape_the_runs_folder(tmp_path, name, capsys) -> None:
    with pytest.raises(ConfigError, match="cannot name a run folder"):
        default_run_dir(name)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": name, "training": {"max_steps": 2}}))
    assert main(["train", str(recipe), "--data", str(tmp_path)]) == 2
    assert "cannot name a run folder" in capsys.readouterr().err
    assert default_run_dir("conv2d_vae") == Path("runs") / "conv2d_vae"


# --- item 7: progress, quiet Lightning, Ctrl-C -------------------------------------------------


def _lightning_info(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("lightning") and r.levelno < logging.WARNING
    ]


def test_one_quiet_progress_bar_over_max_steps(notes, tmp_path, capfd, caplog) -> None:
    caplog.set_level(logging.INFO)  # Lightning's info lines would be recorded here
    run = tmp_path / "run"
    args = ["train", "tiny", "--data", str(notes), "--out", str(run), "--max-steps", "6"]
    assert main([*args, "--set", "training.val_every=3"]) == 0
    out, err = capfd.readouterr()
    lines = err.replace("\r", "\n")
    assert "6/6" in lines and "training:" in lines and "step/s" in lines
    for clutter in (
        "GPU available",
        "TPU available",
        "litlogger",
        "Epoch 0",
        "Validation",
        "Sanity Checking",
        "Trainable params",
        "max_steps=6` reached",
        "LeafSpec",
    ):
        assert clutter not in out + err, clutter
    assert _lightning_info(caplog) == []
    # a resumed run's bar starts at the step resumed from, out of the new max_steps
    assert main([*args[:-1], "9", "--resume", "--set", "training.val_every=3"]) == 0
    err = capfd.readouterr().err.replace("\r", "\n")
    assert "6/9" in err and "9/9" in err and "0/9" not in err


def test_verbose_keeps_lightnings_lines(notes, tmp_path, caplog, capsys) -> None:
    caplog.set_level(logging.INFO)
    args = ["train", "tiny", "--data", str(notes), "--out", str(tmp_path / "r"), "--quiet"]
    assert main([*args, "--max-steps", "1", "--verbose"]) == 0
    lines = "\n".join(_lightning_info(caplog))
    # the model summary is logged, or printed to stdout where `rich` is installed (Lightning
    # then picks RichModelSummary; seen on a CUDA machine)
    summary = lines + capsys.readouterr().out
    assert "GPU available" in lines and "Trainable params" in summary


def test_ctrl_c_saves_and_prints_the_resume_command(notes, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    stop_at = 3

    def interrupt(self, outputs, batch, batch_idx):
        if self.global_step == stop_at and not self.trainer.sanity_checking:
            raise KeyboardInterrupt

    monkeypatch.setattr(AutoEncoderModule, "on_train_batch_end", interrupt, raising=False)
    args = ["train", "tiny", "--data", str(notes), "--out", str(run), "--quiet", "--max-steps"]
    args += ["8", "--set", "training.checkpoint_every=100", "training.val_every=100"]
    assert main(args) == 130
    err = capsys.readouterr().err
    command = f"audioae train tiny --data {notes} --out {run} --max-steps 8 --quiet --set"
    assert f"interrupted at step {stop_at}" in err and command in err and "--resume" in err
    assert read_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == stop_at
    assert not (run / "model.safetensors").exists() and not (run / LOCK_FILE).exists()

    monkeypatch.undo()
    resume = err.split("to continue: audioae ")[1].split()
    assert main(resume) == 0
    err = capsys.readouterr().err
    assert f"from step {stop_at}" in err
    assert read_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == 8


def test_sigint_stops_at_the_end_of_the_step(notes, tmp_path, monkeypatch) -> None:
    import signal

    from audioae.train_console import TrainingInterrupted

    stop_at = 3

    def ctrl_c(self, batch, batch_idx):
        if self.global_step == stop_at - 1:  # Ctrl-C during step 3: that step is finished
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(AutoEncoderModule, "on_train_batch_start", ctrl_c, raising=False)
    cfg = load_config(RECIPES / "tiny.yaml", ["training.max_steps=8", *FAST])
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as stopped:
        train(cfg, notes, out_dir=tmp_path / "run", progress=False)
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    assert stopped.value.step == stop_at
    assert read_checkpoint(stopped.value.checkpoint)["global_step"] == stop_at
