"""Edges of the data index (``audioae train`` / ``audioae inspect``): named pipes, broken
symbolic links, hidden files, the cache's size bound, and a folder it cannot cache in."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from conftest import sine

import audioae.dataindex as dataindex
import audioae.dataindex_cache as dataindex_cache
from audioae.audio import AudioError, audio_info
from audioae.cli import main
from audioae.dataindex import INDEX_FILENAME, index_folder

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX file types")


@pytest.fixture
def folder(tmp_path: Path, write_audio) -> Path:
    """``data/`` with two short usable files."""
    write_audio("data/a.wav", sine(seconds=0.5))
    write_audio("data/sub/b.wav", sine(330.0, seconds=0.5))
    return tmp_path / "data"


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_named_pipe_is_refused_as_not_a_regular_file_without_being_opened(
    folder: Path,
) -> None:
    fifo = folder / "stream.wav"
    os.mkfifo(fifo)
    done = threading.Event()

    def index() -> None:
        index_folder(folder, workers=1)
        done.set()

    worker = threading.Thread(target=index, daemon=True)
    worker.start()
    worker.join(timeout=60)
    if not done.is_set():  # it opened the pipe and waits for a writer: release it, fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("indexing opened the named pipe and blocked")
    index = index_folder(folder, workers=1)
    assert index.paths == ["a.wav", "sub/b.wav"]
    assert index.bad == [("stream.wav", index.bad[0][1])]
    assert index.bad[0][1].startswith("not a regular file (a named pipe (FIFO))")
    assert index.scanned == 0  # cached as bad like any bad file
    with pytest.raises(AudioError, match=r"stream\.wav: not a regular file \(a named pipe"):
        audio_info(fifo)


def test_a_broken_symbolic_link_is_cached_as_bad_and_read_again_when_fixed(
    folder: Path, write_audio, tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "take.wav"
    (folder / "take.wav").symlink_to(target)
    first = index_folder(folder, workers=1)
    cache = folder / INDEX_FILENAME
    stamp = cache.stat().st_mtime_ns
    again = index_folder(folder, workers=1)
    assert first.scanned == 3 and again.scanned == 0 and again.reused == 3
    assert cache.stat().st_mtime_ns == stamp  # nothing changed: not rewritten
    assert again.paths == ["a.wav", "sub/b.wav"] and again.bad == first.bad
    assert first.bad == [("take.wav", f"a broken symbolic link: {target} does not exist")]

    write_audio("elsewhere/take.wav", sine(seconds=0.5))  # the target appears
    fixed = index_folder(folder, workers=1)
    assert fixed.scanned == 1 and fixed.bad == [] and "take.wav" in fixed.paths


def test_hidden_audio_files_are_left_out_and_counted_in_one_warning(
    folder: Path, write_audio, caplog
) -> None:
    write_audio("data/.take1.wav", sine(seconds=0.5))
    write_audio("data/sub/._b.wav", sine(seconds=0.5))  # macOS metadata next to b.wav
    write_audio("data/.trash/old.flac", sine(seconds=0.5))
    (folder / ".notes.txt").write_text("not audio")
    with caplog.at_level(logging.WARNING, logger="audioae"):
        index = index_folder(folder, workers=1)
    assert index.paths == ["a.wav", "sub/b.wav"] and index.bad == []
    assert index.hidden == 3
    hidden = [w for w in _warnings(caplog) if "hidden" in w]
    assert len(hidden) == 1
    assert hidden[0].startswith(f"{folder}: left out 3 hidden audio file(s)")
    assert ".take1.wav" in hidden[0]


def test_no_hidden_files_no_warning(folder: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="audioae"):
        index = index_folder(folder, workers=1)
    assert index.hidden == 0 and _warnings(caplog) == []


def test_the_cache_size_bound_fits_a_million_files(tmp_path: Path, write_audio) -> None:
    """A million 10-second files at the bytes per file of a real cache (paths like a corpus's)
    load with room to spare."""
    for i in range(12):
        write_audio(f"data/speaker_{i:04d}/chapter_{i:05d}/utt_{i:06d}.flac", sine(seconds=10.0))
    index_folder(tmp_path / "data", workers=1)
    per_file = (tmp_path / "data" / INDEX_FILENAME).stat().st_size / 12
    assert 3 * 1_000_000 * per_file < dataindex.MAX_CACHE_BYTES


def test_a_cache_over_the_size_bound_is_rebuilt_with_a_warning(
    folder: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    first = index_folder(folder, workers=1)
    cache = folder / INDEX_FILENAME
    size = cache.stat().st_size
    monkeypatch.setattr(dataindex_cache, "MAX_CACHE_BYTES", size - 1)
    with caplog.at_level(logging.WARNING, logger="audioae"):
        again = index_folder(folder, workers=1)
    assert again.scanned == 2 and again.paths == first.paths
    warned = _warnings(caplog)
    assert any(
        f"{cache}: ignoring an unreadable index cache (larger than {size - 1} bytes)" in w
        for w in warned
    )
    # an index too large to be read back is not written either, and says so
    assert again.cache_file is None
    assert any("the index was not cached: it would take" in w for w in warned)


def test_a_read_only_folder_says_its_index_was_not_cached(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setattr("audioae.dataindex.os.access", lambda path, mode: False)  # root
    with caplog.at_level(logging.WARNING, logger="audioae"):
        index = index_folder(folder, workers=1)  # as inspect: no run folder
    assert index.cache_file is None and not (folder / INDEX_FILENAME).exists()
    (line,) = [w for w in _warnings(caplog) if "not cached" in w]
    assert line.startswith(f"{folder}: the index was not cached: {folder} is not writable")
    assert "next run reads all 2 file(s) again" in line

    caplog.clear()  # as train: the run folder holds the cache, no warning
    with caplog.at_level(logging.WARNING, logger="audioae"):
        index = index_folder(folder, cache_dir=tmp_path / "run", workers=1)
    assert index.cache_file is not None and index.cache_file.parent == tmp_path / "run"
    assert _warnings(caplog) == []


def test_inspect_of_a_read_only_folder_prints_one_line_about_the_cache(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr("audioae.dataindex.os.access", lambda path, mode: False)
    assert main(["inspect", str(folder)]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "not cached" in line]
    assert lines == [
        f"audioae: {folder}: the index was not cached: {folder} is not writable, and no "
        "other cache folder was given (`audioae train` uses its run folder); the next run "
        "reads all 2 file(s) again"
    ]


@pytest.mark.parametrize("report", [True, False])
def test_index_warnings_come_from_the_reporting_rank_only(
    folder: Path, write_audio, caplog, report: bool
) -> None:
    from audioae.config import load_config
    from audioae.data import build_datasets

    for i in range(6):
        write_audio(f"data/c{i}.wav", sine(220.0 + 20 * i, seconds=0.5))
    write_audio("data/.take1.wav", sine(seconds=0.5))
    cfg = load_config("tiny", ["data.batch_size=2", "data.val_fraction=0.25"])
    with caplog.at_level(logging.WARNING, logger="audioae"):
        build_datasets(cfg, folder, report=report, cache_dir=folder.parent / "cache")
    hidden = [w for w in _warnings(caplog) if "hidden audio file" in w]
    assert len(hidden) == (1 if report else 0)
    assert logging.getLogger("audioae.dataindex").level == logging.NOTSET  # restored


def test_a_script_without_a_main_guard_indexes_in_process(tmp_path: Path, write_audio) -> None:
    """A script that indexes (trains) at its top level, without `if __name__ == "__main__":`:
    spawned index workers would import it again and fail to start (BrokenProcessPool, seen
    by the API review). It is indexed in the calling process, with a warning naming the
    guard; the same call under the guard, or from `python -m audioae`, uses the workers and
    says nothing."""
    import subprocess
    import sys

    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(dataindex._PARALLEL_FROM):  # enough new files for worker processes
        write_audio(folder / f"c{i:02d}.wav", sine(seconds=0.2))
    call = f"index = index_folder({str(folder)!r}, workers=2)\nprint('indexed', len(index.paths))\n"
    guarded = "if __name__ == '__main__':\n" + "".join(
        f"    {line}\n" for line in call.splitlines()
    )
    for name, body, warned in (("unguarded", call, True), ("guarded", guarded, False)):
        (folder / dataindex.INDEX_FILENAME).unlink(missing_ok=True)
        script = tmp_path / f"{name}.py"
        script.write_text("from audioae.dataindex import index_folder\n" + body)
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"indexed {dataindex._PARALLEL_FROM}" in proc.stdout
        assert ("indexed in this process, without worker processes" in proc.stderr) is warned
        assert ('outside `if __name__ == "__main__":`' in proc.stderr) is warned
        assert "Traceback" not in proc.stderr  # no worker failed to start
    (folder / dataindex.INDEX_FILENAME).unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "audioae", "inspect", str(folder)], capture_output=True, text=True
    )
    assert "without worker processes" not in proc.stderr + proc.stdout


def test_unguarded_main_call_is_false_outside_a_script() -> None:
    # under pytest the __main__ module is pytest's own entry, which runs under its guard
    assert dataindex.unguarded_main_call() is False
