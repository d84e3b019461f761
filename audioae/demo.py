"""``audioae demo``: denoising, compression and timbre morphs on held-out bundled audio, as a report.

By default the demo uses the small models shipped in ``data/models/`` (package data when
installed, see :mod:`audioae.bundled`; trained by
``scripts/train_demo_models.py`` with the project's recipes on the *train* split of
``data/splits.yaml``); ``--train`` first trains them from scratch with short schedules. Every
input it processes comes from the *test* split, so no model heard it in training.

Layout: this module finds the data and models and runs the stages into one report;
:mod:`audioae.demo_denoise`, :mod:`audioae.demo_codec` and :mod:`audioae.demo_morph` are the
three report stages, :mod:`audioae.demo_common` their shared pieces. Import every name from here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .bundled import DATA_DIR, MODELS_DIR
from .config import load_config, load_yaml, resolve_recipe
from .demo_codec import run_codec_stage
from .demo_common import DOWN, UP, DemoError, Splits
from .demo_denoise import LONG_CLIP_SECONDS, SNRS_DB, run_denoise_stage, speech_metrics_available
from .demo_morph import run_morph_stage
from .report import Section, write_report

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = [
    "DOWN",
    "LONG_CLIP_SECONDS",
    "MODEL_FILES",
    "SNRS_DB",
    "TRAINING_PLAN",
    "UP",
    "DemoError",
    "Splits",
    "find_data_dir",
    "load_splits",
    "prepare_models",
    "run_codec_stage",
    "run_demo",
    "run_denoise_stage",
    "run_morph_stage",
    "speech_metrics_available",
    "split_folder",
    "train_demo_models",
    "write_demo_report",
]


MODEL_FILES = {
    "denoise": "denoise.safetensors",
    "codec": "codec.safetensors",
    "timbre": "timbre.safetensors",
}
"""Demo model name → file name in the models folder."""

TRAINING_PLAN = {
    # name: (recipe, data subfolder, noise subfolder or None, --set overrides for a short schedule)
    "denoise": ("denoise", "speech", "noise", ["training.max_steps=400", "training.val_every=200"]),
    "codec": (
        "codec",
        "speech",
        None,
        # the recipe's rate and warm-up are for its long schedule
        [
            "training.max_steps=300",
            "training.val_every=150",
            "training.learning_rate=1e-3",
            "training.warmup_steps=50",
        ],
    ),
    "timbre": (
        "conv2d_vae",
        "notes",
        None,
        ["training.max_steps=300", "training.val_every=150", "loss.kl_cycle_steps=150"],
    ),
}


def find_data_dir(data: str | os.PathLike | None = None) -> Path:
    """The bundled audio folder (with ``splits.yaml``): ``data`` if given, else ``./data``, else
    :data:`audioae.bundled.DATA_DIR` (a clone's ``data/``, or the held-out audio an installed
    package carries).

    Raises:
        DemoError: no ``splits.yaml`` in any candidate; the message says to pass ``--data``.
    """
    candidates = [Path(data)] if data else [Path("data"), DATA_DIR]
    for path in candidates:
        if (path / "splits.yaml").is_file():
            return path
    raise DemoError(
        f"bundled audio not found (looked for splits.yaml in {', '.join(map(str, candidates))}); "
        "pass --data DIR with the data/ folder of a clone of the audioae repository"
    )


def _require_files(files: list[Path], data_dir: Path, what: str) -> None:
    """Refuse with one line when ``data_dir`` lacks split files (an installed package carries
    only the held-out audio, not the training split).

    Raises:
        DemoError: names the first missing file and says to pass ``--data``.
    """
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DemoError(
            f"{data_dir}: {len(missing)} file(s) of the {what} are missing (e.g. {missing[0]}); "
            "pass --data DIR with the full data/ folder of a clone of the audioae repository"
        )


def load_splits(data_dir: Path) -> Splits:
    """``{group: {"train": [...], "test": [...]}}`` with absolute paths, from ``data/splits.yaml``."""
    raw = load_yaml((data_dir / "splits.yaml").read_text(), str(data_dir / "splits.yaml"))
    return {
        group: {part: [data_dir / p for p in files] for part, files in parts.items()}
        for group, parts in raw.items()
    }


def split_folder(files: list[Path], root: Path, base: Path) -> Path:
    """A folder of links (copies where links fail) to ``files``, keeping their paths relative to ``base``."""
    root.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = root / f.relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                target.symlink_to(f.resolve())
            except OSError:
                shutil.copy2(f, target)
    return root


def train_demo_models(
    data_dir: Path,
    out_dir: Path,
    *,
    overrides: dict[str, list[str]] | None = None,
    progress: bool = True,
    names: list[str] | None = None,
) -> dict[str, Path]:
    """Train the three demo models on the train split with the project's recipes.

    ``overrides`` maps a model name to extra ``--set`` strings; the defaults are the short
    schedules of :data:`TRAINING_PLAN` (minutes on a 2-core CPU). ``names`` picks a subset
    of :data:`TRAINING_PLAN` (default: all).

    Raises:
        ValueError: an unknown name in ``names``.
    """
    unknown = sorted(set(names or []) - set(TRAINING_PLAN))
    if unknown:
        raise ValueError(f"unknown demo model(s) {unknown}; choose from {sorted(TRAINING_PLAN)}")
    from .training import train

    splits = load_splits(data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, (recipe, group, noise_group, short) in TRAINING_PLAN.items():
        if names and name not in names:
            continue
        _require_files(splits[group]["train"], data_dir, f"{group} training split")
        if noise_group:
            _require_files(splits[noise_group]["train"], data_dir, f"{noise_group} training split")
        sets = (overrides or {}).get(name, short)
        cfg = load_config(resolve_recipe(recipe), sets)
        clean = split_folder(splits[group]["train"], out_dir / "splits" / group, data_dir)
        noise = (
            split_folder(splits[noise_group]["train"], out_dir / "splits" / noise_group, data_dir)
            if noise_group
            else None
        )
        result = train(
            cfg, clean, noise_dir=noise, out_dir=out_dir / "runs" / name, progress=progress
        )
        target = out_dir / MODEL_FILES[name]
        shutil.copy2(result.model_file, target)
        written[name] = target
    return written


def prepare_models(
    data_dir: Path,
    out: Path,
    *,
    models: str | os.PathLike | None = None,
    train: bool = False,
    device: str = "auto",
    say: Callable[[str], None] = print,
) -> tuple[Path, dict[str, Pipeline]]:
    """The demo's three pipelines: from ``models`` (default ``data_dir/models`` if it holds
    them, else the shipped models, :data:`audioae.bundled.MODELS_DIR`), or trained first.

    With ``train`` the models are trained with short schedules into ``out/models``.
    Returns the models folder and ``{name: Pipeline}`` for the names of :data:`MODEL_FILES`.

    Raises:
        DemoError: a model file is missing.
    """
    from .pipeline import Pipeline

    if models:
        models_dir = Path(models)
    elif all((data_dir / "models" / f).is_file() for f in MODEL_FILES.values()):
        models_dir = data_dir / "models"
    else:
        models_dir = MODELS_DIR
    if train:
        say("[1/5] training the demo models from scratch (short schedules)…")
        models_dir = out / "models"
        train_demo_models(data_dir, models_dir)
    missing = [f for f in MODEL_FILES.values() if not (models_dir / f).is_file()]
    if missing:
        raise DemoError(
            f"{models_dir}: missing model files {', '.join(missing)}; run `audioae demo --train` to train them"
        )
    pipes = {name: Pipeline.load(models_dir / f, device=device) for name, f in MODEL_FILES.items()}
    return models_dir, pipes


def write_demo_report(out: Path, sections: list[Section], data_dir: Path, models_dir: Path) -> Path:
    """Write ``out/report.html`` from the stage sections (replacing it); returns its path."""
    intro = (
        f"Every input is from the held-out split of {data_dir / 'splits.yaml'}; models from {models_dir}. "
        "Spectrograms: power in dB, 1024-point STFT. In table headers ↑ means higher is better "
        "and ↓ lower is better."
    )
    return write_report(out / "report.html", "audioae demo", sections, intro=intro, overwrite=True)


def run_demo(
    out_dir: str | os.PathLike = "demo_out",
    *,
    data: str | os.PathLike | None = None,
    models: str | os.PathLike | None = None,
    train: bool = False,
    quick: bool = False,
    force: bool = False,
    device: str = "auto",
    say: Callable[[str], None] = print,
) -> Path:
    """Run every demo stage and write ``out_dir/report.html``; returns the report's path.

    The steps: :func:`prepare_models`, :func:`run_denoise_stage`, :func:`run_codec_stage`,
    :func:`run_morph_stage`, :func:`write_demo_report`.

    Raises:
        DemoError: bundled data or models missing.
        audioae.fileio.OutputExistsError: ``out_dir/report.html`` exists and not ``force``.
    """
    from .fileio import OutputExistsError

    out = Path(out_dir)
    if (out / "report.html").exists() and not force:
        raise OutputExistsError(out / "report.html")
    data_dir = find_data_dir(data)
    splits = load_splits(data_dir)
    for group, parts in splits.items():
        _require_files(parts["test"], data_dir, f"{group} held-out split")
    out.mkdir(parents=True, exist_ok=True)
    models_dir, pipes = prepare_models(
        data_dir, out, models=models, train=train, device=device, say=say
    )
    sections = []
    say("[2/5] denoising held-out speech mixed with real noise at 0, 5 and 10 dB…")
    sections.append(run_denoise_stage(pipes["denoise"], splits, out, quick))
    say("[3/5] compressing a held-out note and speech clip…")
    sections.append(run_codec_stage(pipes["codec"], splits, out))
    say("[4/5] rendering a timbre morph and sampling from the VAE prior…")
    sections.append(run_morph_stage(pipes["timbre"], splits, out, quick))
    say("[5/5] writing the report…")
    report = write_demo_report(out, sections, data_dir, models_dir)
    say(f"report: {report.resolve()}")
    return report
