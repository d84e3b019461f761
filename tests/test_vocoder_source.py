"""Training a learned decoder on a frozen model's reconstruction (vocoder_loss.source_model),
with the latent quantised as a .aae file does, and starting from a trained decoder (init_from)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from audioae.cli import main
from audioae.codec import decode_latent, encode_latent
from audioae.config import ConfigError, load_config, resolve_recipe
from audioae.modelfile import ModelFileError, save_model_file
from audioae.pipeline import Pipeline
from audioae.vocoder_source import SourceFeatures, load_initial_weights, quantise_latent
from audioae.vocoder_training import VocoderModule
from audioae.vocoderfile import load_vocoder_file, save_vocoder_file
from tests.test_vocoder import (
    TINY_FEATURES,
    TINY_RUN,
    TINY_VOCODER,
    _ae,
    _cfg,
    _tone,
    _vocoder,
    write_tones,
)


def test_quantise_latent_matches_the_aae_quantiser() -> None:
    """Per dimension at most 2**bits values, every value within half a step of the input, and
    the same values as a .aae round trip of the same latent (whose range is the whole input)."""
    torch.manual_seed(0)
    latent = torch.randn(1, 6, 40).cumsum(-1)
    latent[0, 2] = 0.5  # a constant dimension is kept as it is
    q = quantise_latent(latent, 4)
    step = (latent.amax(-1, keepdim=True) - latent.amin(-1, keepdim=True)) / 16
    assert torch.all((q - latent).abs() <= step / 2 + 1e-6)
    assert all(len(torch.unique(q[0, d])) <= 16 for d in range(6))
    torch.testing.assert_close(q[0, 2], latent[0, 2])
    data = encode_latent(
        latent, bits=4, model_hash=bytes(16), sample_rate=16000, length=10240, channels=1
    )
    ref = decode_latent(data, model_hash=bytes(16)).latent
    # the file stores the range in float16 (rounded outwards), so agreement is to that precision
    torch.testing.assert_close(
        q, torch.as_tensor(np.asarray(ref), dtype=q.dtype), rtol=0, atol=2e-2
    )


def test_quantise_latent_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="bits must be in 1..16"):
        quantise_latent(torch.zeros(1, 2, 3), 0)
    with pytest.raises(ValueError, match=r"\(batch, latent_dim, frames\)"):
        quantise_latent(torch.zeros(2, 3), 4)


def test_source_features_equal_the_pipelines_reconstruction(tmp_path: Path) -> None:
    model, cfg = _ae(tmp_path)
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    voc_cfg = _cfg()
    source = SourceFeatures(path, voc_cfg)
    wav = _tone(0.5).unsqueeze(0)
    pipe = Pipeline.load(path, device="cpu")
    features = pipe.frontend(wav)
    got = source(features)
    assert got.shape == features.shape
    with torch.inference_mode():
        want = pipe._decode_features(pipe.encode(wav), features.shape[-1])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    # quantised: a different (coarser) reconstruction of the same shape
    coarse = SourceFeatures(path, voc_cfg, bits=[2])(features)
    assert coarse.shape == features.shape and not torch.allclose(coarse, got)


def test_source_model_with_another_front_end_is_refused(tmp_path: Path) -> None:
    model, cfg = _ae(tmp_path, features=[*TINY_FEATURES[:2], "features.n_mels=40"])
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    with pytest.raises(ModelFileError, match="another front-end"):
        SourceFeatures(path, _cfg())


def test_source_bits_need_a_source_model_and_a_valid_range() -> None:
    with pytest.raises(ConfigError, match="needs vocoder_loss.source_model"):
        load_config(resolve_recipe("vocoder"), ["vocoder_loss.source_bits=[4]"])
    with pytest.raises(ConfigError, match="integer in 1..16, got 17"):
        load_config(
            resolve_recipe("vocoder"),
            ["vocoder_loss.source_model=x.safetensors", "vocoder_loss.source_bits=[4,17]"],
        )


def test_the_training_step_decodes_the_source_models_features(tmp_path: Path) -> None:
    """With a source model the decoder's input is the model's reconstruction, not the exact
    features: the loss differs from the exact-feature module with the same weights."""
    model, cfg = _ae(tmp_path)
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    wav = torch.stack([_tone(0.25), _tone(0.25, 500.0)])
    torch.manual_seed(0)
    exact = VocoderModule(_cfg())
    torch.manual_seed(0)
    from_model = VocoderModule(_cfg([f"vocoder_loss.source_model={path}"]))
    assert not any(k.startswith("_source") for k in from_model.state_dict())
    a, _ = exact._step(wav)
    b, _ = from_model._step(wav)
    assert torch.isfinite(b.total) and not torch.isclose(a.total, b.total)


def test_init_from_loads_a_decoder_file_or_a_model_file_carrying_one(tmp_path: Path) -> None:
    trained = _vocoder(seed=3)
    voc_path = save_vocoder_file(tmp_path / "voc.safetensors", trained, _cfg())
    fresh = VocoderModule(_cfg()).model
    load_initial_weights(fresh, voc_path)
    for (name, p), q in zip(fresh.state_dict().items(), trained.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, msg=name)
    model, cfg = _ae(tmp_path)
    with_voc = save_model_file(tmp_path / "with.safetensors", model, cfg, vocoder=trained)
    again = VocoderModule(_cfg()).model
    load_initial_weights(again, with_voc)
    torch.testing.assert_close(again.head.weight, trained.head.weight)
    plain = save_model_file(tmp_path / "plain.safetensors", model, cfg)
    with pytest.raises(ModelFileError, match="carries no learned decoder"):
        load_initial_weights(VocoderModule(_cfg()).model, plain)
    bigger = VocoderModule(_cfg(["vocoder.dim=32"])).model
    with pytest.raises(ModelFileError, match="differs from this run's vocoder section"):
        load_initial_weights(bigger, voc_path)


def test_fine_tuning_run_on_a_codec_via_cli(tmp_path: Path) -> None:
    """`audioae train vocoder --set vocoder_loss.source_model=M vocoder_loss.source_bits=[4,6]
    vocoder_loss.init_from=V` trains, starts from V's weights and resumes without reloading them."""
    (tmp_path / "tones").mkdir()
    data = write_tones(tmp_path / "tones")
    model, cfg = _ae(tmp_path)
    model_path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    init = _vocoder(seed=5)
    init_path = save_vocoder_file(tmp_path / "init.safetensors", init, _cfg())
    out = tmp_path / "run"
    tiny = [
        *TINY_FEATURES,
        *TINY_VOCODER,
        *TINY_RUN,
        "training.learning_rate=1e-9",
        f"vocoder_loss.source_model={model_path}",
        "vocoder_loss.source_bits=[4,6]",
        f"vocoder_loss.init_from={init_path}",
    ]
    base = ["train", "vocoder", "--data", str(data), "--out", str(out), "--quiet", "--set", *tiny]
    assert main([*base, "--max-steps", "2"]) == 0
    first = load_vocoder_file(out / "model.safetensors").vocoder
    # a learning rate of 1e-9 leaves the weights at init_from's (to float rounding)
    torch.testing.assert_close(first.head.weight, init.head.weight, rtol=1e-4, atol=1e-5)
    # resume: the checkpoint's weights, not init_from's again (the file is now a different one)
    other = _vocoder(seed=9)
    save_vocoder_file(init_path, other, _cfg(), overwrite=True)
    assert main([*base, "--max-steps", "4", "--resume"]) == 0
    second = load_vocoder_file(out / "model.safetensors").vocoder
    torch.testing.assert_close(second.head.weight, init.head.weight, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_source_features_and_training_step(tmp_path: Path) -> None:
    model, cfg = _ae(tmp_path)
    path = save_model_file(tmp_path / "m.safetensors", model, cfg)
    source = SourceFeatures(path, _cfg())
    features = VocoderModule(_cfg()).frontend(_tone(0.5).unsqueeze(0))
    cpu = source(features)
    gpu = source(features.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-3)
    # quantised on the GPU: same shape, finite (a value on a bin edge may round either way)
    coarse = SourceFeatures(path, _cfg(), bits=[5])(features.cuda())
    assert coarse.shape == features.shape and torch.isfinite(coarse).all()
    module = VocoderModule(_cfg([f"vocoder_loss.source_model={path}"])).to("cuda")
    result, _ = module._step(torch.stack([_tone(0.25), _tone(0.25, 500.0)]).cuda())
    assert torch.isfinite(result.total)
