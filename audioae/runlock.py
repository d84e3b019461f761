"""A lock on a run folder, so that two ``audioae train`` never write into the same ``--out``.

The lock is the file ``RUN_DIR/.lock``, holding the owner's pid, host and start time, and
kept locked with ``fcntl.flock`` for as long as the run holds it. The kernel drops a flock
when the last process holding the file dies (even by SIGKILL), so a lock file left by a killed
run is stale: the next run takes it over and says whose it was. Processes the owner forked
(DataLoader workers) share the locked file and may outlive it for a few seconds; a lock whose
recorded owner pid no longer runs on this host is therefore stale too. Without ``fcntl`` (Windows) the file is
created with ``O_EXCL`` instead, and a lock of a pid that no longer runs on this host is
taken over.

A flock is local to one machine on most network file systems; two machines training into
one shared folder are told apart by the host in the lock file only on that fallback path.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from .fileio import OutputExistsError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"


class RunLockedError(OutputExistsError):
    """Another process holds the run folder's lock (another ``audioae train`` is writing there)."""

    def __init__(self, path: Path, owner: str) -> None:
        super().__init__(
            path,
            f"another training run is using this folder ({owner or 'owner unknown'}); "
            f"wait for it to finish or choose another --out (if no run is active, delete "
            f"{Path(path) / LOCK_FILE})",
        )


def _owner_text() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"


def _parse_owner(text: str) -> tuple[int | None, str | None]:
    """``(pid, host)`` of a lock file's text, None where it cannot be read."""
    words = text.split()
    try:
        return int(words[1]), words[3]
    except (IndexError, ValueError):
        return None, None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    """Holds ``folder/.lock`` from :meth:`acquire` (or ``with``) until :meth:`release`.

    Args:
        folder: the run folder (created when missing, and removed again on release when
            it was created here and is still empty).

    Raises (on acquire):
        RunLockedError: another live process holds the lock.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None
        self._created = False

    def acquire(self) -> RunLock:
        self._created = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is not None:
            self._acquire_flock()
        else:  # pragma: no cover - Windows
            self._acquire_exclusive()
        return self

    def _take_over_stale(self, owner: str) -> None:
        """Remove the lock file of ``owner`` if it is a dead process of this host.

        Raises:
            RunLockedError: the owner is alive, on another host, or cannot be parsed.
        """
        pid, host = _parse_owner(owner)
        if pid is None or host != socket.gethostname() or _pid_alive(pid):
            raise RunLockedError(self.folder, owner) from None
        log.warning("%s: taking over the lock left by %s (no longer running)", self.folder, owner)
        self.path.unlink(missing_ok=True)

    def _acquire_flock(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 4096).decode(errors="replace").strip()
                os.close(fd)
                # The owner may be dead while processes it forked (DataLoader workers) share
                # its open lock file and keep the flock until they notice and exit: then the
                # lock is stale, and a new lock file (a new inode) is free of their flock.
                self._take_over_stale(owner)
                continue
            # the file may have been unlinked by its releasing owner between open and flock
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        stale = os.read(fd, 4096).decode(errors="replace").strip()
        if stale:
            log.warning(
                "%s: taking over the lock left by %s (no longer running)", self.folder, stale
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (_owner_text() + "\n").encode())
        os.fsync(fd)
        self._fd = fd

    def _acquire_exclusive(self) -> None:  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._take_over_stale(self.path.read_text(errors="replace").strip())
                continue
            os.write(fd, (_owner_text() + "\n").encode())
            os.fsync(fd)
            self._fd = fd
            return
        raise RunLockedError(self.folder, self.path.read_text(errors="replace").strip())

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing happens when it is not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
        if self._created:
            try:
                self.folder.rmdir()  # a run refused before writing anything leaves no folder
            except OSError:
                pass

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
