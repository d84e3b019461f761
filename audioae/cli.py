"""The ``audioae`` command: argparse only, the work is in the library modules.

Every subcommand is a pair ``_add_<cmd>(subparsers)`` / ``_run_<cmd>(args) -> int``; heavy
modules (torch, Lightning) are imported inside the ``_run_`` functions so that
``audioae --help`` stays fast. User errors (bad config, unreadable audio, bad model file,
an output that exists) print ``audioae: error: <message>`` and exit with status 2, without
a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .config import ConfigError

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"
"""The bundled recipes (``recipes/*.yaml`` beside the package)."""

# (module, class) pairs printed as user errors; looked up only in already-imported modules.
_USER_ERRORS = (
    ("audioae.config", "ConfigError"),
    ("audioae.audio", "AudioError"),
    ("audioae.modelfile", "ModelFileError"),
    ("audioae.fileio", "OutputExistsError"),
    ("audioae.data", "DatasetError"),
    ("audioae.codec", "CodecError"),
    ("audioae.pipeline", "PipelineError"),
    ("audioae.jobs", "JobError"),
    ("audioae.demo", "DemoError"),
)


def available_recipes() -> list[str]:
    """Names of the bundled recipes (``recipes/<name>.yaml``), sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")) if RECIPES_DIR.is_dir() else []


def resolve_recipe(recipe: str) -> Path:
    """A recipe argument to a file: an existing path, or a bundled recipe name (``tiny``).

    Raises:
        ConfigError: neither a file nor a bundled recipe; lists the bundled ones.
    """
    path = Path(recipe)
    if path.is_file():
        return path
    bundled = RECIPES_DIR / f"{recipe}.yaml"
    if bundled.is_file():
        return bundled
    names = ", ".join(available_recipes()) or "none found"
    raise ConfigError(f"{recipe}: no such recipe file or bundled recipe (bundled: {names})")


def _load_config(recipe: str | None, overrides: list[str] | None):
    from .config import load_config

    return load_config(resolve_recipe(recipe) if recipe else None, overrides or [])


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=[],
        help="override config values, e.g. --set training.max_steps=500 model.latent_dim=16",
    )


def _recipes_help() -> str:
    names = available_recipes()
    return f"bundled recipes: {', '.join(names)}" if names else "no bundled recipes found"


# --- train -----------------------------------------------------------------------------------


def _add_train(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an autoencoder on a folder of audio",
        description="Train an autoencoder on a folder of audio and export RUN_DIR/model.safetensors. "
        + _recipes_help(),
    )
    p.add_argument(
        "recipe",
        help="recipe YAML file or bundled recipe name (" + ", ".join(available_recipes()) + ")",
    )
    p.add_argument("--data", required=True, help="folder of training audio (searched recursively)")
    p.add_argument(
        "--noise", help="folder of noise for denoising (default: synthetic white/pink/brown noise)"
    )
    p.add_argument("--out", help="run folder (default: runs/<recipe name>)")
    _add_set(p)
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    p.add_argument("--devices", help="number of devices (processes with DDP), or auto")
    p.add_argument("--num-nodes", type=int, help="number of nodes for multi-node DDP")
    p.add_argument("--max-steps", type=int, help="override training.max_steps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    cfg = _load_config(args.recipe, args.overrides)
    out = Path(args.out) if args.out else Path("runs") / cfg.name
    from .training import train

    result = train(
        cfg,
        args.data,
        noise_dir=args.noise,
        out_dir=out,
        resume=args.resume,
        devices=args.devices,
        num_nodes=args.num_nodes,
        max_steps=args.max_steps,
        progress=not args.quiet,
    )
    if result.model_file is not None:
        best = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
        print(f"trained {result.steps} steps; best validation loss {best}")
        print(f"run folder: {result.run_dir}")
        print(f"model file: {result.model_file}")
    return 0


# --- inspect ---------------------------------------------------------------------------------


def _add_inspect(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="check a folder of audio before training",
        description="Decode every audio file in a folder and report what training would trip on "
        "(unreadable, silent, clipped or too short files, too few files for the split).",
    )
    p.add_argument("folder", help="folder of audio (searched recursively)")
    p.add_argument(
        "--recipe", help="recipe whose audio/data settings to check against (default: the defaults)"
    )
    _add_set(p)
    p.set_defaults(func=_run_inspect)


def _run_inspect(args: argparse.Namespace) -> int:
    cfg = _load_config(args.recipe, args.overrides)
    from .audio import NoAudioFilesError
    from .inspect import inspect_folder

    try:
        report = inspect_folder(
            args.folder,
            sample_rate=cfg.audio.sample_rate,
            segment_seconds=cfg.data.segment_seconds,
            batch_size=cfg.data.batch_size,
            val_fraction=cfg.data.val_fraction,
            silence_db=cfg.data.silence_db,
        )
    except NoAudioFilesError as exc:
        print(f"audioae: {exc}", file=sys.stderr)
        return 1
    print(report.format())
    return 0


# --- export ----------------------------------------------------------------------------------


def _add_export(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write the model file of a training run",
        description="Write a model file (.safetensors with the config inside) from a run's checkpoint.",
    )
    p.add_argument("run_dir", help="run folder written by `audioae train`")
    p.add_argument("-o", "--out", help="model file to write (default: RUN_DIR/model.safetensors)")
    p.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default="best",
        help="which checkpoint (default: best)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing model file")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from .runfolder import export_run

    path = export_run(args.run_dir, args.out, checkpoint=args.checkpoint, overwrite=args.force)
    print(f"model file: {path}")
    return 0


# --- config ----------------------------------------------------------------------------------


def _add_config(subparsers) -> None:
    p = subparsers.add_parser(
        "config",
        help="validate a recipe and print the effective config",
        description="Merge defaults <- recipe <- --set overrides, validate, and print the result. "
        + _recipes_help(),
    )
    p.add_argument(
        "recipe", nargs="?", help="recipe YAML file or bundled recipe name (default: the defaults)"
    )
    _add_set(p)
    p.add_argument("--show", action="store_true", help="print the effective config as YAML")
    p.set_defaults(func=_run_config)


def _run_config(args: argparse.Namespace) -> int:
    cfg = _load_config(args.recipe, args.overrides)
    if args.show:
        print(cfg.to_yaml(), end="")
    else:
        print(
            f"{args.recipe or 'defaults'}: valid config (name: {cfg.name}); add --show to print it"
        )
    return 0


# --- main ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``audioae`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="audioae",
        description="Audio autoencoders: train on a folder of audio, denoise, compress to latent files, morph timbres, evaluate, and run the demo.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"audioae {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add in (_add_train, _add_inspect, _add_export, _add_config):
        add(subparsers)
    from .cli_apps import register

    register(subparsers)
    return parser


def _is_user_error(exc: BaseException) -> bool:
    for module_name, class_name in _USER_ERRORS:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if cls is not None and isinstance(exc, cls):
            return True
    return False


class _StderrHandler(logging.StreamHandler):
    """Writes to the current ``sys.stderr`` (so redirections made after set-up are honoured)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("audioae: %(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _setup_logging() -> None:
    logger = logging.getLogger("audioae")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Run the ``audioae`` command; returns the exit status (0 ok, 1 failure, 2 user error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging()
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"audioae: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if _is_user_error(exc):
            print(f"audioae: error: {exc}", file=sys.stderr)
            return 2
        diverged = getattr(sys.modules.get("audioae.training"), "TrainingDivergedError", None)
        if diverged is not None and isinstance(exc, diverged):
            print(f"audioae: error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
