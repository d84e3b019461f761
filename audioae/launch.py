"""Start the other DDP processes of a one-machine run at once, before the heavy imports.

Lightning starts ranks ``1..n-1`` of a ``--devices n`` run only when rank 0 enters
``Trainer.fit``, by running the same command line again; each of them then pays the imports,
the index and the set-up a second time, one after the other, so a two-process run took about
twice as long as one process to reach its first step. :func:`local_ranks` starts them the
same way (the same command line, Lightning's environment variables ``MASTER_ADDR``,
``MASTER_PORT``, ``NODE_RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``) but as the first thing the
command does, so every rank imports and builds in parallel; Lightning then sees
``LOCAL_RANK`` set and starts no process of its own (its ``LightningEnvironment`` treats the
processes as created externally). The other ranks wait for rank 0's data index
(:func:`main_rank_ready` / :func:`wait_for_main_rank`) so no two processes index the same
folder or write into a run folder rank 0 has not checked yet.

Nothing here imports torch: the command-line calls it before importing the trainer.
Multi-node runs and runs under a cluster launcher (SLURM, torchrun, MPI, LSF, Kubeflow) are
left to Lightning, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

READY_ENV = "AUDIOAE_RANK0_READY"
"""Environment variable naming the file rank 0 creates once its data index is on disk."""
MAIN_PID_ENV = "AUDIOAE_RANK0_PID"
"""Environment variable holding rank 0's process id (the other ranks stop if it is gone)."""
_DDP_VARS = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
_CLUSTER_MARKERS = (
    "LOCAL_RANK",  # already a launched rank (ours, Lightning's or torchrun's)
    "RANK",
    "WORLD_SIZE",
    "SLURM_NTASKS",
    "LSB_JOBID",
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "TORCHELASTIC_RUN_ID",
)
_POLL_SECONDS = 0.05


class RankStartError(RuntimeError):
    """Rank 0 of this run stopped before its data index was ready."""


def should_launch(devices: int | str, num_nodes: int, env: dict[str, str] | None = None) -> bool:
    """Whether :func:`local_ranks` starts processes: a count > 1 on one node, no launcher,
    and a command line to run again (not a REPL, ``python -c`` or a notebook).

    Args:
        devices: ``training.devices`` (a count, or ``"auto"``, which is left to Lightning).
        num_nodes: ``training.num_nodes``.
        env: the environment to judge (default ``os.environ``).
    """
    env = os.environ if env is None else env
    try:
        count = int(str(devices).strip())
    except ValueError:
        return False
    if count <= 1 or num_nodes != 1 or any(k in env for k in _CLUSTER_MARKERS):
        return False
    return not _interactive()


def _interactive() -> bool:
    """A REPL, ``python -c`` or a notebook: there is no command line to run again (Lightning
    then refuses ``ddp`` with its own message, as before)."""
    import __main__

    if hasattr(sys, "ps1") or sys.flags.interactive or "ipykernel" in sys.modules:
        return True
    return getattr(__main__, "__spec__", None) is None and not getattr(__main__, "__file__", None)


def rank_command() -> list[str]:
    """The command line that runs this program again (as Lightning's launcher words it)."""
    import __main__

    spec = getattr(__main__, "__spec__", None)
    if spec is None:
        return [sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]]
    name = spec.name.removesuffix(".__main__")
    return [sys.executable, "-m", name, *sys.argv[1:]]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _watch(procs: Sequence[subprocess.Popen], stop: threading.Event, folder: Path) -> None:
    """Kill this process when another rank fails (rank 0 would wait for it forever)."""
    while not stop.wait(1.0):
        for proc in procs:
            code = proc.poll()
            if code not in (None, 0):
                log.error(
                    "DDP rank process %d exited with code %d; stopping the run", proc.pid, code
                )
                for other in procs:
                    if other.poll() is None:
                        other.kill()
                shutil.rmtree(folder, ignore_errors=True)
                os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def local_ranks(
    devices: int | str,
    num_nodes: int = 1,
    *,
    command: Sequence[str] | None = None,
) -> Iterator[list[subprocess.Popen]]:
    """Run the body as rank 0 of a one-node DDP run whose other ranks start now.

    When :func:`should_launch` says so, starts ``devices - 1`` copies of ``command`` (default
    :func:`rank_command`) with ``LOCAL_RANK = 1 .. devices - 1`` and sets this process's
    ``LOCAL_RANK = 0``, ``NODE_RANK = 0``, ``WORLD_SIZE``, ``MASTER_ADDR`` and a free
    ``MASTER_PORT``, as Lightning's launcher does, plus ``OMP_NUM_THREADS`` (CPUs divided
    by the processes) when unset. A watcher ends the run if a rank fails; on leaving, the
    environment is restored and the ranks are waited for (killed if the body raised).
    Otherwise the body runs unchanged and the list is empty.

    Args:
        devices: process count (``training.devices``).
        num_nodes: machines (only 1 launches).
        command: the command each rank runs (it must reach the same training call).

    Yields:
        the started processes.
    """
    if not should_launch(devices, num_nodes):
        yield []
        return
    world = int(str(devices).strip())
    saved = {k: os.environ.get(k) for k in (*_DDP_VARS, READY_ENV, MAIN_PID_ENV, "OMP_NUM_THREADS")}
    folder = Path(tempfile.mkdtemp(prefix="audioae-ranks-"))
    os.environ.update(
        MASTER_ADDR=os.environ.get("MASTER_ADDR", "127.0.0.1"),
        MASTER_PORT=os.environ.get("MASTER_PORT") or str(_free_port()),
        NODE_RANK="0",
        LOCAL_RANK="0",
        WORLD_SIZE=str(world),
    )
    os.environ[READY_ENV] = str(folder / "ready")
    os.environ[MAIN_PID_ENV] = str(os.getpid())
    if "OMP_NUM_THREADS" not in os.environ:  # as Lightning's launcher does
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // world))
    cmd = list(command) if command is not None else rank_command()
    procs = [
        subprocess.Popen(cmd, env={**os.environ, "LOCAL_RANK": str(rank)})
        for rank in range(1, world)
    ]
    stop = threading.Event()
    threading.Thread(
        target=_watch, args=(procs, stop, folder), daemon=True, name="ddp-ranks"
    ).start()
    failed = True
    try:
        yield procs
        failed = False
    finally:
        stop.set()
        for proc in procs:
            if failed and proc.poll() is None:
                proc.kill()
            if proc.wait() != 0 and not failed:
                log.warning("DDP rank process %d exited with code %d", proc.pid, proc.returncode)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(folder, ignore_errors=True)


def is_main_rank(env: dict[str, str] | None = None) -> bool:
    """Whether this process is rank 0 of its run (``LOCAL_RANK`` and ``NODE_RANK`` 0 or unset):
    the one that prints what every rank would print alike."""
    env = os.environ if env is None else env
    return int(env.get("LOCAL_RANK", 0)) == 0 and int(env.get("NODE_RANK", 0)) == 0


def main_rank_ready() -> None:
    """Tell the other ranks started by :func:`local_ranks` that rank 0's index is on disk.

    A no-op in any other process.
    """
    path = os.environ.get(READY_ENV)
    if path and os.environ.get("LOCAL_RANK", "0") == "0":
        Path(path).touch()


def wait_for_main_rank() -> None:
    """In a rank started by :func:`local_ranks`, block until rank 0 called :func:`main_rank_ready`.

    A no-op in any other process (and in rank 0). There is no deadline (a cold index of a
    large corpus takes as long as it takes), but the wait ends when rank 0 is gone.

    Raises:
        RankStartError: rank 0 exited before its index was ready.
    """
    path = os.environ.get(READY_ENV)
    if not path or os.environ.get("LOCAL_RANK", "0") == "0":
        return
    main_pid = int(os.environ.get(MAIN_PID_ENV, "0"))
    ready = Path(path)
    while not ready.exists():
        if main_pid and not _alive(main_pid):
            raise RankStartError("rank 0 of this run stopped before its data index was ready")
        time.sleep(_POLL_SECONDS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = [
    "MAIN_PID_ENV",
    "READY_ENV",
    "RankStartError",
    "local_ranks",
    "main_rank_ready",
    "rank_command",
    "should_launch",
    "wait_for_main_rank",
]
