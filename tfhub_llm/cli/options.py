"""What several ``tfhub-llm`` commands share: exit codes, option groups, trust, model loading, JSON output."""

import argparse
import contextlib
import json

from tfhub_llm.training.options import TrainingOptions

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _positive(convert, kind):
    """An argparse ``type`` that takes ``convert(text)`` only when it is above 0 (argparse then names the flag)."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}")
        return value
    return parse


POSITIVE_INT = _positive(int, "a positive integer")
POSITIVE_FLOAT = _positive(float, "a positive number")


def command_parser(subparsers, name, help, example):
    """``subparsers.add_parser(name)`` whose ``--help`` says what it does and ends with one example command line."""
    return subparsers.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def add_trust(parser, what="the SavedModel"):
    parser.add_argument("--trust", action="store_true",
                        help=f"you vouch for {what}: skip the scan (and, in a model file, allow http(s) handles)")


def trust_scope(args):
    """``trusting()`` under ``--trust``, so every model the command loads is trusted; else nothing."""
    from tfhub_llm.hub.trust import trusting

    return trusting() if args.trust else contextlib.nullcontext()


def add_columns(parser, required=True):
    parser.add_argument("--text-column", required=required, metavar="C", default="text" if not required else None)
    parser.add_argument("--text-b-column", metavar="C", help="second text of a pair")
    parser.add_argument("--label-column", required=required, metavar="C", default="label" if not required else None)


def add_training(parser, defaults):
    """The options of every fine-tuning run (:class:`~tfhub_llm.training.options.TrainingOptions`), with the task's defaults."""
    parser.add_argument("--out", required=True, metavar="DIR")
    parser.add_argument("--epochs", type=POSITIVE_INT, default=defaults.epochs)
    parser.add_argument("--batch-size", type=POSITIVE_INT, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=POSITIVE_FLOAT, default=defaults.learning_rate)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--max-train-examples", type=POSITIVE_INT, help="train on a seeded sample of this size")
    parser.add_argument("--max-validation-examples", type=POSITIVE_INT)
    parser.add_argument("--patience", type=POSITIVE_INT, help="stop early after this many epochs without improvement")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run in --out, once the new run has finished (a failed run keeps the old one)")


def training_options(args):
    """The :class:`~tfhub_llm.training.options.TrainingOptions` that :func:`add_training`'s flags ask for."""
    return TrainingOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        max_train_examples=args.max_train_examples,
        max_validation_examples=args.max_validation_examples,
        patience=args.patience,
        resume=args.resume,
        overwrite=args.overwrite,
    )


def load_model(path):
    """The ``.keras`` model at ``path``; an error saying what the path is instead (exit 2) when it is not one."""
    from tfhub_llm.model_files import load_model_file

    return load_model_file(path)


def print_json(value):
    print(json.dumps(value, indent=2, ensure_ascii=False))
