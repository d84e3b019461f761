"""The bundled recipes: a recipe argument (a path or a bundled name such as ``tiny``) to a file.

:func:`available_recipes` and :func:`resolve_recipe`; the folder is
:data:`audioae.bundled.RECIPES_DIR`. :mod:`audioae.config` re-exports both: import them from
there.
"""

from __future__ import annotations

import os
from pathlib import Path

from .bundled import RECIPES_DIR, is_bare_name
from .config_yaml import ConfigError

__all__ = ["available_recipes", "resolve_recipe"]


def available_recipes() -> list[str]:
    """Names of the bundled recipes (``recipes/<name>.yaml``), sorted."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")) if RECIPES_DIR.is_dir() else []


def resolve_recipe(recipe: str | os.PathLike) -> Path:
    """A recipe argument to a file: an existing path, or a bundled recipe name (``tiny``).

    The bundled recipes are in :data:`audioae.bundled.RECIPES_DIR` (package data when
    installed, ``recipes/`` in a clone).

    Raises:
        ConfigError: neither a file nor a bundled recipe; lists the bundled ones.
    """
    path = Path(recipe)
    if path.is_file():
        return path
    bundled = RECIPES_DIR / f"{recipe}.yaml"
    if is_bare_name(recipe) and bundled.is_file():
        return bundled
    names = ", ".join(available_recipes()) or "none found"
    raise ConfigError(f"{recipe}: no such recipe file or bundled recipe (bundled: {names})")
