"""Helpers shared by the ``audioae`` subcommand modules: ``--set``, recipe loading, model loading.

Kept light (no torch at import time) so that ``audioae --help`` stays fast.
"""

from __future__ import annotations

import argparse
import shutil
import textwrap

from ..bundled import available_models
from ..config import Config, available_recipes, load_config, resolve_recipe


class UsageError(ValueError):
    """Options that do not go together, found after parsing (``audioae: error: ...``, exit 2)."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """``--help`` layout of every subcommand: each option's default is shown, and the
    description and the examples keep their line breaks.

    Defaults that say nothing are left out: ``None``, an empty list, and the ``False`` of an
    on/off flag; so is the default of an option whose help already says it ("(default ...").
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default == [] or action.nargs == 0:
            return action.help
        if action.help and "(default" in action.help:
            return action.help
        return super()._get_help_string(action)


def add_command(
    subparsers, name: str, *, summary: str, description: str, examples: list[str]
) -> argparse.ArgumentParser:
    """Add subcommand ``name``: ``summary`` is its line in ``audioae --help``, ``description``
    a sentence or two at the top of its own ``--help`` (wrapped to the terminal; ``\n``
    starts a new paragraph), ``examples`` whole command lines (``audioae ...``) listed at the
    bottom."""
    width = max(40, min(100, shutil.get_terminal_size().columns - 2))  # as argparse's
    wrapped = "\n".join(textwrap.fill(part, width) for part in description.split("\n"))
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    return subparsers.add_parser(
        name,
        help=summary,
        description=wrapped,
        epilog=epilog,
        formatter_class=HelpFormatter,
    )


def models_help() -> str:
    """The help of a model argument, naming the shipped models."""
    names = available_models()
    shipped = f", or a shipped model's name ({', '.join(names)})" if names else ""
    return f"model file (.safetensors) written by `audioae train` or `audioae export`{shipped}"


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
        type=override,
        help="override config values, e.g. --set training.max_steps=500 model.latent_dim=16",
    )


def override(text: str) -> str:
    """An argparse ``type`` for ``--set``: ``KEY=VALUE`` with a non-empty key."""
    key, sep, _ = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KEY=VALUE (e.g. training.max_steps=500); a recipe name goes "
            "before --set or after its values"
        )
    return text


def split_set_values(argv: list[str]) -> list[str]:
    """Rewrite ``--set a=1 b=2`` as ``--set=a=1 --set=b=2`` so that ``--set`` only takes
    ``KEY=VALUE`` words and a positional after them (the recipe) is not swallowed.

    A ``--set`` followed by no ``KEY=VALUE`` word is kept as it is, for argparse to report.
    Words after ``--`` are left alone.
    """
    out: list[str] = []
    pending = in_set = False  # pending: a --set that has taken no value yet
    for i, word in enumerate(argv):
        if word == "--":
            out.extend(argv[i:])
            break
        if word == "--set":
            if pending:
                out.append("--set")
            pending = in_set = True
            continue
        if in_set and "=" in word and not word.startswith("-"):
            out.append(f"--set={word}")
            pending = False
            continue
        if pending:
            out.append("--set")
        pending = in_set = False
        out.append(word)
    if pending:
        out.append("--set")
    return out


def recipes_help() -> str:
    """One sentence naming the bundled recipes, for command descriptions."""
    names = available_recipes()
    return f"bundled recipes: {', '.join(names)}" if names else "no bundled recipes found"


def load_pipeline(args: argparse.Namespace, task: str | None = None):
    """The :class:`audioae.pipeline.Pipeline` of ``args.model`` on ``args.device``.

    ``task="denoise"`` refuses a model that was not trained to denoise, with one line that
    says what the model is for.

    Raises:
        audioae.modelfile.ModelFileError: not a readable model file (or ``--vocoder`` file;
            one for other front-end settings is refused).
        audioae.pipeline.PipelineError: an unusable ``--device``, or a model for another task.
        ValueError: a ``--phase`` the model cannot use (a learned one without a decoder).
    """
    from ..pipeline import Pipeline

    pipe = Pipeline.load(args.model, device=args.device, vocoder=getattr(args, "vocoder", None))
    if task is not None:
        pipe.require_task(task)
    if getattr(args, "phase", None) is not None:  # refuse e.g. --phase learned without a decoder
        pipe.resolve_phase(args.phase, also=("noisy",) if task == "denoise" else ("input",))
    return pipe


def at_least(low: int, high: int | None = None):
    """An argparse ``type``: an integer in ``low..high`` (``high`` None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f"in {low}..{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    return parse


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite number > 0."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


def post_filter_beta(text: str) -> float:
    """An argparse ``type``: a post-filter strength in [0, MAX_POST_FILTER]
    (:func:`audioae.models.masks.check_post_filter`)."""
    from ..models.masks import MAX_POST_FILTER, check_post_filter

    value = _float(text)
    try:
        return check_post_filter(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be in [0, {MAX_POST_FILTER:g}], got {value:g}"
        ) from None


def mask_exponent(text: str) -> float:
    """An argparse ``type``: a mask exponent in (0, MAX_MASK_EXPONENT]
    (:func:`audioae.models.masks.check_mask_exponent`)."""
    from ..models.masks import MAX_MASK_EXPONENT, check_mask_exponent

    value = _float(text)
    try:
        return check_mask_exponent(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be in (0, {MAX_MASK_EXPONENT:g}], got {value:g}"
        ) from None


def temperature(text: str) -> float:
    """An argparse ``type``: a sampling temperature in [0, MAX_TEMPERATURE]
    (:meth:`audioae.pipeline.Pipeline.sample`)."""
    from ..pipeline import MAX_TEMPERATURE

    value = _float(text)
    if not 0.0 <= value <= MAX_TEMPERATURE:
        raise argparse.ArgumentTypeError(f"must be in [0, {MAX_TEMPERATURE:g}], got {value:g}")
    return value


def peak_dbfs(text: str) -> float:
    """An argparse ``type``: a peak level in dBFS in [MIN_PEAK_DB, 0]
    (:func:`audioae.apps_generation.sample_files`)."""
    from ..apps_generation import MIN_PEAK_DB

    value = _float(text)
    if not MIN_PEAK_DB <= value <= 0.0:
        raise argparse.ArgumentTypeError(f"must be in [{MIN_PEAK_DB:g}, 0] dBFS, got {value:g}")
    return value


def fraction(text: str) -> float:
    """An argparse ``type``: a number in [0, 1]."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value:g}")
    return value


def add_mask_options(parser: argparse.ArgumentParser) -> None:
    """``--wet``, ``--mask-exponent`` and ``--post-filter``: how a denoiser's mask is applied
    (``audioae denoise`` and ``audioae live``)."""
    parser.add_argument(
        "--wet",
        type=fraction,
        default=1.0,
        help="1 = fully denoised, 0 = the input as the model hears it (magnitude blend; at the "
        "model's rate, so band-limited to half of it)",
    )
    parser.add_argument(
        "--mask-exponent",
        type=mask_exponent,
        default=1.0,
        metavar="X",
        help="raise the model's mask gains to this power before applying them: above 1 "
        "removes more noise (and risks more speech distortion), below 1 less (default 1, "
        "the mask as trained; at most 8)",
    )
    parser.add_argument(
        "--post-filter",
        type=post_filter_beta,
        default=0.0,
        metavar="BETA",
        help="PercepNet's post-filter on the mask, as DeepFilterNet's --pf (0.02 there): "
        "attenuates further the bins the model already attenuates (default 0, off; at most 1)",
    )
