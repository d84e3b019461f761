"""Autoencoder models: shapes, the length contract, bottlenecks, training, persistence, errors."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioae.config import ConfigError, FeatureConfig, LossConfig, ModelConfig
from audioae.features import FrontEnd, build_frontend
from audioae.losses import compute_loss
from audioae.models import AutoEncoder, build_model

ARCHS = ("dense", "conv1d", "conv2d")
BOTTLENECKS = ("deterministic", "sparse", "gaussian")
NOTES = Path(__file__).parents[1] / "data" / "notes"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")

# 21 bins: not a multiple of conv2d's frequency downsampling (4), so padding/cropping is exercised.
TINY_FEATURES = FeatureConfig(n_fft=256, hop_length=64, n_mels=21)
SAMPLE_RATE = 16000


def fe(features: FeatureConfig) -> FrontEnd:
    """The front-end of ``features`` at 16 kHz."""
    return build_frontend(features, SAMPLE_RATE)


TINY = dict(
    latent_dim=6, hidden_dim=24, channels=[4, 8], strides=[2, 3], freq_strides=[2, 2], context=3
)
EXPECTED_DS = {"dense": 3, "conv1d": 6, "conv2d": 6}


def tiny(
    arch: str, bottleneck: str = "deterministic", features: FeatureConfig = TINY_FEATURES, **kw
) -> AutoEncoder:
    torch.manual_seed(0)
    return build_model(
        ModelConfig(architecture=arch, bottleneck=bottleneck, **{**TINY, **kw}), fe(features)
    )


# ---------------------------------------------------------------- real features (data/notes)
REAL_FEATURES = FeatureConfig(n_fft=512, hop_length=128, n_mels=40)


def _log_mel(wav: np.ndarray) -> torch.Tensor:
    """Log-mel ``(batch, 40, frames)`` of ``wav (batch, time)`` with the project's front-end."""
    frontend = build_frontend(REAL_FEATURES, SAMPLE_RATE)
    with torch.no_grad():
        return frontend(torch.from_numpy(wav)).float()


@pytest.fixture(scope="module")
def real_batch() -> torch.Tensor:
    """Log-mel of the first 0.5 s of four notes spread over data/notes: (4, 40, 63)."""
    paths = sorted(NOTES.glob("*.flac"))
    assert len(paths) >= 4, f"expected the bundled notes in {NOTES}"
    wavs = []
    for path in paths[:: len(paths) // 4][:4]:
        wav, sr = sf.read(path, dtype="float32", always_2d=True)
        assert sr == SAMPLE_RATE and wav.shape[0] >= SAMPLE_RATE // 2, path
        wavs.append(wav[: SAMPLE_RATE // 2, 0])
    feats = _log_mel(np.stack(wavs))
    assert feats.shape == (4, 40, 63)
    return feats


# ---------------------------------------------------------------- shapes and lengths
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("bottleneck", BOTTLENECKS)
def test_latent_shapes(arch: str, bottleneck: str) -> None:
    model = tiny(arch, bottleneck)
    assert model.time_downsampling == EXPECTED_DS[arch]
    assert model.latent_dim == 6
    assert model.is_variational == (bottleneck == "gaussian")
    x = torch.randn(2, 21, 30)
    out = model(x)
    latent_shape = (2, 6, 30 // EXPECTED_DS[arch])
    assert out.latent.sample.shape == latent_shape
    assert out.reconstruction.shape == (2, 21, 30)
    assert out.mask is None
    if bottleneck == "gaussian":
        assert out.latent.mean.shape == out.latent.logvar.shape == out.kl.shape == latent_shape
        assert out.activations is None
    else:
        assert out.latent.mean is None and out.latent.logvar is None and out.kl is None
    if bottleneck == "sparse":
        assert out.activations.shape == latent_shape
        assert bool(((out.activations > 0) & (out.activations < 1)).all())
    # encode/decode are the two halves of forward
    model.eval()
    latent = model.encode(x)
    assert torch.allclose(model.decode(latent.sample, 30), model(x).reconstruction, atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
def test_output_frames_equal_input_frames_for_any_length(arch: str) -> None:
    model = tiny(arch, "gaussian").eval()
    rng = np.random.default_rng(1)
    lengths = [1, 2, 5] + [int(n) for n in rng.integers(6, 90, size=7)]
    for frames in lengths:
        out = model(torch.randn(3, 21, frames))
        assert out.reconstruction.shape == (3, 21, frames), frames
        assert out.latent.sample.shape == (3, 6, math.ceil(frames / model.time_downsampling)), (
            frames
        )
        assert model.latent_frames(frames) == math.ceil(frames / model.time_downsampling)


def test_decode_frames_and_errors() -> None:
    model = tiny("conv1d").eval()
    z = torch.randn(2, 6, 4)
    assert model.decode(z).shape == (2, 21, 24)
    assert model.decode(z, frames=19).shape == (2, 21, 19)
    assert torch.equal(model.decode(z, frames=19), model.decode(z)[..., :19])
    with pytest.raises(ValueError, match="frames"):
        model.decode(z, frames=25)
    with pytest.raises(ValueError, match="latent"):
        model.decode(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match=r"\(batch, 21, frames"):
        model(torch.randn(2, 20, 10))
    with pytest.raises(ValueError, match=r"\(batch, 21, frames"):
        model(torch.randn(21, 10))


def test_latent_rate_and_parameter_count() -> None:
    features = FeatureConfig()  # 16 kHz defaults: hop 256, 80 mels
    model = build_model(ModelConfig(), fe(features))  # conv1d, strides [2, 2], latent_dim 32
    assert model.time_downsampling == 4
    assert model.latent_rate(16000, 256) == pytest.approx(32 * 16000 / (256 * 4))  # 500 values/s
    dense = build_model(ModelConfig(architecture="dense", context=8, latent_dim=16), fe(features))
    assert dense.latent_rate(16000, 256) == pytest.approx(16 * 16000 / (256 * 8))
    assert model.n_parameters == sum(p.numel() for p in model.parameters()) > 0
    # dense, context 8: Conv1d(80 -> 256, k=8), a residual 1x1 block, the 1x1 projection to 16;
    # decoder 1x1 16 -> 256, a residual block, ConvTranspose1d(256 -> 80, k=8)
    res_block = 2 * (256 * 256 + 256)
    encoder = (80 * 8 * 256 + 256) + res_block + (256 * 16 + 16)
    decoder = (16 * 256 + 256) + res_block + (256 * 80 * 8 + 80)
    assert dense.n_parameters == encoder + decoder


# ---------------------------------------------------------------- bottlenecks
def test_eval_uses_posterior_mean_unless_sampling_is_asked() -> None:
    model = tiny("conv1d", "gaussian")
    x = torch.randn(2, 21, 24)
    model.eval()
    latent = model.encode(x)
    assert torch.equal(latent.sample, latent.mean)
    assert torch.equal(model(x).reconstruction, model(x).reconstruction)
    drawn = model.encode(x, sample_posterior=True)
    assert not torch.allclose(drawn.sample, drawn.mean)
    model.train()
    assert not torch.allclose(model.encode(x).sample, latent.mean)
    assert torch.equal(model.encode(x, sample_posterior=False).sample, latent.mean)


def test_gaussian_kl_matches_monte_carlo_estimate() -> None:
    """Closed-form KL per latent value vs E_q[log q(z) - log p(z)] over the model's own samples."""
    model = tiny("dense", "gaussian")
    with torch.no_grad():  # give the posterior a spread of means and variances
        model.bottleneck.proj.bias[:6].uniform_(-1.5, 1.5)  # means
        model.bottleneck.proj.bias[6:].uniform_(-2.0, 1.0)  # log-variances
        x = torch.randn(1, 21, 6)
        n = 20000
        out = model(x.expand(n, -1, -1), sample_posterior=True)
    mean, logvar, z = out.latent.mean, out.latent.logvar, out.latent.sample
    q = torch.distributions.Normal(mean.double(), (0.5 * logvar.double()).exp())
    p = torch.distributions.Normal(0.0, 1.0)
    log_ratio = q.log_prob(z.double()) - p.log_prob(z.double())  # (n, latent_dim, latent_frames)
    estimate, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(n)
    closed = out.kl[0].double()
    assert float(closed.mean()) > 0.1  # non-trivial KLs
    assert bool(((estimate - closed).abs() < 5 * stderr + 1e-3).all())


# ---------------------------------------------------------------- training on real features
def _train(model: AutoEncoder, x: torch.Tensor, loss_cfg: LossConfig, steps: int, lr: float = 5e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(steps):
        result = compute_loss(model(x), x, loss_cfg, step)
        opt.zero_grad()
        result.total.backward()
        opt.step()
        losses.append(float(result.terms["reconstruction"]))
        if losses[-1] < losses[0] / 10:
            break
    return losses


@pytest.mark.parametrize("arch", ARCHS)
def test_each_architecture_overfits_one_batch_of_real_features(
    arch: str, real_batch: torch.Tensor
) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(
        architecture=arch,
        latent_dim=8,
        hidden_dim=64,
        channels=[8, 16],
        strides=[2, 2],
        freq_strides=[2, 2],
    )
    model = build_model(cfg, fe(REAL_FEATURES))
    losses = _train(model, real_batch, LossConfig(), steps=400)
    # L1 of the best input-independent guess (the per-bin median spectrum), for scale
    median = real_batch.median(dim=2, keepdim=True).values.median(dim=0, keepdim=True).values
    baseline = float((real_batch - median).abs().mean())
    assert losses[-1] < losses[0] / 10, (len(losses), losses[0], losses[-1])
    assert losses[-1] < baseline / 3, (losses[-1], baseline)


def test_sparsity_penalty_lowers_mean_activation(real_batch: torch.Tensor) -> None:
    cfg = ModelConfig(architecture="dense", bottleneck="sparse", latent_dim=16, hidden_dim=64)
    mean_activation = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = build_model(cfg, fe(REAL_FEATURES))
        loss_cfg = LossConfig(sparsity_kl=weight, sparsity_target=0.05)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for step in range(60):
            result = compute_loss(model(real_batch), real_batch, loss_cfg, step)
            opt.zero_grad()
            result.total.backward()
            opt.step()
        with torch.no_grad():
            mean_activation[weight] = float(model(real_batch).activations.mean())
    assert mean_activation[1.0] < 0.5 * mean_activation[0.0], mean_activation
    assert mean_activation[1.0] < 0.15, mean_activation


# ---------------------------------------------------------------- persistence, devices, dtypes
@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_roundtrip_gives_identical_outputs(arch: str, tmp_path: Path) -> None:
    model = tiny(arch, "gaussian")
    model.set_normalization(torch.linspace(-6.0, -4.0, 21), 2.5)
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    torch.manual_seed(123)  # a different init
    fresh = build_model(
        ModelConfig(architecture=arch, bottleneck="gaussian", **TINY), fe(TINY_FEATURES)
    )
    x = torch.randn(2, 21, 17)
    assert not torch.allclose(fresh.eval()(x).reconstruction, model.eval()(x).reconstruction)
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(fresh(x).reconstruction, model(x).reconstruction)
    assert torch.equal(fresh.encode(x).mean, model.encode(x).mean)


@pytest.mark.parametrize("arch", ARCHS)
def test_batched_equals_one_by_one(arch: str) -> None:
    model = tiny(arch, "gaussian").eval()
    x = torch.randn(3, 21, 20)
    batched = model(x).reconstruction
    single = torch.cat([model(x[i : i + 1]).reconstruction for i in range(3)])
    assert torch.allclose(batched, single, atol=1e-5)


def test_follows_dtype_of_model_and_input() -> None:
    model = tiny("conv2d", "gaussian").eval()
    x = torch.randn(2, 21, 13)
    ref = model(x).reconstruction
    out = model.double()(x.double())
    assert out.reconstruction.dtype == out.latent.mean.dtype == torch.float64
    assert torch.allclose(out.reconstruction.float(), ref, atol=1e-4)


@cuda
@pytest.mark.parametrize("arch", ARCHS)
def test_runs_on_cuda_after_to_device(arch: str) -> None:
    model = tiny(arch, "gaussian", output="mask").eval()
    x = torch.randn(2, 21, 13)
    ref = model(x)
    out = model.to("cuda")(x.cuda())
    for t in (out.reconstruction, out.latent.mean, out.kl, out.mask):
        assert t.device.type == "cuda"
    assert torch.allclose(out.reconstruction.cpu(), ref.reconstruction, atol=1e-4)


def test_normalization_is_a_fixed_affine_map() -> None:
    """With shift ``c`` the model maps ``x + c`` to ``f(x) + c`` where ``f`` uses shift 0."""
    model = tiny("conv1d").eval()
    x = torch.randn(2, 21, 12)
    model.set_normalization(0.0, 1.0)
    ref = model(x).reconstruction
    model.set_normalization(-5.0, 1.0)
    assert torch.allclose(model(x - 5.0).reconstruction, ref - 5.0, atol=1e-5)
    assert model.feature_shift.shape == (1, 21, 1)
    with pytest.raises(ValueError, match="scale"):
        model.set_normalization(0.0, 0.0)
    with pytest.raises(ValueError, match="21"):
        model.set_normalization(torch.zeros(5), 1.0)


# ---------------------------------------------------------------- mask output
@pytest.mark.parametrize("kind", ["log_mel", "spectrogram"])
def test_mask_output_is_bounded_by_the_input_magnitude(kind: str) -> None:
    features = dataclasses.replace(TINY_FEATURES, kind=kind)
    n_bins = fe(features).n_bins
    model = tiny("conv2d", "gaussian", features=features, output="mask").eval()
    magnitude = torch.rand(2, n_bins, 22) * 3.0
    x = torch.log(magnitude + features.eps) if kind == "log_mel" else magnitude
    out = model(x)
    assert out.mask.shape == x.shape
    assert bool(((out.mask >= 0) & (out.mask <= 1)).all())
    if kind == "log_mel":
        estimate = out.reconstruction.exp() - features.eps
        assert torch.allclose(estimate, out.mask * magnitude, atol=1e-5)
    else:
        assert torch.allclose(out.reconstruction, out.mask * magnitude)
    assert bool((out.reconstruction <= x + 1e-6).all())
    frontend = build_frontend(features, SAMPLE_RATE)  # the front-end's own masking agrees
    assert torch.allclose(frontend.apply_mask(x, out.mask), out.reconstruction, atol=1e-5)
    assert torch.allclose(model.decode(out.latent.sample, input_features=x), out.reconstruction)
    with pytest.raises(ValueError, match="input_features"):
        model.decode(out.latent.sample)


# ---------------------------------------------------------------- configuration errors
@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"architecture": "rnn"}, "model.architecture"),
        ({"bottleneck": "vq"}, "model.bottleneck"),
        ({"latent_dim": -4}, "model.latent_dim"),
        ({"strides": [2, 0]}, "model.strides"),
        (
            {"architecture": "conv2d", "freq_strides": [4, 4, 4], "channels": [4, 4, 4]},
            "model.freq_strides",
        ),
        ({"kernel_size": 4}, "model.kernel_size"),
        ({"dilations": [1, 0]}, "model.dilations"),
        ({"dilations": []}, "model.dilations"),
        ({"architecture": "conv2d", "channels": [8]}, "model.channels"),
    ],
)
def test_bad_config_raises_config_error_naming_the_field(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        build_model(ModelConfig(**{**TINY, **overrides}), fe(TINY_FEATURES))  # 21 bins < 4*4*4


def test_config_edited_after_construction_is_checked_again() -> None:
    cfg = ModelConfig(**TINY)
    cfg.hidden_dim = 0
    with pytest.raises(ConfigError, match=r"model\.hidden_dim"):
        build_model(cfg, fe(TINY_FEATURES))


@pytest.mark.parametrize("dilations", [[1], [1, 2, 4]])
def test_conv1d_receptive_field_follows_the_dilations(dilations: list[int]) -> None:
    """An impulse at frame t changes the output exactly within t +- the receptive field.

    With no strides and kernel 3 each side grows by 1 per plain conv (encoder input, decoder
    input and output) and by d per residual block of dilation d (3 blocks, encoder and decoder).
    """
    model = tiny("conv1d", strides=[], n_res_blocks=3, dilations=dilations).double().eval()
    blocks = [dilations[i % len(dilations)] for i in range(3)]
    field = 3 + 2 * sum(blocks)
    x = torch.zeros(1, 21, 80, dtype=torch.float64)
    bumped = x.clone()
    bumped[..., 40] = 1.0
    with torch.no_grad():
        changed = (model(bumped).reconstruction - model(x).reconstruction).abs().amax(dim=1)[0]
    reached = torch.nonzero(changed > 1e-12).flatten()
    assert int(reached.min()) == 40 - field and int(reached.max()) == 40 + field


@pytest.mark.parametrize("kind", ["spectrogram", "log_magnitude", "log_mel"])
def test_the_model_takes_its_feature_space_from_its_front_end(kind: str) -> None:
    frontend = fe(dataclasses.replace(TINY_FEATURES, kind=kind))
    model = build_model(ModelConfig(**TINY), frontend)
    assert model.frontend is frontend and model.n_bins == frontend.n_bins
    assert model.n_bins == (21 if kind == "log_mel" else 129)
    shift, scale = frontend.default_normalization()
    assert (shift, scale) == ((0.0, 1.0) if kind == "spectrogram" else (
        0.5 * math.log(1e-5), -0.25 * math.log(1e-5)
    ))  # fmt: skip
    assert bool((model.feature_shift == shift).all() and (model.feature_scale == scale).all())
    assert not any(key.startswith("frontend") for key in model.state_dict())  # no new weights
    assert not model.predicts_mask and not ModelConfig().predicts_mask
    assert build_model(ModelConfig(**TINY, output="mask"), frontend).predicts_mask
    assert ModelConfig(output="mask").predicts_mask
