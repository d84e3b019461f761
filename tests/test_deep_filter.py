"""Deep filtering (``model.df_order``): the filter against a loop reference, the zero start
from a magnitude-mask model, training, the model file and the refusals."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import train_steps

from audioae.config import ConfigError, load_config
from audioae.features import build_frontend
from audioae.init_weights import load_model_weights
from audioae.modelfile import save_model_file
from audioae.models import build_model
from audioae.models.deep_filter import apply_deep_filter, deep_filter_coefficients
from audioae.pipeline import Pipeline, PipelineError
from audioae.training import AutoEncoderModule

MASK = [
    "features.kind=log_magnitude",
    "features.n_fft=256",
    "features.hop_length=64",
    "model.output=mask",
    "model.strides=[]",
    "model.hidden_dim=24",
    "model.latent_dim=8",
    "model.n_res_blocks=1",
    "data.denoise=true",
    "loss.si_sdr_weight=0.1",
]
DF = ["model.df_order=3", "model.df_lookahead=1", "model.df_bins=40"]


def _model(*sets: str, seed: int = 0):
    torch.manual_seed(seed)
    cfg = load_config(None, [*MASK, *sets])
    return build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate)), cfg


def _reference(spec, mask, coefficients, lookahead):
    """The module docstring's sum, one bin and frame at a time."""
    out = (mask * spec).clone()
    coefficients = torch.complex(coefficients[:, 0], coefficients[:, 1]).transpose(1, 2)
    batch, df_bins, order, frames = coefficients.shape
    for b in range(batch):
        for f in range(df_bins):
            for t in range(frames):
                for i in range(order):
                    src = t + i - order + 1 + lookahead
                    if 0 <= src < frames:
                        out[b, f, t] += coefficients[b, f, i, t] * spec[b, f, src]
    return out


@pytest.mark.parametrize("order,lookahead", [(1, 0), (3, 0), (3, 2), (5, 2)])
def test_filter_equals_the_loop_reference(order: int, lookahead: int) -> None:
    g = torch.Generator().manual_seed(order * 10 + lookahead)
    spec = torch.randn(2, 9, 7, dtype=torch.complex128, generator=g)
    mask = torch.rand(2, 9, 7, dtype=torch.float64, generator=g)
    coefficients = torch.randn(2, 2, order, 4, 7, dtype=torch.float64, generator=g)
    got = apply_deep_filter(spec, mask, coefficients, lookahead)
    assert got.shape == spec.shape
    assert torch.allclose(got, _reference(spec, mask, coefficients, lookahead), atol=1e-12)


def test_filter_refuses_bad_shapes() -> None:
    spec = torch.randn(1, 9, 7, dtype=torch.complex64)
    mask = torch.rand(1, 9, 7)
    with pytest.raises(ValueError, match="lookahead"):
        apply_deep_filter(spec, mask, torch.zeros(1, 2, 3, 4, 7), 3)
    with pytest.raises(ValueError, match="coefficients"):
        apply_deep_filter(spec, mask, torch.zeros(1, 2, 3, 10, 7), 0)
    with pytest.raises(ValueError, match="complex"):
        apply_deep_filter(spec.real, mask, torch.zeros(1, 2, 3, 4, 7), 0)
    with pytest.raises(ValueError, match="channels|need"):
        deep_filter_coefficients(torch.zeros(1, 5, 7), 4, 3)


def test_coefficients_are_bounded_and_zero_for_zero_input() -> None:
    raw = torch.randn(2, 2 * 4 * 3, 5) * 10
    c = deep_filter_coefficients(raw, 4, 3)
    assert c.shape == (2, 2, 3, 4, 5) and not c.is_complex()
    assert c.abs().max() < 1
    assert deep_filter_coefficients(torch.zeros(1, 24, 5), 4, 3).abs().max() == 0
    # channel layout: real parts tap-major then bin, then the imaginary parts; softsign
    raw = torch.zeros(1, 24, 1)
    raw[0, 2 * 4 + 1, 0] = 0.5  # real part of tap 2, bin 1
    raw[0, 12 + 0 * 4 + 3, 0] = -3.0  # imaginary part of tap 0, bin 3
    c = deep_filter_coefficients(raw, 4, 3)
    assert math.isclose(c[0, 0, 2, 1, 0].item(), 0.5 / 1.5, rel_tol=1e-6)
    assert math.isclose(c[0, 1, 0, 3, 0].item(), -3.0 / 4.0, rel_tol=1e-6)
    assert c.abs().gt(0).sum() == 2


def test_config_refuses_deep_filtering_where_it_cannot_work() -> None:
    for sets, match in [
        (["model.output=crm"], "deep filtering needs output mask"),
        (["model.causal=true"], "deep filtering needs output mask"),
        (["model.df_bins=0"], "df_bins >= 1"),
        (["model.df_lookahead=3"], "df_lookahead"),
        (["model.df_bins=200"], "df_bins <= n_fft"),
        (["data.denoise=false", "loss.si_sdr_weight=0"], "data.denoise"),
        (["features.kind=log_mel"], "spectrogram or log_magnitude"),
    ]:
        with pytest.raises(ConfigError, match=match):
            load_config(None, [*MASK, *DF, *sets])


def test_a_zero_head_denoises_as_the_mask_model_it_starts_from(tmp_path: Path) -> None:
    mask_model, mask_cfg = _model(seed=3)
    source = save_model_file(tmp_path / "mask.safetensors", mask_model, mask_cfg)
    df_model, df_cfg = _model(*DF, seed=4)
    load_model_weights(df_model, source, df_cfg)
    assert df_model.deep_filter and df_model.df_head.weight.abs().max() == 0
    x = 0.2 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(5))
    expected = Pipeline(mask_model, mask_cfg, device="cpu").denoise(x)
    got = Pipeline(df_model, df_cfg, device="cpu").denoise(x)
    assert (got - expected).abs().max().item() < 1e-6
    # a non-zero head changes the output, only through the low bins
    with torch.no_grad():
        df_model.df_head.bias.normal_(0, 0.5)
    pipe = Pipeline(df_model, df_cfg, device="cpu")
    changed = pipe.denoise(x)
    assert (changed - expected).abs().max().item() > 1e-3
    spec = pipe.frontend.stft(x)
    out = df_model.eval()(pipe.frontend.from_magnitude(spec.abs()), spec=spec)
    diff = (out.spectrum - out.mask * spec).abs()
    assert diff[:, 40:].max() == 0 and diff[:, :40].max() > 1e-3


def test_pipeline_is_chunk_invariant_and_the_file_round_trips(tmp_path: Path) -> None:
    model, cfg = _model(*DF)
    with torch.no_grad():
        model.df_head.weight.normal_(0, 0.1)
    x = 0.2 * torch.randn(2, 16000 + 77, generator=torch.Generator().manual_seed(6))
    whole = Pipeline(model, cfg, device="cpu")
    y = whole.denoise(x)
    assert y.shape == x.shape
    chunked = Pipeline(model, cfg, device="cpu", chunk_seconds=0.3, margin_seconds=0.1)
    assert (chunked.denoise(x) - y).abs().max().item() < 1e-5
    assert torch.allclose(whole.denoise(x, wet=0.0), x, atol=1e-5)
    path = save_model_file(tmp_path / "df.safetensors", model, cfg)
    loaded = Pipeline.load(path, device="cpu")
    assert loaded.model.deep_filter and loaded.config.model.df_order == 3
    assert (loaded.denoise(x) - y).abs().max().item() < 1e-6


def test_forward_needs_the_stft_and_decode_refuses_features() -> None:
    model, cfg = _model(*DF)
    features = torch.randn(1, model.n_bins, 20)
    with pytest.raises(ValueError, match="pass spec"):
        model(features)
    latent = model.encode(features).sample
    with pytest.raises(ValueError, match="deep-filter"):
        model.decode(latent, input_features=features)
    plain, _ = _model()
    with pytest.raises(ValueError, match="only used by deep-filter"):
        plain(features, spec=torch.zeros(1, model.n_bins, 20, dtype=torch.complex64))


def test_streaming_refuses_a_deep_filter_model() -> None:
    from audioae.streaming_denoiser import StreamingDenoiser

    model, cfg = _model(*DF)
    with pytest.raises(PipelineError, match="causal"):
        StreamingDenoiser(Pipeline(model, cfg, device="cpu"))


def test_training_step_uses_the_filtered_spectrum_and_the_loss_falls() -> None:
    torch.set_num_threads(1)
    cfg = load_config(None, [*MASK, *DF])
    torch.manual_seed(0)
    module = AutoEncoderModule(cfg)
    t = torch.arange(8000) / 16000
    clean = (0.2 * torch.sin(2 * math.pi * 220 * t) * torch.sin(2 * math.pi * 3 * t)).unsqueeze(0)
    noise = 0.1 * torch.randn(1, 8000, generator=torch.Generator().manual_seed(1))
    batch = (clean + noise, clean)
    _, _, output, _ = module._step(batch)
    assert output.spectrum is not None and output.df_coefficients.shape[1:4] == (2, 3, 40)
    expected = module.frontend.from_magnitude(output.spectrum.abs())
    assert torch.allclose(output.reconstruction, expected, atol=1e-4)
    losses = train_steps(module, batch, 30)
    assert module.model.df_head.weight.grad.abs().max() > 0
    assert losses[-1] < losses[0] - 0.5 * abs(losses[0])


def test_trainable_trains_only_the_named_parts() -> None:
    torch.set_num_threads(1)
    cfg = load_config(None, [*MASK, *DF, "training.trainable=[df_head]"])
    module = AutoEncoderModule(cfg)
    head = {id(p) for p in module.model.df_head.parameters()}
    optimiser = module.configure_optimizers()["optimizer"]
    assert {id(p) for g in optimiser.param_groups for p in g["params"]} == head
    before = {k: v.clone() for k, v in module.model.state_dict().items()}
    t = torch.arange(4000) / 16000
    clean = (0.2 * torch.sin(2 * math.pi * 220 * t)).unsqueeze(0)
    batch = (clean + 0.1 * torch.randn(1, 4000, generator=torch.Generator().manual_seed(2)), clean)
    train_steps(module, batch, 3, optimiser=optimiser)
    after = module.model.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed == {"df_head.weight", "df_head.bias"}


def test_trainable_names_are_checked() -> None:
    with pytest.raises(ConfigError, match="df_head"):
        AutoEncoderModule(load_config(None, [*MASK, "training.trainable=[df_head]"]))
    with pytest.raises(ConfigError, match="training.trainable"):
        load_config(None, [*MASK, "training.trainable=['a.b']"])
