"""The recipe and training subcommands: ``train``, ``inspect``, ``export``, ``config``.

Only argument parsing and printing; the work is in :mod:`audioae.training`,
:mod:`audioae.folder_report` and :mod:`audioae.modelfile` (imported when a command runs).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ..bundled import MODEL_SUFFIX, available_models
from ..config import Config, available_recipes
from ..launch import local_ranks
from .common import (
    UsageError,
    add_command,
    add_set,
    at_least,
    load_recipe_config,
    models_help,
    recipes_help,
)

# --- train -----------------------------------------------------------------------------------


def _add_train(subparsers) -> None:
    p = add_command(
        subparsers,
        "train",
        summary="train an autoencoder on a folder of audio",
        description="Train an autoencoder on a folder of audio (searched recursively) with a "
        "recipe, and export RUN_DIR/model.safetensors at the end (with the vocoder recipe: a "
        "learned decoder, exported as a stand-alone decoder file).\n" + recipes_help() + ".",
        examples=[
            "audioae train tiny --data my_sounds/ --out runs/smoke",
            "audioae train denoise --data speech/ --noise noise/ --out runs/denoise",
            "audioae train conv2d_vae --data notes/ --set training.max_steps=5000 model.latent_dim=16",
        ],
    )
    p.add_argument(
        "recipe",
        help="recipe YAML file or bundled recipe name (" + ", ".join(available_recipes()) + ")",
    )
    p.add_argument("--data", required=True, help="folder of training audio (searched recursively)")
    p.add_argument(
        "--noise", help="folder of noise for denoising; unset: synthetic white/pink/brown noise"
    )
    p.add_argument(
        "--out",
        help="run folder: new or empty, or a run of the same recipe with --resume; "
        "unset: runs/<recipe name>",
    )
    add_set(p)
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    p.add_argument(
        "--devices", help="number of devices (processes with DDP), or auto; unset: training.devices"
    )
    p.add_argument(
        "--num-nodes",
        type=at_least(1),
        help="number of nodes for multi-node DDP; unset: training.num_nodes",
    )
    p.add_argument(
        "--max-steps",
        type=at_least(1),
        help="override training.max_steps; unset: the recipe's value",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--verbose", action="store_true", help="show Lightning's own messages and model summary"
    )
    p.set_defaults(func=_run_train)


def resume_command(args: argparse.Namespace, out: Path) -> str:
    """The ``audioae train ... --resume`` command line that continues the run of ``args``."""
    words = ["audioae", "train", args.recipe, "--data", args.data]
    if args.noise:
        words += ["--noise", args.noise]
    words += ["--out", str(out)]
    for flag, value in (
        ("--devices", args.devices),
        ("--num-nodes", args.num_nodes),
        ("--max-steps", args.max_steps),
    ):
        if value is not None:
            words += [flag, str(value)]
    words += [flag for flag in ("--quiet", "--verbose") if getattr(args, flag[2:])]
    if args.overrides:
        words += ["--set", *args.overrides]
    words.append("--resume")
    return shlex.join(words)


def _run_train(args: argparse.Namespace) -> int:
    cfg = load_recipe_config(args.recipe, args.overrides)
    devices = args.devices if args.devices is not None else cfg.training.devices
    num_nodes = args.num_nodes if args.num_nodes is not None else cfg.training.num_nodes
    # Start the other DDP ranks before the trainer's imports, so they run in parallel.
    with local_ranks(devices, num_nodes):
        return _train_and_report(args, cfg)


def _train_and_report(args: argparse.Namespace, cfg: Config) -> int:
    from ..runfolder import default_run_dir
    from ..train_console import TrainingInterrupted
    from ..training import train

    out = Path(args.out) if args.out else default_run_dir(cfg.name)
    try:
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
            verbose=args.verbose,
        )
    except TrainingInterrupted as stop:
        from ..launch import is_main_rank

        if is_main_rank():  # every DDP rank stops; one says how to go on
            print(
                f"audioae: interrupted at step {stop.step}; saved {stop.checkpoint}\n"
                f"to continue: {resume_command(args, out)}",
                file=sys.stderr,
            )
        return 130
    if result.already_done:
        if result.model_file is not None:
            print(f"nothing to train: {result.run_dir} is at step {result.steps}")
            print(f"model file: {result.model_file}")
        return 0
    if result.model_file is not None:
        best = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
        if result.exported_only:
            print(f"nothing to train: {result.run_dir} is at step {result.steps}; exported")
        else:
            print(f"trained {result.steps} steps; best validation loss {best}")
        print(f"run folder: {result.run_dir}")
        weights = ""
        if result.best_step is not None and result.best_step != result.steps:
            weights = (
                f" (the best validation checkpoint, step {result.best_step}; validation runs "
                "every training.val_every steps, last.ckpt has the last step)"
            )
        print(f"model file: {result.model_file}{weights}")
    return 0


# --- inspect ---------------------------------------------------------------------------------


def _add_inspect(subparsers) -> None:
    p = add_command(
        subparsers,
        "inspect",
        summary="check a folder of audio before training",
        description="Index a folder of audio (decoding new or changed files once; the index is cached "
        "beside the data as .audioae-index.json) and report what training would trip on "
        "(unreadable, silent, clipped or too short files, too few files for the split).",
        examples=[
            "audioae inspect my_sounds/",
            "audioae inspect speech/ --recipe denoise --set data.segment_seconds=2",
            "audioae inspect my_sounds/ --run runs/tiny   # the split a --resume keeps",
        ],
    )
    p.add_argument(
        "folder", help="folder of audio (searched recursively), or an .aae file to describe"
    )
    p.add_argument(
        "--recipe",
        help="recipe whose audio/data settings to check against; unset: the run's config "
        "with --run, else the built-in defaults",
    )
    p.add_argument(
        "--run",
        help="a training run folder: show the validation files it recorded (split.json), as "
        "--resume keeps them, instead of a fresh split",
    )
    add_set(p)
    p.set_defaults(func=_run_inspect)


def _run_inspect(args: argparse.Namespace) -> int:
    from ..audio import NoAudioFilesError
    from ..folder_report import inspect_for_config
    from ..runfolder import RunFolder

    if str(args.folder).lower().endswith(".aae") and Path(args.folder).is_file():
        from ..codec import describe_aae

        print(describe_aae(args.folder))  # CodecError: one line (a user error)
        return 0
    val_paths = None
    if args.run is not None:
        run = RunFolder(Path(args.run))
        if not run.config_file.is_file():
            raise UsageError(f"--run {args.run}: not a training run folder (no config.yaml)")
        recipe = args.recipe if args.recipe is not None else run.config_file
        cfg = load_recipe_config(recipe, args.overrides)
        val_paths = run.recorded_val_paths(cfg.data.val_fraction)
        if val_paths is None and not run.split_file.is_file():
            print(
                f"audioae: {args.run}: no validation files recorded (split.json); showing "
                "the split a fresh run would make",
                file=sys.stderr,
            )
    else:
        cfg = load_recipe_config(args.recipe, args.overrides)
    try:
        report = inspect_for_config(args.folder, cfg, progress=True, val_paths=val_paths)
    except NoAudioFilesError as exc:
        print(f"audioae: {exc}", file=sys.stderr)
        return 1
    print(report.format())
    return 0 if report.usable else 1  # nothing training could use: a script should stop


# --- export ----------------------------------------------------------------------------------


def _add_export(subparsers) -> None:
    p = add_command(
        subparsers,
        "export",
        summary="write the model file of a training run",
        description="Write a model file (.safetensors with the config inside, no pickle) from a "
        "run's best or last checkpoint, e.g. after a run was stopped early.",
        examples=[
            "audioae export runs/denoise",
            "audioae export runs/denoise --checkpoint last -o denoise_last.safetensors",
        ],
    )
    p.add_argument("run_dir", help="run folder written by `audioae train`")
    p.add_argument(
        "-o",
        "--out",
        help="model file to write (NAME.safetensors), or a folder ending in / (the file inside is named after the run folder); unset: RUN_DIR/model.safetensors",
    )
    p.add_argument(
        "--checkpoint",
        choices=("best", "last"),
        default="best",
        help="which checkpoint: best by validation loss, or the last one",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing model file")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from ..run_export import export_run

    out = args.out
    if out is not None:
        if out.endswith(("/", os.sep)) or Path(out).is_dir():  # a folder: the file inside
            out = str(Path(out) / f"{Path(args.run_dir).resolve().name}{MODEL_SUFFIX}")
        elif Path(out).suffix != MODEL_SUFFIX:
            raise UsageError(
                f"-o {out}: a model file is written as {MODEL_SUFFIX} (give NAME{MODEL_SUFFIX}, "
                "or a folder ending in /)"
            )
    path = export_run(args.run_dir, out, checkpoint=args.checkpoint, overwrite=args.force)
    print(f"model file: {path}")
    return 0


# --- config ----------------------------------------------------------------------------------


def _add_config(subparsers) -> None:
    p = add_command(
        subparsers,
        "config",
        summary="validate a recipe and print the effective config",
        description="Merge defaults <- recipe <- --set overrides, validate, and print the "
        "result.\n" + recipes_help() + ".",
        examples=[
            "audioae config denoise --show",
            "audioae config my_recipe.yaml --set model.latent_dim=16",
            "audioae config --show          # every key a recipe can set, with its default",
            "audioae config data/models/denoise.safetensors   # the config a model was trained with",
            "audioae config timbre --model   # the same for a shipped model, by name",
        ],
    )
    p.add_argument(
        "recipe",
        nargs="?",
        help="recipe YAML file or bundled recipe name (unset: the defaults), or a model file "
        "(*.safetensors: prints the config stored in it)",
    )
    add_set(p)
    p.add_argument("--show", action="store_true", help="print the effective config as YAML")
    p.add_argument(
        "--model",
        action="store_true",
        help="read the argument as a model and print the config stored in it, the one it "
        "was trained with. The model: " + models_help(),
    )
    p.set_defaults(func=_run_config)


def _print_model_config(model: str, overrides: list[str]) -> int:
    from ..modelfile import read_model_config, resolve_model_file

    if overrides:
        raise UsageError(f"audioae config {model}: --set applies to recipes only")
    path = resolve_model_file(model)
    cfg = read_model_config(path)  # the metadata only, not the weights
    print(f"# the config stored in {path}", flush=True)
    print(cfg.to_yaml(), end="")
    return 0


def _run_config(args: argparse.Namespace) -> int:
    if args.model:
        if not args.recipe:
            raise UsageError("audioae config --model: name a model file or a shipped model")
        return _print_model_config(args.recipe, args.overrides)
    # as resolve_shipped_file: a shipped name wins over a folder of that name
    shipped = args.recipe in available_models() and not Path(args.recipe).is_file()
    given = Path(args.recipe) if args.recipe and not shipped else None
    if given is not None and (given / "config.yaml").is_file():  # a training run folder
        cfg = load_recipe_config(str(given / "config.yaml"), args.overrides)
        print(f"# the config of the training run {given} (its config.yaml)", flush=True)
        print(cfg.to_yaml(), end="")
        return 0
    if given is not None and (
        args.recipe.endswith((MODEL_SUFFIX, ".ckpt")) or given.is_dir()
    ):  # a model file: its stored config (a folder or a checkpoint: which file to give)
        return _print_model_config(args.recipe, args.overrides)
    if shipped and args.recipe not in available_recipes():  # e.g. timbre: only a model
        print(
            f"audioae: {args.recipe} is a shipped model, not a recipe: its stored config",
            file=sys.stderr,
        )
        return _print_model_config(args.recipe, args.overrides)
    cfg = load_recipe_config(args.recipe, args.overrides)
    if args.show:
        print(cfg.to_yaml(), end="")
    else:
        print(
            f"{args.recipe or 'defaults'}: valid config (name: {cfg.name}); add --show to print it"
        )
    if shipped:  # e.g. denoise: the recipe, and a shipped model trained from it with changes
        print(
            f"audioae: this is the recipe {args.recipe}; the shipped model of that name was "
            f"trained with its own settings: audioae config {args.recipe} --model prints them",
            file=sys.stderr,
        )
    return 0


def register(subparsers) -> None:
    """Add ``train``, ``inspect``, ``export`` and ``config`` to the ``audioae`` parser."""
    for add in (_add_train, _add_inspect, _add_export, _add_config):
        add(subparsers)
