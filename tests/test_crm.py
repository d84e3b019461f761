"""Complex ratio masking (``model.output: crm``): config rules, the bounded mask and its
identity start, the oracle mask (the phase path recovers clean speech, a magnitude mask does
not), the compressed complex loss, denoising through the pipeline, a model file, and training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA, train_steps

from audioae.config import ConfigError, load_config, resolve_recipe
from audioae.features import build_frontend
from audioae.functional import apply_complex_mask
from audioae.losses import compressed_complex_mse, compressed_magnitude_mse
from audioae.modelfile import save_model_file
from audioae.models import build_model
from audioae.models.masks import (
    CRM_BOUND,
    CRM_OFFSET,
    complex_ratio_mask,
    mask_from_logits,
    post_filter,
    shape_mask,
    sharpen_mask,
)
from audioae.pipeline import Pipeline
from audioae.training import AutoEncoderModule, train

CRM = [
    "features.kind=log_magnitude",
    "features.n_fft=256",
    "features.hop_length=64",
    "model.output=crm",
    "model.strides=[]",
    "model.hidden_dim=24",
    "model.latent_dim=8",
    "model.n_res_blocks=1",
]


def _model(*sets: str, seed: int = 0):
    torch.manual_seed(seed)
    cfg = load_config(None, [*CRM, *sets])
    return build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate)), cfg


def _speech_and_noise(seconds: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A harmonic 'voice' with a moving pitch, and white noise at about 0 dB SNR, (1, time)."""
    t = torch.arange(int(16000 * seconds)) / 16000
    f0 = 140 + 30 * torch.sin(2 * math.pi * 1.5 * t)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / 16000
    clean = sum(torch.sin(k * phase) / k for k in range(1, 8)) * 0.2
    noise = torch.randn(t.shape, generator=torch.Generator().manual_seed(3))
    noise = noise * clean.square().mean().sqrt()
    return clean.unsqueeze(0), noise.unsqueeze(0)


def test_config_refuses_crm_without_an_stft_front_end_or_with_conv2d() -> None:
    with pytest.raises(ConfigError, match="model.output: crm.*features.kind"):
        load_config(None, ["model.output=crm", "features.kind=log_mel"])
    with pytest.raises(ConfigError, match="model.output: crm.*conv2d"):
        load_config(None, ["model.output=crm", "model.architecture=conv2d"])
    with pytest.raises(ConfigError, match="compressed_complex_mse"):
        load_config(
            None, ["features.kind=log_magnitude", "loss.reconstruction=compressed_complex_mse"]
        )
    with pytest.raises(ConfigError, match="loss.complex_mix"):
        load_config(None, ["loss.complex_mix=1.5"])
    cfg = load_config(None, ["model.output=crm", "features.kind=spectrogram"])
    assert cfg.model.predicts_mask and cfg.model.complex_mask
    assert not load_config(None, ["model.output=mask"]).model.complex_mask


def test_complex_mask_is_bounded_starts_at_the_identity_and_has_gradients() -> None:
    n = 5
    identity = complex_ratio_mask(torch.zeros(1, 2 * n, 3), n)
    assert torch.allclose(identity, torch.ones(1, n, 3, dtype=torch.complex64))
    huge = 1e4 * torch.randn(2, 2 * n, 50)
    magnitude = complex_ratio_mask(huge, n).abs()
    assert magnitude.max() <= CRM_BOUND * (1 + 1e-6) and magnitude.max() > 0.99 * CRM_BOUND
    # the phase is free: logits can rotate the mask to any angle
    angles = complex_ratio_mask(torch.randn(1, 2 * n, 400) * 5, n).angle()
    assert angles.min() < -3.0 and angles.max() > 3.0
    # finite gradient where the mask passes through 0
    logits = torch.zeros(1, 2 * n, 1)
    logits[:, :n] = -CRM_OFFSET
    logits.requires_grad_(True)
    complex_ratio_mask(logits, n).abs().sum().backward()
    assert torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match="10"):
        mask_from_logits(torch.zeros(1, n, 3), n, complex_mask=True)


def test_crm_model_shapes_and_reconstruction_is_the_masked_magnitude() -> None:
    model, _ = _model()
    model.eval()
    features = model.frontend(0.1 * torch.randn(2, 3000))  # (2, 129, frames)
    out = model(features)
    assert model.decoder.net[-1].out_channels == 2 * model.n_bins
    assert out.mask.is_complex() and out.mask.shape == features.shape
    expected = model.frontend.from_magnitude(out.mask.abs() * model.frontend.to_magnitude(features))
    assert torch.allclose(out.reconstruction, expected, atol=1e-5)
    decoded = model.decode(out.latent.sample, input_features=features)
    assert torch.allclose(decoded, out.reconstruction, atol=1e-5)
    assert torch.allclose(model.decode_mask(out.latent.sample), out.mask)


def test_oracle_complex_mask_recovers_the_clean_waveform_and_a_magnitude_mask_does_not() -> None:
    model, _ = _model()
    front = model.frontend
    clean, noise = _speech_and_noise()
    noisy = clean + noise
    spec, target = front.stft(noisy), front.stft(clean)
    oracle = target / spec  # the ideal complex ratio mask S / Y
    length = noisy.shape[-1]
    recovered = front.stft_params.istft(apply_complex_mask(spec, oracle), front.window, length)
    assert (recovered - clean).abs().max().item() < 1e-4
    magnitude_only = target.abs() / spec.abs()  # the ideal magnitude mask, noisy phase kept
    kept_phase = front.stft_params.istft(spec * magnitude_only, front.window, length)
    assert (kept_phase - clean).abs().max().item() > 1e-2
    # the blend: wet 0 is the input, wet 1 the masked spectrum
    assert torch.equal(apply_complex_mask(spec, oracle, wet=0.0), spec)
    with pytest.raises(ValueError, match="complex"):
        apply_complex_mask(spec.abs(), oracle)
    with pytest.raises(ValueError, match="broadcast"):
        apply_complex_mask(spec, oracle[..., :3, :])


def test_compressed_complex_mse_sees_the_phase_that_the_magnitude_loss_does_not() -> None:
    torch.manual_seed(0)
    ref = torch.randn(2, 33, 20, dtype=torch.complex64)
    assert compressed_complex_mse(ref, ref).item() < 1e-10
    rotated = ref * torch.exp(1j * torch.rand(2, 33, 20) * 3.0)
    assert compressed_magnitude_mse(rotated.abs(), ref.abs()).item() < 1e-10
    assert compressed_complex_mse(rotated, ref, complex_mix=0.0).item() < 1e-10
    assert compressed_complex_mse(rotated, ref).item() > 0.1
    # complex_mix = 0: the magnitude term alone, normalised as compressed_magnitude_mse
    scaled = ref * 0.5
    assert torch.allclose(
        compressed_complex_mse(scaled, ref, complex_mix=0.0),
        compressed_magnitude_mse(scaled.abs(), ref.abs()),
        rtol=1e-5,
    )
    # level-independent: the same relative error at another level gives the same loss
    assert torch.allclose(
        compressed_complex_mse(rotated * 7.0, ref * 7.0),
        compressed_complex_mse(rotated, ref),
        rtol=1e-3,  # the 1e-5 magnitude floor is not scaled
    )


def test_pipeline_denoise_keeps_the_length_is_chunk_invariant_and_starts_at_the_identity() -> None:
    model, cfg = _model()
    whole = Pipeline(model, cfg, device="cpu")
    torch.manual_seed(1)
    x = 0.2 * torch.randn(2, 16000 + 77)
    y = whole.denoise(x)
    assert y.shape == x.shape and (y - x).abs().max() > 1e-3
    chunked = Pipeline(model, cfg, device="cpu", chunk_seconds=0.3, margin_seconds=0.1)
    assert (chunked.denoise(x) - y).abs().max().item() < 1e-5
    assert torch.allclose(whole.denoise(x, wet=0.0), x, atol=1e-5)
    assert whole.denoise(x, phase="griffin-lim").shape == x.shape
    # zero last layer: the mask is 1 everywhere, denoising returns the input
    last = model.decoder.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    assert (whole.denoise(x) - x).abs().max().item() < 1e-4


def test_model_file_round_trip_denoises_the_same(tmp_path: Path) -> None:
    model, cfg = _model()
    path = save_model_file(tmp_path / "crm.safetensors", model, cfg)
    loaded = Pipeline.load(path, device="cpu")
    assert loaded.model.complex_mask and loaded.config.model.output == "crm"
    x = 0.2 * torch.randn(1, 5000)
    expected = Pipeline(model, cfg, device="cpu").denoise(x)
    assert torch.allclose(loaded.denoise(x), expected, atol=1e-6)


def test_complex_loss_overfits_one_batch() -> None:
    torch.set_num_threads(1)
    cfg = load_config(
        None,
        [
            *CRM,
            "data.denoise=true",
            "loss.reconstruction=compressed_complex_mse",
            "loss.si_sdr_weight=0.1",
        ],
    )
    torch.manual_seed(0)
    module = AutoEncoderModule(cfg)
    clean, noise = _speech_and_noise(0.5)
    batch = (clean + noise, clean)
    losses = train_steps(module, batch, 40, term="reconstruction")
    assert "si_sdr" in module._step(batch)[3].terms
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("output", ["crm", "mask"])
def test_denoising_step_computes_each_stft_once_and_the_same_loss(output: str) -> None:
    """The step shares the clean and noisy STFTs between features and waveform losses; its
    loss equals one computed from separate front-end calls, as before that sharing."""
    from audioae.losses import compute_loss

    cfg = load_config(
        None,
        [
            *CRM,
            f"model.output={output}",
            "data.denoise=true",
            "loss.reconstruction=compressed_complex_mse",
            "loss.si_sdr_weight=0.1",
        ],
    )
    torch.manual_seed(0)
    module = AutoEncoderModule(cfg).eval()
    clean, noise = _speech_and_noise(0.5)
    noisy = torch.cat([clean + noise, clean + 0.3 * noise])
    clean = torch.cat([clean, clean])
    fe = module.frontend
    calls = []
    params = type(fe.stft_params)

    def counting(name):
        original = getattr(params, name)

        def wrapped(self, wav, *args, **kwargs):
            calls.append(name)
            return original(self, wav, *args, **kwargs)

        return wrapped

    with torch.no_grad(), pytest.MonkeyPatch.context() as mp:
        for name in ("stft", "spectrogram"):
            mp.setattr(params, name, counting(name))
        _, _, _, result = module._step((noisy, clean))
    # clean, noisy and the estimate; separate front-end calls made 5
    assert calls == ["stft"] * 3
    with torch.no_grad():
        inputs = fe(noisy)
        out = module.model(inputs)
        est = module._masked_waveform(noisy, out.mask)
        ref = compute_loss(
            out,
            fe(clean),
            cfg.loss,
            step=0,
            bin_magnitude=fe.bin_magnitude,
            waveforms=(est, clean),
            spectra=(fe.stft(est), fe.stft(clean)),
        )
    assert torch.allclose(result.total, ref.total, rtol=1e-5, atol=1e-6)


def test_crm_recipe_trains_and_its_model_file_denoises(tmp_path: Path) -> None:
    speech = sorted((DATA / "speech").rglob("*.flac"))[:4]
    if len(speech) < 2:
        pytest.skip("data/speech not present")
    folder = tmp_path / "speech"
    folder.mkdir()
    for path in speech:
        wav, sr = sf.read(str(path), frames=16000 * 2, dtype="float32")
        sf.write(str(folder / f"{path.stem}.wav"), np.asarray(wav), sr)
    full = load_config(resolve_recipe("denoise_crm"))
    assert full.model.output == "crm" and full.loss.reconstruction == "compressed_complex_mse"
    cfg = load_config(
        resolve_recipe("denoise_crm"),
        [
            "features.n_fft=256",
            "features.hop_length=64",
            "model.hidden_dim=16",
            "model.latent_dim=8",
            "model.n_res_blocks=1",
            "data.segment_seconds=0.3",
            "data.batch_size=2",
            "data.samples_per_epoch=4",
            "data.val_fraction=0.5",
            "data.num_workers=0",
            "training.max_steps=3",
            "training.val_every=3",
            "training.warmup_steps=0",
            "training.audio_examples=1",
            "training.log_every=1",
        ],
    )
    result = train(cfg, folder, out_dir=tmp_path / "run", progress=False)
    assert result.steps == 3
    logged = (tmp_path / "run" / "csv").glob("version_*/metrics.csv")
    header = next(iter(logged)).read_text().splitlines()[0].split(",")
    assert {"train/reconstruction", "train/si_sdr", "val/reconstruction"} <= set(header)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"audio": 0})
    events.Reload()
    assert "val/example0/reconstruction" in events.Tags()["audio"]  # the CRM's own phase
    pipe = Pipeline.load(result.model_file, device="cpu")
    assert pipe.model.complex_mask
    x = 0.1 * torch.randn(1, 4321)
    y = pipe.denoise(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_sharpen_mask_raises_gains_up_to_one_and_keeps_the_phase() -> None:
    real = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert torch.allclose(sharpen_mask(real, 2.0), torch.tensor([0.0, 0.0625, 0.25, 1.0]))
    assert sharpen_mask(real, 1.0) is real
    gains = torch.tensor([0.0, 0.25, 0.5, 1.0, 1.5])
    phases = torch.tensor([0.3, -2.0, 1.0, 2.5, -0.7])
    sharp = sharpen_mask(torch.polar(gains, phases), 3.0)
    expected = torch.tensor([0.0, 0.25**3, 0.125, 1.0, 1.5])  # above 1: left alone
    assert torch.allclose(sharp.abs(), expected, atol=1e-6)
    assert torch.allclose(sharp[1:].angle(), phases[1:], atol=1e-5)
    for bad in (0.0, -0.5, 8.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="mask_exponent"):
            sharpen_mask(real, bad)


@pytest.mark.parametrize("exponent, beta", [(2.5, 0.0), (1.0, 0.2), (1.5, 0.2)])
@pytest.mark.parametrize("output", ["mask", "crm"])
def test_pipeline_mask_shaping_is_the_shaped_mask_applied_to_the_stft(
    output: str, exponent: float, beta: float
) -> None:
    """Offline ``denoise(mask_exponent=e, post_filter=b)`` equals ISTFT of the model's mask
    shaped by :func:`shape_mask` times the noisy STFT (for a magnitude mask: with the noisy
    phase), and differs from the plain output."""
    model, cfg = _model(f"model.output={output}")
    pipe = Pipeline(model, cfg, device="cpu")
    clean, noise = _speech_and_noise(0.5)
    x = clean + noise
    spec = pipe.frontend.stft(x)
    mask = model(pipe.frontend.from_magnitude(spec.abs())).mask.detach()
    expected = pipe.frontend.istft(spec * shape_mask(mask, exponent, beta), x.shape[-1])
    got = pipe.denoise(x, mask_exponent=exponent, post_filter=beta)
    assert (got - expected).abs().max().item() < 1e-5
    assert (got - pipe.denoise(x)).abs().max().item() > 1e-3
    with pytest.raises(ValueError, match="mask_exponent"):
        pipe.denoise(x, mask_exponent=0.0)
    with pytest.raises(ValueError, match="post_filter"):
        pipe.denoise(x, post_filter=-1.0)


def test_post_filter_is_percepnets_gain_curve_and_keeps_the_phase() -> None:
    """PercepNet's post-filter (Valin et al. 2020): ``g (1 + b) / (1 + b / sin^2(pi g / 2))``;
    values worked by hand for ``b = 0.02``: 1 -> 1, 0.5 -> 0.5 * 1.02 / 1.04, 0.1 -> about
    0.1 * 0.5617; 0 stays 0; above 1 (a complex mask's boost) the factor is the one of 1."""
    g = torch.tensor([0.0, 0.1, 0.5, 1.0], dtype=torch.float64)
    got = post_filter(g, 0.02)
    sin2_01 = math.sin(math.pi * 0.05) ** 2
    expected = torch.tensor(
        [0.0, 0.1 * 1.02 / (1 + 0.02 / sin2_01), 0.5 * 1.02 / 1.04, 1.0], dtype=torch.float64
    )
    assert torch.allclose(got, expected, atol=1e-12)
    assert abs(float(got[1]) / 0.1 - 0.5617) < 1e-3
    assert post_filter(g, 0.0) is g
    r = torch.rand(1000, dtype=torch.float64)
    assert bool((post_filter(r, 0.3) <= r).all())  # it only ever attenuates
    phases = torch.tensor([0.3, -2.0, 1.0, 2.5])
    gains = torch.tensor([0.2, 0.5, 1.0, 1.6])
    pf = post_filter(torch.polar(gains, phases), 0.05)
    assert torch.allclose(pf.angle(), phases, atol=1e-5)
    assert torch.allclose(pf.abs()[2:], gains[2:], atol=1e-6)  # factor 1 from a gain of 1 up
    assert bool((pf.abs()[:2] < gains[:2]).all())
    assert torch.allclose(shape_mask(g, 2.0, 0.02), post_filter(sharpen_mask(g, 2.0), 0.02))
    for bad in (-0.01, 1.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="post_filter"):
            post_filter(g, bad)


def test_a_mel_mask_model_keeps_the_feature_round_trip_and_an_stft_mask_skips_it() -> None:
    """A mask over mel bands is not a mask over STFT bins: its denoiser maps the masked mel
    magnitude back to the STFT (mel inversion) and keeps the noisy phase; a mask over STFT
    bins multiplies the STFT directly (tested above), the same values as the round trip."""
    torch.manual_seed(0)
    cfg = load_config(None, ["features.kind=log_mel", "features.n_fft=512", "model.output=mask"])
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
    pipe = Pipeline(model, cfg, device="cpu")
    assert not pipe.frontend.bins_are_stft_bins
    clean, noise = _speech_and_noise(0.5)
    x = clean + noise
    spec = pipe.frontend.stft(x)
    features = pipe.frontend.from_magnitude(spec.abs())
    mag = pipe.frontend.to_magnitude(model(features).reconstruction.detach())
    expected = pipe.frontend.istft(torch.polar(mag, spec.angle()), x.shape[-1])
    assert (pipe.denoise(x) - expected).abs().max().item() < 1e-5
    # for an STFT-bin front-end the direct product equals the round trip through the features
    stft_model, stft_cfg = _model("model.output=mask")
    stft_pipe = Pipeline(stft_model, stft_cfg, device="cpu")
    assert stft_pipe.frontend.bins_are_stft_bins
    spec = stft_pipe.frontend.stft(x)
    out = stft_model(stft_pipe.frontend.from_magnitude(spec.abs()))
    mag = stft_pipe.frontend.to_magnitude(out.reconstruction.detach())
    round_trip = stft_pipe.frontend.istft(torch.polar(mag, spec.angle()), x.shape[-1])
    assert (stft_pipe.denoise(x) - round_trip).abs().max().item() < 1e-5
