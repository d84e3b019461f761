"""Shared test helpers: the bundled data folder and small synthetic audio files in tmp_path."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

DATA = Path(__file__).parents[1] / "data"
"""The repository's bundled real audio (data/notes, data/speech, data/noise)."""

TINY_MODEL = [
    "features.n_fft=256",
    "features.hop_length=64",
    "features.n_mels=32",
    "model.latent_dim=8",
    "model.hidden_dim=32",
    "phase.n_iter=4",
]
"""Overrides of a small, fast model (randomly initialised) for tests that need a model file."""

CAUSAL_MASK_MODEL = [
    "features.kind=log_magnitude",
    "model.output=mask",
    "model.causal=true",
    "model.strides=[]",
]
"""Overrides (on top of :data:`TINY_MODEL`) of a causal magnitude-mask denoiser: what streaming
and live denoising need."""


@pytest.fixture(scope="session")
def causal_models(tmp_path_factory) -> dict[str, Path]:
    """Model files for streaming and live tests: ``"causal"`` (:data:`CAUSAL_MASK_MODEL`) and
    ``"offline"`` (the same mask model looking ahead, which they must refuse)."""
    root = tmp_path_factory.mktemp("causal_models")
    return {
        "causal": tiny_model_file(root / "causal.safetensors", CAUSAL_MASK_MODEL),
        "offline": tiny_model_file(
            root / "offline.safetensors", ["features.kind=log_magnitude", "model.output=mask"]
        ),
    }


@pytest.fixture(scope="session")
def causal_pipe(causal_models):
    """A CPU :class:`audioae.pipeline.Pipeline` of ``causal_models["causal"]``."""
    from audioae.pipeline import Pipeline

    return Pipeline.load(causal_models["causal"], device="cpu")


def tone_in_noise(sample_rate: int, seconds: float, channels: int, seed: int = 0) -> np.ndarray:
    """``(channels, n)`` float32: a 300 Hz tone at 0.3 in white noise at 0.05 (rms)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = 0.3 * np.sin(2 * np.pi * 300 * t) + 0.05 * rng.standard_normal((channels, t.size))
    return x.astype(np.float32)


def tiny_model_file(path: Path, overrides=()) -> Path:
    """Write a :data:`TINY_MODEL` model file (seeded weights, plus ``overrides``) to ``path``."""
    from audioae.config import load_config
    from audioae.features import build_frontend
    from audioae.modelfile import save_model_file
    from audioae.models import build_model

    torch.manual_seed(0)
    cfg = load_config(None, [*TINY_MODEL, *overrides])
    frontend = build_frontend(cfg.features, cfg.audio.sample_rate)
    return save_model_file(path, build_model(cfg.model, frontend), cfg)


def train_steps(
    module, batch, steps: int, *, lr: float = 3e-3, term: str = "total", optimiser=None
) -> list[float]:
    """Adam steps of an ``AutoEncoderModule`` on one ``(noisy, clean)`` batch (or steps of
    ``optimiser``, e.g. the module's own); returns the loss term ``term`` (``total``, or a key
    of the loss's ``terms``) of every step."""
    if optimiser is None:
        optimiser = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        _, _, _, result = module._step(batch)
        optimiser.zero_grad()
        result.total.backward()
        optimiser.step()
        losses.append((result.total if term == "total" else result.terms[term]).item())
    return losses


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")


def copy_notes(folder: Path, count: int = 4) -> Path:
    """The first ``count`` bundled notes copied into ``folder`` (created); skips the test when
    ``data/notes`` holds fewer."""
    notes = sorted((DATA / "notes").glob("*.flac"))[:count]
    if len(notes) < count:
        pytest.skip("data/notes not present")
    folder.mkdir(parents=True)
    for path in notes:
        shutil.copy(path, folder / path.name)
    return folder


def sine(
    freq: float = 440.0,
    seconds: float = 1.0,
    sample_rate: int = 16000,
    amplitude: float = 0.5,
    channels: int = 1,
) -> np.ndarray:
    """A float32 sine of shape ``(channels, time)``; channel ``c`` has phase offset ``c * pi / 4``."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    rows = [amplitude * np.sin(2 * np.pi * freq * t + c * np.pi / 4) for c in range(channels)]
    return np.stack(rows).astype(np.float32)


@pytest.fixture
def write_audio(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing ``data (channels, time)`` to ``tmp_path / name`` with soundfile directly.

    ``write_audio(name, data=None, sample_rate=16000, subtype=None)``; ``data`` defaults to a
    1 s 440 Hz sine at half scale. Sub-folders in ``name`` are created.
    """

    def _write(
        name: str,
        data: np.ndarray | None = None,
        sample_rate: int = 16000,
        subtype: str | None = None,
    ) -> Path:
        if data is None:
            data = sine(sample_rate=sample_rate)
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.asarray(data).T, sample_rate, subtype=subtype)
        return path

    return _write


@pytest.fixture
def sine_wav(write_audio: Callable[..., Path]) -> Path:
    """A 1 s, 16 kHz, mono PCM_16 wav of a 440 Hz sine at half scale."""
    return write_audio("sine.wav")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op torch thread for the whole run: the tests' tensors are small and CI has
    2 shared cores, where a second spinning OpenMP thread makes small ops far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
