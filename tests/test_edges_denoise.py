"""Very short inputs to :meth:`Pipeline.denoise` with the shipped denoisers.

Measured before the fix (held-out English speech, the 5 loudest snippets of 10 files each):
inputs shorter than one hop (128 samples, 8 ms) gave the offline ``denoise`` model a single
STFT frame, mostly centre padding, and came out 3.4-5.7 dB quieter, silently; from one hop
up it keeps the level within 0.4 dB (``denoise_stream``: worst 3.6 dB at 8-25 ms, 0.9 dB
from 32 ms). Inputs shorter than one hop are now returned unchanged with a
:class:`ShortInputWarning`. A 5 ms *file* through ``audioae denoise`` lost about 45 dB: the
file job zero-padded it to ``n_fft`` and the look-ahead model took speech followed by
digital silence for a click; the job now denoises the file's own samples.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from conftest import DATA

from audioae.audio import load_audio, save_audio
from audioae.cli import main
from audioae.pipeline import Pipeline, ShortInputWarning

SR = 16000
SPEECH = sorted((DATA / "speech" / "en" / "allison").glob("*.flac"))[:3]  # held out


@pytest.fixture(scope="module")
def speech() -> list[torch.Tensor]:
    return [load_audio(f, sample_rate=SR)[0][:1] for f in SPEECH]


def _snippets(speech: list[torch.Tensor], n: int, per_file: int = 3) -> list[torch.Tensor]:
    """The ``per_file`` loudest non-overlapping ``n``-sample snippets of each file, ``(1, n)``."""
    out = []
    for x in speech:
        energy = x[0, : x.shape[-1] // n * n].reshape(-1, n).pow(2).mean(1)
        out += [x[:, i * n : (i + 1) * n] for i in energy.topk(per_file).indices.tolist()]
    return out


def _gain_db(y: torch.Tensor, x: torch.Tensor) -> float:
    return 20 * math.log10(float(y.pow(2).mean().sqrt()) / float(x.pow(2).mean().sqrt()))


@pytest.fixture(scope="module", params=["denoise", "denoise_stream"])
def shipped(request) -> Pipeline:
    return Pipeline.load(request.param, device="cpu")


def test_shorter_than_one_hop_is_returned_unchanged_with_a_warning(shipped, speech) -> None:
    assert shipped.min_denoise_samples == shipped.hop_length == 128
    for n in (1, 80, 127):  # 80: the reported 5 ms file
        for x in _snippets(speech, n, per_file=1):
            with pytest.warns(ShortInputWarning, match=rf"input of {n} samples") as caught:
                y = shipped.denoise(x, wet=0.7, phase="griffin-lim")
            assert caught[0].message.samples == n and caught[0].message.minimum == 128
            assert caught[0].filename == __file__  # points at the caller
            assert torch.equal(y, x) and y.data_ptr() != x.data_ptr()
            with pytest.warns(ShortInputWarning) as caught:  # reconstruct runs denoise
                y = shipped.reconstruct(x)
            assert len(caught) == 1 and caught[0].filename == __file__
            assert torch.equal(y, x)


# measured worst losses over 50 snippets: denoise 0.2 dB at 8, 10 and 20 ms;
# denoise_stream 3.1, 2.4 and 1.8 dB
@pytest.mark.parametrize("n", [128, 160, 320])  # 8 ms (one hop), 10 ms, 20 ms
def test_short_speech_from_one_hop_keeps_its_level(shipped, speech, n) -> None:
    tolerance = 1.0 if shipped.config.name == "denoise" else 3.5  # dB
    for x in _snippets(speech, n):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ShortInputWarning)
            y = shipped.denoise(x)
        assert y.shape == x.shape
        assert abs(_gain_db(y, x)) <= tolerance, (n, _gain_db(y, x))
        assert not torch.equal(y, x)  # denoised, not passed through


@pytest.mark.parametrize("ms, warned", [(5, True), (10, False), (20, False)])
def test_a_very_short_file_keeps_its_level_through_the_cli(
    tmp_path, speech, capsys, ms: int, warned: bool
) -> None:
    x = _snippets(speech, SR * ms // 1000, per_file=1)[0]
    save_audio(tmp_path / "in.wav", x, SR, subtype="FLOAT")
    assert (
        main(
            [
                "denoise",
                "denoise",
                str(tmp_path / "in.wav"),
                "-o",
                str(tmp_path / "out.wav"),
                "--quiet",
            ]
        )
        == 0
    )
    y, rate = load_audio(tmp_path / "out.wav")
    assert rate == SR and y.shape == x.shape
    assert abs(_gain_db(y, x)) < 1.0  # was -45 dB at 5 ms, -24.5 at 10 ms, -3 at 20 ms
    err = capsys.readouterr().err
    assert (f"in.wav: {x.shape[-1]} samples ({ms:.1f} ms) is shorter than one hop" in err) == warned


def test_a_file_shorter_than_one_hop_is_written_unchanged_at_its_own_rate(tmp_path, capsys) -> None:
    x = torch.tensor([[0.3, -0.2, 0.25], [0.1, 0.0, -0.4]])  # 3 samples of 44.1 kHz stereo
    save_audio(tmp_path / "in.wav", x, 44100, subtype="FLOAT")
    args = ["denoise", "denoise", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav")]
    assert main([*args, "--quiet"]) == 0
    y, rate = load_audio(tmp_path / "out.wav", mono=False)
    assert rate == 44100 and torch.equal(y, x)  # not resampled twice (was RMS 0.227 -> 0.055)
    assert "in.wav: 3 samples (0.1 ms) is shorter than one hop" in capsys.readouterr().err


def test_an_output_clipped_to_pcm_is_one_audioae_line(tmp_path, capsys) -> None:
    """Was Python's warning format: `.../audioae/apps.py:100: ClippingWarning: ...` and the
    source line (this session's student review)."""
    x = torch.sign(torch.randn(1, SR, generator=torch.Generator().manual_seed(0))) * 0.99
    save_audio(tmp_path / "in.wav", x, SR, subtype="PCM_16")  # loud noise: the output clips
    args = ["denoise", "denoise", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav")]
    assert main([*args, "--phase", "griffin-lim", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"audioae: {tmp_path / 'out.wav'}: clipped " in err and "to write PCM_16" in err
    assert "ClippingWarning" not in err and "apps.py" not in err
