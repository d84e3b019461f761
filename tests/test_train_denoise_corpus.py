"""scripts/train_denoise_corpus.py: which files train, which validate, and the noise balance."""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

import train_denoise_corpus as tdc  # noqa: E402

from audioae.audio import find_audio_files  # noqa: E402
from audioae.data import split_by_hash  # noqa: E402


def _tone(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), 0.1 * np.sin(np.arange(1600) / 5.0), 16000)
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A corpus (speech, 3 noise categories of 20 / 4 / 2 files) and a bundled data folder."""
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    for i in range(6):
        _tone(corpus / f"speech/xx/spk/c{i}.flac")
    for i in range(2):  # validation voices (build_corpus's val_speech): never trained on
        _tone(corpus / f"val_speech/en/tuxpaint/v{i}.flac")
    for i in range(3):  # opt-in training voices (extra_speech): only with extra_speech=True
        _tone(corpus / f"extra_speech/fr/tuxpaint/x{i}.flac")
    _tone(corpus / "val_noise/crowd/lincity_School1.flac")  # validation noise: never linked
    for cat, n in (("impulsive", 20), ("babble", 4), ("tonal", 2)):
        for i in range(n):
            _tone(corpus / f"noise/{cat}/{cat}{i}.flac")
    train_speech = [f"speech/fr/v/t{i}.flac" for i in range(20)]
    test_speech = [f"speech/en/a/e{i}.flac" for i in range(3)]
    for rel in [*train_speech, *test_speech, "noise/hum.flac", "noise/babble.flac"]:
        _tone(data / rel)
    splits = {
        "speech": {"train": train_speech, "test": test_speech},
        "noise": {"train": ["noise/hum.flac"], "test": ["noise/babble.flac"]},
        "notes": {"train": [], "test": []},
    }
    (data / "splits.yaml").write_text(yaml.safe_dump(splits))
    return corpus, data


def test_balance_factors() -> None:
    assert tdc.balance_factors({"a": 60, "b": 8, "c": 7, "d": 0}) == {"a": 1, "b": 8, "c": 9}


def test_held_out_noise_per_category(tree) -> None:
    corpus, _ = tree
    held = tdc.held_out_noise(corpus / "noise", 0.15)
    by_cat = Counter(p.parent.name for p in held)
    # 15 % of 20 = 3, of 4 -> at least 1, a category of 2 files keeps both for training
    assert by_cat == {"impulsive": 3, "babble": 1}
    assert held == tdc.held_out_noise(corpus / "noise", 0.15)  # by name, not by chance


@pytest.mark.parametrize("balance", [False, True])
def test_build_folders_keeps_validation_and_test_out(tree, tmp_path: Path, balance: bool) -> None:
    corpus, data = tree
    folders = tdc.build_folders(corpus, data, tmp_path / "work", balance_noise=balance)
    resolved = {k: {p.resolve() for p in find_audio_files(v)} for k, v in folders.items()}
    # the bundled validation clips are exactly those `audioae train` would hold out
    bundled = tmp_path / "work/bundled_speech"
    paths = list(find_audio_files(bundled))
    _, val = split_by_hash(paths, bundled, 0.1)
    assert resolved["val_speech"] == {paths[i].resolve() for i in val}
    assert not resolved["val_speech"] & resolved["speech"]
    assert not resolved["val_noise"] & resolved["noise"]
    assert len(resolved["speech"]) == 6 + 20 - len(val)
    # nothing of the test split, and no validation voice of the corpus, is linked anywhere
    test = {(data / p).resolve() for p in ["noise/babble.flac"]} | {
        (data / f"speech/en/a/e{i}.flac").resolve() for i in range(3)
    }
    voices = {p.resolve() for p in find_audio_files(corpus / "val_speech")}
    voices |= {p.resolve() for p in find_audio_files(corpus / "val_noise")}
    assert len(voices) == 3
    assert not (test | voices) & set().union(*resolved.values())
    links = Counter(p.resolve().parent.name for p in find_audio_files(folders["noise"]))
    if balance:  # impulsive 17 files x 1, babble 3 x 6, tonal 2 x 8, bundled 1 x 17
        assert links == {"impulsive": 17, "babble": 18, "tonal": 16, "noise": 17}
    else:
        assert links == {"impulsive": 17, "babble": 3, "tonal": 2, "noise": 1}


def test_build_folders_links_extra_speech_only_when_asked(tree, tmp_path: Path) -> None:
    corpus, data = tree
    extra = {p.resolve() for p in find_audio_files(corpus / "extra_speech")}
    voices = {p.resolve() for p in find_audio_files(corpus / "val_speech")}
    plain = tdc.build_folders(corpus, data, tmp_path / "plain")
    with_extra = tdc.build_folders(corpus, data, tmp_path / "extra", extra_speech=True)
    linked = {k: {p.resolve() for p in find_audio_files(v)} for k, v in with_extra.items()}
    assert not extra & {p.resolve() for p in find_audio_files(plain["speech"])}
    assert extra <= linked["speech"] and len(extra) == 3
    assert not voices & set().union(*linked.values())
    assert not extra & (linked["val_speech"] | linked["val_noise"])
    shutil.rmtree(corpus / "extra_speech")
    with pytest.raises(FileNotFoundError, match="extra_speech"):
        tdc.build_folders(corpus, data, tmp_path / "again", extra_speech=True)


def test_build_folders_needs_a_corpus(tmp_path: Path, tree) -> None:
    _, data = tree
    with pytest.raises(FileNotFoundError, match="build_corpus"):
        tdc.build_folders(tmp_path / "nothing", data, tmp_path / "work")


class _FakeRun:
    """Stands in for ``audioae.training.train``: records each call's (max_steps, resume) and
    leaves a checkpoint at that step and a model file, as a finished stage does."""

    def __init__(self, run: Path) -> None:
        self.run, self.calls = run, []

    def __call__(self, cfg, data_dir, *, noise_dir, out_dir, progress, resume, max_steps, stop_at):
        self.calls.append((max_steps, resume, stop_at))
        (self.run / "checkpoints").mkdir(parents=True, exist_ok=True)
        (self.run / "checkpoints" / "last.ckpt").write_text(str(stop_at or max_steps))
        (self.run / "model.safetensors").write_text("model")

        class Result:
            model_file = self.run / "model.safetensors"

        return Result()


@pytest.fixture()
def fake_run(tmp_path, monkeypatch):
    """A run folder, a :class:`_FakeRun` in place of ``train`` and a 100-step config."""
    import audioae.run_checkpoints
    import audioae.training
    from audioae.config import load_config

    run = tmp_path / "run"
    fake = _FakeRun(run)
    monkeypatch.setattr(audioae.training, "train", fake)
    monkeypatch.setattr(
        audioae.run_checkpoints, "checkpoint_step", lambda p: int(Path(p).read_text())
    )
    return run, fake, load_config(None, ["training.max_steps=100"])


def test_train_with_restarts_runs_each_stage_once_and_resumes_a_chain(tmp_path, fake_run):
    run, fake, cfg = fake_run
    out = tdc.train_with_restarts(cfg, tmp_path, run, extend_to=[300, 200])
    assert out == run / "model.safetensors"
    assert fake.calls == [(100, False, None), (200, True, None), (300, True, None)]  # ascending
    fake.calls.clear()  # the same command again with --resume: nothing left to do
    tdc.train_with_restarts(cfg, tmp_path, run, resume=True, extend_to=[200, 300])
    assert fake.calls == []
    (run / "checkpoints" / "last.ckpt").write_text("250")  # interrupted in the last stage
    tdc.train_with_restarts(cfg, tmp_path, run, resume=True, extend_to=[200, 300])
    assert fake.calls == [(300, True, None)]


def test_train_with_restarts_stop_at_ends_the_chain_and_a_resume_goes_on(tmp_path, fake_run):
    run, fake, cfg = fake_run
    tdc.train_with_restarts(cfg, tmp_path, run, extend_to=[200], stop_at=35)
    assert fake.calls == [(100, False, 35)]  # stopped inside the first stage
    fake.calls.clear()
    tdc.train_with_restarts(cfg, tmp_path, run, resume=True, extend_to=[200], stop_at=35)
    assert fake.calls == []  # the same stop again: nothing to do (not one step more)
    tdc.train_with_restarts(cfg, tmp_path, run, resume=True, extend_to=[200])
    assert fake.calls == [(100, True, None), (200, True, None)]
