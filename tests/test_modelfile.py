"""Model files: save -> load gives identical outputs; bad files raise ModelFileError naming the file."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from audioae.config import load_config
from audioae.features import build_frontend
from audioae.fileio import OutputExistsError
from audioae.modelfile import (
    FORMAT,
    FORMAT_VERSION,
    ModelFileError,
    load_model_file,
    read_metadata,
    save_model_file,
    tensors_digest,
)
from audioae.models import build_model

RECIPES = Path(__file__).parents[1] / "recipes"


def _model(overrides: list[str] | None = None):
    torch.manual_seed(0)
    cfg = load_config(RECIPES / "tiny.yaml", overrides or [])
    return cfg, build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))


@pytest.mark.parametrize("bottleneck", ["deterministic", "gaussian", "sparse"])
def test_round_trip_gives_identical_outputs(tmp_path: Path, bottleneck: str) -> None:
    cfg, model = _model([f"model.bottleneck={bottleneck}"])
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    loaded = load_model_file(path)
    assert loaded.config == cfg
    assert (
        loaded.metadata["format"] == FORMAT
        and loaded.metadata["format_version"] == FORMAT_VERSION == "2"
    )
    assert not loaded.model.training
    model.eval()
    x = torch.randn(3, model.n_bins, 21)
    with torch.no_grad():
        a, b = model(x), loaded.model(x)
    assert torch.equal(a.reconstruction, b.reconstruction)
    assert torch.equal(a.latent.sample, b.latent.sample)
    assert len(loaded.model_hash) == 16
    assert loaded.model_hash == tensors_digest(model.state_dict())


def test_hash_depends_on_weights(tmp_path: Path) -> None:
    cfg, model = _model()
    first = load_model_file(save_model_file(tmp_path / "a.safetensors", model, cfg)).model_hash
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    second = load_model_file(save_model_file(tmp_path / "b.safetensors", model, cfg)).model_hash
    assert first != second


def test_refuses_to_overwrite_without_flag(tmp_path: Path) -> None:
    cfg, model = _model()
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    with pytest.raises(OutputExistsError):
        save_model_file(path, model, cfg)
    save_model_file(path, model, cfg, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]  # no temp file left


def test_no_pickle_in_the_file(tmp_path: Path) -> None:
    cfg, model = _model()
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])  # plain JSON header
    assert set(header["__metadata__"]) >= {"format", "format_version", "config", "audioae_version"}
    assert b"\x80\x04" not in raw[:16] and not raw.startswith(b"PK")  # no pickle protocol / zip
    # safetensors' own reader needs no pickle either
    assert set(load_file(str(path))) == set(model.state_dict())


def _rewrite_metadata(src: Path, dst: Path, **changes: str) -> Path:
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    meta.update(changes)
    save_file(load_file(str(src)), str(dst), metadata=meta)
    return dst


def test_unknown_version_is_refused(tmp_path: Path) -> None:
    cfg, model = _model()
    good = save_model_file(tmp_path / "m.safetensors", model, cfg)
    bad = _rewrite_metadata(good, tmp_path / "v9.safetensors", format_version="9")
    with pytest.raises(ModelFileError, match=r"v9\.safetensors.*version '9' is not supported"):
        load_model_file(bad)


def test_non_model_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "random.safetensors"
    save_file({"w": torch.randn(3, 3)}, str(path))
    with pytest.raises(ModelFileError, match=r"random\.safetensors.*not an audioae model file"):
        load_model_file(path)


def test_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_text("this is not a model\n" * 20)
    with pytest.raises(ModelFileError, match=r"notes\.safetensors"):
        load_model_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        load_model_file(tmp_path / "absent.safetensors")


def test_a_folder_or_a_checkpoint_given_as_a_model_says_what_to_give(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("name: tiny\n")
    ckpt = run / "checkpoints" / "last.ckpt"
    torch.save({"state_dict": {}}, ckpt)
    with pytest.raises(ModelFileError, match=r"training checkpoint, not a model file.*export"):
        load_model_file(ckpt)
    with pytest.raises(ModelFileError, match=r"run folder without a model file yet.*export"):
        load_model_file(run)
    cfg, model = _model()
    save_model_file(run / "model.safetensors", model, cfg)
    with pytest.raises(ModelFileError, match=r"the run's model file is .*model\.safetensors"):
        load_model_file(run)
    with pytest.raises(ModelFileError, match=r"a folder, not a model file$"):
        load_model_file(run / "checkpoints")


def test_a_shipped_name_wins_over_a_folder_of_that_name(tmp_path: Path, monkeypatch) -> None:
    from audioae.modelfile import resolve_model_file

    (tmp_path / "denoise").mkdir()  # e.g. the output folder of an earlier `-o denoise/`
    monkeypatch.chdir(tmp_path)
    assert resolve_model_file("denoise").name == "denoise.safetensors"
    with pytest.raises(ModelFileError, match="denoise: a folder, not a model file"):
        resolve_model_file("./denoise")


def test_truncated_file(tmp_path: Path) -> None:
    cfg, model = _model()
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    raw = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(raw[: len(raw) - 1000])
    with pytest.raises(ModelFileError, match=r"cut\.safetensors"):
        load_model_file(cut)


def test_flipped_weight_bytes_fail_the_checksum(tmp_path: Path) -> None:
    cfg, model = _model()
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF  # inside the last tensor's data
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model_file(path)


def test_weights_that_do_not_fit_the_config(tmp_path: Path) -> None:
    cfg, model = _model()
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    other = load_config(RECIPES / "tiny.yaml", ["model.latent_dim=4"])
    bad = _rewrite_metadata(path, tmp_path / "mismatch.safetensors", config=other.to_yaml())
    with pytest.raises(ModelFileError, match="do not fit"):
        load_model_file(bad)
    assert read_metadata(path)["format"] == FORMAT


def test_float16_storage_halves_the_file_and_loads_close(tmp_path):
    import torch

    from audioae.config import load_config
    from audioae.features import build_frontend
    from audioae.modelfile import load_model_file, save_model_file
    from audioae.models import build_model

    torch.manual_seed(0)
    cfg = load_config(None, ["model.latent_dim=8", "model.hidden_dim=32", "features.n_mels=32"])
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate)).eval()
    full = save_model_file(tmp_path / "f32.safetensors", model, cfg)
    half = save_model_file(tmp_path / "f16.safetensors", model, cfg, dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model_file(half)
    assert next(loaded.model.parameters()).dtype == torch.float32
    x = torch.randn(2, 32, 40) - 5.0
    torch.testing.assert_close(
        loaded.model(x).reconstruction, model(x).reconstruction, atol=0.05, rtol=0.01
    )


def test_a_device_this_build_lacks_is_a_model_file_error() -> None:
    import pytest as _pytest
    import torch as _torch

    from audioae.modelfile import ModelFileError, load_model_file, resolve_model_file

    if _torch.cuda.is_available():
        _pytest.skip("CUDA is available here")
    path = resolve_model_file("denoise")
    with _pytest.raises(ModelFileError, match="cannot load onto device 'cuda'") as err:
        load_model_file(path, device="cuda")
    assert str(err.value).startswith(str(path))
