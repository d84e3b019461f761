"""Embeddings: shapes and latent rate, determinism, mono mixing, chunk invariance, and the
``audioae embed`` folder job (mirrored .npy files, one table, bad files skipped, no overwrite)."""

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA, sine, tiny_model_file

from audioae.apps import embed_file
from audioae.cli import main
from audioae.embed import embedding_of, table_columns
from audioae.pipeline import Pipeline


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "vae.safetensors"
    return tiny_model_file(path, ["model.bottleneck=gaussian"])


def test_shapes_and_latent_rate_tiny(tiny_vae):
    pipe = Pipeline.load(tiny_vae, device="cpu")
    wav = torch.from_numpy(sine(seconds=1.0))  # (1, 16000)
    emb = pipe.embed(wav)
    # 16000 // 64 + 1 = 251 STFT frames; time downsampling 4 -> ceil(251 / 4) = 63 latent frames
    assert emb.frames.shape == (8, 63)
    assert emb.latent_rate_hz == pytest.approx(16000 / (64 * 4))
    assert emb.mean.shape == emb.std.shape == emb.delta.shape == (8,)
    assert emb.pooled.shape == (24,)
    torch.testing.assert_close(emb.mean, emb.frames.mean(-1))
    torch.testing.assert_close(emb.pooled, torch.cat([emb.mean, emb.std, emb.delta]))
    assert emb.duration_s == pytest.approx(1.0)


def test_shipped_timbre_model_shapes_and_determinism():
    pipe = Pipeline.load(DATA / "models" / "timbre.safetensors", device="cpu")
    a = embed_file(pipe, DATA / "notes" / "flute_67.flac")
    b = embed_file(pipe, DATA / "notes" / "flute_67.flac")
    # 1.5 s: 24000 // 256 + 1 = 94 frames, downsampling 4 -> 24 latent frames at 15.625 Hz
    assert a.frames.shape == (16, 24)
    assert a.latent_rate_hz == pytest.approx(15.625)
    assert a.duration_s == pytest.approx(1.5)
    assert torch.equal(a.frames, b.frames)  # posterior mean, never a sample
    assert torch.equal(a.pooled, b.pooled) and a.pooled.shape == (48,)
    assert float(a.std.min()) > 0.0 and float(a.delta.min()) > 0.0


def test_pooled_vector_on_a_known_latent():
    """mean, population std and mean |frame-to-frame change| per channel, by hand."""
    frames = torch.tensor([[0.0, 1.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [1.0, -1.0, 1.0, -1.0]])
    emb = embedding_of(frames, latent_rate_hz=15.625, duration_s=0.25)
    torch.testing.assert_close(emb.mean, torch.tensor([1.5, 5.0, 0.0]))
    torch.testing.assert_close(emb.std, torch.tensor([1.25**0.5, 0.0, 1.0]))
    # channel 0: |1 - 0|, |3 - 1|, |2 - 3| -> (1 + 2 + 1) / 3; channel 2 alternates by 2
    torch.testing.assert_close(emb.delta, torch.tensor([4.0 / 3.0, 0.0, 2.0]))
    assert emb.pooled.tolist()[6:] == pytest.approx([4.0 / 3.0, 0.0, 2.0])
    one = embedding_of(frames[:, :1], latent_rate_hz=15.625, duration_s=0.06)
    assert one.std.tolist() == one.delta.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="latent_frames"):
        embedding_of(frames[:, :0], latent_rate_hz=15.625, duration_s=0.0)


def test_multichannel_is_mixed_to_mono(tiny_vae):
    pipe = Pipeline.load(tiny_vae, device="cpu")
    stereo = torch.from_numpy(sine(seconds=0.5, channels=2))
    torch.testing.assert_close(
        pipe.embed(stereo).frames, pipe.embed(stereo.mean(0, keepdim=True)).frames
    )


def test_whole_and_chunked_embeddings_agree():
    """A 4.6 s speech clip through the codec AE whole and in 0.3 s chunks (1 s margins)."""
    model = DATA / "models" / "codec.safetensors"
    wav, _ = sf.read(DATA / "speech" / "en" / "allison" / "vm-savefolder.flac", dtype="float32")
    wav = torch.from_numpy(np.tile(wav, 2)[: 16000 * 4 + 123])
    whole = Pipeline.load(model, device="cpu", chunk_seconds=60.0).embed(wav)
    chunked = Pipeline.load(model, device="cpu", chunk_seconds=0.3).embed(wav)
    assert whole.frames.shape == chunked.frames.shape
    torch.testing.assert_close(chunked.frames, whole.frames, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(chunked.pooled, whole.pooled, atol=1e-4, rtol=1e-4)


def _write(path: Path, data: np.ndarray, sample_rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.T, sample_rate, subtype="PCM_16")
    return path


def test_cli_embed_folder_job(tiny_vae, tmp_path, capsys):
    _write(tmp_path / "in" / "a.wav", sine(seconds=0.5))
    _write(
        tmp_path / "in" / "sub" / "b.flac",
        sine(330, seconds=1.0, sample_rate=44100, channels=2),
        44100,
    )
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF....not audio")
    out = tmp_path / "out"
    args = ["embed", str(tiny_vae), str(tmp_path / "in"), "-o", str(out), "--quiet"]
    assert main(args) == 1  # one input failed
    printed = capsys.readouterr().out
    assert "broken.wav" in printed and "2 written, 0 skipped (output exists), 1 failed" in printed
    a = np.load(out / "a.npy")
    b = np.load(out / "sub" / "b.npy")
    assert a.dtype == np.float32 and a.shape == (8, 32)  # 8000 // 64 + 1 = 126 -> 32 frames
    assert b.shape == (8, 63)  # resampled 44.1 -> 16 kHz, stereo mixed to mono
    with open(out / "embeddings.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == table_columns(8)
    by_npy = {r["npy"]: r for r in rows}
    assert set(by_npy) == {"a.npy", str(Path("sub") / "b.npy")}
    assert float(by_npy["a.npy"]["duration_s"]) == pytest.approx(0.5)
    assert int(by_npy["a.npy"]["frames"]) == 32
    assert float(by_npy["a.npy"]["mean_3"]) == pytest.approx(float(a[3].mean()), rel=1e-5)
    assert float(by_npy["a.npy"]["std_3"]) == pytest.approx(float(a[3].std()), rel=1e-4)
    delta = float(np.abs(np.diff(a[3])).mean())
    assert float(by_npy["a.npy"]["delta_3"]) == pytest.approx(delta, rel=1e-4)
    assert list(rows[0])[-1] == "delta_7"
    # nothing is overwritten without --force: the table exists, so the job refuses up front
    before = (out / "a.npy").read_bytes()
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "a.npy").read_bytes() == before
    assert main([*args, "--force"]) == 1  # replaced; the broken file still fails


def test_cli_embed_single_file(tiny_vae, tmp_path):
    src = _write(tmp_path / "x.wav", sine(seconds=0.25))
    assert (
        main(["embed", str(tiny_vae), str(src), "-o", str(tmp_path / "x_emb.npy"), "--quiet"]) == 0
    )
    assert np.load(tmp_path / "x_emb.npy").shape == (8, 16)
    assert (tmp_path / "x_emb.csv").exists()
