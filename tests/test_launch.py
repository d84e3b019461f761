"""Early start of the other DDP ranks (audioae.launch)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from audioae import launch
from audioae.launch import (
    MAIN_PID_ENV,
    READY_ENV,
    RankStartError,
    local_ranks,
    main_rank_ready,
    should_launch,
    wait_for_main_rank,
)

_DDP_VARS = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", READY_ENV)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (*_DDP_VARS, "RANK", "SLURM_NTASKS", "LSB_JOBID", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("PMI_SIZE", raising=False)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    # pytest-xdist workers run without a __main__ file, which _interactive() reads as a REPL;
    # the REPL case has its own test (test_no_early_start_without_a_command_line_to_run_again)
    monkeypatch.setattr(launch, "_interactive", lambda: False)


def test_should_launch_only_for_a_count_on_one_node_without_a_launcher(clean_env) -> None:
    assert should_launch(2, 1, env={})
    assert should_launch("4", 1, env={})
    assert not should_launch(1, 1, env={})
    assert not should_launch("auto", 1, env={})
    assert not should_launch(2, 2, env={})  # multi-node: Lightning or the cluster launches
    for marker in ("LOCAL_RANK", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID", "WORLD_SIZE"):
        assert not should_launch(2, 1, env={marker: "1"})


def test_one_device_runs_the_body_unchanged(clean_env) -> None:
    before = dict(os.environ)
    with local_ranks(1) as procs:
        assert procs == []
        assert "LOCAL_RANK" not in os.environ
    assert dict(os.environ) == before


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "rank.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def test_ranks_start_with_lightning_variables_and_wait_for_rank_0(
    clean_env, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    cmd = _script(
        tmp_path,
        f"""
        import os, time
        from audioae.launch import wait_for_main_rank
        t0 = time.time()
        wait_for_main_rank()
        keys = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
        with open({str(log)!r} + os.environ["LOCAL_RANK"], "w") as f:
            f.write(" ".join(os.environ[k] for k in keys) + f" {{time.time() - t0:.3f}}")
        """,
    )
    before = dict(os.environ)
    with local_ranks(3, command=cmd) as procs:
        assert len(procs) == 3 - 1
        assert os.environ["LOCAL_RANK"] == "0" and os.environ["WORLD_SIZE"] == "3"
        port = os.environ["MASTER_PORT"]
        time.sleep(1.5)  # the ranks must still be waiting for the index
        assert all(p.poll() is None for p in procs)
        main_rank_ready()
    assert all(p.returncode == 0 for p in procs)
    assert dict(os.environ) == before  # restored
    for rank in (1, 2):
        words = (tmp_path / f"log{rank}").read_text().split()
        assert words[:5] == [str(rank), "0", "3", "127.0.0.1", port]
        assert float(words[5]) >= 1.0  # waited for main_rank_ready


def test_ranks_are_killed_when_the_body_raises(clean_env, tmp_path: Path) -> None:
    cmd = _script(tmp_path, "import time\ntime.sleep(60)\n")
    with pytest.raises(ValueError, match="bad data"):
        with local_ranks(2, command=cmd) as procs:
            raise ValueError("bad data")
    assert procs[0].returncode is not None and procs[0].returncode != 0
    assert "LOCAL_RANK" not in os.environ


def test_a_failed_rank_stops_rank_0(tmp_path: Path) -> None:
    main = _script(
        tmp_path,
        f"""
        import sys, time
        from audioae.launch import local_ranks
        with local_ranks(2, command=[sys.executable, "-c", "raise SystemExit(3)"]):
            time.sleep(60)  # rank 0 would wait for rank 1 in its first collective
        open({str(tmp_path / "not_reached")!r}, "w").close()
        """,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "WORLD_SIZE", "RANK")}
    t0 = time.monotonic()
    done = subprocess.run(main, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert time.monotonic() - t0 < 30
    assert "exited with code 3" in done.stderr
    assert not (tmp_path / "not_reached").exists()


def test_a_rank_whose_rank_0_is_gone_stops_waiting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    monkeypatch.setenv(READY_ENV, str(tmp_path / "ready"))
    monkeypatch.setenv(MAIN_PID_ENV, gone.stdout.decode().strip())
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(RankStartError, match="rank 0 of this run stopped"):
        wait_for_main_rank()


def test_wait_and_ready_are_no_ops_outside_a_launched_run(clean_env, tmp_path: Path) -> None:
    wait_for_main_rank()  # returns at once
    main_rank_ready()
    assert list(tmp_path.iterdir()) == []


def test_no_early_start_without_a_command_line_to_run_again() -> None:
    code = "from audioae.launch import should_launch; print(should_launch(2, 1, env={}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False"  # python -c (like a REPL or notebook): left to Lightning


def test_is_main_rank_reads_the_rank_variables() -> None:
    from audioae.launch import is_main_rank

    assert is_main_rank({}) and is_main_rank({"LOCAL_RANK": "0", "NODE_RANK": "0"})
    assert not is_main_rank({"LOCAL_RANK": "1"}) and not is_main_rank({"NODE_RANK": "1"})
