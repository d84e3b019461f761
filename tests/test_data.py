"""Data pipeline: reproducible crops, silence rejection, split, bad files, noise mixing."""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import DATA, sine
from torch.utils.data import DataLoader

from audioae.augment import change_speed, colored_noise, random_biquad, random_gain
from audioae.clips import FileClips
from audioae.config import ConfigError, load_config
from audioae.data import (
    AudioFolder,
    DatasetError,
    DenoisingFolder,
    EpochSampler,
    build_datasets,
    split_by_hash,
)
from audioae.dataindex import index_folder

SR = 16000


def _cfg(*overrides: str):
    base = [
        "data.segment_seconds=0.25",
        "data.samples_per_epoch=24",
        "data.val_segments=6",
        "data.batch_size=4",
    ]
    return load_config(None, base + list(overrides))


def _clips(n: int = 3, seconds: float = 1.0) -> list[torch.Tensor]:
    return [torch.from_numpy(sine(220.0 * (i + 1), seconds, SR)[0]) for i in range(n)]


def test_segments_have_fixed_length_and_epoch_size() -> None:
    cfg = _cfg()
    for n_clips in (1, 5):
        ds = AudioFolder(_clips(n_clips), cfg, "train")
        assert len(ds) == 24  # samples_per_epoch, whatever the number of files
        item = ds[3]
        assert item.shape == (cfg.segment_samples,) == (4000,)
        assert item.dtype == torch.float32


def test_crops_are_reproducible_and_change_with_the_epoch() -> None:
    cfg = _cfg()
    a, b = AudioFolder(_clips(), cfg, "train"), AudioFolder(_clips(), cfg, "train")
    n = len(a)
    assert torch.equal(a[5], b[5])  # same (seed, epoch, index)
    epoch0 = torch.stack([a[i] for i in range(n)])
    epoch1 = torch.stack([a[n + i] for i in range(n)])
    assert not torch.equal(epoch0, epoch1)
    other_seed = AudioFolder(_clips(), _cfg("data.seed=1"), "train")
    assert not torch.equal(epoch0, torch.stack([other_seed[i] for i in range(n)]))


def test_validation_segments_are_fixed() -> None:
    cfg = _cfg()
    ds = AudioFolder(_clips(), cfg, "val")
    assert len(ds) == 6
    first = torch.stack([ds[i] for i in range(6)])
    again = torch.stack([ds[i] for i in range(6)])
    assert torch.equal(first, again)
    assert len({tuple(x[:50].tolist()) for x in first}) > 1  # not all the same crop


def test_quiet_crops_are_redrawn() -> None:
    cfg = _cfg("data.silence_db=-40")
    loud = torch.from_numpy(sine(440.0, 0.5, SR)[0])
    clip = torch.cat([torch.zeros(SR * 4), loud])  # 4 s of silence then 0.5 s of tone
    ds = AudioFolder([clip], cfg, "train")
    levels = [20 * torch.log10(ds[i].square().mean().sqrt() + 1e-12).item() for i in range(24)]
    assert min(levels) >= -40.0
    # without rejection most crops would be silent
    plain = AudioFolder([clip], _cfg("data.silence_db=-.inf"), "train")
    silent = sum(plain[i].abs().max().item() == 0.0 for i in range(24))
    assert silent >= 12


def test_short_clips_are_zero_padded() -> None:
    cfg = _cfg()
    short = torch.ones(1000) * 0.5
    ds = AudioFolder([short], cfg, "train")
    item = ds[0]
    assert item.shape == (4000,)
    assert torch.equal(item[:1000], short) and torch.count_nonzero(item[1000:]) == 0


def test_split_is_deterministic_and_independent_of_order(tmp_path: Path) -> None:
    names = [Path(f"spk{i % 3}/utt{i:02d}.flac") for i in range(20)]
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    train, val = split_by_hash([root_a / n for n in names], root_a, 0.2)
    assert len(val) == 4 and sorted(train + val) == list(range(20))
    # another root with the same relative paths, in another order: the same files held out
    shuffled = list(reversed(names))
    _, val_b = split_by_hash([root_b / n for n in shuffled], root_b, 0.2)
    assert {names[i] for i in val} == {shuffled[i] for i in val_b}
    assert split_by_hash(names, tmp_path, 0.0) == (list(range(20)), [])
    _, val_small = split_by_hash(names[:3], tmp_path, 0.01)  # at least one held out
    assert len(val_small) == 1


def test_split_of_a_folder_of_links_ignores_spelling_and_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # links leading outside the folder (like the demo's split folders) are keyed by their own
    # path relative to the folder, so absolute and relative spellings hold out the same files
    source, links = tmp_path / "source", tmp_path / "links"
    names = [f"spk{i % 2}/utt{i:02d}.flac" for i in range(12)]
    for name in names:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(b"")
        (links / name).parent.mkdir(parents=True, exist_ok=True)
        (links / name).symlink_to((source / name).resolve())
    _, val_abs = split_by_hash([links / n for n in names], links, 0.25)
    monkeypatch.chdir(tmp_path)
    _, val_rel = split_by_hash([Path("links") / n for n in names], "links", 0.25)
    _, val_src = split_by_hash([source / n for n in names], source, 0.25)
    assert val_abs == val_rel == val_src and len(val_abs) == 3


def test_file_clips_read_windows_resampled_to_mono(write_audio, tmp_path: Path) -> None:
    from audioae.audio import load_audio

    path = write_audio("stereo_22k.wav", sine(440.0, 0.5, 22050, channels=2), sample_rate=22050)
    index = index_folder(tmp_path)
    assert not index.bad and index.paths == ["stereo_22k.wav"]
    clips = FileClips(index, [0], SR)
    assert clips.lengths.tolist() == [8000]
    whole, _ = load_audio(path, sample_rate=SR, mono=True)  # the whole file, resampled at once
    window = clips.read(0, 3000, 2000)  # only [3000, 5000) read, with a little context
    assert window.shape == (2000,)
    torch.testing.assert_close(window, whole[0, 3000:5000], atol=2e-3, rtol=0)
    tail = clips.read(0, 7000, 2000)  # past the end: zero-padded
    assert tail.shape == (2000,) and torch.count_nonzero(tail[1000:]) == 0


def _write(path: Path, data: np.ndarray, subtype: str = "PCM_16") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, SR, subtype=subtype)


def test_bad_files_are_left_out_with_one_warning(tmp_path: Path, caplog) -> None:
    root = tmp_path / "folder"
    for i in range(4):
        _write(root / f"sub{i % 2}/good{i}.wav", sine(220.0 * (i + 1), 1.0, SR)[0])
    _write(root / "silent.wav", np.zeros(SR, dtype=np.float32))
    nan = sine(330.0, 1.0, SR)[0]
    nan[100] = np.nan
    _write(root / "nan.wav", nan, subtype="FLOAT")
    (root / "corrupt.wav").write_bytes(b"RIFF" + bytes(range(256)) * 4)
    (root / "text.flac").write_text("not audio at all\n" * 50)
    (root / "readme.txt").write_text("ignored: no audio extension")
    cfg = _cfg("data.val_fraction=0.25")
    with caplog.at_level(logging.WARNING, logger="audioae"):
        ds = build_datasets(cfg, root)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    for name in ("silent.wav", "nan.wav", "corrupt.wav", "text.flac"):
        assert name in message
    assert "good" not in message and "readme" not in message
    assert len(ds.bad_files) == 4
    assert sorted(p.name for p in ds.train_files + ds.val_files) == [
        f"good{i}.wav" for i in range(4)
    ]
    assert len(ds.val_files) == 1
    batch = next(iter(DataLoader(ds.train, batch_size=4, sampler=EpochSampler(len(ds.train)))))
    assert batch.shape == (4, 4000) and torch.isfinite(batch).all()


def test_files_below_silence_db_are_left_out_as_silent(tmp_path: Path) -> None:
    # a sine of amplitude 0.01 is at 20 log10(0.01 / sqrt(2)) = -43.0 dBFS: the same level
    # that audioae.audio.rms_db (and so ``audioae inspect``) reports
    root = tmp_path / "folder"
    _write(root / "quiet.wav", sine(440.0, 1.0, SR, amplitude=0.01)[0], subtype="FLOAT")
    _write(root / "loud.wav", sine(440.0, 1.0, SR, amplitude=0.5)[0], subtype="FLOAT")
    level = 20 * math.log10(0.01 / math.sqrt(2))
    assert index_folder(root).rms_db[1] == pytest.approx(level, abs=1e-3)
    cfg = f"data.silence_db={level - 0.05}", "data.val_fraction=0"
    kept = build_datasets(_cfg(*cfg), root, report=False)
    assert [p.name for p in kept.train_files] == ["loud.wav", "quiet.wav"] and not kept.bad_files
    cfg = f"data.silence_db={level + 0.05}", "data.val_fraction=0"
    rejected = build_datasets(_cfg(*cfg), root, report=False)
    assert [p.name for p in rejected.train_files] == ["loud.wav"]
    assert [p.name for p, _ in rejected.bad_files] == ["quiet.wav"]
    assert "silent" in rejected.bad_files[0][1]


def test_empty_and_too_small_folders_give_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio")
    with pytest.raises(DatasetError, match="no audio files"):
        build_datasets(_cfg(), empty)
    with pytest.raises(DatasetError, match="not found"):
        build_datasets(_cfg(), tmp_path / "absent")
    one = tmp_path / "one"
    _write(one / "a.wav", sine(440.0, 1.0, SR)[0])
    with pytest.raises(DatasetError, match="data.val_fraction=0"):
        build_datasets(_cfg(), one)
    assert build_datasets(_cfg("data.val_fraction=0"), one).val is None
    with pytest.raises(DatasetError, match="data.batch_size"):
        build_datasets(_cfg("data.val_fraction=0", "data.samples_per_epoch=2"), one)
    broken = tmp_path / "broken"
    _write(broken / "silent.wav", np.zeros(SR, dtype=np.float32))
    with pytest.raises(DatasetError, match="no usable audio file"):
        build_datasets(_cfg(), broken, report=False)


def test_skip_short_clips(tmp_path: Path) -> None:
    root = tmp_path / "short"
    for i in range(3):
        _write(root / f"s{i}.wav", sine(440.0, 0.1, SR)[0])
    _write(root / "long.wav", sine(440.0, 1.0, SR)[0])
    ds = build_datasets(_cfg("data.short_clips=skip", "data.val_fraction=0"), root, report=False)
    assert [p.name for p in ds.train_files] == ["long.wav"] and len(ds.skipped_short) == 3
    only_short = tmp_path / "only_short"
    _write(only_short / "s.wav", sine(440.0, 0.1, SR)[0])
    with pytest.raises(DatasetError, match="short_clips=pad"):
        build_datasets(
            _cfg("data.short_clips=skip", "data.val_fraction=0"), only_short, report=False
        )


def test_real_folder_splits_and_loads() -> None:
    notes = DATA / "notes"
    if not notes.is_dir():
        pytest.skip("data/notes not present")
    cfg = _cfg("data.val_fraction=0.2")
    ds = build_datasets(cfg, notes)
    n = len(ds.train_files) + len(ds.val_files)
    assert n == len(list(notes.glob("*.flac"))) - len(ds.bad_files)
    assert len(ds.val_files) == max(1, round(0.2 * n))
    assert not set(ds.train_files) & set(ds.val_files)
    assert ds.train[0].shape == (4000,)


@pytest.mark.parametrize(("color", "slope"), [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_colored_noise_spectral_slope(color: str, slope: float) -> None:
    x = colored_noise(color, 2**16, torch.Generator().manual_seed(1))
    assert x.square().mean().item() == pytest.approx(1.0, rel=1e-4)
    power = torch.fft.rfft(x).abs().square()
    freqs = torch.arange(power.numel(), dtype=torch.float64)
    band = (freqs > 50) & (freqs < 20000)
    fit = np.polyfit(np.log(freqs[band].numpy()), np.log(power[band].double().numpy()), 1)
    assert fit[0] == pytest.approx(slope, abs=0.1)


def test_denoising_pairs(tmp_path: Path) -> None:
    cfg = _cfg("data.denoise=true", "data.snr_db_min=0", "data.snr_db_max=10")
    clean = AudioFolder(_clips(), cfg, "train")
    ds = DenoisingFolder(clean, None, cfg)  # synthetic noise
    snrs = []
    for i in range(12):
        noisy, target = ds[i]
        assert noisy.shape == target.shape == (4000,)
        assert torch.equal(target, clean[i])
        snrs.append(
            10 * torch.log10(target.square().mean() / (noisy - target).square().mean()).item()
        )
    assert 0.0 - 1e-3 <= min(snrs) and max(snrs) <= 10.0 + 1e-3 and max(snrs) - min(snrs) > 1.0
    val = DenoisingFolder(AudioFolder(_clips(), cfg, "val"), None, cfg)
    assert torch.equal(val[2][0], val[2][0]) and torch.equal(
        val[2][0], DenoisingFolder(AudioFolder(_clips(), cfg, "val"), None, cfg)[2][0]
    )
    noise_clip = colored_noise(
        "white", 3000, torch.Generator().manual_seed(3)
    )  # shorter than a segment
    with_files = DenoisingFolder(clean, [noise_clip], cfg)
    noisy, target = with_files[0]
    assert noisy.shape == (4000,) and not torch.equal(noisy, target)


def test_denoising_datasets_from_folders(tmp_path: Path) -> None:
    speech, noise = DATA / "speech", DATA / "noise"
    if not (speech.is_dir() and noise.is_dir()):
        pytest.skip("data/speech or data/noise not present")
    small = tmp_path / "speech"
    for path in sorted(speech.rglob("*.flac"))[::40]:  # a few clips, nested like the original
        target = small / path.relative_to(speech)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    cfg = _cfg("data.denoise=true")
    ds = build_datasets(cfg, small, noise)
    assert isinstance(ds.train, DenoisingFolder) and isinstance(ds.val, DenoisingFolder)
    assert ds.noise_files
    noisy, clean = ds.val[0]
    assert noisy.shape == clean.shape == (4000,)


def test_epoch_sampler_epochs_and_shards(monkeypatch) -> None:
    s = EpochSampler(10)
    assert list(s) == list(range(10))
    s.set_epoch(2)
    assert list(s) == list(range(20, 30))
    fixed = EpochSampler(10, fixed=True)
    fixed.set_epoch(5)
    assert list(fixed) == list(range(10))
    shards = []
    for rank in range(3):
        monkeypatch.setattr(EpochSampler, "_rank_world", lambda self, r=rank: (r, 3))
        s = EpochSampler(10)
        s.set_epoch(1)
        shards.append(list(s))
        assert len(s) == 3
    flat = sorted(i for shard in shards for i in shard)
    assert len(set(flat)) == 9 and all(10 <= i < 20 for i in flat)


def test_workers_give_the_same_batches_as_the_main_process() -> None:
    cfg = _cfg()
    ds = AudioFolder(_clips(), cfg, "train")

    def batches(workers: int) -> torch.Tensor:
        sampler = EpochSampler(len(ds))
        sampler.set_epoch(1)
        loader = DataLoader(ds, batch_size=4, sampler=sampler, num_workers=workers)
        return torch.cat(list(loader))

    assert torch.equal(batches(0), batches(2))


def test_real_folder_copy_keeps_the_split(tmp_path: Path) -> None:
    notes = DATA / "notes"
    if not notes.is_dir():
        pytest.skip("data/notes not present")
    copy = tmp_path / "copy"
    shutil.copytree(notes, copy)
    cfg = _cfg("data.val_fraction=0.2")
    a = build_datasets(cfg, notes, report=False)
    b = build_datasets(cfg, copy, report=False)
    assert [p.name for p in a.val_files] == [p.name for p in b.val_files]


def test_gain_augmentation_scales_whole_crops_within_the_range() -> None:
    plain = AudioFolder(_clips(), _cfg(), "train")
    gained = AudioFolder(_clips(), _cfg("data.gain_db_min=-20", "data.gain_db_max=6"), "train")
    gains_db = []
    for i in range(len(plain)):
        a, b = plain[i], gained[i]
        ratio = b.abs().max() / a.abs().max()
        torch.testing.assert_close(b, a * ratio)  # the same crop, one gain
        gains_db.append(20 * math.log10(float(ratio)))
    assert -20 - 1e-4 <= min(gains_db) and max(gains_db) <= 6 + 1e-4
    assert max(gains_db) - min(gains_db) > 10  # really spread over the range
    with pytest.raises(ConfigError, match="data.gain_db_min"):
        _cfg("data.gain_db_min=3", "data.gain_db_max=0")


def test_babble_noise_is_made_of_other_talkers_at_the_drawn_snr() -> None:
    cfg = _cfg(
        "data.denoise=true", "data.babble_fraction=1", "data.snr_db_min=5", "data.snr_db_max=5"
    )
    clips = [torch.from_numpy(sine(110.0 * (i + 2), 1.0, SR)[0]) for i in range(8)]
    ds = DenoisingFolder(AudioFolder(clips, cfg, "train"), None, cfg)
    for i in range(6):
        noisy, clean = ds[i]
        noise = noisy - clean
        snr = 10 * torch.log10(clean.square().mean() / noise.square().mean())
        assert float(snr) == pytest.approx(5.0, abs=1e-3)
        # babble of 3+ talkers: several sine frequencies in the noise, not white noise
        spectrum = torch.fft.rfft(noise).abs()
        peaks = int((spectrum > 0.2 * spectrum.max()).sum())
        assert 3 <= peaks <= 40
    with pytest.raises(ConfigError, match="data.babble_fraction"):
        _cfg("data.babble_fraction=1.5")
    with pytest.raises(ConfigError, match="data.babble_talkers"):
        _cfg("data.babble_talkers=2")


def test_babble_in_a_room_gives_each_talker_a_reverberant_tail_and_leaves_the_rest() -> None:
    """``data.babble_reverb_fraction=1``: every babble talker (here clicks every 50 ms) gets a
    room's tail, so the babble's energy no longer sits in a few samples, while the clean
    target, the SNR and the dry babble with the fraction at 0 are unchanged (its draws come
    from their own seed stream)."""
    x = 1e-4 * torch.randn(SR, generator=torch.Generator().manual_seed(0))
    x[:: int(0.05 * SR)] = 1.0
    clips = [x.clone() for _ in range(4)]
    base = ("data.denoise=true", "data.babble_fraction=1", "data.snr_db_min=5", "data.snr_db_max=5")
    dry_cfg, room_cfg = _cfg(*base), _cfg(*base, "data.babble_reverb_fraction=1")
    dry = DenoisingFolder(AudioFolder(clips, dry_cfg, "train"), None, dry_cfg)
    room = DenoisingFolder(AudioFolder(clips, room_cfg, "train"), None, room_cfg)
    zero_cfg = _cfg(*base, "data.babble_reverb_fraction=0")
    zero = DenoisingFolder(AudioFolder(clips, zero_cfg, "train"), None, zero_cfg)
    for i in range(4):
        (n_dry, c_dry), (n_room, c_room) = dry[i], room[i]
        assert torch.equal(c_dry, c_room) and torch.equal(zero[i][0], n_dry)
        for noisy, clean, tail_min, tail_max in (
            (n_dry, c_dry, 0.0, 0.05),
            (n_room, c_room, 0.3, 1.0),
        ):
            noise = noisy - clean
            snr = 10 * torch.log10(clean.square().mean() / noise.square().mean())
            assert float(snr) == pytest.approx(5.0, abs=1e-3)
            energy = noise.square()
            clicks = 8 * len(noise) // int(0.05 * SR)  # at most 8 talkers' clicks
            spread = 1.0 - float(energy.topk(clicks).values.sum() / energy.sum())
            assert tail_min <= spread <= tail_max, (i, spread)
    with pytest.raises(ConfigError, match="data.babble_reverb_fraction"):
        _cfg("data.babble_reverb_fraction=2")


def test_random_biquad_matches_scipy_and_is_stable() -> None:
    from scipy.signal import lfilter

    x = torch.randn(4000, generator=torch.Generator().manual_seed(0))
    for seed in range(5):
        y = random_biquad(x, np.random.default_rng(seed))
        r = np.random.default_rng(seed).uniform(-0.375, 0.375, size=4)
        ref = lfilter([1.0, r[0], r[1]], [1.0, r[2], r[3]], x.numpy().astype(np.float64))
        np.testing.assert_allclose(y.numpy(), ref, atol=1e-5)  # the same filter (causal IIR)
        assert 0.1 < float(y.std() / x.std()) < 10.0


def test_random_gain_scales_by_one_draw_in_the_db_range() -> None:
    x = torch.full((100,), 0.1)
    for seed in range(5):
        y = random_gain(x, np.random.default_rng(seed), -6.0, 3.0)
        gain_db = 20 * np.log10(float(y[0] / x[0]))
        assert -6.0 <= gain_db <= 3.0
        assert gain_db == pytest.approx(np.random.default_rng(seed).uniform(-6.0, 3.0), abs=1e-4)
        assert torch.allclose(y, torch.full_like(x, float(y[0])))


def test_random_eq_filters_speech_and_noise_before_mixing() -> None:
    cfg = _cfg("data.denoise=true", "data.random_eq=true", "data.snr_db_min=3", "data.snr_db_max=3")
    plain_cfg = _cfg("data.denoise=true", "data.snr_db_min=3", "data.snr_db_max=3")
    eq = DenoisingFolder(AudioFolder(_clips(), cfg, "train"), None, cfg)
    plain = DenoisingFolder(AudioFolder(_clips(), plain_cfg, "train"), None, plain_cfg)
    noisy, clean = eq[0]
    # the target is the filtered crop, not the raw one, and the SNR holds after filtering
    assert not torch.allclose(clean, plain[0][1])
    snr = 10 * torch.log10(clean.square().mean() / (noisy - clean).square().mean())
    assert float(snr) == pytest.approx(3.0, abs=1e-3)


def test_synthetic_noise_fraction_mixes_coloured_noise_with_the_clips() -> None:
    tone = torch.from_numpy(sine(1000.0, 1.0, SR)[0])  # the only noise clip: a 1 kHz tone

    def tonal_share(fraction: float) -> float:
        cfg = _cfg(
            "data.denoise=true",
            f"data.synthetic_noise_fraction={fraction}",
            "data.noise_colors=[white]",
        )
        ds = DenoisingFolder(AudioFolder(_clips(), cfg, "train"), [tone], cfg)
        shares = []
        for i in range(40):
            noisy, clean = ds[i]
            spectrum = torch.fft.rfft(noisy - clean).abs().square()
            bin_1k = round(1000 * spectrum.numel() * 2 / SR)
            shares.append(float(spectrum[bin_1k - 2 : bin_1k + 3].sum() / spectrum.sum()))
        return float(np.mean([s > 0.5 for s in shares]))  # mixtures whose noise is the tone

    assert tonal_share(0.0) == 1.0
    assert 0.2 < tonal_share(0.5) < 0.8
    assert tonal_share(1.0) == 0.0
    with pytest.raises(ConfigError, match="data.synthetic_noise_fraction"):
        _cfg("data.synthetic_noise_fraction=-0.1")


def _peak_hz(wav: torch.Tensor) -> float:
    spectrum = torch.fft.rfft(wav.double() * torch.hann_window(wav.numel(), dtype=torch.float64))
    return float(spectrum.abs().argmax()) * SR / wav.numel()


def test_change_speed_moves_pitch_and_duration_by_the_factor() -> None:
    tone = torch.from_numpy(sine(500.0, 2.0, SR)[0])
    for factor in (0.9, 1.1):
        out = change_speed(tone, factor)
        assert out.shape == (round(tone.numel() / factor),)
        assert abs(_peak_hz(out) - 500.0 * factor) <= SR / out.numel()  # within one FFT bin
    with pytest.raises(ValueError, match="factor"):
        change_speed(tone, 3.0)


def test_speed_perturbation_draws_voices_within_the_range_for_training_only() -> None:
    clips = [torch.from_numpy(sine(500.0, 3.0, SR)[0])]
    cfg = _cfg("data.speed_perturb=0.1", "data.segment_seconds=1.0")
    plain = AudioFolder(clips, _cfg("data.segment_seconds=1.0"), "train")
    sped = AudioFolder(clips, cfg, "train")
    peaks = []
    for i in range(len(sped)):
        item = sped[i]
        assert item.shape == (SR,)
        peaks.append(_peak_hz(item))
    assert 450.0 - 1.0 <= min(peaks) and max(peaks) <= 550.0 + 1.0
    assert max(peaks) - min(peaks) > 40.0  # really spread, not one factor
    assert all(abs(_peak_hz(plain[i]) - 500.0) <= 1.0 for i in range(4))  # off: unchanged
    val_plain = AudioFolder(clips, _cfg("data.segment_seconds=1.0"), "val")
    val_sped = AudioFolder(clips, cfg, "val")
    for i in range(len(val_sped)):  # validation crops are never perturbed
        assert torch.equal(val_sped[i], val_plain[i])
    with pytest.raises(ConfigError, match="data.speed_perturb"):
        _cfg("data.speed_perturb=0.7")


def test_slowed_crops_mix_noise_only_within_the_band_of_their_speech() -> None:
    clips = [torch.from_numpy(sine(500.0, 3.0, SR)[0])]
    noise = [torch.randn(3 * SR, generator=torch.Generator().manual_seed(0))]
    cfg = _cfg("data.speed_perturb=0.2", "data.segment_seconds=1.0", "data.denoise=true")
    clean = AudioFolder(clips, cfg, "train")
    pairs = DenoisingFolder(clean, noise, cfg)
    slowed = [i for i in range(len(clean)) if clean._speed(i) < 0.97][:4]
    assert slowed, "no slowed crop drawn"
    freq = torch.fft.rfftfreq(SR, 1.0 / SR)
    for i in slowed:
        noisy, target = pairs[i]
        top = freq > clean._speed(i) * SR / 2  # above the slowed speech's band
        for wav in (noisy, target):
            spectrum = torch.fft.rfft(wav.double() * torch.hann_window(SR, dtype=torch.float64))
            power = spectrum.abs().square()
            assert float(power[top].sum()) < 1e-8 * float(power.sum())
    fast = next(i for i in range(len(clean)) if clean._speed(i) > 1.03)
    noisy, _ = pairs[fast]  # sped-up crops keep the full band of the noise
    spectrum = torch.fft.rfft(noisy.double() * torch.hann_window(SR, dtype=torch.float64))
    assert float(spectrum.abs().square()[freq > 7500].sum()) > 1e-4 * float(
        spectrum.abs().square().sum()
    )
