"""``training.precision``: the true half precisions (and the other dtypes the float32 features
do not fit) are refused when the config is read, in one line naming the key, the value and
the supported values, not at the first validation step."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from audioae.cli import main
from audioae.config import ConfigError, TrainingConfig, load_config
from audioae.config_training import PRECISIONS
from tests.conftest import sine

RECIPES = Path(__file__).parents[1] / "recipes"
SUPPORTED = "choose one of auto, 32-true, 64-true, 16-mixed, bf16-mixed"


@pytest.mark.parametrize("value", ["bf16-true", "16-true", "transformer-engine", "8"])
def test_unsupported_precisions_are_refused(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrainingConfig(precision=value)
    message = str(info.value)
    assert message == (
        f"training.precision: {value!r} is not supported; {SUPPORTED} (features are float32, "
        "so only mixed precision can use half precision)"
    )
    with pytest.raises(ConfigError, match=rf"training\.precision: '{value}' is not supported"):
        load_config(RECIPES / "tiny.yaml", [f"training.precision={value}"])


@pytest.mark.parametrize("value", [*PRECISIONS, "32", "64", "16", "bf16"])
def test_supported_precisions_and_lightning_aliases_are_kept(value: str) -> None:
    assert TrainingConfig(precision=value).precision == value
    assert (
        load_config(RECIPES / "tiny.yaml", [f"training.precision={value}"]).training.precision
        == value
    )


def test_train_cli_refuses_true_half_precision_in_one_line(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    sf.write(data / "a.wav", sine(330.0, seconds=0.5).T, 16000, subtype="PCM_16")
    run = tmp_path / "run"
    args = ["train", "tiny", "--data", str(data), "--out", str(run)]
    assert main([*args, "--set", "training.precision=bf16-true", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("audioae: error: ") and lines[0].endswith(
        f"training.precision: 'bf16-true' is not supported; {SUPPORTED} (features are "
        "float32, so only mixed precision can use half precision)"
    )
    assert not run.exists()
