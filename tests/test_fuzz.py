"""Hypothesis fuzz of the ``.aae`` header parser and the config parser, each case under a time
budget (``deadline``) and a memory budget (``tracemalloc`` peak; numpy and Python allocations
are both traced). A case may be refused with ``CodecError``/``ConfigError``; anything else
(another exception, a hang, a large allocation) fails. About 25 s in all (the config cases are slower: OmegaConf).
"""

from __future__ import annotations

import math
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from aae_craft import body_of, craft_aae, with_envelope
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioae.codec import (
    MAX_CHANNELS,
    MAX_LATENT_DIM,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    CodecError,
    LatentLayout,
    decode_latent,
    encode_latent,
    max_coded_values,
)
from audioae.config import (
    MAX_N_FFT,
    MIN_N_FFT,
    Config,
    ConfigError,
    config_from_dict,
    load_config,
    load_yaml,
)

TINY = Path(__file__).parents[1] / "recipes" / "tiny.yaml"
LAYOUT = LatentLayout(16000, 8, 64, 4, 256)
DECODE_VALUES = 200_000  # decode the cases that pass the checks up to this many values
MEMORY = 64 << 20  # bytes per case, far above what a case of this size needs


def fuzz(examples: int) -> settings:
    """``examples`` cases (derandomized, so the run is reproducible), 2 s each at most."""
    return settings(
        max_examples=examples,
        deadline=2000,  # ms per case
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        derandomize=True,
    )


@contextmanager
def memory_budget(limit: int = MEMORY):
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak {peak / 2**20:.1f} MiB"


def _genuine() -> bytes:
    x = torch.linspace(-1, 1, 8 * 20).reshape(1, 8, 20).sin()
    return encode_latent(
        x, bits=6, model_hash=b"\x33" * 16, sample_rate=16000, length=5000, channels=1
    )


GENUINE = _genuine()
assert LAYOUT.latent_frames(5000, 16000) == 20


def _check_decoded(data: bytes, layout: LatentLayout | None) -> None:
    try:
        out = decode_latent(data, layout=layout, model_hash=None)
    except CodecError:
        return
    h = out.header
    assert MIN_SAMPLE_RATE <= h.sample_rate <= MAX_SAMPLE_RATE
    assert 1 <= h.channels <= MAX_CHANNELS and 1 <= h.latent_dim <= MAX_LATENT_DIM
    values = h.channels * h.latent_dim * h.latent_frames
    assert values <= max_coded_values(h.payload_bytes, h.bits)
    assert out.latent.shape == (h.channels, h.latent_dim, h.latent_frames)
    if layout is not None:
        assert abs(h.latent_frames - layout.latent_frames(h.length, h.sample_rate)) <= 1


def _guarded_decode(data: bytes) -> None:
    """Decode with and without the layout unless the checks let through more than
    ``DECODE_VALUES`` values: then only the header bounds are asserted (a small payload may
    rightly stand for millions of values of silence; that decoding is linear in them is
    tests/test_bounded_parsing.py::test_long_silent_aae_decodes_and_stays_small)."""
    from audioae.codec import parse_header

    try:
        h = parse_header(data)
    except CodecError:
        return
    values = h.channels * h.latent_dim * h.latent_frames
    assert values <= max_coded_values(h.payload_bytes, h.bits)
    if values <= DECODE_VALUES:
        _check_decoded(data, None)
        _check_decoded(data, LAYOUT)


@fuzz(150)
@given(
    st.lists(
        st.tuples(st.integers(0, len(body_of(GENUINE)) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_fuzz_mutated_aae_bytes_with_valid_crc(mutations):
    body = bytearray(body_of(GENUINE))
    for pos, value in mutations:
        body[pos] = value
    with memory_budget():
        _guarded_decode(with_envelope(bytes(body)))


_BIG = st.one_of(st.integers(0, 300), st.integers(0, 1 << 20), st.integers(0, (1 << 63) - 1))


@fuzz(100)
@given(
    sample_rate=st.one_of(st.sampled_from([1, 16000, 44100, 1 << 33]), _BIG),
    length=_BIG,
    channels=st.one_of(st.integers(0, 3), _BIG),
    latent_dim=st.one_of(st.just(8), _BIG.filter(lambda d: d < 1 << 13)),
    frames_delta=st.one_of(st.integers(-2, 2), _BIG),
    bits=st.integers(0, 17),
    window=st.integers(0, 7),
    payload=st.binary(min_size=0, max_size=64),
)
def test_fuzz_crafted_aae_header_fields(
    sample_rate, length, channels, latent_dim, frames_delta, bits, window, payload
):
    # frames near what the layout expects for the length, so the later checks are reached
    if MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE and frames_delta <= 2:
        frames = max(0, LAYOUT.latent_frames(length, sample_rate) + frames_delta)
    else:
        frames = max(0, frames_delta)  # a header field is unsigned
    data = craft_aae(
        sample_rate=sample_rate,
        length=length,
        channels=channels,
        latent_dim=latent_dim,
        latent_frames=frames,
        bits=bits,
        window=window,
        payload=payload,
    )
    with memory_budget():
        _guarded_decode(data)


# ----------------------------------------------------------------------------- configs

_KEYS = {
    "audio": ["sample_rate"],
    "features": ["kind", "n_fft", "hop_length", "win_length", "n_mels", "f_min", "f_max", "eps"],
    "model": ["latent_dim", "hidden_dim", "channels", "strides", "n_res_blocks", "dilations"],
    "data": ["segment_seconds", "batch_size", "samples_per_epoch", "val_segments"],
    "training": ["max_steps", "learning_rate", "seed"],
    "phase": ["n_iter", "momentum"],
    "vocoder": ["dim", "n_blocks", "kernel_size", "expansion", "max_log_magnitude"],
    "vocoder_loss": ["mel_weight", "mr_stft_weight", "compression", "resolutions"],
}
_SCALARS = st.one_of(
    st.integers(-(1 << 40), 1 << 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["log_mel", "spectrogram", "${oc.env:HOME}", "???", "", "1e9"]),
    st.none(),
    st.booleans(),
)
_VALUES = st.one_of(_SCALARS, st.lists(st.integers(-5, 1 << 20), max_size=5))


def _valid_invariants(cfg: Config) -> None:
    f = cfg.features
    window = f.win_length or f.n_fft
    assert MIN_N_FFT <= f.n_fft <= MAX_N_FFT and 1 <= f.hop_length <= window <= f.n_fft
    assert 1000 <= cfg.audio.sample_rate <= 384000
    assert 0 <= f.f_min < (f.f_max or cfg.audio.sample_rate / 2) <= cfg.audio.sample_rate / 2
    assert 1 <= cfg.phase.n_iter <= 10_000
    assert math.isfinite(cfg.training.learning_rate) and math.isfinite(f.eps)
    assert cfg.segment_samples * cfg.data.batch_size <= 1 << 28
    v = cfg.vocoder
    assert 1 <= v.dim <= 4096 and 1 <= v.n_blocks <= 64 and 1 <= v.expansion <= 16
    assert 1 <= v.kernel_size <= 255 and v.kernel_size % 2 == 1
    assert 0.0 <= v.max_log_magnitude <= 80.0
    for n_fft, hop_length in cfg.vocoder_loss.resolutions:
        assert MIN_N_FFT <= n_fft <= MAX_N_FFT and 1 <= hop_length <= n_fft


@fuzz(25)
@given(
    st.dictionaries(
        st.sampled_from(sorted(_KEYS)),
        st.data(),
        max_size=4,
    )
)
def test_fuzz_config_dicts(sections):
    data = {
        section: draw.draw(st.dictionaries(st.sampled_from(_KEYS[section]), _VALUES, max_size=4))
        for section, draw in sections.items()
    }
    with memory_budget():
        try:
            cfg = config_from_dict(data)
        except ConfigError:
            return
    _valid_invariants(cfg)


@fuzz(20)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([f"{s}.{k}" for s, keys in _KEYS.items() for k in keys] + ["x.y"]),
            st.one_of(
                st.text(max_size=30),
                st.sampled_from(["[&a 1, *a]", "${oc.env:HOME}", "{a: [[[", "1e999", "-1", "0"]),
            ),
        ),
        max_size=4,
    )
)
def test_fuzz_set_overrides(pairs):
    overrides = [f"{key}={value}" for key, value in pairs]
    with memory_budget():
        try:
            cfg = load_config(TINY, overrides)
        except ConfigError:
            return
    _valid_invariants(cfg)


@fuzz(100)
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(
            st.sampled_from(
                ["a:", " &x", " *x", " [", "]", " {", "}", ",", "\n", " 1", " - ", "${x}", "<<: *x"]
            ),
            max_size=60,
        ).map("".join),
    )
)
def test_fuzz_yaml_text(text):
    with memory_budget():
        try:
            load_yaml(text, "fuzz")
        except ConfigError:
            pass


@pytest.mark.parametrize("limit_mib", [512])
def test_decode_of_crafted_header_under_address_space_limit(tmp_path, limit_mib):
    """The 2**24-frame and 2**40-sample headers refused in a subprocess whose address space is
    limited (RLIMIT_AS), so an attempt to allocate for the claimed size would fail it."""
    import subprocess
    import sys
    import textwrap

    root = Path(__file__).parents[1]
    script = textwrap.dedent(
        f"""
        import resource, sys
        sys.path[:0] = [{str(root)!r}, {str(root / "tests")!r}]
        from aae_craft import craft_aae
        from audioae.codec import CodecError, LatentLayout, decode_latent
        resource.setrlimit(resource.RLIMIT_AS, ({limit_mib} << 20, {limit_mib} << 20))
        layout = LatentLayout(16000, 8, 64, 4, 256)
        for fields in (dict(latent_frames=1 << 24, length=(1 << 24) * 256, payload=bytes(56)),
                       dict(latent_frames=1 << 34, length=1 << 40, payload=bytes(900)),
                       dict(latent_frames=4, length=1 << 40)):
            try:
                decode_latent(craft_aae(**fields), layout=layout)
            except CodecError as exc:
                print("refused:", exc)
            else:
                sys.exit("decoded a crafted header")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("refused:") == 3
