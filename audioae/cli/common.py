"""Helpers shared by the ``audioae`` subcommand modules: ``--set``, recipe loading, model loading.

Kept light (no torch at import time) so that ``audioae --help`` stays fast.
"""

from __future__ import annotations

import argparse

from ..config import Config, available_recipes, load_config, resolve_recipe


def load_recipe_config(recipe: str | None, overrides: list[str] | None) -> Config:
    """Defaults <- recipe (a file or a bundled name; None: defaults only) <- ``--set`` overrides.

    Raises:
        audioae.config.ConfigError: unknown recipe, bad key or value.
    """
    return load_config(resolve_recipe(recipe) if recipe else None, overrides or [])


def add_set(parser: argparse.ArgumentParser) -> None:
    """Add the repeatable ``--set KEY=VALUE ...`` option (stored as ``args.overrides``)."""
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=[],
        help="override config values, e.g. --set training.max_steps=500 model.latent_dim=16",
    )


def recipes_help() -> str:
    """One sentence naming the bundled recipes, for command descriptions."""
    names = available_recipes()
    return f"bundled recipes: {', '.join(names)}" if names else "no bundled recipes found"


def load_pipeline(args: argparse.Namespace):
    """The :class:`audioae.pipeline.Pipeline` of ``args.model`` on ``args.device``.

    Raises:
        audioae.modelfile.ModelFileError: not a readable model file.
    """
    from ..pipeline import Pipeline

    return Pipeline.load(args.model, device=args.device)
