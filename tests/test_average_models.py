"""scripts/average_models.py: weight averaging of model files of one network (WiSE-FT)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from conftest import TINY_MODEL, tiny_model_file

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

import average_models as am  # noqa: E402

from audioae.config import load_config  # noqa: E402
from audioae.features import build_frontend  # noqa: E402
from audioae.modelfile import ModelFileError, load_model_file, save_model_file  # noqa: E402
from audioae.models import build_model  # noqa: E402


def _other(path: Path, overrides=()) -> Path:
    torch.manual_seed(1)
    cfg = load_config(None, [*TINY_MODEL, *overrides])
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
    return save_model_file(path, model, cfg)


def test_average_is_the_weighted_mean_of_the_weights(tmp_path: Path) -> None:
    a = tiny_model_file(tmp_path / "a.safetensors")
    b = _other(tmp_path / "b.safetensors")
    out = am.average_model_files([a, b], tmp_path / "avg.safetensors", [3.0, 1.0], dtype=None)
    wa, wb, avg = (load_model_file(p).model.state_dict() for p in (a, b, out))
    assert not torch.equal(wa["decoder.net.0.weight"], wb["decoder.net.0.weight"])
    for name in wa:
        torch.testing.assert_close(avg[name], 0.75 * wa[name] + 0.25 * wb[name])
    half = am.average_model_files([a, b], tmp_path / "half.safetensors")  # float16, equal shares
    wh = load_model_file(half).model.state_dict()
    for name in wa:
        torch.testing.assert_close(wh[name], 0.5 * (wa[name] + wb[name]), atol=2e-3, rtol=2e-3)


def test_other_networks_bad_weights_and_existing_outputs_are_refused(tmp_path: Path) -> None:
    a = tiny_model_file(tmp_path / "a.safetensors")
    wide = _other(tmp_path / "wide.safetensors", ["model.hidden_dim=48"])
    with pytest.raises(ModelFileError, match="wide.safetensors: its model section differs"):
        am.average_model_files([a, wide], tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="at least two"):
        am.average_model_files([a], tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="positive"):
        am.average_model_files([a, a], tmp_path / "x.safetensors", [1.0, 0.0])
    (tmp_path / "taken.safetensors").write_bytes(b"mine")
    assert am.main([str(a), str(a), "-o", str(tmp_path / "taken.safetensors")]) == 1
    assert (tmp_path / "taken.safetensors").read_bytes() == b"mine"
    assert am.main([str(a), str(a), "-o", str(tmp_path / "taken.safetensors"), "--force"]) == 0
    assert load_model_file(tmp_path / "taken.safetensors").model is not None
