"""The ``tfhub-llm`` command: thin subcommands over the library.

Exit codes: 0 success, 1 a check found problems (``check-serving``, ``scan``), 2 bad usage or bad
input (any :class:`~tfhub_llm.errors.TfhubLlmError` or ``OSError``: a missing file, a malformed
data row, an unloadable handle, a failed upload): reported in one line, without a traceback. Any
other exception is a bug and keeps its traceback. Each command imports only the library modules it
calls; the commands live in one module per group (:mod:`.models`, :mod:`.training`, :mod:`.export`,
:mod:`.publish`, :mod:`.serving`, :mod:`.batch`), their shared options in :mod:`.options`.
"""

import argparse
import os
import sys

from tfhub_llm.cli import batch, export, models, publish, serving, training
from tfhub_llm.cli.options import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK
from tfhub_llm.errors import TfhubLlmError
from tfhub_llm.escaping import printable_lines

__all__ = ["EXIT_BAD_INPUT", "EXIT_CHECK_FAILED", "EXIT_OK", "build_parser", "main"]

COMMAND_GROUPS = (models, training, export, publish, serving, batch)


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra_options", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra_options = extra
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.run(args) or EXIT_OK
    except KeyboardInterrupt:
        return 130
    except (TfhubLlmError, OSError) as error:
        print(printable_lines(f"tfhub-llm {args.command}: error: {error}"), file=sys.stderr)
        return EXIT_BAD_INPUT


def build_parser():
    parser = argparse.ArgumentParser(prog="tfhub-llm", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser
