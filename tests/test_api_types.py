"""Python API arguments of the wrong type, refused up front with the argument's name; and an
``.aae`` file whose latent the model cannot decode, blamed on that file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from aae_craft import body_of, with_envelope
from conftest import CAUSAL_MASK_MODEL, TINY_MODEL, sine, tiny_model_file

from audioae.apps import decode_file, encode_file
from audioae.cli import main
from audioae.codec import CodecError, encode_latent, parse_header
from audioae.config import load_config
from audioae.features import build_frontend
from audioae.models import build_model
from audioae.pipeline import Pipeline
from audioae.pipeline_generation import check_integer
from audioae.streaming_denoiser import StreamingDenoiser

NOT_WHOLE = [2.5, 3.0, True, "3", None]


def _pipe(overrides: list[str]) -> Pipeline:
    torch.manual_seed(0)
    cfg = load_config(None, [*TINY_MODEL, *overrides])
    model = build_model(cfg.model, build_frontend(cfg.features, cfg.audio.sample_rate))
    return Pipeline(model, cfg, device="cpu")


@pytest.fixture(scope="module")
def vae() -> Pipeline:
    return _pipe(["model.bottleneck=gaussian"])


@pytest.fixture(scope="module")
def wav() -> torch.Tensor:
    return torch.from_numpy(sine(seconds=0.25))


@pytest.mark.parametrize("value", NOT_WHOLE)
def test_check_integer_refuses_what_is_not_a_whole_number(value) -> None:
    with pytest.raises(ValueError, match=rf"^count must be an integer, got {value!r}$"):
        check_integer("count", value)


def test_check_integer_takes_numpy_integers_and_bounds_them() -> None:
    assert check_integer("count", np.int64(3), minimum=1) == 3
    assert type(check_integer("count", np.uint8(3))) is int
    with pytest.raises(ValueError, match=r"^need count >= 2, got 1$"):
        check_integer("count", np.int32(1), minimum=2)


@pytest.mark.parametrize("steps", NOT_WHOLE)
def test_interpolate_refuses_a_count_of_steps_that_is_not_whole(vae, wav, steps) -> None:
    with pytest.raises(ValueError, match=rf"^steps must be an integer, got {steps!r}$"):
        vae.interpolate(wav, wav, steps=steps)


def test_interpolate_takes_a_numpy_count(vae, wav) -> None:
    result = vae.interpolate(wav, wav, steps=np.int64(3))
    assert len(result.steps) == 3 and result.alphas == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("n", NOT_WHOLE)
def test_variations_and_sample_refuse_a_count_that_is_not_whole(vae, wav, n) -> None:
    with pytest.raises(ValueError, match=rf"^n must be an integer, got {n!r}$"):
        vae.variations(wav, n)
    with pytest.raises(ValueError, match=rf"need a whole n >= 1 .*got n={n!r},"):
        vae.sample(n, 0.25)


def test_variations_and_sample_take_numpy_counts(vae, wav) -> None:
    assert vae.variations(wav, np.int64(2)).shape == (2, wav.shape[-1])
    assert vae.sample(np.int32(2), 0.25).shape == (2, 4000)


@pytest.mark.parametrize("length", [2.5, True, None, "4000"])
def test_decode_refuses_a_length_that_is_not_whole(vae, wav, length) -> None:
    latent = vae.encode(wav)
    with pytest.raises(ValueError, match=rf"^length: {length!r} samples; "):
        vae.decode(latent, length)
    assert vae.decode(latent, np.int64(wav.shape[-1])).shape == wav.shape


@pytest.mark.parametrize("total", [2.5, True])
def test_plan_and_latent_frames_refuse_a_length_that_is_not_whole(vae, total) -> None:
    with pytest.raises(ValueError, match=rf"^total must be an integer, got {total!r}$"):
        vae.plan(total)
    with pytest.raises(ValueError, match=rf"^length must be an integer, got {total!r}$"):
        vae.num_latent_frames(total)
    assert vae.plan(np.int64(4000)) == vae.plan(4000)
    assert vae.num_latent_frames(np.int64(4000)) == vae.num_latent_frames(4000)


@pytest.fixture(scope="module")
def causal() -> Pipeline:
    return _pipe(CAUSAL_MASK_MODEL)


@pytest.mark.parametrize("channels", [1.5, 2.0, True, "2"])
def test_streaming_denoiser_refuses_a_channel_count_that_is_not_whole(causal, channels) -> None:
    with pytest.raises(ValueError, match=rf"^channels must be an integer, got {channels!r}$"):
        StreamingDenoiser(causal, channels=channels)


def test_streaming_denoiser_takes_a_numpy_channel_count(causal) -> None:
    stream = StreamingDenoiser(causal, channels=np.int64(2))
    assert stream.channels == 2 and type(stream.channels) is int
    out = stream.process(torch.zeros(2, 1024))
    assert out.shape[0] == 2


def test_encode_latent_refuses_a_channel_count_that_is_not_whole() -> None:
    with pytest.raises(ValueError, match=r"^channels must be an integer, got 1\.5$"):
        encode_latent(
            torch.zeros(1, 4, 3),
            bits=6,
            model_hash=b"\x00" * 16,
            sample_rate=16000,
            length=600,
            channels=1.5,
        )


# --- an .aae file whose stored value range is beyond anything the model decodes ------------


def _with_float32_range(data: bytes, lo: float, hi: float) -> bytes:
    """``data`` (a well-formed ``.aae``) with every dimension's range stored as float32
    ``[lo, hi]`` (the flag set, the size field and CRC32 rewritten)."""
    header = parse_header(data)
    dims, body = header.latent_dim, bytearray(body_of(data))
    width = 4 if header.float32_params else 2
    prefix = len(data) - 4 - len(body)  # magic, version, size field
    at = header.header_bytes - 2 * dims * width - prefix  # where lo starts in the body
    body[16] |= 0x01  # flags: lo/hi stored as float32
    ranges = np.full(dims, lo, "<f4").tobytes() + np.full(dims, hi, "<f4").tobytes()
    return with_envelope(bytes(body[:at]) + ranges + bytes(body[at + 2 * dims * width :]))


@pytest.fixture(scope="module")
def overflowing(tmp_path_factory) -> tuple[Path, Path]:
    """A model file, and an ``.aae`` of it whose range spans nearly all of float32."""
    root = tmp_path_factory.mktemp("overflow")
    model = tiny_model_file(root / "model.safetensors")
    sf.write(str(root / "tone.wav"), sine(seconds=0.5)[0], 16000)
    encode_file(Pipeline.load(model, device="cpu"), root / "tone.wav", root / "tone.aae", bits=6)
    data = _with_float32_range((root / "tone.aae").read_bytes(), -3.4e38, 3.4e38)
    (root / "huge.aae").write_bytes(data)
    return model, root / "huge.aae"


def test_decoding_an_aae_the_model_overflows_on_names_the_aae(overflowing, tmp_path) -> None:
    model, source = overflowing
    target = tmp_path / "out.wav"
    with pytest.raises(CodecError) as caught:
        decode_file(Pipeline.load(model, device="cpu"), source, target)
    message = str(caught.value)
    assert message.startswith(f"{source}: the model decodes its latent to ")
    assert "NaN or Inf" in message and "-3.4e+38 to 3.4e+38" in message
    assert "out.wav" not in message and not target.exists()


def test_cli_decode_reports_the_aae_not_the_output(overflowing, tmp_path, capsys) -> None:
    model, source = overflowing
    target = tmp_path / "out.wav"
    assert main(["decode", str(model), str(source), "-o", str(target)]) == 1
    shown = capsys.readouterr()
    lines = (shown.out + shown.err).splitlines()
    (line,) = [line for line in lines if line.startswith("  failed ")]  # the job summary
    assert line.startswith(f"  failed {source}: the model decodes its latent to ")
    assert "out.wav" not in line and not target.exists()
