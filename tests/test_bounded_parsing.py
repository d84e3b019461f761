"""Crafted-file attacks from issue 12 ("Bounded parsing"): each is refused clearly and fast.

Every test here is a row of docs/reliability.md (attack, expected, observed); the last test
checks that the table names only tests that exist.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from aae_craft import craft_aae, replace_fields

from audioae.codec import (
    CodecError,
    LatentLayout,
    decode_latent,
    encode_latent,
    max_coded_values,
    parse_header,
)
from audioae.config import (
    MAX_YAML_BYTES,
    ConfigError,
    config_from_dict,
    load_config,
    load_yaml,
)
from audioae.modelfile import ModelFileError, load_model_file, read_model_config

ROOT = Path(__file__).parents[1]
CODEC_MODEL = ROOT / "data" / "models" / "codec.safetensors"
SMALL_MODEL = ROOT / "data" / "models" / "timbre.safetensors"
TINY = ROOT / "recipes" / "tiny.yaml"
TINY_LAYOUT = LatentLayout(16000, 8, 64, 4, 256)  # the tiny recipe's latents
FAST = 3.0  # seconds: every refusal must come well within this on a busy 2-core machine

ALIAS_BOMB = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


class _Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        assert self.seconds < FAST, f"took {self.seconds:.1f} s"


@pytest.fixture(scope="module")
def codec_pipe():
    from audioae.pipeline import Pipeline

    return Pipeline.load(CODEC_MODEL, device="cpu")


@pytest.fixture(scope="module")
def real_aae(codec_pipe, tmp_path_factory) -> bytes:
    """A genuine .aae of 0.1 s of a tone made by the shipped codec model (under 600 bytes)."""
    from audioae.apps import encode_file

    root = tmp_path_factory.mktemp("aae")
    t = np.arange(1600) / 16000
    sf.write(root / "tone.wav", (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16000)
    encode_file(codec_pipe, root / "tone.wav", root / "tone.aae", bits=6)
    return (root / "tone.aae").read_bytes()


def _decode(pipe, data: bytes, tmp_path: Path, name: str = "x"):
    from audioae.apps import decode_file

    src = tmp_path / f"{name}.aae"
    src.write_bytes(data)
    return decode_file(pipe, src, tmp_path / f"{name}.wav")


# ----------------------------------------------------------------------------- .aae headers


def test_aae_header_claiming_2_24_frames_is_refused():
    data = craft_aae(latent_frames=1 << 24, length=(1 << 24) * 256, payload=b"\x00" * 56)
    assert len(data) == 133
    with (
        _Timer(),
        pytest.raises(CodecError, match=r"latent_frames 16777216 .* more than the 56-byte payload"),
    ):
        decode_latent(data)
    with _Timer(), pytest.raises(CodecError, match="latent_frames"):
        decode_latent(data, layout=TINY_LAYOUT)


def test_aae_length_2_28_samples_is_refused(codec_pipe, real_aae, tmp_path):
    data = replace_fields(real_aae, length=1 << 28)
    assert len(data) < 600
    parse_header(data)  # without the model the fields are each in range ...
    with (
        _Timer(),
        pytest.raises(
            CodecError, match=r"x\.aae: .*latent_frames \d+ does not match length 268435456"
        ),
    ):
        _decode(codec_pipe, data, tmp_path)  # ... but not for the model that decodes it
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("sample_rate", [1 << 33, 1, 999, 384001])
def test_aae_sample_rate_out_of_range_is_refused(codec_pipe, real_aae, tmp_path, sample_rate):
    data = replace_fields(real_aae, sample_rate=sample_rate)
    with (
        _Timer(),
        pytest.raises(
            CodecError, match=f"x.aae: .*sample_rate {sample_rate} Hz not in 1000..384000"
        ),
    ):
        _decode(codec_pipe, data, tmp_path)


def test_aae_one_hz_with_two_million_samples_is_refused(codec_pipe, real_aae, tmp_path):
    data = replace_fields(real_aae, sample_rate=1, length=2_000_000)
    with _Timer(), pytest.raises(CodecError, match="sample_rate 1 Hz"):
        _decode(codec_pipe, data, tmp_path)


def test_aae_length_2_40_in_a_folder_job_skips_that_file_only(real_aae, tmp_path, capsys):
    from audioae.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.aae").write_bytes(real_aae)
    (folder / "bad.aae").write_bytes(replace_fields(real_aae, length=1 << 40))
    with _Timer():
        main(["decode", str(CODEC_MODEL), str(folder), "-o", str(tmp_path / "out"), "--quiet"])
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert (tmp_path / "out" / "good.wav").is_file()
    assert not (tmp_path / "out" / "bad.wav").exists()
    assert "bad.aae" in text and "does not match length 1099511627776" in text


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        (dict(channels=1 << 20), "channels 1048576 not in 1..64"),
        (dict(channels=0), "channels 0 not in 1..64"),
        (dict(latent_dim=5000), "latent_dim 5000 not in 1..4096"),
        (dict(latent_frames=1 << 40), "too many"),
    ],
)
def test_aae_fields_out_of_range_are_refused(real_aae, fields, match):
    with _Timer(), pytest.raises(CodecError, match=match):
        decode_latent(replace_fields(real_aae, **fields))


def test_aae_header_must_fit_the_decoding_model(codec_pipe, tmp_path):
    # a well-formed file whose latent has 8 dimensions, for a model with 64
    x = torch.zeros(1, 8, 40)
    data = encode_latent(
        x, bits=6, model_hash=codec_pipe.model_hash, sample_rate=16000, length=20000, channels=1
    )
    with _Timer(), pytest.raises(CodecError, match="latent_dim 8 differs from the model's 64"):
        _decode(codec_pipe, data, tmp_path)


def test_aae_frames_that_do_not_fit_the_length_are_refused(codec_pipe, real_aae, tmp_path):
    h = parse_header(real_aae)
    data = replace_fields(real_aae, length=h.length * 4)
    with _Timer(), pytest.raises(CodecError, match="does not match length"):
        _decode(codec_pipe, data, tmp_path)


def test_long_silent_aae_decodes_and_stays_small():
    # five minutes of silence for the shipped codec model: 9376 latent frames x 64 dimensions
    layout = LatentLayout(16000, 64, 256, 2, 1024)
    length = 5 * 60 * 16000
    frames = layout.latent_frames(length, 16000)
    data = encode_latent(
        torch.zeros(1, 64, frames),
        bits=6,
        model_hash=b"\x22" * 16,
        sample_rate=16000,
        length=length,
        channels=1,
    )
    assert len(data) < 600
    with _Timer():
        out = decode_latent(data, layout=layout)
    assert out.latent.shape == (1, 64, frames) and out.latent.abs().max() == 0


@pytest.mark.parametrize("bits", [1, 6, 16])
def test_payload_bound_holds_for_the_cheapest_symbols(bits):
    """The bound of codec.max_coded_values against constriction's real output: a constant
    symbol at the smallest scale (what silence codes to) is the cheapest there is."""
    import constriction

    from audioae.codec import MIN_SCALE

    levels = 1 << bits
    n = 2_000_000
    family = constriction.stream.model.QuantizedLaplace(0, levels - 1)
    for symbol in (0, levels - 1, levels // 2):
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(
            np.full(n, symbol, np.int32), family, np.full(n, float(symbol)), np.full(n, MIN_SCALE)
        )
        words = encoder.get_compressed()
        payload_bytes = max(1, 4 * len(words) - 3)  # the writer may drop 3 trailing bytes
        assert n <= max_coded_values(payload_bytes, bits)
    # ... and the bound is not vacuous: 2**24 frames of 8 dims need far more than 57 bytes
    assert max_coded_values(57, 6) < 8 << 24


# ----------------------------------------------------------------------------- YAML configs


def test_yaml_alias_bomb_is_refused_in_a_recipe(tmp_path):
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(ALIAS_BOMB)
    assert recipe.stat().st_size == 342
    with _Timer(), pytest.raises(ConfigError, match="bomb.yaml: YAML anchors and aliases"):
        load_config(recipe)


def test_yaml_alias_bomb_is_refused_in_a_set_value():
    value = "[" + ALIAS_BOMB.replace("\n", ", ").strip(", ") + "]"
    with _Timer(), pytest.raises(ConfigError, match="--set .*anchors and aliases"):
        load_config(TINY, [f"name={value}"])
    with _Timer(), pytest.raises(ConfigError, match="anchors and aliases"):
        load_config(TINY, ["name=[&a x, *a]"])


def test_yaml_alias_bomb_is_refused_in_a_model_file(tmp_path):
    path = _resave_model(tmp_path, config=ALIAS_BOMB)
    with (
        _Timer(),
        pytest.raises(ModelFileError, match="stored config is invalid.*anchors and aliases"),
    ):
        load_model_file(path)


def _retensor(tmp_path: Path, change, drop_metadata: tuple[str, ...] = ()) -> Path:
    """The small shipped model with its tensors changed by ``change`` and a matching digest."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from audioae.modelfile import tensors_digest

    with safe_open(str(SMALL_MODEL), framework="pt") as f:
        metadata = dict(f.metadata())
    for key in drop_metadata:
        metadata.pop(key, None)
    tensors = change(load_file(str(SMALL_MODEL)))
    metadata["tensors_blake2b"] = tensors_digest(tensors).hex()
    path = tmp_path / "retensored.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_weights_of_another_kind_are_refused(tmp_path, dtype):
    def cast_first_float(tensors):
        name = next(k for k, v in sorted(tensors.items()) if v.is_floating_point())
        return {**tensors, name: tensors[name].to(dtype)}

    with pytest.raises(
        ModelFileError, match=rf"is stored as {dtype}; the model's is torch.float32"
    ):
        load_model_file(_retensor(tmp_path, cast_first_float))


def test_decoder_tensors_without_a_decoder_config_are_refused(tmp_path):
    path = _retensor(
        tmp_path,
        lambda t: {**t, "vocoder.extra": torch.zeros(4)},
        drop_metadata=("vocoder_config",),
    )
    with pytest.raises(ModelFileError, match=r"learned-decoder tensors \(vocoder\.\*\) but no"):
        load_model_file(path)


@pytest.mark.parametrize("config", ["[1, 2, 3]", "42", "just text", ""])
def test_a_stored_config_that_is_not_a_mapping_is_refused(tmp_path, config):
    path = _resave_model(tmp_path, config=config)
    with pytest.raises(ModelFileError, match="stored config is invalid.*not a mapping"):
        load_model_file(path)
    with pytest.raises(ModelFileError, match="stored config is invalid.*not a mapping"):
        read_model_config(path)


def test_shared_references_in_a_dict_are_counted():
    node: list = ["lol"] * 9
    for _ in range(8):
        node = [node] * 9  # 9**9 leaves when walked, 81 objects in memory
    with _Timer(), pytest.raises(ConfigError, match="more than 10000 values"):
        config_from_dict({"name": "x", "data": {"noise_colors": node}})


def test_yaml_size_and_depth_are_bounded(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_YAML_BYTES + "\n")
    with _Timer(), pytest.raises(ConfigError, match=f"more than the limit {MAX_YAML_BYTES}"):
        load_config(big)
    with _Timer(), pytest.raises(ConfigError, match="nested deeper than 32"):
        load_yaml("[" * 10_000 + "]" * 10_000)
    with _Timer(), pytest.raises(ConfigError, match="more than 10000 YAML nodes"):
        load_yaml("[" + "1," * 20_000 + "1]")


@pytest.mark.parametrize(
    "text", ["${oc.env:HOME}", "${oc.env:SECRET_TOKEN,x}", "${model.latent_dim}"]
)
def test_interpolation_is_refused_in_recipes_sets_and_model_files(tmp_path, monkeypatch, text):
    monkeypatch.setenv("SECRET_TOKEN", "s3cr3t")
    recipe = tmp_path / "interp.yaml"
    recipe.write_text(f'name: "{text}"\n')
    match = r"name: .* contains an interpolation"
    with _Timer(), pytest.raises(ConfigError, match=match):
        load_config(recipe)
    with _Timer(), pytest.raises(ConfigError, match=match):
        load_config(TINY, [f"name={text}"])
    with _Timer(), pytest.raises(ConfigError, match=match):
        config_from_dict({"name": text})
    path = _resave_model(tmp_path, config=f'name: "{text}"\n')
    with _Timer(), pytest.raises(ModelFileError, match=match) as info:
        load_model_file(path)
    assert "s3cr3t" not in str(info.value)


INVALID_VALUES = [
    # (overrides on the tiny recipe, key named, text in the message)
    (["features.hop_length=512"], "features.hop_length", "1..win_length (256"),
    (["features.win_length=128", "features.hop_length=200"], "features.hop_length", "(128"),
    (["features.n_fft=1"], "features.n_fft", "16..65536, got 1"),
    (["features.n_fft=1073741824"], "features.n_fft", "got 1073741824"),
    (["audio.sample_rate=1"], "audio.sample_rate", "1000..384000, got 1"),
    (["features.f_min=5000", "features.f_max=4000"], "features.f_max", "> features.f_min"),
    (["features.f_max=9000"], "features.f_max", "sample_rate / 2 (8000 Hz), got 9000"),
    (["features.f_min=8000"], "features.f_min", "< features.f_max (8000 Hz"),
    (["features.n_mels=200"], "features.n_mels", "1..n_fft // 2 + 1 (129), got 200"),
    (["features.eps=0"], "features.eps", "got 0"),
    (["phase.n_iter=1000000000"], "phase.n_iter", "1..10000, got 1000000000"),
    (["loss.beta=.nan"], "loss.beta", "finite"),
    (["training.learning_rate=.inf"], "training.learning_rate", "finite"),
    (["data.batch_size=100000000"], "data.batch_size", "1..4096"),
    (["data.segment_seconds=1e9"], "data.segment_seconds", "got 1000000000.0"),
    (["data.samples_per_epoch=1000000000000"], "data.samples_per_epoch", "1..100000000"),
    (["data.batch_size=4096", "data.segment_seconds=600"], "data.batch_size x", "per batch"),
    (["data.segment_seconds=0.00001"], "data.segment_seconds", "less than one sample"),
    (["data.reverb_fraction=2"], "data.reverb_fraction", "[0, 1], got 2"),
    (["data.band_limit_fraction=.nan"], "data.band_limit_fraction", "[0, 1], got nan"),
    (["data.rt60_max=1000"], "data.rt60_max", "0.05..10.0, got 1000"),
    (["data.rt60_min=0.9", "data.rt60_max=0.5"], "data.rt60_min", "must be <= data.rt60_max"),
    (["data.band_limit_hz=[1e9]"], "data.band_limit_hz", "1.0..192000.0, got 1000000000.0"),
    (
        ["data.band_limit_fraction=1", "data.band_limit_hz=[3400,9000]"],
        "data.band_limit_hz",
        "< audio.sample_rate / 2",
    ),
    (["model.latent_dim=1000000"], "model.latent_dim", "1..4096"),
    (["model.hidden_dim=1000000"], "model.hidden_dim", "1..16384"),
    (["model.channels=[1000000]"], "model.channels", "1..4096"),
    (["model.n_res_blocks=100000"], "model.n_res_blocks", "0..64"),
    (["model.strides=[64,64,64]"], "model.strides", "<= 4096, got 262144"),
    (["training.max_steps=100000000000"], "training.max_steps", "got 100000000000"),
    (["training.seed=-1"], "training.seed", "got -1"),
    (["vocoder.dim=1000000"], "vocoder.dim", "1..4096, got 1000000"),
    (["vocoder.n_blocks=0"], "vocoder.n_blocks", "1..64, got 0"),
    (["vocoder.n_blocks=100000"], "vocoder.n_blocks", "1..64, got 100000"),
    (["vocoder.expansion=1000"], "vocoder.expansion", "1..16, got 1000"),
    (["vocoder.kernel_size=8"], "vocoder.kernel_size", "must be odd, got 8"),
    (["vocoder.kernel_size=100001"], "vocoder.kernel_size", "1..255, got 100001"),
    (["vocoder.max_log_magnitude=.inf"], "vocoder.max_log_magnitude", "finite"),
    (["vocoder.max_log_magnitude=1000"], "vocoder.max_log_magnitude", "0.0..80.0, got 1000"),
    (["vocoder_loss.mel_weight=-1"], "vocoder_loss.mel_weight", "0.0..1000000.0, got -1"),
    (["vocoder_loss.phase_gd_weight=.nan"], "vocoder_loss.phase_gd_weight", "finite"),
    (["vocoder_loss.compression=.nan"], "vocoder_loss.compression", "finite"),
    (["vocoder_loss.compression=2"], "vocoder_loss.compression", "(0, 1], got 2"),
    (
        ["vocoder_loss.resolutions=[[1073741824,256]]"],
        "vocoder_loss.resolutions",
        "got [1073741824, 256]",
    ),
    (["vocoder_loss.resolutions=[[512,1024]]"], "vocoder_loss.resolutions", "got [512, 1024]"),
    (["vocoder_loss.resolutions=[[512]]"], "vocoder_loss.resolutions", "got [512]"),
    (["vocoder_loss.resolutions=[]"], "vocoder_loss.resolutions", "at least one"),
    (
        ["vocoder_loss.source_bits=[4]"],
        "vocoder_loss.source_bits",
        "needs vocoder_loss.source_model",
    ),
    (
        ["vocoder_loss.source_model=m.safetensors", "vocoder_loss.source_bits=[0]"],
        "vocoder_loss.source_bits",
        "integer in 1..16, got 0",
    ),
    (
        ["vocoder_loss.resolutions=" + str([[512, 128]] * 17)],
        "vocoder_loss.resolutions",
        "at most 16 entries, got 17",
    ),
    (
        [
            f"vocoder_loss.{k}_weight=0"
            for k in ("mr_stft", "mel", "magnitude", "complex", "phase_ip", "phase_gd", "phase_iaf")
        ],
        "vocoder_loss",
        "must be > 0 (all are 0)",
    ),
]


def _as_dict(overrides: list[str]) -> dict:
    import yaml

    out: dict = {}
    for text in overrides:
        key, value = text.split("=", 1)
        section, name = key.split(".")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


@pytest.mark.parametrize(("overrides", "key", "text"), INVALID_VALUES)
def test_invalid_value_is_refused_the_same_way_everywhere(tmp_path, overrides, key, text):
    import yaml

    with _Timer(), pytest.raises(ConfigError) as from_set:
        load_config(TINY, overrides)
    recipe_data = yaml.safe_load(TINY.read_text())
    for section, values in _as_dict(overrides).items():
        recipe_data.setdefault(section, {}).update(values)
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(yaml.safe_dump(recipe_data))
    with _Timer(), pytest.raises(ConfigError) as from_recipe:
        load_config(recipe)
    with _Timer(), pytest.raises(ConfigError) as from_dict:
        config_from_dict(recipe_data, source="stored config")
    for info in (from_set, from_recipe, from_dict):
        message = str(info.value)
        assert key in message and text in message, message


@pytest.mark.parametrize("overrides", [["features.hop_length=2048"], ["phase.n_iter=1000000000"]])
def test_invalid_value_in_a_model_file_is_refused(tmp_path, overrides):
    import yaml

    config = load_model_file(SMALL_MODEL).config.to_dict()
    for section, values in _as_dict(overrides).items():
        config[section].update(values)
    path = _resave_model(tmp_path, config=yaml.safe_dump(config))
    key = overrides[0].split("=")[0]
    with (
        _Timer(),
        pytest.raises(ModelFileError, match=f"stored config is invalid: .*{re.escape(key)}"),
    ):
        load_model_file(path)


def test_model_file_without_digest_is_refused(tmp_path):
    path = _resave_model(tmp_path, drop=("tensors_blake2b",))
    with _Timer(), pytest.raises(ModelFileError, match="no tensors_blake2b digest"):
        load_model_file(path)
    assert load_model_file(_resave_model(tmp_path, name="same.safetensors")).config is not None


def test_vocoder_recipe_loads_with_its_checked_sections():
    cfg = load_config(ROOT / "recipes" / "vocoder.yaml", ["vocoder.kernel_size=255"])
    assert cfg.task == "vocoder" and cfg.vocoder.kernel_size == 255
    assert cfg.vocoder.max_log_magnitude == 7.0 and len(cfg.vocoder_loss.resolutions) == 3
    with pytest.raises(ConfigError, match=r"vocoder\.dim: must be in 1\.\.4096, got -3"):
        load_config(ROOT / "recipes" / "vocoder.yaml", ["vocoder.dim=-3"])


def test_bundled_recipes_and_shipped_models_pass_the_checks():
    for recipe in sorted((ROOT / "recipes").glob("*.yaml")):
        load_config(recipe)
    from audioae.modelfile import VOCODER_FORMAT, file_format
    from audioae.vocoderfile import load_vocoder_file

    for model in sorted((ROOT / "data" / "models").glob("*.safetensors")):
        if file_format(model) == VOCODER_FORMAT:
            load_vocoder_file(model)  # the stand-alone decoder
        else:
            load_model_file(model)


def _resave_model(
    tmp_path: Path,
    *,
    config: str | None = None,
    drop: tuple[str, ...] = (),
    name: str = "crafted.safetensors",
) -> Path:
    """The small shipped model re-saved with its metadata changed (tensors and digest kept)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(SMALL_MODEL), framework="pt") as f:
        metadata = dict(f.metadata())
    if config is not None:
        metadata["config"] = config
    for key in drop:
        metadata.pop(key)
    path = tmp_path / name
    save_file(load_file(str(SMALL_MODEL)), str(path), metadata=metadata)
    return path


# ----------------------------------------------------------------------------- the docs table


def test_reliability_table_names_existing_tests():
    table = (ROOT / "docs" / "reliability.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", table)
    assert len(named) >= 15
    for file, test in named:
        source = (ROOT / file).read_text()
        assert re.search(rf"^def {test}\(", source, re.M), f"{file}::{test} is not a test"
