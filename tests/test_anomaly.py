"""Anomaly scores: per-frame errors and times, chunk invariance, a click track and a
noise-corrupted clip score above their clean clips (the latter only under the standardised
error), reference statistics (fit, JSON round trip, wrong model refused), thresholds from a
reference folder, mask models refused, and the ``audioae anomaly`` folder job (ranked CSV,
per-frame CSV, saved and reused reference, bad files skipped, no overwrite)."""

import csv
import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA, sine, tiny_model_file

from audioae.anomaly import (
    COMBINED_TERMS,
    FLOOR_EPS,
    band_error,
    combined_score,
    compressed_error,
    errors_of,
    feature_floor,
    file_terms,
    fit_reference,
    frame_errors,
    quiet_frames,
    reconstruct_frames,
    score_file,
    score_waveform,
)
from audioae.anomaly_reference import TERMS, fit_threshold, load_reference, save_reference
from audioae.anomaly_tables import rank_scores
from audioae.audio import load_audio
from audioae.cli import main
from audioae.pipeline import Pipeline, PipelineError

CLIP = DATA / "speech" / "en" / "allison" / "vm-savefolder.flac"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "ae": tiny_model_file(root / "ae.safetensors"),
        "vae": tiny_model_file(root / "vae.safetensors", ["model.bottleneck=gaussian"]),
        "mask": tiny_model_file(
            root / "mask.safetensors", ["features.kind=log_magnitude", "model.output=mask"]
        ),
    }


@pytest.fixture(scope="module")
def codec():
    return Pipeline.load(DATA / "models" / "codec.safetensors", device="cpu")


SPEECH_REFERENCE = sorted((DATA / "speech" / "it").rglob("*.flac"))[:12]


@pytest.fixture(scope="module")
def codec_reference(codec):
    """Statistics of 12 training-split Italian clips (not the English test speaker)."""
    wavs = [load_audio(f, sample_rate=16000)[0] for f in SPEECH_REFERENCE]
    return fit_reference(codec, wavs)[0]


def test_frame_errors_count_and_times(models):
    pipe = Pipeline.load(models["vae"], device="cpu")
    frames = frame_errors(pipe, torch.from_numpy(sine(seconds=0.5)), error="log")
    assert frames.error.shape == (8000 // 64 + 1,)
    assert frames.neg_elbo is not None and frames.neg_elbo.shape == frames.error.shape
    assert float(frames.times_s[1]) == pytest.approx(64 / 16000)
    assert bool((frames.error >= 0).all())
    # neg ELBO >= the Laplace NLL part alone (KL >= 0)
    assert bool((frames.neg_elbo >= frames.error * 32 + 32 * np.log(2) - 1e-4).all())
    ae = score_waveform(Pipeline.load(models["ae"], device="cpu"), torch.zeros(4000), error="log")
    assert ae.neg_elbo is None
    with pytest.raises(ValueError, match="variational"):
        ae.value("neg_elbo")


def test_click_track_scores_above_its_clean_clip():
    """The shipped timbre VAE (trained on notes) on a held-out note, clean and with 20 clicks."""
    pipe = Pipeline.load(DATA / "models" / "timbre.safetensors", device="cpu")
    clean, _ = sf.read(DATA / "notes" / "flute_67.flac", dtype="float32")
    clicks = clean.copy()
    positions = np.random.default_rng(0).integers(0, len(clean), 20)
    clicks[positions] = np.where(np.arange(20) % 2 == 0, 1, -1) * np.abs(clean).max()
    a = score_waveform(pipe, torch.from_numpy(clean), error="log")
    b = score_waveform(pipe, torch.from_numpy(clicks), error="log")
    assert b.mean > a.mean and b.p95 > 1.5 * a.p95
    assert b.neg_elbo > a.neg_elbo
    reference = [
        sf.read(DATA / "notes" / f"flute_{p}.flac", dtype="float32")[0]
        for p in (60, 63, 70, 74, 81, 84)
    ]
    stats, _ = fit_reference(pipe, [torch.from_numpy(w) for w in reference])
    a = score_waveform(pipe, torch.from_numpy(clean), reference=stats)
    b = score_waveform(pipe, torch.from_numpy(clicks), reference=stats)
    assert a.error == b.error == "standardised"
    assert b.mean > 1.2 * a.mean and b.p95 > 1.2 * a.p95


def test_broadband_noise_scores_above_its_clean_clip_only_when_standardised(codec, codec_reference):
    """Noise fills the quiet bins: the log error falls, the standardised error rises."""
    clean = load_audio(CLIP, sample_rate=16000)[0]
    noisy = clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    log = [score_waveform(codec, w, error="log").mean for w in (clean, noisy)]
    std = [score_waveform(codec, w, reference=codec_reference).mean for w in (clean, noisy)]
    assert log[1] < log[0]  # the first score ranks the noisy clip as *more* normal
    assert std[1] > 2 * std[0]
    # on held-out normal speech the standardised error is about 1 (a squared z-score)
    assert 0.3 < std[0] < 3.0


SPEECH_TEST = sorted((DATA / "speech" / "en").rglob("*.flac"))[:6]


def test_broadband_noise_among_speech_ranks_first_and_the_latent_term_sees_quiet_hiss(
    codec, codec_reference
):
    """Six English clips and 3 s of two noise recordings, against Italian reference speech.

    Steam hiss (broadband) ranks first under the default and the combined score. Vinyl hiss
    is quiet and stationary, so the model reconstructs it as well as speech (its
    reconstruction term is below the median clip's, so that term alone would not flag it);
    the latent distance (the file's pooled embedding against the reference files') still puts
    it above every speech clip."""
    speech = [
        score_waveform(
            codec, load_audio(f, sample_rate=16000)[0], file=f.name, reference=codec_reference
        )
        for f in SPEECH_TEST
    ]
    noise = {
        name: score_waveform(
            codec,
            load_audio(DATA / "noise" / name, sample_rate=16000)[0][:, :48000],
            file=name,
            reference=codec_reference,
        )
        for name in ("steam_hiss.flac", "vinyl_hiss.flac")
    }
    for score in ("mean", "combined"):
        ranked = rank_scores([*speech, noise["steam_hiss.flac"]], score=score)
        assert ranked[0].score.file == "steam_hiss.flac"
    hiss = noise["vinyl_hiss.flac"]
    assert hiss.term_z["reconstruction"] < np.median([s.term_z["reconstruction"] for s in speech])
    assert hiss.term_z["latent"] > max(s.term_z["latent"] for s in speech)
    for s in [*speech, hiss]:
        assert s.combined == pytest.approx(sum(s.term_z[t] for t in COMBINED_TERMS))
        assert set(s.terms) == set(TERMS)


def test_reference_statistics_round_trip_and_checks(codec, codec_reference, models, tmp_path):
    stats = codec_reference
    assert stats.mean.shape == stats.std.shape == (codec.frontend.n_bins,)
    assert bool((stats.std > 0).all()) and stats.model_hash == codec.model_hash.hex()
    assert len(stats.scores["standardised"]["mean"]) == len(SPEECH_REFERENCE)
    path = save_reference(tmp_path / "ref.json", stats)
    loaded = load_reference(path)
    torch.testing.assert_close(loaded.mean, stats.mean)
    torch.testing.assert_close(loaded.std, stats.std)
    for name in ("level_mean", "embedding_mean", "embedding_std", "spectrum_std"):
        torch.testing.assert_close(getattr(loaded, name), getattr(stats, name))
    assert stats.embedding_mean.shape == (3 * codec.model.latent_dim,)
    assert set(loaded.terms) == set(stats.terms) == set(TERMS)
    for term in TERMS:  # (mean, std, log mean, log std) of each term, through JSON
        assert loaded.terms[term] == pytest.approx(stats.terms[term])
    clip = load_audio(CLIP, sample_rate=16000)[0]
    assert score_waveform(codec, clip, reference=loaded).combined == pytest.approx(
        score_waveform(codec, clip, reference=stats).combined
    )
    torch.testing.assert_close(loaded.floor_mean, stats.floor_mean)
    torch.testing.assert_close(loaded.floor_std, stats.floor_std)
    # version-1 to -4 files (before the combined score; before the floor and band terms;
    # with in-sample reference scores, before round 12; before the quiet_band term, round
    # 18) are refused with a way out
    doc = json.loads(path.read_text())
    assert doc["version"] == 5
    for version in (1, 2, 3, 4):
        (tmp_path / "old.json").write_text(json.dumps({**doc, "version": version}))
        with pytest.raises(ValueError, match="fit it again"):
            load_reference(tmp_path / "old.json")
    (tmp_path / "no-floor.json").write_text(
        json.dumps({k: v for k, v in doc.items() if k != "floor_mean"})
    )
    with pytest.raises(ValueError, match="malformed"):
        load_reference(tmp_path / "no-floor.json")
    without = score_waveform(codec, clip, error="log")  # no reference: no combined score
    assert without.combined is None
    with pytest.raises(ValueError, match="reference"):
        without.value("combined")
    assert loaded.threshold("standardised", "p95", 0.5) == pytest.approx(
        fit_threshold(stats.scores["standardised"]["p95"], 0.5)
    )
    with pytest.raises(ValueError, match="neg_elbo"):
        loaded.threshold("log", "neg_elbo")
    other = Pipeline.load(models["ae"], device="cpu")
    with pytest.raises(ValueError, match="bins"):
        score_waveform(other, torch.zeros(4000), reference=loaded)
    with pytest.raises(ValueError, match="reference"):
        score_waveform(codec, torch.zeros(4000))  # the default needs statistics
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an"):
        load_reference(tmp_path / "bad.json")


def test_floor_term_rises_with_hum_and_falls_with_digital_silence(codec, codec_reference):
    """The floor (log level of each bin's quietest 1 % of frames) of a speech clip: mains hum
    lifts it in the bins below 300 Hz and hardly elsewhere; 100 ms gaps of digital zero drop
    it to the clamp in every bin, which the recording's own pauses (a room's noise floor)
    never reach. (Against another recording's statistics the hum's z-score can go either way:
    each recording has its own floor, which is why the term is not in the default score.)"""
    clip = load_audio(CLIP, sample_rate=16000)[0][0]
    t = torch.arange(clip.shape[-1]) / 16000
    hum = sum(torch.sin(2 * torch.pi * 50 * k * t) / k for k in range(1, 6))
    hum = hum * clip.square().mean().sqrt() / hum.square().mean().sqrt() * 10 ** (-20 / 20)
    gaps = clip.clone()
    for start in range(8000, clip.shape[-1] - 1600, 16000):
        gaps[start : start + 1600] = 0.0

    def floor(wav):
        return feature_floor(codec, reconstruct_frames(codec, wav))

    clean, hummed, gapped = floor(clip), floor(clip + hum), floor(gaps)
    assert clean.shape == (codec.frontend.n_bins,)
    fe = codec.frontend  # the codec's log-mel bands (Slaney scale, 0-8 kHz)
    assert (fe.kind, fe.f_min, fe.f_max, fe.mel_scale) == ("log_mel", 0.0, None, "slaney")
    centres = torch.as_tensor(librosa.mel_frequencies(fe.n_mels + 2, fmin=0.0, fmax=8000.0)[1:-1])
    low = centres < 300
    assert bool((hummed - clean)[low].max() > 2.0)  # nats: over 17 dB in some hum band
    assert float((hummed - clean)[centres > 2000].abs().max()) < 0.5
    assert bool((clean > np.log(FLOOR_EPS) + 1.0).all())
    torch.testing.assert_close(gapped, torch.full_like(gapped, np.log(FLOOR_EPS)))

    def z(wav):
        terms = file_terms(codec, reconstruct_frames(codec, wav), codec_reference)
        return combined_score(terms, codec_reference, ("floor",))

    assert z(gaps) > z(clip) + 1.0  # the hum z depends on how this recording's floor sits


def test_band_error_sees_a_fault_confined_to_a_few_bins():
    """Equal mean squared errors per frame; the one confined to 4 of 64 bins in every frame
    has a band error 8 times the one spread over all bins, and zero-mean noise (errors that
    average out over frames, as on normal audio) has a small one."""
    confined = torch.zeros(64, 200, dtype=torch.float64)
    confined[:4] = 2.0
    spread = torch.full((64, 200), 0.5, dtype=torch.float64)
    assert confined.square().mean() == pytest.approx(spread.square().mean())
    assert band_error(confined) == pytest.approx(2.0)  # top 8 bins: four at 4, four at 0
    assert band_error(spread) == pytest.approx(0.25)
    noise = torch.randn(64, 200, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert band_error(noise) < 0.05 < float(noise.square().mean())
    assert band_error(torch.ones(3, 5, dtype=torch.float64)) == pytest.approx(1.0)  # >= 1 bin


def test_quiet_frames_are_the_quietest_tenth(codec):
    """A clip whose level steps up every 10 % of its length: the quiet frames are the first
    step's (the 10 % quantile includes its edge), whatever the order of the steps."""
    n, steps = 16000, 10
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(1, n * steps, generator=gen) * 0.01
    gain = torch.repeat_interleave(2.0 ** torch.arange(steps, dtype=torch.float32), n)
    for order in (gain, gain.flip(0)):
        rec = reconstruct_frames(codec, noise * order)
        quiet = quiet_frames(codec, rec)
        frames = quiet.shape[0]
        assert quiet.dtype == torch.bool and frames == rec.features.shape[-1]
        assert 0.08 * frames <= int(quiet.sum()) <= 0.12 * frames
        where = torch.nonzero(quiet).squeeze(1).float() / frames  # position in the clip, 0-1
        lo, hi = (0.0, 0.12) if order is gain else (0.88, 1.0)
        assert bool(((where >= lo) & (where <= hi)).all())
    silent = reconstruct_frames(codec, torch.zeros(1, 4000))  # all frames tie: all are quiet
    assert bool(quiet_frames(codec, silent).all())


def test_quiet_band_term_sees_hum_in_the_pauses(codec, codec_reference):
    """Mains hum 10 dB below a speech clip's RMS (the benchmark's level) fills its pauses:
    the band error over the quietest frames rises 4.7x (measured), over all frames 1.5x,
    where the loud frames dilute it."""
    clip = load_audio(CLIP, sample_rate=16000)[0][0]
    t = torch.arange(clip.shape[-1]) / 16000
    hum = sum(torch.sin(2 * torch.pi * 50 * k * t) / k for k in range(1, 6))
    hum = hum * clip.square().mean().sqrt() / hum.square().mean().sqrt() * 10 ** (-10 / 20)

    def terms(wav):
        return file_terms(codec, reconstruct_frames(codec, wav), codec_reference)

    clean, hummed = terms(clip), terms(clip + hum)
    quiet_rise = hummed["quiet_band"] / clean["quiet_band"]
    assert quiet_rise > 3.0
    assert quiet_rise > 2.0 * hummed["band"] / clean["band"]


def test_whole_and_chunked_frame_errors_agree():
    model = DATA / "models" / "codec.safetensors"
    wav, _ = sf.read(CLIP, dtype="float32")
    wav = torch.from_numpy(np.tile(wav, 2)[: 16000 * 4 + 77])
    whole_pipe = Pipeline.load(model, device="cpu", chunk_seconds=60.0)
    chunked_pipe = Pipeline.load(model, device="cpu", chunk_seconds=0.3)
    stats, _ = fit_reference(whole_pipe, [wav[:16000]])
    for error in ("log", "standardised"):
        whole = frame_errors(whole_pipe, wav, error=error, reference=stats)
        chunked = frame_errors(chunked_pipe, wav, error=error, reference=stats)
        assert whole.error.shape == chunked.error.shape == ((16000 * 4 + 77) // 256 + 1,)
        torch.testing.assert_close(chunked.error, whole.error, atol=1e-3, rtol=1e-3)


def test_reference_files_are_scored_left_one_out(codec):
    """A reference file's own score (what thresholds are fitted on) is the score it gets from
    statistics fitted on the other reference files, within float tolerance; the statistics
    returned for new files still pool every file."""
    wavs = [load_audio(f, sample_rate=16000)[0][:, :24000] for f in SPEECH_REFERENCE[:4]]
    stats, own = fit_reference(codec, wavs)
    others, _ = fit_reference(codec, wavs[1:])
    rec = reconstruct_frames(codec, wavs[0])
    expected = float(errors_of(codec, rec, "standardised", others).error.mean())
    assert own[0]["standardised"].mean == pytest.approx(expected, rel=1e-6)
    assert own[0]["standardised"].mean != pytest.approx(
        float(errors_of(codec, rec, "standardised", stats).error.mean()), rel=1e-3
    )
    pooled = torch.cat([compressed_error(codec, reconstruct_frames(codec, w)) for w in wavs], -1)
    torch.testing.assert_close(stats.mean, pooled.mean(-1).to(stats.mean.dtype))


def test_threshold_and_ranking(codec):
    reference = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert fit_threshold(reference, 0.5) == pytest.approx(0.3)
    assert fit_threshold(reference, 1.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        fit_threshold(reference, 1.5)
    with pytest.raises(ValueError):
        fit_threshold([], 0.9)
    clean = score_waveform(
        codec, torch.from_numpy(sf.read(CLIP, dtype="float32")[0]), file="clean", error="log"
    )
    noise = score_file(codec, DATA / "noise" / "hum.flac", error="log")
    ranked = rank_scores([clean, noise], score="mean", threshold=clean.mean + 1e-6)
    assert [r.score.file for r in ranked] == [str(DATA / "noise" / "hum.flac"), "clean"]
    assert [r.rank for r in ranked] == [1, 2]
    assert [r.anomalous for r in ranked] == [True, False]


def test_mask_models_are_refused(models):
    pipe = Pipeline.load(models["mask"], device="cpu")
    with pytest.raises(PipelineError, match="mask"):
        frame_errors(pipe, torch.zeros(4000))


def _write(path: Path, data: np.ndarray, sample_rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.T, sample_rate, subtype="PCM_16")
    return path


def test_cli_anomaly_folder_job(models, tmp_path, capsys):
    rng = np.random.default_rng(0)
    for i in range(4):
        _write(tmp_path / "ref" / f"r{i}.wav", sine(220 + 20 * i, seconds=0.5))
    _write(tmp_path / "in" / "tone.wav", sine(250, seconds=0.5))
    _write(tmp_path / "in" / "sub" / "noise.flac", 0.5 * rng.standard_normal((2, 8000)).clip(-1, 1))
    (tmp_path / "in" / "broken.wav").write_bytes(b"RIFF....not audio")
    out = tmp_path / "scores.csv"
    args = ["anomaly", str(models["vae"]), str(tmp_path / "in"), "-o", str(out), "--quiet"]
    stats_json = tmp_path / "ref.json"
    assert main(args) == 2  # the default (standardised) error needs a reference
    assert "--reference" in capsys.readouterr().err
    args += ["--reference", str(tmp_path / "ref"), "--quantile", "1.0", "--frames"]
    # four normal files are too few to estimate the spread of normal scores: refused, no output
    assert main([*args, "--save-reference", str(stats_json)]) == 2
    assert "4 readable normal file(s); the reference needs at least 5" in capsys.readouterr().err
    assert not out.exists() and not stats_json.exists()
    _write(tmp_path / "ref" / "r4.wav", sine(300, seconds=0.5))
    assert main([*args, "--save-reference", str(stats_json)]) == 1  # broken.wav failed
    printed = capsys.readouterr().out
    assert "2 scored, 1 failed" in printed and "broken.wav" in printed
    assert "fitted on 5 files" in printed and stats_json.exists()
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["rank"]) for r in rows] == [1, 2]
    values = [float(r["score_combined"]) for r in rows]
    assert values == sorted(values, reverse=True)
    assert {r["score"] for r in rows} == {"combined"}  # the default with a reference
    threshold = float(rows[0]["threshold"])
    for r in rows:
        assert r["anomalous"] == str(int(float(r["score_combined"]) > threshold))
        z = sum(float(r[f"z_{t}"]) for t in COMBINED_TERMS)  # written with a reference
        assert z == pytest.approx(float(r["score_combined"]), rel=1e-3, abs=1e-3)
        assert r["neg_elbo"] != "" and r["error"] == "standardised"
    # the saved statistics give the same scores and threshold without the folder
    again = tmp_path / "again.csv"
    reused = [a if a != str(tmp_path / "ref") else str(stats_json) for a in args]
    assert main([*reused[:4], str(again), *reused[5:]]) == 1
    assert "read from" in capsys.readouterr().out
    with open(again, newline="") as fh:
        rows2 = list(csv.DictReader(fh))
    assert [(r["file"], r["score_mean"], r["score_combined"], r["threshold"]) for r in rows2] == [
        (r["file"], r["score_mean"], r["score_combined"], r["threshold"]) for r in rows
    ]
    with open(tmp_path / "scores_frames.csv", newline="") as fh:
        frames = list(csv.DictReader(fh))
    assert len(frames) == 2 * (8000 // 64 + 1)
    assert float(frames[1]["time_s"]) == pytest.approx(0.004)
    # edge: the frames whose analysis window reaches past the file's start or end
    n_fft = Pipeline.load(models["vae"], device="cpu").config.features.n_fft
    for row in frames[: len(frames) // 2]:
        centre = float(row["time_s"]) * 16000
        inside = centre - n_fft / 2 >= 0 and centre + n_fft / 2 <= 8000
        assert row["edge"] == str(int(not inside)), row
    assert frames[0]["edge"] == "1" and frames[len(frames) // 4]["edge"] == "0"
    assert frames[len(frames) // 2 - 1]["edge"] == "1"  # the last frame of the first file
    # never overwritten without --force
    before = out.read_bytes()
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == before
    # --score mean ranks and thresholds by the mean error instead
    assert main([*reused, "--score", "mean", "--force"]) == 1
    with open(out, newline="") as fh:
        rows3 = list(csv.DictReader(fh))
    assert {r["score"] for r in rows3} == {"mean"}
    values = [float(r["score_mean"]) for r in rows3]
    assert values == sorted(values, reverse=True)
    for r in rows3:
        assert r["anomalous"] == str(int(float(r["score_mean"]) > float(r["threshold"])))


def test_cli_anomaly_names_files_below_silence_db(models, tmp_path, capsys):
    """A digitally silent file (a dead input) ranked as normal with no word (this session's
    student review: 20th of 30, below the threshold); the command now names it."""
    _write(tmp_path / "in" / "tone.wav", sine(250, seconds=0.5))
    _write(tmp_path / "in" / "dead.wav", np.zeros((1, 8000), np.float32))
    _write(tmp_path / "in" / "hiss.wav", np.full((1, 8000), 1e-4, np.float32))  # -80 dBFS
    args = ["anomaly", str(models["vae"]), str(tmp_path / "in"), "-o", str(tmp_path / "s.csv")]
    assert main([*args, "--error", "compressed", "--quiet"]) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if "below data.silence_db" in x)
    assert line.startswith("audioae: anomaly: 2 file(s) below data.silence_db (-60 dBFS)")
    assert "dead.wav (-inf dBFS)" in line and "hiss.wav (-8" in line  # -80 dBFS, resampled
    assert "tone.wav" not in line


def test_cli_anomaly_refuses_mask_model(models, tmp_path, capsys):
    src = _write(tmp_path / "a.wav", sine(seconds=0.25))
    args = ["anomaly", str(models["mask"]), str(src), "-o", str(tmp_path / "s.csv"), "--quiet"]
    assert main(args) == 2
    assert "mask" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()


def test_the_combined_score_is_round_18s_choice():
    """docs/benchmarks.md, round 18: reconstruction + latent + the quiet-frame band error over
    the quietest tenth of the frames (round 19 kept the tenth)."""
    from audioae.anomaly import QUIET_FRACTION

    assert COMBINED_TERMS == ("reconstruction", "latent", "quiet_band")
    assert QUIET_FRACTION == 0.1


def test_inner_quiet_frames_leave_out_the_padded_edges(codec):
    """On steady noise the STFT's padding makes the first and last frames the quietest; with
    ``inner=True`` the quiet frames are chosen among the frames inside the signal."""
    gen = torch.Generator().manual_seed(0)
    rec = reconstruct_frames(codec, torch.randn(1, 32000, generator=gen) * 0.1)
    edge = rec.edge
    assert bool(edge[0]) and bool(edge[-1]) and int(edge.sum()) < 10
    assert bool(quiet_frames(codec, rec)[edge].any())  # the default picks padded frames
    inner = quiet_frames(codec, rec, inner=True)
    assert not bool(inner[edge].any()) and int(inner.sum()) >= 0.09 * int((~edge).sum())
    short = reconstruct_frames(codec, torch.randn(1, 200, generator=gen) * 0.1)
    assert bool(short.edge.all()) and bool(quiet_frames(codec, short, inner=True).any())
