"""Every bundled recipe is documented, builds, and trains one step at tiny size."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from audioae.cli import main
from audioae.config import (
    RECIPES_DIR,
    Config,
    ConfigError,
    available_recipes,
    load_config,
    resolve_recipe,
)
from audioae.features import build_frontend
from audioae.modelfile import load_model_file
from audioae.models import build_model
from audioae.training import train
from audioae.vocoder import build_vocoder
from audioae.vocoderfile import load_vocoder_file

RECIPES = Path(__file__).parents[1] / "recipes"
NAMES = sorted(p.stem for p in RECIPES.glob("*.yaml"))
EXPECTED = {
    "tiny",
    "dense_ae",
    "sparse_ae",
    "conv1d_ae",
    "conv1d_vae",
    "conv2d_ae",
    "conv2d_vae",
    "denoise",
    "denoise_crm",
    "codec",
    "vocoder",
    "anomaly",
}


def _shrink(cfg) -> list[str]:
    """Overrides that keep a recipe's architecture but make it tiny (sizes only)."""
    m = cfg.model
    return [
        "data.segment_seconds=0.2",
        "data.batch_size=2",
        "data.samples_per_epoch=2",
        "data.val_fraction=0",
        f"model.hidden_dim={min(m.hidden_dim, 16)}",
        f"model.latent_dim={min(m.latent_dim, 8)}",
        f"model.channels={[min(c, 4) for c in m.channels]}",
        "model.n_res_blocks=1",
        "training.max_steps=1",
        "training.warmup_steps=0",
        "training.audio_examples=0",
        "training.log_every=1",
    ]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Three short synthetic tones with a little noise (16 kHz)."""
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 16000
    for i, freq in enumerate((220.0, 330.0, 495.0)):
        wav = 0.4 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
        sf.write(str(root / f"tone{i}.wav"), wav.astype(np.float32), 16000)
    return root


def test_the_expected_recipes_are_bundled() -> None:
    assert EXPECTED <= set(NAMES)
    assert available_recipes() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_recipe_header_says_purpose_data_and_command(name: str) -> None:
    text = (RECIPES / f"{name}.yaml").read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header and text.startswith(f"# {name}:")
    joined = "\n".join(header)
    assert "Data:" in joined
    assert re.search(rf"Run:\s+audioae train {name} --data \S+", joined)


@pytest.mark.parametrize("name", NAMES)
def test_recipe_states_only_what_differs_from_the_defaults(name: str) -> None:
    """A recipe is a delta over the dataclass defaults: no value in it equals its default."""
    defaults = Config().to_dict()
    recipe = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())
    restated = [
        f"{section}.{key}"
        for section, values in recipe.items()
        if isinstance(values, dict)
        for key, value in values.items()
        if defaults[section][key] == value
    ]
    assert restated == [], f"{name}.yaml restates defaults: {restated}"
    assert load_config(resolve_recipe(name)).to_dict() != defaults | {"name": name}


@pytest.mark.parametrize("name", NAMES)
def test_recipe_builds_at_full_size(name: str) -> None:
    cfg = load_config(resolve_recipe(name))
    assert cfg.name == name
    if cfg.task == "vocoder":
        vocoder = build_vocoder(cfg.vocoder, build_frontend(cfg.features, cfg.audio.sample_rate))
        assert 1_000_000 <= vocoder.num_parameters() <= 2_000_000
        assert vocoder(torch.randn(1, vocoder.frontend.n_bins, 40)).shape == (1, 39 * 256)
        return
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
    frames = 40
    out = model(torch.randn(1, model.n_bins, frames))
    assert out.reconstruction.shape == (1, model.frontend.n_bins, frames)
    assert out.latent.sample.shape == (1, cfg.model.latent_dim, model.latent_frames(frames))


def test_stated_latent_rates() -> None:
    """The rates the headers state (latent values per second of audio)."""
    for name, rate in {"codec": 2000.0, "conv1d_ae": 500.0, "dense_ae": 500.0}.items():
        cfg = load_config(resolve_recipe(name))
        model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
        assert model.latent_rate(cfg.audio.sample_rate, model.frontend.hop_length) == rate
        assert f"{rate:g} latent values/s" in (RECIPES / f"{name}.yaml").read_text()


@pytest.mark.parametrize("name", NAMES)
def test_recipe_trains_one_step_at_tiny_size(name: str, folder: Path, tmp_path: Path) -> None:
    full = load_config(resolve_recipe(name))
    cfg = load_config(resolve_recipe(name), _shrink(full))
    assert (cfg.model.architecture, cfg.model.bottleneck, cfg.model.output, cfg.features.kind) == (
        full.model.architecture,
        full.model.bottleneck,
        full.model.output,
        full.features.kind,
    )
    if full.task == "vocoder":
        cfg = load_config(
            resolve_recipe(name), _shrink(full) + ["vocoder.dim=8", "vocoder.n_blocks=1"]
        )
    result = train(cfg, folder, out_dir=tmp_path / name, progress=False)
    assert result.steps == 1
    if full.task == "vocoder":
        assert load_vocoder_file(result.model_file).config.vocoder == cfg.vocoder
        return
    loaded = load_model_file(result.model_file)
    assert loaded.config.model == cfg.model


def test_typo_in_a_recipe_key_names_the_key(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text((RECIPES / "tiny.yaml").read_text().replace("latent_dim:", "latnet_dim:"))
    with pytest.raises(ConfigError, match="latnet_dim"):
        load_config(bad)
    assert main(["config", str(bad), "--show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audioae: error:") and "latnet_dim" in err and "Traceback" not in err


def test_unknown_recipe_lists_the_bundled_ones(capsys) -> None:
    assert main(["config", "no_such_recipe"]) == 2
    err = capsys.readouterr().err
    assert "no_such_recipe" in err and "tiny" in err


def test_load_config_takes_a_bundled_recipe_by_name_as_the_cli_does(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no file called "tiny" here
    by_name = load_config("tiny", ["training.max_steps=7"])
    by_path = load_config(RECIPES_DIR / "tiny.yaml", ["training.max_steps=7"])
    assert by_name == by_path and by_name.name == "tiny"
    with pytest.raises(
        ConfigError, match=r"^no_such_recipe: no such recipe file .*bundled: .*tiny"
    ):
        load_config("no_such_recipe")
