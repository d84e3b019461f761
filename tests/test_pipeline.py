"""Pipeline on tensors: shapes, chunked = whole-file, kept phase, interpolation, sampling."""

import pytest
import torch
from conftest import DATA

from audioae.config import load_config
from audioae.features import build_frontend
from audioae.modelfile import save_model_file
from audioae.models import build_model
from audioae.pipeline import Pipeline, PipelineError, slerp


def _pipe(overrides=(), **kwargs) -> Pipeline:
    torch.manual_seed(0)
    cfg = load_config(
        None,
        [
            "features.n_fft=256",
            "features.hop_length=64",
            "features.n_mels=32",
            "model.latent_dim=8",
            "model.hidden_dim=32",
            "phase.n_iter=8",
            *overrides,
        ],
    )
    return Pipeline(
        build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate)),
        cfg,
        device="cpu",
        **kwargs,
    )


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    from audioae.audio import find_audio_files, load_audio

    files = find_audio_files(DATA / "speech" / "nl")[:2]
    return torch.cat([load_audio(f, sample_rate=16000)[0] for f in files], dim=-1)[:, : 16000 * 4]


@pytest.mark.parametrize("arch", ["dense", "conv1d", "conv2d"])
def test_encode_decode_shapes_for_any_length(arch):
    pipe = _pipe([f"model.architecture={arch}", "model.bottleneck=gaussian"])
    for length in (1, 100, 1000, 4097, 12345):
        wav = torch.randn(2, length) * 0.1
        z = pipe.encode(wav)
        assert z.shape == (2, 8, pipe.num_latent_frames(length))
        assert pipe.decode(z, length).shape == (2, length)


@pytest.mark.parametrize("arch", ["conv1d", "conv2d"])
def test_chunked_equals_whole_file(arch, speech):
    """The contract of flat-memory processing: chunking changes nothing beyond float rounding."""
    chunked = _pipe([f"model.architecture={arch}"], chunk_seconds=0.5, margin_seconds=0.25)
    whole = _pipe([f"model.architecture={arch}"], chunk_seconds=1000.0)
    torch.testing.assert_close(chunked.encode(speech), whole.encode(speech), atol=1e-5, rtol=0)
    torch.testing.assert_close(chunked.denoise(speech), whole.denoise(speech), atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["denoise", "denoise_stream", "codec", "timbre"])
def test_chunked_equals_whole_file_for_the_shipped_models(name, speech):
    """A margin_seconds below a model's receptive field is raised to it: the causal denoiser
    (dilations up to 27, about 1.3 s of context) with 0.1 s asked for still chunks exactly."""
    from audioae.models.layers import time_context_frames

    chunked = Pipeline.load(name, device="cpu", chunk_seconds=1.0, margin_seconds=0.1)
    whole = Pipeline.load(name, device="cpu", chunk_seconds=1000.0)
    context = time_context_frames(chunked.model) * chunked.hop_length + chunked.frontend.n_fft
    assert chunked.margin_samples == max(context, chunked.align, 1600)
    x = speech[:, : 16000 * 3]
    if chunked.model.predicts_mask:
        out, ref = chunked.denoise(x), whole.denoise(x)
    else:
        out, ref = chunked.encode(x), whole.encode(x)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_denoise_dry_mix_returns_the_input(speech):
    pipe = _pipe(chunk_seconds=1.0)
    out = pipe.denoise(speech, wet=0.0)
    torch.testing.assert_close(out, speech, atol=1e-4, rtol=0)


def test_denoise_rejects_bad_arguments(speech):
    pipe = _pipe()
    with pytest.raises(ValueError, match="phase"):
        pipe.denoise(speech, phase="magic")
    with pytest.raises(ValueError, match="wet"):
        pipe.denoise(speech, wet=1.5)
    with pytest.raises(ValueError, match="NaN"):
        pipe.denoise(torch.full((1, 1000), float("nan")))


def test_griffin_lim_denoise_keeps_length(speech):
    pipe = _pipe(chunk_seconds=1.0, margin_seconds=0.25)
    assert pipe.denoise(speech, phase="griffin-lim").shape == speech.shape


def test_sampling_needs_a_vae():
    with pytest.raises(PipelineError, match="variational"):
        _pipe().sample(2, 0.5)
    vae = _pipe(["model.bottleneck=gaussian"])
    wavs = vae.sample(3, 0.5, generator=torch.Generator().manual_seed(1))
    assert wavs.shape == (3, 8000) and torch.isfinite(wavs).all()


def test_interpolation_endpoints_are_the_reconstructions(speech):
    pipe = _pipe(["model.bottleneck=gaussian"])
    a, b = speech[:, :8000], speech[:, 8000:14000]  # different lengths: B is stretched to A
    result = pipe.interpolate(a, b, steps=4)
    assert len(result.steps) == 4 and result.alphas == [0.0, 1 / 3, 2 / 3, 1.0]
    assert all(s.shape == (8000,) for s in result.steps) and result.morph.shape == (8000,)
    torch.testing.assert_close(result.steps[0], pipe.reconstruct(a)[0], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="steps"):
        pipe.interpolate(a, b, steps=1)


def test_slerp_endpoints_and_norm():
    a, b = torch.randn(1, 8, 5), torch.randn(1, 8, 5)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b, atol=1e-5, rtol=1e-5)
    mid = slerp(a, b, 0.5)
    torch.testing.assert_close(
        mid.norm(dim=1), 0.5 * (a.norm(dim=1) + b.norm(dim=1)), atol=1e-5, rtol=1e-5
    )


def test_load_from_model_file_gives_identical_outputs(tmp_path, speech):
    pipe = _pipe(["model.bottleneck=gaussian"])
    path = save_model_file(tmp_path / "m.safetensors", pipe.model, pipe.config)
    loaded = Pipeline.load(path, device="cpu")
    torch.testing.assert_close(loaded.encode(speech), pipe.encode(speech), atol=0, rtol=0)
    assert len(loaded.model_hash) == 16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_pipeline_matches_cpu(speech):
    cpu = _pipe()
    gpu = Pipeline(cpu.model, cpu.config, device="cuda")
    torch.testing.assert_close(
        gpu.encode(speech).cpu(), _pipe().encode(speech), atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("kind", ["log_magnitude", "spectrogram", "log_mel"])
def test_reconstruct_with_the_input_phase_for_a_feature_model(kind, speech):
    """A plain autoencoder (no mask) with ``phase="input"`` decodes its features and keeps the
    input's phase, whatever the front-end: the masked-STFT shortcut of mask models with
    STFT-bin front-ends is not taken (it once was for ``log_magnitude``, and failed)."""
    pipe = _pipe([f"features.kind={kind}"])
    assert not pipe.masks_the_stft
    wav = speech[..., :8000]
    spec = pipe.frontend.stft(wav)
    with torch.inference_mode():
        out = pipe.model(pipe.frontend.from_magnitude(spec.abs()))
    mag = pipe.frontend.to_magnitude(out.reconstruction)
    expected = pipe.frontend.istft(torch.polar(mag, spec.angle()), wav.shape[-1])
    got = pipe.reconstruct(wav, phase="input")
    assert got.shape == wav.shape
    assert (got - expected).abs().max().item() < 1e-4


def test_inputs_the_pipeline_cannot_take_are_refused_in_one_line():
    """Integer PCM (it would be taken as amplitudes of +-32767), complex or empty tensors, and
    float64 samples beyond float32's range each say what is wrong; a latent's decode refuses
    a length it does not cover and non-finite values."""
    pipe = Pipeline.load("codec", device="cpu")
    for bad, message in (
        (
            torch.zeros(1, 1600, dtype=torch.int16),
            "got torch.int16 .*int16 PCM / 32768",
        ),
        (torch.zeros(1, 1600, dtype=torch.complex64), "got torch.complex64"),
        (torch.zeros(1, 0), r"empty waveform \(shape \(1, 0\)\)"),
        (torch.zeros(0, 1600), r"empty waveform \(shape \(0, 1600\)\)"),
        (torch.full((1, 1600), 1e300, dtype=torch.float64), "beyond float32's range"),
    ):
        with pytest.raises(ValueError, match=message):
            pipe.encode(bad)
        with pytest.raises(ValueError, match=message):
            pipe.reconstruct(bad)
    z = pipe.encode(torch.randn(1, 16000) * 0.1)
    covered = z.shape[-1] * pipe.align
    assert pipe.decode(z, covered).shape == (1, covered)
    for length in (0, covered + 1, 160000, 2.5):
        with pytest.raises(
            ValueError, match=rf"length: {length!r} samples; .* cover 1 to {covered}"
        ):
            pipe.decode(z, length)
    with pytest.raises(ValueError, match="latent contains NaN"):
        pipe.decode(torch.full_like(z, float("nan")), 16000)
    with pytest.raises(ValueError, match="at least one frame"):
        pipe.decode(z[..., :0], 16000)
    timbre = Pipeline.load("timbre", device="cpu")
    with pytest.raises(ValueError, match="shorter than one sample"):
        timbre.sample(1, 1e-6)
    with pytest.raises(ValueError, match="finite seconds"):
        timbre.sample(1, float("nan"))
    with pytest.raises(ValueError, match="whole n"):
        timbre.sample(1.5, 0.5)


def test_mask_shaping_needs_a_mask_model():
    codec = Pipeline.load("codec", device="cpu")
    x = torch.randn(1, 8000) * 0.1
    assert codec.denoise(x).shape == x.shape  # a reconstruction with the noisy phase
    for kwargs in ({"mask_exponent": 2.0}, {"post_filter": 0.02}):
        with pytest.raises(PipelineError, match="shape a mask; model .* predicts none"):
            codec.denoise(x, **kwargs)


def test_settings_that_would_fail_later_are_refused_at_load():
    for kwargs in ({"chunk_seconds": float("inf")}, {"margin_seconds": float("nan")}):
        with pytest.raises(ValueError, match="must be a finite number of seconds"):
            Pipeline.load("codec", device="cpu", **kwargs)
    if not torch.backends.mps.is_available():
        with pytest.raises(PipelineError, match="'mps': Apple's MPS is not available here"):
            Pipeline.load("codec", device="mps")


def test_pipeline_takes_the_model_over_in_eval_mode():
    """Documented (Pipeline docstring): the caller's model object is the pipeline's, moved to
    the device and switched to eval mode in place; train() gives training mode back."""
    torch.manual_seed(0)
    cfg = load_config(None, ["features.n_fft=256", "features.hop_length=64", "model.latent_dim=8"])
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate)).train()
    pipe = Pipeline(model, cfg, device="cpu")
    assert pipe.model is model and not model.training
    assert not any(m.training for m in model.modules())
    model.train()  # the caller can resume training with the same object
    assert model.training


def test_outputs_are_inference_tensors_that_clone_into_autograd(speech):
    """Documented (Pipeline docstring): outputs come from torch.inference_mode, so
    requires_grad_ refuses them; a clone taken outside inference mode joins a graph."""
    pipe = _pipe(["model.bottleneck=gaussian"])
    x = speech[:, :4000]
    for out in (pipe.encode(x), pipe.reconstruct(x), pipe.denoise(x)):
        assert out.is_inference()
        with pytest.raises(RuntimeError, match="inference tensor"):
            out.requires_grad_()
        usable = out.clone().requires_grad_()
        assert not usable.is_inference()
        usable.square().sum().backward()
        torch.testing.assert_close(usable.grad, 2 * out)


@pytest.mark.parametrize("name", ["codec", "denoise"])
def test_clips_stacked_as_channels_are_processed_as_one_by_one(name, speech):
    """The README's batch: equal-length mono clips stacked as ``(clips, time)`` give each
    clip's own result (learned phase / kept phase: deterministic paths), to 1e-5."""
    pipe = Pipeline.load(name, device="cpu")
    gen = torch.Generator().manual_seed(1)
    clips = speech[:1, :8000] + 0.02 * torch.randn(3, 8000, generator=gen)
    if name == "codec":
        run = lambda x: pipe.reconstruct(x, phase="learned")  # noqa: E731
    else:
        run = pipe.denoise
    batch = run(clips)
    assert batch.shape == clips.shape
    for i in range(3):
        torch.testing.assert_close(batch[i : i + 1], run(clips[i : i + 1]), rtol=0, atol=1e-5)
