"""Causal conv1d models and the streaming denoiser: no look-ahead (future input leaves earlier
outputs bit-identical), block-by-block output equal to offline denoising of the whole signal,
and `audioae denoise --stream` (aligned output; a non-causal model refused in one line)."""

import random

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import CAUSAL_MASK_MODEL, tiny_model_file

from audioae.apps import denoise_file
from audioae.cli import main
from audioae.config import ConfigError, ModelConfig, load_config
from audioae.features import build_frontend
from audioae.modelfile import save_model_file
from audioae.models import build_model
from audioae.pipeline import Pipeline, PipelineError
from audioae.streaming_denoiser import StreamingDenoiser
from audioae.streaming_layers import fp16_kernel_available

TOLERANCE = 1e-5  # max abs difference (full scale 1.0) between streamed and offline output
CAUSAL = CAUSAL_MASK_MODEL
SMALL = [
    "model.hidden_dim=24",
    "model.latent_dim=8",
    "model.n_res_blocks=2",
    "model.dilations=[1,2,4]",
]


def _pipe(sets, n_fft=512, hop=128) -> Pipeline:
    torch.manual_seed(0)
    cfg = load_config(
        None, [*CAUSAL, *SMALL, f"features.n_fft={n_fft}", f"features.hop_length={hop}", *sets]
    )
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
    return Pipeline(model, cfg, device="cpu")


@pytest.mark.parametrize("causal", [True, False])
def test_causal_model_never_looks_ahead(causal):
    pipe = _pipe([f"model.causal={str(causal).lower()}"])
    x = torch.randn(2, pipe.model.n_bins, 60)
    changed = x.clone()
    changed[..., 40:] += torch.randn(2, pipe.model.n_bins, 20)
    with torch.inference_mode():
        before = pipe.model(x).reconstruction
        after = pipe.model(changed).reconstruction
    if causal:
        assert torch.equal(before[..., :40], after[..., :40])  # bit-identical
    else:  # the same check catches a model with look-ahead
        assert not torch.equal(before[..., :40], after[..., :40])
    assert not torch.equal(before[..., 40:], after[..., 40:])


def test_causal_config_refuses_strides_and_other_architectures():
    with pytest.raises(ConfigError, match="model.causal"):
        ModelConfig(causal=True, strides=[2])
    with pytest.raises(ConfigError, match="model.causal"):
        ModelConfig(architecture="conv2d", causal=True, strides=[])
    assert ModelConfig(causal=True, strides=[]).causal


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize(
    "n_fft, hop, channels, length",
    [
        (512, 128, 1, 16000 + 77),
        (512, 128, 2, 9000),
        (256, 64, 1, 5000),
        (512, 128, 1, 300),
        (512, 160, 1, 4000),  # n_fft not a multiple of the hop
        (256, 160, 1, 3000),  # hop > n_fft / 2
    ],
)
def test_streaming_equals_offline_for_random_block_sizes(n_fft, hop, channels, length, packed):
    _check_streaming_equals_offline(_pipe([], n_fft, hop), channels, length, packed)


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize(
    "n_fft, hop, channels, length, wet",
    [
        (512, 128, 1, 16000 + 77, 1.0),
        (256, 64, 2, 5000, 0.6),
        (512, 160, 1, 4000, 1.0),  # n_fft not a multiple of the hop
    ],
)
def test_complex_mask_streaming_equals_offline(n_fft, hop, channels, length, wet, packed):
    """A causal complex-ratio-mask model (``model.output: crm``) streams as it denoises
    offline; packed, its last layer gives ``2 * n_bins`` logits."""
    pipe = _pipe(["model.output=crm"], n_fft, hop)
    assert pipe.model.complex_mask
    _check_streaming_equals_offline(pipe, channels, length, packed, wet)


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("output, exponent", [("mask", 1.7), ("crm", 2.0), ("mask", 0.6)])
def test_mask_exponent_streams_as_offline(output, exponent, packed):
    """``mask_exponent`` sharpens the mask the same way block by block as offline, and it
    changes the output (the comparison is not of two unsharpened runs)."""
    pipe = _pipe([f"model.output={output}"])
    _check_streaming_equals_offline(pipe, 1, 6000, packed, 0.8, exponent)
    x = 0.1 * torch.randn(1, 6000)
    assert (pipe.denoise(x, mask_exponent=exponent) - pipe.denoise(x)).abs().max() > 1e-4


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("output", ["mask", "crm"])
def test_post_filter_streams_as_offline(output, packed):
    """``post_filter`` shapes the mask the same way block by block as offline (with an
    exponent too), and it changes the output."""
    pipe = _pipe([f"model.output={output}"])
    _check_streaming_equals_offline(pipe, 1, 6000, packed, 0.8, 1.3, 0.1)
    x = 0.1 * torch.randn(1, 6000)
    assert (pipe.denoise(x, post_filter=0.1) - pipe.denoise(x)).abs().max() > 1e-4
    with pytest.raises(ValueError, match="post_filter"):
        StreamingDenoiser(pipe, post_filter=2.0)


def test_mask_exponent_out_of_range_is_refused():
    pipe = _pipe([])
    for bad in (0.0, -1.0, 9.0, float("nan")):
        with pytest.raises(ValueError, match="mask_exponent"):
            StreamingDenoiser(pipe, mask_exponent=bad)


def _check_streaming_equals_offline(
    pipe: Pipeline,
    channels: int,
    length: int,
    packed: bool,
    wet: float = 1.0,
    mask_exponent: float = 1.0,
    post_filter: float = 0.0,
) -> None:
    hop = pipe.hop_length
    torch.manual_seed(1)
    rng = random.Random(length)
    t = torch.arange(length) / 16000
    x = 0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.1 * torch.randn(channels, length)
    offline = pipe.denoise(x, wet=wet, mask_exponent=mask_exponent, post_filter=post_filter)
    stream = StreamingDenoiser(
        pipe,
        channels=channels,
        packed=packed,
        wet=wet,
        mask_exponent=mask_exponent,
        post_filter=post_filter,
    )
    assert stream.packed == packed
    pieces, given = [], 0
    while given < length:  # block sizes that divide the hop, and many that do not
        size = rng.choice([hop, 2 * hop, 3 * hop, 1, 37, 100, 250, 1000])
        piece = stream.process(x[:, given : given + size])
        given = min(given + size, length)
        pieces.append(piece)
        # after N samples, output is final up to N - delay (whole hops)
        produced = sum(p.shape[-1] for p in pieces)
        assert produced <= max(0, given - stream.delay)
        assert produced >= max(0, given - stream.delay - hop)
    pieces.append(stream.flush())
    streamed = torch.cat(pieces, dim=-1)
    assert streamed.shape == offline.shape
    assert (streamed - offline).abs().max().item() < TOLERANCE
    assert offline.abs().max().item() > 1e-3  # the comparison is not between silences
    assert (offline - x).abs().max().item() > 1e-3  # the model does change the signal
    # a flushed stream takes nothing more until reset
    with pytest.raises(RuntimeError, match=r"process: the stream was flushed; call reset\(\)"):
        stream.process(x[:, :hop])
    with pytest.raises(RuntimeError, match=r"flush: the stream was flushed"):
        stream.flush()
    stream.reset()  # a second stream from the same object gives the same output
    again = torch.cat([stream.process(x), stream.flush()], dim=-1)
    assert (again - offline).abs().max().item() < TOLERANCE


def test_float16_model_file_streams_packed_as_offline(tmp_path):
    """A model stored as float16 (as the shipped ones): packed, its products with float16
    weights where this PyTorch has the kernel, the output still that of offline denoising,
    with ``wet`` blending as offline."""
    pipe = _pipe([])
    path = save_model_file(tmp_path / "m.safetensors", pipe.model, pipe.config, dtype=torch.float16)
    loaded = Pipeline.load(path, device="cpu")
    torch.manual_seed(2)
    x = 0.2 * torch.randn(1, 7000)
    for wet in (1.0, 0.4):
        stream = StreamingDenoiser(loaded, wet=wet)
        assert stream.packed
        assert stream._net.uses_fp16 == fp16_kernel_available()
        block = 256  # 16 ms
        pieces = [stream.process(x[:, i : i + block]) for i in range(0, x.shape[-1], block)]
        streamed = torch.cat([*pieces, stream.flush()], dim=-1)
        offline = loaded.denoise(x, wet=wet)
        assert (streamed - offline).abs().max().item() < TOLERANCE
    assert (streamed - x).abs().max().item() > 1e-3  # the model does change the signal


def test_streaming_states_latency_and_leaves_the_pipeline_model_alone():
    pipe = _pipe([])
    stream = StreamingDenoiser(pipe)
    assert stream.delay == 512 - 128
    assert stream.latency_seconds == pytest.approx(0.032)
    stream.process(torch.randn(1, 1000))
    # the pipeline's own model still pads with zeros offline (its caches are untouched)
    x = torch.randn(1, 4000) * 0.1
    assert torch.equal(pipe.denoise(x), pipe.denoise(x))


def test_streaming_refuses_a_model_with_look_ahead():
    with pytest.raises(PipelineError, match="causal"):
        StreamingDenoiser(_pipe(["model.causal=false"]))
    with pytest.raises(ValueError, match="block"):
        StreamingDenoiser(_pipe([]), channels=2).process(torch.zeros(1, 128))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    causal = [
        "features.kind=log_magnitude",
        "model.output=mask",
        "model.causal=true",
        "model.strides=[]",
    ]
    return {
        "causal": tiny_model_file(root / "causal.safetensors", causal),
        "offline": tiny_model_file(
            root / "offline.safetensors", ["features.kind=log_magnitude", "model.output=mask"]
        ),
    }


@pytest.mark.parametrize("sample_rate, channels", [(16000, 1), (44100, 2)])
def test_cli_stream_output_is_aligned_with_offline(
    tmp_path, model_files, sample_rate, channels, capsys
):
    rng = np.random.default_rng(0)
    n = int(1.3 * sample_rate)
    t = np.arange(n) / sample_rate
    x = 0.3 * np.sin(2 * np.pi * 300 * t)[:, None] + 0.05 * rng.standard_normal((n, channels))
    source = tmp_path / "in.wav"
    sf.write(source, x.astype(np.float32), sample_rate, subtype="FLOAT")
    out = tmp_path / "out.wav"
    code = main(
        ["denoise", str(model_files["causal"]), str(source), "-o", str(out), "--stream", "--quiet"]
    )
    assert code == 0
    streamed, sr = sf.read(out, dtype="float32", always_2d=True)
    pipe = Pipeline.load(model_files["causal"], device="cpu")
    offline_path = denoise_file(pipe, source, tmp_path / "offline.wav")
    offline, _ = sf.read(offline_path, dtype="float32", always_2d=True)
    assert sr == sample_rate and streamed.shape == offline.shape == (n, channels)
    assert np.abs(streamed - offline).max() < 1e-4  # resampled both ways at 44.1 kHz


def test_cli_stream_refuses_a_model_with_look_ahead(tmp_path, model_files, capsys):
    source = tmp_path / "in.wav"
    sf.write(source, np.zeros(4000, np.float32), 16000)
    code = main(
        [
            "denoise",
            str(model_files["offline"]),
            str(source),
            "-o",
            str(tmp_path / "o.wav"),
            "--stream",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "causal" in err[0]
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("stream", [False, True])
def test_cli_mask_exponent_is_passed_through(tmp_path, model_files, stream):
    """``audioae denoise --mask-exponent`` writes what ``denoise_file(mask_exponent=...)``
    does, offline and with ``--stream``, and differs from the unsharpened output."""
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal((16000, 1))).astype(np.float32)
    source = tmp_path / "in.wav"
    sf.write(source, x, 16000, subtype="FLOAT")
    model = model_files["causal"]
    extra = ["--stream"] if stream else []
    out = tmp_path / "out.wav"
    # on CPU like the reference: CUDA convolutions round differently (TF32 in cuDNN)
    argv = [
        "denoise",
        str(model),
        str(source),
        "-o",
        str(out),
        "--quiet",
        "--device",
        "cpu",
        *extra,
    ]
    assert main([*argv, "--mask-exponent", "2"]) == 0
    pf_out = tmp_path / "pf.wav"
    assert main([*argv[:4], str(pf_out), *argv[5:], "--post-filter", "0.3"]) == 0
    pipe = Pipeline.load(model, device="cpu")
    ref = denoise_file(pipe, source, tmp_path / "ref.wav", mask_exponent=2.0, stream=stream)
    plain = denoise_file(pipe, source, tmp_path / "plain.wav", stream=stream)
    got, ref_wav, plain_wav = (sf.read(p, dtype="float32")[0] for p in (out, ref, plain))
    assert np.abs(got - ref_wav).max() < 1e-6
    assert np.abs(got - plain_wav).max() > 1e-4
    pf_ref = denoise_file(pipe, source, tmp_path / "pf_ref.wav", post_filter=0.3, stream=stream)
    pf_got, pf_ref_wav = (sf.read(p, dtype="float32")[0] for p in (pf_out, pf_ref))
    assert np.abs(pf_got - pf_ref_wav).max() < 1e-6
    assert np.abs(pf_got - plain_wav).max() > 1e-4
