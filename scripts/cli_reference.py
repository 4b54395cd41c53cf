"""Writes docs/cli.md, the ``tfhub-llm`` reference, from the CLI's argparse parsers (``--check``: is it current?).

    .venv/bin/python scripts/cli_reference.py          # rewrite docs/cli.md
    .venv/bin/python scripts/cli_reference.py --check  # exit 1 when docs/cli.md differs from the parsers

Each command's section is its ``--help``: usage, every option, and the example.
"""

import argparse
import os
import pathlib
import sys

from tfhub_llm import cli
from tfhub_llm.atomic import write_text

REFERENCE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "cli.md"
HEADER = """# `tfhub-llm` command reference

Generated from the command's parsers by `scripts/cli_reference.py` (a test checks that it is current);
each section is the command's `--help`. Exit codes: 0 success, 1 a check found problems
(`check-serving`, `check-litert`, `scan`), 2 bad usage or bad input (one line on stderr, no traceback),
130 interrupted (Ctrl-C).
"""


def command_parsers(parser, path=()):
    """(command path, parser) of the top-level command and every subcommand, depth first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from command_parsers(subparser, (*path, name))


def reference():
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal: fix the width for a stable file
    sections = [HEADER]
    for path, parser in command_parsers(cli.build_parser()):
        title = " ".join(("tfhub-llm", *path))
        sections.append(f"## `{title}`\n\n```\n{parser.format_help().rstrip()}\n```\n")
    return "\n".join(sections)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/cli.md is not current")
    if parser.parse_args().check:
        current = REFERENCE.exists() and REFERENCE.read_text(encoding="utf-8") == reference()
        print(f"{REFERENCE}: {'current' if current else 'OUT OF DATE: run scripts/cli_reference.py'}")
        return 0 if current else 1
    write_text(REFERENCE, reference())
    print(REFERENCE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
