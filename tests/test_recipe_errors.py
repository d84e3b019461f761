"""Recipe mistakes are one line naming where the bad value came from (the recipe file or the
``--set KEY=VALUE``), the key and what was expected; ``inspect`` and ``train`` agree on which
clips are usable and too short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import sine

from audioae.cli import main
from audioae.config import ConfigError, config_from_dict, load_config, load_yaml
from audioae.data import build_datasets
from audioae.folder_report import inspect_folder, inspect_for_config

ROOT = Path(__file__).parents[1]
TINY = ROOT / "recipes" / "tiny.yaml"
OMEGACONF_WORDS = ("DictConfig", "ListConfig", "AnyNode", "Merge error", "not Optional", "struct")


def _error(capsys, *argv: str, log_lines: bool = False) -> str:
    """Run ``audioae ARGV``; it must fail with exit 2 and one error line on stderr (after
    log lines, with ``log_lines``): that line, without the ``audioae: error:`` prefix."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and (log_lines or err.count("\n") == 1), err
    assert not any(word in err for word in OMEGACONF_WORDS), err
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith("audioae: error: "), err
    return last.removeprefix("audioae: error: ")


def _recipe(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- 1. the error names the source of the bad value ------------------------------------------


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("training.max_steps=0", "training.max_steps: must be > 0, got 0"),
        ("data.val_fraction=2", "data.val_fraction: must be in [0, 1), got 2.0"),
    ],
)
def test_an_out_of_range_set_value_names_the_set_not_the_recipe(
    tmp_path: Path, capsys, setting: str, problem: str
) -> None:
    recipe = _recipe(tmp_path, TINY.read_text())
    for argv in (
        ["config", str(recipe), "--set", setting],
        ["train", str(recipe), "--data", str(tmp_path), "--out", str(tmp_path / "run")],
        ["config", "--set", setting],  # no recipe: not "defaults" either
    ):
        if argv[0] == "train":
            argv += ["--set", setting]
        assert _error(capsys, *argv) == f"--set {setting}: {problem}"
    assert not (tmp_path / "run").exists()


def test_an_out_of_range_recipe_value_names_the_recipe(tmp_path: Path, capsys) -> None:
    recipe = _recipe(tmp_path, "training:\n  max_steps: 0\n")
    message = f"{recipe}: training.max_steps: must be > 0, got 0"
    assert _error(capsys, "config", str(recipe)) == message
    # a --set of another key leaves the recipe the culprit; one of the same key fixes it
    assert _error(capsys, "config", str(recipe), "--set", "model.latent_dim=4") == message
    assert load_config(recipe, ["training.max_steps=5"]).training.max_steps == 5
    # the later of two --set values of one key is the one used, and the one named
    err = _error(capsys, "config", "tiny", "--set", "training.max_steps=3", "training.max_steps=0")
    assert err == "--set training.max_steps=0: training.max_steps: must be > 0, got 0"


def test_a_set_that_breaks_a_check_across_sections_is_named(capsys) -> None:
    err = _error(capsys, "config", "denoise", "--set", "data.denoise=false")
    assert err.startswith("--set data.denoise=false: loss.si_sdr_weight/"), err


# --- 2. YAML mistakes: duplicate keys, structure and types, in recipe words -------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "training:\n  max_steps: 5\ndata:\n  batch_size: 4\ntraining:\n  warmup_steps: 1\n",
            "training: given twice (lines 1 and 5); YAML would keep only the last one, "
            "so merge the two sections into one",
        ),
        (
            "training:\n  max_steps: 5\n  max_steps: 0\n",
            "training.max_steps: given twice (lines 2 and 3); YAML would keep only the last "
            "one, so delete one",
        ),
        (
            "model:\n  channels: [8, 16]\n  'channels': [4]\n",
            "model.channels: given twice (lines 2 and 3); YAML would keep only the last one, "
            "so delete one",
        ),
    ],
)
def test_a_key_given_twice_is_refused_with_its_lines(
    tmp_path: Path, capsys, text: str, problem: str
) -> None:
    recipe = _recipe(tmp_path, text)
    assert _error(capsys, "config", str(recipe)) == f"{recipe}: {problem}"


def test_a_key_given_twice_in_a_set_value_is_refused(capsys) -> None:
    setting = "data={snr_db_min: 1, snr_db_min: 2}"
    assert _error(capsys, "config", "tiny", "--set", setting) == (
        f"--set {setting}: data.snr_db_min: given twice (line 1); YAML would keep only the "
        "last one, so delete one"
    )


STRUCTURE_MISTAKES = [
    # (recipe text, the message after "<file>: ")
    ("data:\ntraining:\n  max_steps: 5\n", "data: expected a section (its keys indented under it), got nothing (an empty value)"),
    ("data: 5\n", "data: expected a section (its keys indented under it), got 5"),
    ("data:\n  - 1\n", "data: expected a section (its keys indented under it), got the list [1]"),
    ("data:\n  noise_colors: white\n", "data.noise_colors: expected a list of names, e.g. [a, b], got 'white'"),
    ("model:\n  channels: 8\n", "model.channels: expected a list of integers, e.g. [1, 2], got 8"),
    ("vocoder_loss:\n  resolutions: [512, 128]\n", "vocoder_loss.resolutions[0]: expected a list of integers, e.g. [1, 2], got 512"),
    ("training:\n  max_steps: abc\n", "training.max_steps: expected an integer, got 'abc'"),
    ("training:\n  max_steps: 1.5\n", "training.max_steps: expected an integer, got 1.5"),
    ("training:\n  max_steps:\n", "training.max_steps: expected an integer, got nothing (an empty value)"),
    ("training:\n  max_steps:\n    a: 1\n", "training.max_steps: expected an integer, got a section (keys under it)"),
    ("data:\n  val_fraction: [0.1]\n", "data.val_fraction: expected a number, got the list [0.1]"),
    ("data:\n  denoise: maybe\n", "data.denoise: expected true or false, got 'maybe'"),
    ("features:\n  f_max: high\n", "features.f_max: expected a number or null, got 'high'"),
    ("model:\n  channels: [8, x]\n", "model.channels[1]: expected an integer, got 'x'"),
    ("name:\n  a: 1\n", "name: expected text, got a section (keys under it)"),
    ("training:\n  maxsteps: 5\n", "training.maxsteps: unknown key; did you mean max_steps or warmup_steps? (`audioae config --show` lists every valid key)"),
    ("trainin:\n  max_steps: 5\n", "trainin: unknown key; did you mean training? (`audioae config --show` lists every valid key)"),
    ("training:\n  max_steps: [1\n", "not valid YAML at line 3, column 1: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence started on line 2)"),
    ("training:\n\tmax_steps: 5\n", "not valid YAML at line 2, column 1: found character '\\t' that cannot start any token (while scanning for the next token); indent with spaces, not tabs"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "problem"), STRUCTURE_MISTAKES)
def test_recipe_mistakes_are_one_line_in_recipe_words(
    tmp_path: Path, capsys, text: str, problem: str
) -> None:
    recipe = _recipe(tmp_path, text)
    assert _error(capsys, "config", str(recipe)) == f"{recipe}: {problem}"


def test_set_and_stored_configs_get_the_same_words(capsys) -> None:
    assert _error(capsys, "config", "tiny", "--set", "data=3") == (
        "--set data=3: data: expected a section (its keys indented under it), got 3"
    )
    assert _error(capsys, "config", "tiny", "--set", "data.noise_colors=white") == (
        "--set data.noise_colors=white: data.noise_colors: expected a list of names, "
        "e.g. [a, b], got 'white'"
    )
    with pytest.raises(ConfigError) as info:
        config_from_dict({"data": None}, source="model.safetensors")
    assert str(info.value) == (
        "model.safetensors: data: expected a section (its keys indented under it), "
        "got nothing (an empty value)"
    )


def test_the_yaml_reader_keeps_its_bounds() -> None:
    with pytest.raises(ConfigError, match="r.yaml: YAML anchors and aliases"):
        load_yaml("a: &x 1\nb: *x\n", "r.yaml")
    with pytest.raises(ConfigError, match="more than 10000 YAML nodes"):
        load_yaml("[" + "1," * 20_000 + "1]")
    assert load_yaml("a: 1\nb: {a: 2}\n") == {"a": 1, "b": {"a": 2}}  # same key, two mappings


# --- 3. inspect and train agree on usable and too-short clips --------------------------------


@pytest.fixture
def clips_folder(tmp_path: Path, write_audio) -> Path:
    """2 clips of 1.5 s, 3 of 0.5 s, and at 44.1 kHz one of 11024 frames: 0.24997 s, yet
    exactly 4000 samples (one 0.25 s crop) once resampled to 16 kHz."""
    write_audio("data/long_a.wav", sine(440.0, 1.5))
    write_audio("data/long_b.wav", sine(550.0, 1.5))
    for i in range(3):
        write_audio(f"data/short_{i}.wav", sine(300.0 + 100 * i, 0.5))
    rng = np.random.default_rng(0)
    write_audio("data/edge.wav", 0.1 * rng.standard_normal((1, 11024)), 44100)
    return tmp_path / "data"


@pytest.mark.parametrize("segment_seconds", [1.0, 0.25])
@pytest.mark.parametrize("short_clips", ["skip", "pad"])
def test_inspect_counts_the_files_training_uses(
    clips_folder: Path, segment_seconds: float, short_clips: str
) -> None:
    overrides = [f"data.segment_seconds={segment_seconds}", f"data.short_clips={short_clips}"]
    cfg = load_config(TINY, overrides)
    data = build_datasets(cfg, clips_folder, report=False, index_workers=1)
    report = inspect_for_config(clips_folder, cfg)
    assert sorted(report.usable) == sorted(data.train_files + data.val_files)
    assert report.val_files == data.val_files
    short = {1.0: {"edge.wav", "short_0.wav", "short_1.wav", "short_2.wav"}, 0.25: set()}
    assert {p.name for p in report.too_short} == short[segment_seconds]
    if short_clips == "skip":
        assert sorted(report.too_short) == sorted(data.skipped_short)


def test_inspect_warns_when_skip_leaves_train_nothing(clips_folder: Path, capsys) -> None:
    for name in ("long_a.wav", "long_b.wav"):
        (clips_folder / name).unlink()
    sets = ["--set", "data.short_clips=skip", "data.segment_seconds=1"]
    assert main(["inspect", str(clips_folder), "--recipe", "tiny", *sets]) == 1  # nothing usable
    out = capsys.readouterr().out
    assert "audio files: 4 (4 readable, 0 unreadable), 0 usable" in out
    assert "too short (4), under 1 s (left out):" in out
    assert (
        "- no usable files (every file is unreadable, silent or, with data.short_clips=skip, "
        "shorter than data.segment_seconds=1 s): training cannot start; lower "
        "data.segment_seconds or set data.short_clips=pad"
    ) in out
    out_dir = clips_folder.parent / "run"
    argv = ["train", "tiny", "--data", str(clips_folder), "--out", str(out_dir), *sets]
    err = _error(capsys, *argv, log_lines=True)
    assert "no usable audio file out of 4" in err and "every clip is shorter" in err


def test_inspect_counts_a_clip_short_by_its_resampled_length(clips_folder: Path, capsys) -> None:
    """edge.wav lasts 0.24997 s but trains as one whole 0.25 s crop (4000 samples at 16 kHz):
    not too short for either command."""
    assert main(["inspect", str(clips_folder), "--recipe", "tiny"]) == 0  # segment 0.25 s
    out = capsys.readouterr().out
    assert "6 usable" in out and "too short" not in out and "no problems found" in out
    cfg = load_config(TINY, ["data.short_clips=skip"])
    assert build_datasets(cfg, clips_folder, report=False, index_workers=1).skipped_short == []


def test_inspect_folder_refuses_an_unknown_short_clips_policy(clips_folder: Path) -> None:
    with pytest.raises(ValueError, match="short_clips must be one of pad, skip, got 'trim'"):
        inspect_folder(clips_folder, short_clips="trim")
