"""Every subcommand explains itself: a description, examples and the defaults in ``--help``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audioae.cli import build_parser, main

ROOT = Path(__file__).parents[1]
COMMANDS = (
    "train inspect export config denoise reconstruct encode decode interpolate sample "
    "evaluate embed anomaly live demo"
).split()


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_expected_subcommand_is_there() -> None:
    assert sorted(_subparsers()) == sorted(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_a_description_examples_and_defaults(name: str) -> None:
    sub = _subparsers()[name]
    text = sub.format_help()
    assert sub.description and len(sub.description.split()) >= 8, "no real description"
    assert sub.description.split()[0] in text  # shown, not just stored
    examples = [
        line.strip() for line in text.split("examples:", 1)[-1].splitlines() if line.strip()
    ]
    assert "examples:" in text and examples, "no examples"
    assert all(line.startswith(f"audioae {name}") for line in examples), examples
    flat = " ".join(text.split())  # help lines are wrapped
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
        default = action.default
        if default is None or default == [] or action.nargs == 0:  # nothing to show
            continue
        if "(default" in action.help:  # the help states it in its own words
            said = action.help.split("(default", 1)[1]
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            assert shown in said, f"{name}: help of {action.dest} states another default"
            continue
        assert f"(default: {default})" in flat, f"{name}: default of {action.dest} not shown"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_examples_parse(name: str) -> None:
    """The examples are real command lines: argparse accepts each of them."""
    sub = _subparsers()[name]
    text = sub.format_help().split("examples:", 1)[1]
    parser = build_parser()
    for line in filter(None, (raw.split("#")[0].strip() for raw in text.splitlines())):
        args = parser.parse_args(line.split()[1:])
        assert args.command == name


def test_help_exits_0_and_prints_the_examples(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["denoise", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "audioae denoise denoise noisy.wav -o clean.wav" in out
    assert "(default: 1.0)" in out  # --wet


def test_top_level_help_is_fast_and_does_not_import_torch() -> None:
    code = (
        "import sys; from audioae.cli import build_parser; p = build_parser(); "
        "[s.format_help() for s in p._subparsers._group_actions[0].choices.values()]; "
        "print(sorted(m for m in ('torch', 'lightning', 'librosa') if m in sys.modules))"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"
