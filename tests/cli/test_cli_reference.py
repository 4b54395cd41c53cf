"""Every ``--help`` ends with one example, and docs/cli.md is the parsers' current reference."""

import subprocess
import sys

import pytest

from tests.harness import REPO
from tfhub_llm import cli


def _command_parsers(parser, path=()):
    yield path, parser
    for action in parser._actions:
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            for name, subparser in action.choices.items():
                yield from _command_parsers(subparser, (*path, name))


@pytest.mark.parametrize("path, parser", list(_command_parsers(cli.build_parser())),
                         ids=lambda value: " ".join(value) if isinstance(value, tuple) else "")
def test_every_help_ends_with_one_example_of_its_own_command(path, parser):
    help_text = parser.format_help()
    assert help_text.count("\nexample:\n") == 1, help_text
    example = help_text.split("\nexample:\n")[1].strip()
    assert example.startswith(" ".join(("tfhub-llm", *path[:1]))), example


def test_the_cli_reference_is_current():
    result = subprocess.run([sys.executable, "scripts/cli_reference.py", "--check"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
