"""SIGTERM (``kill``, ``timeout``) ends a file job without leaving its temporary output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_sigterm_mid_write_removes_the_temporary_output(tmp_path: Path) -> None:
    """Before: exit -15 and a hidden ``.long.XXXX.wav`` as large as the output left behind."""
    rng = np.random.default_rng(0)
    source = tmp_path / "long.wav"
    sf.write(str(source), (0.1 * rng.standard_normal(16000 * 900)).astype(np.float32), 16000)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "audioae", "denoise", "denoise", str(source), "-o", f"{out}/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob(".long.*")):
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip(f"the job ended before a temporary file was seen (rc {proc.returncode})")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "audioae denoise: terminated (SIGTERM); unfinished output files removed" in err
    assert list(out.iterdir()) == []  # neither the output nor its temporary file
