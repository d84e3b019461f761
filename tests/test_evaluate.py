"""evaluate_pair, CSV rows, per-condition summaries, the text table and mix_at_snr."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import soundfile as sf
import torch

from audioae import metrics
from audioae.augment import mix_at_snr
from audioae.evaluate import (
    EvaluationRow,
    evaluate_pair,
    format_table,
    summarize,
    write_csv,
)
from audioae.fileio import OutputExistsError

SR = 16000
DATA = Path(__file__).parents[1] / "data"


def _noise(*shape, seed=0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _tone(n=SR) -> torch.Tensor:
    t = torch.arange(n) / SR
    return 0.5 * torch.sin(2 * torch.pi * 220 * t) + 0.1 * torch.sin(2 * torch.pi * 2500 * t)


# ----------------------------------------------------------------------------- evaluate_pair


def test_evaluate_pair_identical_and_noisy():
    ref = _tone()
    same = evaluate_pair(ref, ref, SR, speech=False)
    assert set(same) == {
        "si_sdr",
        "snr_db",
        "spectral_convergence",
        "log_spectral_distance",
        "log_mel_l1",
        "multi_resolution_stft",
    }
    assert math.isinf(same["si_sdr"]) and math.isinf(same["snr_db"])
    for key in (
        "spectral_convergence",
        "log_spectral_distance",
        "log_mel_l1",
        "multi_resolution_stft",
    ):
        assert same[key] == 0.0
    noisy = ref + 0.05 * _noise(SR)
    out = evaluate_pair(noisy, ref, SR, speech=False)
    assert out["snr_db"] == pytest.approx(metrics.snr_db(noisy, ref).item())
    assert out["si_sdr"] == pytest.approx(metrics.si_sdr(noisy, ref).item())
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
    worse = evaluate_pair(ref + 0.2 * _noise(SR), ref, SR, speech=False)
    assert worse["snr_db"] < out["snr_db"] and worse["log_mel_l1"] > out["log_mel_l1"]


def test_evaluate_pair_channels_and_lengths():
    ref = torch.stack([_tone(), 0.5 * _tone()])
    est = ref + 0.05 * _noise(2, SR)
    per_channel = [evaluate_pair(est[c], ref[c], SR, speech=False) for c in range(2)]
    both = evaluate_pair(
        torch.cat([est, est[:, :77]], dim=1), ref, SR, speech=False
    )  # longer estimate
    for key, value in both.items():
        assert value == pytest.approx((per_channel[0][key] + per_channel[1][key]) / 2, rel=1e-5)
    with pytest.raises(ValueError):
        evaluate_pair(torch.zeros(1, 2, 100), torch.zeros(100), SR, speech=False)


def _first_speech_clip() -> torch.Tensor:
    """The first bundled speech clip, mono at :data:`SR`; skips without ``pesq``/``pystoi``
    or the bundled data."""
    pytest.importorskip("pesq")
    pytest.importorskip("pystoi")
    clips = sorted((DATA / "speech").rglob("*.flac"))
    if not clips:
        pytest.skip("no speech clip in data/speech (bundled data not built)")
    wav, sr = sf.read(str(clips[0]), dtype="float32", always_2d=True)
    assert sr == SR
    return torch.from_numpy(wav[:, 0])


def test_evaluate_pair_speech_adds_pesq_and_stoi():
    clean = _first_speech_clip()[: 3 * SR]
    out = evaluate_pair(clean + 0.01 * _noise(clean.numel()), clean, SR, speech=True)
    assert 1.0 < out["pesq"] < 4.65 and 0.0 < out["stoi"] <= 1.0


# ----------------------------------------------------------------------------- rows, CSV, summary


def _rows():
    return [
        EvaluationRow("a.wav", "codec-4bit", {"si_sdr": 5.0, "log_mel_l1": 0.5}),
        EvaluationRow("b.wav", "codec-4bit", {"si_sdr": 7.0, "log_mel_l1": 0.25}),
        {
            "file": "a.wav",
            "condition": "codec-8bit",
            "si_sdr": 12.0,
            "log_mel_l1": 0.125,
            "pesq": 3.5,
        },
        {"file": "b.wav", "condition": "codec-8bit", "si_sdr": float("nan"), "log_mel_l1": 0.375},
    ]


def test_write_csv_round_trip(tmp_path):
    path = tmp_path / "eval" / "results.csv"
    write_csv(_rows(), path)
    with open(path, newline="") as fh:
        read = list(csv.DictReader(fh))
    assert list(read[0]) == ["file", "condition", "si_sdr", "log_mel_l1", "pesq"]
    assert [r["file"] for r in read] == ["a.wav", "b.wav", "a.wav", "b.wav"]
    assert float(read[1]["si_sdr"]) == 7.0 and read[0]["pesq"] == "" and read[2]["pesq"] == "3.5"
    with pytest.raises(OutputExistsError):
        write_csv(_rows(), path)
    write_csv(_rows()[:1], path, overwrite=True)
    with open(path, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 1
    with pytest.raises(ValueError, match="condition"):
        write_csv([{"file": "x"}], tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


def test_summarize_means_per_condition():
    summary = summarize(_rows())
    assert [s["condition"] for s in summary] == ["codec-4bit", "codec-8bit"]
    four, eight = summary
    assert four == {"condition": "codec-4bit", "n": 2, "si_sdr": 6.0, "log_mel_l1": 0.375}
    assert eight["n"] == 2 and eight["si_sdr"] == 12.0  # NaN left out of the mean
    assert eight["log_mel_l1"] == 0.25 and eight["pesq"] == 3.5
    inf = summarize(
        [
            {"file": "x", "condition": "copy", "si_sdr": math.inf},
            {"file": "y", "condition": "copy", "si_sdr": 3.0},
        ]
    )
    assert inf[0]["si_sdr"] == math.inf


def test_summary_of_csv_strings_matches(tmp_path):
    path = tmp_path / "r.csv"
    write_csv(_rows(), path)
    with open(path, newline="") as fh:
        from_csv = summarize(list(csv.DictReader(fh)))
    assert from_csv == summarize(_rows())


def test_format_table_is_fixed_width():
    table = format_table(summarize(_rows()))
    lines = table.splitlines()
    assert lines[0].split() == ["condition", "n", "si_sdr", "log_mel_l1", "pesq"]
    assert set(lines[1]) <= {"-", " "}
    assert len({len(line) for line in lines}) == 1
    assert lines[2].split() == ["codec-4bit", "2", "6.000", "0.375", "-"]
    assert lines[3].split() == ["codec-8bit", "2", "12.000", "0.250", "3.500"]
    # numbers are right-aligned in their columns
    col = lines[0].index("si_sdr") + len("si_sdr")
    assert lines[2][:col].endswith("6.000") and lines[3][:col].endswith("12.000")


# ----------------------------------------------------------------------------- mix_at_snr


def _snr(noisy, clean):
    return 10 * torch.log10(
        clean.double().square().mean(-1) / (noisy.double() - clean.double()).square().mean(-1)
    )


@pytest.mark.parametrize("noise_len", [300, 16000, 50000])
@pytest.mark.parametrize("snr", [-5.0, 0.0, 12.5])
def test_mix_at_snr_is_exact(noise_len, snr):
    clean = _tone()
    noise = _noise(noise_len, seed=3)
    noisy = mix_at_snr(clean, noise, snr, generator=torch.Generator().manual_seed(1))
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype
    assert _snr(noisy, clean).item() == pytest.approx(snr, abs=1e-3)


def test_mix_at_snr_reads_noise_circularly_from_a_seeded_offset():
    clean = _tone(1000)
    noise = torch.linspace(-1, 1, 97) ** 3 + 0.01  # distinct values
    first = mix_at_snr(clean, noise, 6.0, generator=torch.Generator().manual_seed(4))
    added = first - clean
    matches = []
    for offset in range(97):
        segment = noise[(offset + torch.arange(1000)) % 97]
        gain = (added @ segment) / (segment @ segment)
        if torch.allclose(added, gain * segment, atol=1e-5):
            matches.append(offset)
    assert len(matches) == 1
    again = mix_at_snr(clean, noise, 6.0, generator=torch.Generator().manual_seed(4))
    assert torch.equal(again, first)
    offsets = {
        tuple(
            mix_at_snr(clean, noise, 6.0, generator=torch.Generator().manual_seed(s))[:3].tolist()
        )
        for s in range(8)
    }
    assert len(offsets) > 1


def test_mix_at_snr_batched_per_row_snr():
    clean = torch.stack([_tone(4000), 0.1 * _tone(4000), _noise(4000, seed=8)])
    noise = _noise(3, 2500, seed=9)
    snr = torch.tensor([-3.0, 5.0, 20.0])
    noisy = mix_at_snr(clean, noise, snr, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(_snr(noisy, clean), snr.double(), atol=1e-3, rtol=0)
    shared = mix_at_snr(clean, noise[0], 10.0)  # one noise row for the whole batch
    torch.testing.assert_close(
        _snr(shared, clean), torch.full((3,), 10.0, dtype=torch.float64), atol=1e-3, rtol=0
    )


def test_mix_at_snr_edge_cases():
    silent = torch.zeros(100)
    assert torch.equal(mix_at_snr(silent, _noise(50), 0.0), silent)
    with pytest.raises(ValueError, match="silent"):
        mix_at_snr(_tone(100), torch.zeros(50), 0.0)
    with pytest.raises(ValueError, match="empty"):
        mix_at_snr(_tone(100), torch.zeros(0), 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mix_at_snr_on_cuda():
    clean, noise = _tone().cuda(), _noise(3000).cuda()
    noisy = mix_at_snr(clean, noise, 3.0, generator=torch.Generator().manual_seed(0))
    assert noisy.device.type == "cuda"
    assert _snr(noisy, clean).item() == pytest.approx(3.0, abs=1e-3)


def test_a_silent_reference_is_not_scored(tmp_path, capsys):
    """A silent file would give SNR -inf and a spectral convergence of 1e10 and spoil every
    mean: evaluate_pair refuses it, and `audioae evaluate` reports it as failed and goes on."""
    from audioae.cli import main

    with pytest.raises(ValueError, match="the reference is silent"):
        evaluate_pair(_tone(), torch.zeros(SR), SR, speech=False)
    with pytest.raises(ValueError, match="the reference is silent"):
        evaluate_pair(_tone(), torch.full((SR,), 1e-6), SR, speech=False)
    folder = tmp_path / "in"
    folder.mkdir()
    sf.write(folder / "tone.wav", _tone().numpy(), SR)
    sf.write(folder / "silence.wav", torch.zeros(SR).numpy(), SR)
    out = tmp_path / "e.csv"
    assert main(["evaluate", "codec", "--data", str(folder), "-o", str(out), "--quiet"]) == 1
    printed = capsys.readouterr().out
    assert "failed" in printed and "silence.wav" in printed and "the reference is silent" in printed
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [Path(r["file"]).name for r in rows] == ["tone.wav"]
    assert math.isfinite(float(rows[0]["snr_db"]))


# ----------------------------------------------------------------------------- silent estimates


class _StubPipeline:
    """What evaluate_model uses of a Pipeline: ``sample_rate``, ``reconstruct`` and ``denoise``
    (both ``fn``, from ``(1, time)`` to ``(1, time)``)."""

    sample_rate = SR

    def __init__(self, fn):
        self.fn = fn

    def reconstruct(self, wav, phase=None):
        return self.fn(wav)

    def denoise(self, wav):
        return self.fn(wav)


def test_evaluate_pair_scores_a_silent_estimate_as_the_worst():
    ref = _tone()
    out = evaluate_pair(torch.zeros(SR), ref, SR, speech=False)
    assert out["si_sdr"] == metrics.SI_SDR_FLOOR_DB == -100.0
    assert out["snr_db"] == 0.0  # the error is the whole reference
    assert out["spectral_convergence"] == pytest.approx(1.0, abs=1e-6)
    assert all(math.isfinite(v) for v in out.values())
    noisy = evaluate_pair(ref + 0.5 * _noise(SR), ref, SR, speech=False)
    assert out["si_sdr"] < noisy["si_sdr"]
    with pytest.raises(ValueError, match="the estimate has 2 NaN or infinite samples"):
        evaluate_pair(
            torch.cat([ref[:-2], torch.tensor([math.nan, math.inf])]), ref, SR, speech=False
        )
    with pytest.raises(ValueError, match="the reference has 1 NaN or infinite samples"):
        evaluate_pair(ref, torch.cat([ref[:-1], torch.tensor([math.nan])]), SR, speech=False)


def test_evaluate_pair_speech_metrics_of_a_silent_estimate():
    clean = _first_speech_clip()
    out = evaluate_pair(torch.zeros_like(clean), clean, SR, speech=True)
    assert out["pesq"] == metrics.PESQ_WB_FLOOR == 0.999
    assert out["stoi"] == 0.0 and out["si_sdr"] == -100.0


@pytest.mark.parametrize("speech", [False, True])
def test_evaluate_model_keeps_a_silent_output_in_the_means(tmp_path, caplog, speech):
    """Before: the silent output's SI-SDR was NaN and left out of the mean (speech=False), or
    PESQ raised and the whole file was skipped (speech=True): the worst output vanished."""
    from audioae.evaluate import evaluate_model

    if speech:
        pytest.importorskip("pesq")
        pytest.importorskip("pystoi")
    clips = sorted((DATA / "speech").rglob("*.flac"))[:2]
    if len(clips) < 2:
        pytest.skip("no speech clips in data/speech (bundled data not built)")
    folder = tmp_path / "data"
    folder.mkdir()
    for name, clip in zip(("a.wav", "b.wav"), clips):
        sf.write(folder / name, sf.read(str(clip), dtype="float32")[0], SR)
    calls = []

    def model(wav):  # files run in sorted order: silence for a.wav, a noisy copy for b.wav
        calls.append(wav.shape)
        if len(calls) == 1:
            return torch.zeros_like(wav)
        return wav + 0.01 * _noise(*wav.shape, seed=5)

    caplog.set_level("WARNING", logger="audioae.evaluate")
    rows, skipped = evaluate_model(_StubPipeline(model), data=folder, speech=speech, progress=False)
    assert skipped == []
    assert [Path(r.file).name for r in rows] == ["a.wav", "b.wav"]
    silent, other = rows[0].metrics, rows[1].metrics
    assert silent["si_sdr"] == -100.0 and other["si_sdr"] > 10.0
    (summary,) = summarize(rows)
    assert summary["n"] == 2
    assert summary["si_sdr"] == pytest.approx((-100.0 + other["si_sdr"]) / 2, abs=1e-12)
    if speech:
        assert silent["pesq"] == 0.999 and silent["stoi"] == 0.0
        assert summary["pesq"] == pytest.approx((0.999 + other["pesq"]) / 2, abs=1e-12)
        assert summary["stoi"] == pytest.approx(other["stoi"] / 2, abs=1e-12)
    warned = [r.getMessage() for r in caplog.records if "digital silence" in r.getMessage()]
    assert len(warned) == 1 and "a.wav (reconstruct)" in warned[0]


def test_evaluate_data_phase_input_measures_the_spectra_alone(tmp_path, capsys):
    """`evaluate --data` rebuilt the phase by the model's default (Griffin-Lim for the
    shipped denoiser), so its SI-SDR said -17 dB for a spectral convergence of 0.14; the
    command now says so, and `--phase input` keeps the input's phase."""
    from audioae.cli import main

    clip = sorted((DATA / "speech" / "en").rglob("*.flac"))[1]
    folder = tmp_path / "data"
    folder.mkdir()
    sf.write(folder / "a.wav", sf.read(str(clip), dtype="float32")[0][: 2 * SR], SR)
    si_sdr = {}
    for phase in ([], ["--phase", "input"]):
        out = tmp_path / f"{len(phase)}.csv"
        assert (
            main(["evaluate", "denoise", "--data", str(folder), "-o", str(out), "--quiet", *phase])
            == 0
        )
        printed = capsys.readouterr().out
        assert ("note: the waveforms were rebuilt with the griffin-lim phase" in printed) == (
            not phase
        )
        with out.open() as f:
            si_sdr[bool(phase)] = float(next(csv.DictReader(f))["si_sdr"])
    assert si_sdr[False] < 0.0 < 10.0 < si_sdr[True]
