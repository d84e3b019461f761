"""The .aae latent file: round trip within the quantiser step, sizes, and every error path."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioae.codec import (
    MAGIC,
    CodecError,
    bitrate_kbps,
    decode_latent,
    encode_latent,
    parse_header,
    pcm16_ratio,
    read_aae,
    write_aae,
)
from audioae.fileio import OutputExistsError
from audioae.latent_entropy import quantise

HASH = bytes(range(16))
OTHER_HASH = bytes(range(1, 17))


def _latent(channels=1, dims=8, frames=20, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scale = torch.rand(dims, 1, generator=g) * 3 + 0.1
    offset = torch.randn(dims, 1, generator=g)
    noise = torch.randn(channels, dims, frames, generator=g)
    return (noise.cumsum(-1) * 0.3 + noise) * scale + offset  # correlated in time


def _encode(x: torch.Tensor, bits: int = 8, **kw) -> bytes:
    args = dict(bits=bits, model_hash=HASH, sample_rate=16000, length=4096, channels=x.shape[0])
    args.update(kw)
    return encode_latent(x, **args)


def _recrc(data: bytes) -> bytes:
    body = data[:-4]
    return body + zlib.crc32(body).to_bytes(4, "little")


def _small_file() -> bytes:
    return _encode(_latent(dims=3, frames=5), bits=4)


@pytest.mark.parametrize("shape", [(1, 32, 16), (2, 8, 37), (1, 5, 1)])
@pytest.mark.parametrize("bits", [1, 4, 8, 12, 16])
def test_round_trip_error_within_half_step(shape, bits):
    x = _latent(*shape, seed=bits)
    data = _encode(x, bits=bits, length=12345)
    out = decode_latent(data, model_hash=HASH)
    h = out.header
    assert out.latent.shape == x.shape and out.latent.dtype == torch.float32
    assert (h.channels, h.latent_dim, h.latent_frames) == shape
    assert (h.sample_rate, h.length, h.bits, h.model_hash) == (16000, 12345, bits, HASH)
    assert h.total_bytes == len(data) == h.header_bytes + h.payload_bytes + 4
    step = torch.from_numpy(h.step).float()[None, :, None]
    assert (step > 0).all() or shape[2] == 1  # one frame: zero-width ranges, exact
    # stored range covers the data; the error is half a step plus float32 rounding
    bound = step / 2 * (1 + 1e-9) + 2.0**-23 * x.abs()
    assert ((out.latent - x).abs() <= bound).all()
    assert (h.lo <= x.amin(dim=(0, 2)).double().numpy()).all()
    assert (x.amax(dim=(0, 2)).double().numpy() <= h.hi).all()


def test_more_bits_smaller_error_larger_file():
    x = _latent(1, 16, 64)
    sizes, errors = [], []
    for bits in (2, 4, 6, 8, 12):
        data = _encode(x, bits=bits)
        sizes.append(len(data))
        errors.append((decode_latent(data).latent - x).pow(2).mean().item())
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert errors == sorted(errors, reverse=True)
    # uniform quantiser: MSE ~ step^2 / 12 falls ~4x per extra bit
    assert errors[-1] < errors[0] * 4.0**-9


def test_constant_dimension_and_empty_latent_round_trip():
    x = _latent(1, 4, 10)
    x[0, 2] = 0.1  # not representable in float16: lo/hi go to float32
    out = decode_latent(_encode(x, bits=3))
    assert out.header.float32_params
    assert torch.equal(out.latent[0, 2], x[0, 2])  # zero-width range decodes exactly
    empty = decode_latent(_encode(torch.zeros(2, 6, 0), bits=8, length=0))
    assert empty.latent.shape == (2, 6, 0) and empty.header.payload_bytes == 0


def test_float16_parameters_and_compact_header():
    x = _latent(1, 32, 16)
    h = decode_latent(_encode(x)).header
    assert not h.float32_params
    # magic, version, size, hash, 3 bytes, 5 varints, 8 predictor bytes, 32 * 2 * float16
    assert h.header_bytes <= 4 + 1 + 2 + 16 + 3 + 8 + 8 + 128
    large = decode_latent(_encode(x + 1e5)).header  # float16 overflows
    assert large.float32_params


def test_encoding_is_deterministic_and_device_independent():
    x = _latent(2, 8, 30)
    assert _encode(x) == _encode(x.clone()) == _encode(x.double())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_latent_encodes_like_cpu():
    x = _latent(1, 8, 30)
    assert _encode(x.cuda()) == _encode(x)


def _histogram_entropy_bits(q: np.ndarray, levels: int) -> float:
    """Zeroth-order empirical entropy per value, summed over dimensions (bits/value): what an
    ideal static per-dimension coder with a free probability table would need."""
    total = 0.0
    for row in q.reshape(q.shape[1], -1):
        p = np.bincount(row, minlength=levels) / row.size
        p = p[p > 0]
        total += -(p * np.log2(p)).sum() * row.size
    return total / q.size


def test_entropy_coding_rate():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 16, 400, generator=g)
    for x, bits, check in [
        (noise.cumsum(-1) * 0.3 + 0.3 * noise, 6, lambda rate, h: rate < 0.85 * h),  # temporal
        (noise, 4, lambda rate, h: rate < h + 0.25),  # i.i.d.: close to the static ideal
    ]:
        header = decode_latent(_encode(x, bits=bits)).header
        q = quantise(x.double().numpy(), header.lo, header.hi, 1 << bits)
        rate = header.payload_bytes * 8 / x.numel()
        assert rate < bits
        assert check(rate, _histogram_entropy_bits(q, 1 << bits)), (rate, bits)


def test_bitrate_helpers():
    x = _latent(1, 16, 62)
    data = _encode(x, length=16000, sample_rate=16000)
    h = decode_latent(data).header
    assert bitrate_kbps(len(data), 16000, 16000) == pytest.approx(len(data) * 8 / 1000)
    assert h.bitrate_kbps == pytest.approx(len(data) * 8 / 1000)
    assert bitrate_kbps(1000, 44100 * 2, 44100) == pytest.approx(4.0)
    assert pcm16_ratio(1000, 16000, 16000, channels=2) == pytest.approx(64.0)
    assert pcm16_ratio(len(data), 16000, 16000) == pytest.approx(256 / h.bitrate_kbps)
    with pytest.raises(ValueError):
        bitrate_kbps(10, 0, 16000)
    with pytest.raises(ValueError):
        pcm16_ratio(0, 16000, 16000)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(bits=0),
        dict(bits=17),
        dict(model_hash=b"short"),
        dict(channels=2),
        dict(sample_rate=0),
    ],
)
def test_encode_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        _encode(_latent(1, 4, 5), **kwargs)


def test_encode_rejects_non_finite_and_bad_shape():
    x = _latent(1, 4, 5)
    x[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        _encode(x)
    with pytest.raises(ValueError):
        _encode(torch.zeros(4, 5), channels=4)


def test_bad_magic():
    data = _small_file()
    for bad in (b"RIFF" + data[4:], b"hello world, this is not a latent", b"\x00"):
        with pytest.raises(CodecError, match="not an .aae file"):
            decode_latent(bad)


def test_unknown_version():
    data = bytearray(_small_file())
    data[4] = 2
    with pytest.raises(CodecError, match="unknown .aae format version 2"):
        decode_latent(bytes(data))


def test_truncation_at_every_position():
    data = _small_file()
    assert len(data) < 80
    for n in range(len(data)):
        with pytest.raises(CodecError, match="truncated"):
            decode_latent(data[:n])


def test_flipped_bytes_are_detected():
    data = _small_file()
    size_end = 5 + 1  # this small file's size fits one varint byte
    assert data[5] < 0x80
    for i in range(len(data)):
        for mask in (0x01, 0x80):
            bad = bytearray(data)
            bad[i] ^= mask
            with pytest.raises(CodecError) as info:
                decode_latent(bytes(bad))
            msg = str(info.value)
            if i < 4:
                assert "not an .aae file" in msg
            elif i == 4:
                assert "version" in msg
            elif i < size_end:
                assert "truncated" in msg or "CRC" in msg
            else:
                assert "CRC32 mismatch" in msg


def test_trailing_bytes_are_rejected():
    data = _small_file()
    with pytest.raises(CodecError):
        decode_latent(data + b"\0")
    with pytest.raises(CodecError, match="inconsistent"):
        decode_latent(_recrc(data[:-4] + b"\0" + data[-4:]))


def test_wrong_model_hash():
    data = _small_file()
    with pytest.raises(CodecError, match="another model"):
        decode_latent(data, model_hash=OTHER_HASH)
    assert decode_latent(data, model_hash=HASH).header.model_hash == HASH
    with pytest.raises(ValueError):
        decode_latent(data, model_hash=b"x")


def _field_offsets(data: bytes) -> dict[str, int]:
    h = parse_header(data)
    flags = 5 + 1 + 16
    lo = h.header_bytes - 2 * h.latent_dim * (4 if h.float32_params else 2)
    return {"flags": flags, "bits": flags + 1, "window": flags + 2, "lo": lo}


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("flags", 0x02, "unknown flags"),
        ("bits", 0, "bits 0"),
        ("bits", 17, "bits 17"),
        ("window", 0, "window code"),
        ("window", 9, "window code"),
    ],
)
def test_inconsistent_header_fields(field, value, match):
    data = bytearray(_small_file())
    data[_field_offsets(bytes(data))[field]] = value
    with pytest.raises(CodecError, match=match):
        decode_latent(_recrc(bytes(data)))


def test_inconsistent_quantiser_range():
    data = bytearray(_small_file())
    lo = _field_offsets(bytes(data))["lo"]
    data[lo : lo + 2] = np.float16(np.inf).tobytes()
    with pytest.raises(CodecError, match="quantiser ranges"):
        decode_latent(_recrc(bytes(data)))
    data[lo : lo + 2] = np.float16(1000.0).tobytes()  # lo > hi
    with pytest.raises(CodecError, match="lo <= hi"):
        decode_latent(_recrc(bytes(data)))


def test_file_helpers(tmp_path):
    x = _latent(2, 8, 20)
    path = tmp_path / "clip.aae"
    size = write_aae(path, x, bits=6, model_hash=HASH, sample_rate=22050, length=5000, channels=2)
    assert path.stat().st_size == size
    out = read_aae(path, model_hash=HASH)
    assert out.header.sample_rate == 22050 and out.latent.shape == x.shape
    with pytest.raises(OutputExistsError):
        write_aae(path, x, bits=6, model_hash=HASH, sample_rate=22050, length=5000, channels=2)
    write_aae(
        path, x, bits=2, model_hash=HASH, sample_rate=22050, length=5000, channels=2, overwrite=True
    )
    assert read_aae(path).header.bits == 2
    assert [p.name for p in tmp_path.iterdir()] == ["clip.aae"]  # no temporary left behind
    with pytest.raises(CodecError, match="clip.aae: .*another model"):
        read_aae(path, model_hash=OTHER_HASH)


_VALID = _encode(_latent(2, 5, 9), bits=6)


def _decode_or_codec_error(data: bytes) -> None:
    try:
        out = decode_latent(data)
    except CodecError:
        return
    h = out.header
    assert out.latent.shape == (h.channels, h.latent_dim, h.latent_frames)
    assert torch.isfinite(out.latent).all()


_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data):
    _decode_or_codec_error(data)
    _decode_or_codec_error(MAGIC + bytes([1]) + data)


@_FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["set", "insert", "delete"]),
            st.integers(0, len(_VALID) - 1),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_fuzz_mutated_file(mutations):
    data = bytearray(_VALID)
    for kind, pos, value in mutations:
        pos = min(pos, len(data) - 1)
        if kind == "set":
            data[pos] = value
        elif kind == "insert":
            data.insert(pos, value)
        elif len(data) > 1:
            del data[pos]
    _decode_or_codec_error(bytes(data))


def _fixed_regions(data: bytes) -> list[int]:
    """Byte positions whose change keeps the header structure (no varints, magic, size)."""
    h = parse_header(data)
    flags = _field_offsets(data)["flags"]
    tail = h.header_bytes - (h.latent_dim + 3) // 4 - 2 * h.latent_dim * 2
    return [flags, flags + 1, flags + 2, *range(tail, len(data) - 4)]


_MUTABLE = _fixed_regions(_VALID)


@_FUZZ
@given(st.lists(st.tuples(st.sampled_from(_MUTABLE), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_mutations_with_valid_crc_reach_the_field_checks(mutations):
    data = bytearray(_VALID)
    for pos, value in mutations:
        data[pos] = value
    _decode_or_codec_error(_recrc(bytes(data)))


def test_read_aae_reads_no_more_than_it_needs(tmp_path, monkeypatch):
    """A large file that is not an .aae is refused from its first bytes; an .aae larger than
    MAX_AAE_BYTES is refused after reading at most that much (here the limit is lowered)."""
    import audioae.codec as codec_module

    other = tmp_path / "big.bin"
    with open(other, "wb") as fh:
        fh.truncate(400 * 2**20)  # sparse: 400 MB of zeros, not read
    reads = []
    real_open = open

    class Counting:
        def __init__(self, fh):
            self.fh = fh

        def read(self, n=-1):
            data = self.fh.read(n)
            reads.append(len(data))
            return data

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(codec_module, "open", lambda p, m: Counting(real_open(p, m)), raising=False)
    with pytest.raises(CodecError, match="big.bin: not an .aae file"):
        read_aae(other)
    assert sum(reads) == 4
    z = torch.randn(1, 4, 10)
    path = tmp_path / "z.aae"
    write_aae(path, z, bits=6, model_hash=HASH, sample_rate=16000, length=2560, channels=1)
    monkeypatch.setattr(codec_module, "MAX_AAE_BYTES", path.stat().st_size - 1)
    with pytest.raises(CodecError, match="z.aae: larger than"):
        read_aae(path)


def test_integer_arguments_of_any_integer_type_and_nothing_else():
    import numpy as np

    z = torch.randn(1, 4, 10)
    args = {"model_hash": HASH, "sample_rate": 16000, "length": 2560, "channels": 1}
    assert encode_latent(z, bits=np.int64(6), **args) == encode_latent(z, bits=6, **args)
    with pytest.raises(ValueError, match="bits must be an integer, got True"):
        encode_latent(z, bits=True, **args)
    with pytest.raises(ValueError, match="length must be an integer, got 1000.5"):
        encode_latent(z, bits=6, **{**args, "length": 1000.5})


def test_inspect_describes_an_aae_file_and_refuses_a_truncated_one(tmp_path, capsys):
    """Before: `audioae inspect x.aae` said libsndfile did not recognise the format."""
    import soundfile as sf

    from audioae.cli import main

    t = np.arange(16000 * 2) / 16000
    sf.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    assert main(["encode", "codec", str(tmp_path / "a.wav"), "-o", str(tmp_path / "a.aae")]) == 0
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "a.aae")]) == 0
    out = capsys.readouterr().out
    assert (
        "model: codec (shipped)" in out and "16000 Hz, 1 channel(s), 2.000 s (32000 frames)" in out
    )
    size = (tmp_path / "a.aae").stat().st_size
    assert f"size: {size} bytes" in out
    (tmp_path / "b.aae").write_bytes((tmp_path / "a.aae").read_bytes()[:100])
    assert main(["inspect", str(tmp_path / "b.aae")]) == 2
    assert "b.aae: truncated .aae file" in capsys.readouterr().err
