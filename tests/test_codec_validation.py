"""The codec validation set: which corpus clips it takes, and a scored round trip."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import tiny_model_file

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))  # the corpus scripts

from benchmarks.codec_validation import score_model, validation_clips  # noqa: E402

FIELDS = ["file", "kind", "group", "source_sample_rate", "duration_s"]


def _corpus(tmp_path: Path, rows: list[tuple[str, str, str, int, float]]) -> Path:
    with (tmp_path / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        writer.writerows(rows)
    return tmp_path


def test_one_wide_band_clip_per_group_outside_the_training_languages(tmp_path: Path) -> None:
    corpus = _corpus(
        tmp_path,
        [
            ("speech/de/a/0.flac", "speech", "de/a", 44100, 3.0),
            ("speech/de/a/1.flac", "speech", "de/a", 44100, 4.0),
            ("speech/de/a/short.flac", "speech", "de/a", 44100, 1.5),  # under 2 s
            ("speech/fr/b/0.flac", "speech", "fr/b", 22050, 5.0),
            ("speech/fr/n/0.flac", "speech", "fr/n", 8000, 5.0),  # narrow-band
            ("speech/cs/c/0.flac", "speech", "cs/c", 44100, 5.0),  # a training language
            ("speech/nl/d/0.flac", "speech", "nl/d", 44100, 5.0),  # a training language
            ("noise/babble/0.flac", "noise", "babble", 44100, 8.0),
        ],
    )
    clips = validation_clips(corpus)
    assert [g for g, _ in clips] == ["de/a", "fr/b"]
    assert clips[0][1] in {corpus / "speech/de/a/0.flac", corpus / "speech/de/a/1.flac"}
    assert clips == validation_clips(corpus)  # seeded: the same clips every run
    assert validation_clips(corpus, seed=0) == clips


def test_corpus_training_leaves_out_every_validation_group_and_narrow_band(
    tmp_path: Path,
) -> None:
    from train_codec_corpus import link_folder, training_files

    corpus = _corpus(
        tmp_path,
        [
            ("speech/de/a/0.flac", "speech", "de/a", 44100, 3.0),  # a validation group
            ("speech/fr/m/0.flac", "speech", "fr/m", 8000, 5.0),  # its group is mixed:
            ("speech/fr/m/1.flac", "speech", "fr/m", 44100, 5.0),  # validation, left out whole
            ("speech/fr/n/0.flac", "speech", "fr/n", 8000, 5.0),  # narrow-band
            ("speech/it/w/0.flac", "speech", "it/w", 16000, 5.0),  # wide, under 22.05 kHz
            ("speech/cs/c/0.flac", "speech", "cs/c", 22050, 5.0),  # a training language
            ("speech/cs/c/1.flac", "speech", "cs/c", 22050, 1.0),
            ("noise/babble/0.flac", "noise", "babble", 44100, 8.0),
        ],
    )
    files = training_files(corpus)
    assert files == [
        corpus / f for f in ("speech/cs/c/0.flac", "speech/cs/c/1.flac", "speech/it/w/0.flac")
    ]
    held = {g for g, _ in validation_clips(corpus)}
    assert held == {"de/a", "fr/m"}
    assert not held & {"/".join(f.relative_to(corpus / "speech").parts[:2]) for f in files}
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    folder = link_folder(files, corpus, tmp_path / "work" / "data")
    linked = sorted(p.name for p in folder.iterdir())
    assert linked == ["cs_c_0.flac", "cs_c_1.flac", "it_w_0.flac"]
    assert (folder / "it_w_0.flac").resolve() == (corpus / "speech/it/w/0.flac").resolve()


def test_missing_manifest_names_the_script(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="build_corpus.py"):
        validation_clips(tmp_path)


def test_scores_a_tiny_codec_through_real_aae_round_trips(tmp_path: Path) -> None:
    model = tiny_model_file(tmp_path / "tiny.safetensors")
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    wav = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(t.size)
    sf.write(tmp_path / "a.wav", wav.astype(np.float32), 16000)
    vocoder = ROOT / "data/models/vocoder.safetensors"
    rows = score_model(model, [("x/y", tmp_path / "a.wav")], [4, 6], vocoder)
    assert set(rows) == {"unquantised", "4 bits", "6 bits"}
    assert rows["4 bits"]["kbps"] < rows["6 bits"]["kbps"]
    for r in rows.values():
        assert 1.0 <= r["pesq"] <= 4.7 and r["log_mel_l1"] > 0


def test_every_corpus_script_defaults_to_the_folder_build_corpus_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_corpus.py writes the corpus where the codec validation and both corpus training
    scripts look for it, with and without XDG_CACHE_HOME."""
    import importlib

    import build_corpus
    import train_denoise_corpus

    import benchmarks.codec_validation as cv

    for cache in (None, tmp_path / "xdg"):
        if cache is None:
            monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
            expected = Path.home() / ".cache" / "audioae" / "corpus"
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
            expected = cache / "audioae" / "corpus"
        for module in (build_corpus, cv, train_denoise_corpus):
            importlib.reload(module)
        assert build_corpus.DEFAULT_OUT == expected
        assert cv.DEFAULT_CORPUS == expected
        assert train_denoise_corpus.DEFAULT_CORPUS == expected
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for module in (build_corpus, cv, train_denoise_corpus):
        importlib.reload(module)


def test_decoder_fine_tune_links_the_split_and_the_extra_corpus_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """train_vocoder.train_decoder_on_split trains on the bundled train split plus the ``extra``
    files (train_model_decoder.py --corpus), each linked once with its path under its base."""
    import train_vocoder

    data = tmp_path / "data"
    for rel in ("speech/a/0.flac", "speech/a/1.flac", "notes/n/0.flac"):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(b"x")
    (data / "splits.yaml").write_text(
        "speech: {train: [speech/a/0.flac], test: [speech/a/1.flac]}\n"
        "notes: {train: [notes/n/0.flac], test: []}\n"
    )
    corpus = tmp_path / "corpus" / "speech"
    extra = [corpus / "cs/c/0.flac", corpus / "cs/c/1.flac"]
    for f in extra:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"y")
    seen: dict[str, Path] = {}

    class _Result:
        steps = 0
        model_file = tmp_path / "decoder.safetensors"

    def fake_train(cfg, folder, **kwargs):
        seen["folder"] = folder
        return _Result()

    monkeypatch.setattr(train_vocoder, "train", fake_train)
    work = tmp_path / "runs" / "dec"
    train_vocoder.train_decoder_on_split(
        data, work, [], resume=False, max_steps=None, extra={corpus: extra}
    )
    folder = seen["folder"]
    linked = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.flac"))
    assert linked == [
        "extra/cs/c/0.flac",
        "extra/cs/c/1.flac",
        "notes/n/0.flac",
        "speech/a/0.flac",
    ]  # the test file stays out
    assert (folder / "extra/cs/c/1.flac").read_bytes() == b"y"
