"""What a killed run leaves behind, and Ctrl-C in DataLoader workers."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import soundfile as sf

from audioae.cli import main
from audioae.fileio import atomic_output, is_atomic_temporary
from audioae.runfolder import is_run_temporary
from audioae.train_console import InterruptHandler

SR = 16000


def _folder(root: Path, n: int = 6) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        noise = np.random.default_rng(i).standard_normal(SR).astype(np.float32)
        sf.write(str(root / f"c{i}.wav"), 0.2 * noise, SR)
    return root


def _temporary_of(path: Path) -> Path:
    """The temporary file atomic_output makes for ``path``, left as a kill would leave it."""
    with atomic_output(path, overwrite=True) as tmp:
        kept = tmp.with_name(tmp.name + ".kept")
        tmp.write_bytes(b"half a file")
        os.link(tmp, kept)
    os.replace(kept, tmp)
    os.unlink(path)
    return tmp


def test_temporary_names_are_told_from_the_users_files(tmp_path: Path) -> None:
    tmp = _temporary_of(tmp_path / "last.ckpt")
    assert is_atomic_temporary(tmp.name, "last", ".ckpt")
    assert is_run_temporary(tmp.name, in_checkpoints=True)
    assert not is_run_temporary(tmp.name)
    model = _temporary_of(tmp_path / "model.safetensors")
    assert is_run_temporary(model.name) and not is_run_temporary("model.safetensors")
    for name in (
        ".last.ckpt",
        "last.ckpt",
        ".last.abc.ckpt",
        ".notes.abcdefgh.txt",
        ".x.abcdefgh.ckpt",
    ):
        assert not is_run_temporary(name, in_checkpoints=True), name
        assert not is_run_temporary(name), name


def test_a_resume_after_a_kill_mid_write_removes_the_leftovers(tmp_path: Path, capsys) -> None:
    data, run = _folder(tmp_path / "data"), tmp_path / "run"
    args = ["train", "tiny", "--data", str(data), "--out", str(run), "--quiet"]
    sets = ["--set", "data.num_workers=0", "training.val_every=2"]
    assert main([*args, "--max-steps", "2", *sets]) == 0
    left = [
        _temporary_of(run / "checkpoints" / "best-step0000009.ckpt"),
        _temporary_of(run / "model.safetensors"),
        _temporary_of(run / "split.json"),
    ]
    mine = run / "checkpoints" / "my-notes.txt"
    mine.write_text("the user's own file")
    assert main([*args, "--max-steps", "4", "--resume", *sets]) == 0
    assert not any(p.exists() for p in left)
    assert mine.read_text() == "the user's own file"
    assert (run / "model.safetensors").is_file() and (run / "split.json").is_file()


def test_ctrl_c_is_answered_by_the_training_process_only(capfd) -> None:
    handler = InterruptHandler(Path("unused.ckpt"))
    with handler.catch_sigint():
        installed = signal.getsignal(signal.SIGINT)
        pid = os.fork()
        if pid == 0:  # a forked DataLoader worker inherits the handler
            try:
                installed(signal.SIGINT, None)
                installed(signal.SIGINT, None)  # a second Ctrl-C does not raise there either
                os._exit(0 if not handler.requested else 3)
            except KeyboardInterrupt:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert "stopping after this step" not in capfd.readouterr().err
        installed(signal.SIGINT, None)
        assert handler.requested
        assert capfd.readouterr().err.count("stopping after this step") == 1
