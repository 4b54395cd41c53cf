"""The ``tfhub-llm`` command: thin subcommands over the library.

Exit codes: 0 success, 1 a check found problems (``check-serving``, ``scan``), 2 bad usage or bad
input (any :class:`~tfhub_llm.errors.TfhubLlmError` or ``OSError``: a missing file, a malformed
data row, an unloadable handle, a failed upload, a full disk): reported in one line, without a traceback. Any
other exception is a bug and keeps its traceback. Each command imports the library modules it calls
inside itself, so TensorFlow loads only for the commands that need it (``--help``, ``--version``,
``predict`` and argument errors answer at once); the commands live in one module per group
(:mod:`.models`, :mod:`.training`, :mod:`.export`, :mod:`.publish`, :mod:`.serving`, :mod:`.batch`),
their shared options in :mod:`.options`.
"""

import argparse
import sys

import tfhub_llm
from tfhub_llm.cli import batch, export, models, publish, serving, training
from tfhub_llm.cli.options import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK
from tfhub_llm.errors import TfhubLlmError
from tfhub_llm.escaping import printable_lines

__all__ = ["EXIT_BAD_INPUT", "EXIT_CHECK_FAILED", "EXIT_OK", "build_parser", "main"]

COMMAND_GROUPS = (models, training, export, publish, serving, batch)
FULL_DISK = "No space left on device"  # strerror(ENOSPC), in whatever error a library raises


def main(argv=None):
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
    except Exception as error:
        if FULL_DISK not in str(error):  # TensorFlow reports a full disk as ResourceExhaustedError
            raise
        print(printable_lines(f"tfhub-llm {args.command}: error: {str(error).splitlines()[0]}"), file=sys.stderr)
        return EXIT_BAD_INPUT


def build_parser():
    parser = argparse.ArgumentParser(prog="tfhub-llm", description="Thin commands over the tfhub_llm library.",
                                     epilog="example:\n  tfhub-llm finetune classify --help",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {tfhub_llm.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_commands(commands)
    return parser
