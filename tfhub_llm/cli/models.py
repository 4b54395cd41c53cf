"""``inspect``, ``scan`` and ``convert``: what a SavedModel is, whether it is safe, making one."""

from tfhub_llm.bert.config import COMPUTE_DTYPES
from tfhub_llm.cli.options import EXIT_CHECK_FAILED, add_trust, command_parser, print_json
from tfhub_llm.escaping import printable_lines


def add_commands(commands):
    inspect = command_parser(commands, "inspect", "print a SavedModel's TF-Hub interface",
                             "tfhub-llm inspect savedmodels/minilm_l6_h384_uncased/encoder --json")
    inspect.add_argument("handle")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_trust(inspect)
    inspect.set_defaults(run=run_inspect)

    scan = command_parser(commands, "scan", "check a SavedModel's ops against the allow-list (exit 1 if refused)",
                          "tfhub-llm scan savedmodels/minilm_l6_h384_uncased/encoder")
    scan.add_argument("path")
    scan.add_argument("--allow-op", action="append", default=[], metavar="OP", help="also allow this op type")
    scan.set_defaults(run=run_scan)

    convert = command_parser(commands, "convert", "Hugging Face BERT directory -> TF-Hub encoder + preprocessor",
                             "tfhub-llm convert hf/bert-base-uncased converted/bert-base-uncased")
    convert.add_argument("src", help="directory with config.json, model.safetensors, vocab.txt")
    convert.add_argument("out", help="writes OUT/encoder and OUT/preprocessor")
    convert.add_argument("--overwrite", action="store_true")
    convert.add_argument("--compute-dtype", choices=COMPUTE_DTYPES, default="float32",
                         help="dtype of the transformer matmuls (bfloat16: for CPUs with AVX512-BF16 / AMX; "
                              "the weights stay float32)")
    convert.set_defaults(run=run_convert)


def run_inspect(args):
    from tfhub_llm.hub.describe import describe, format_text

    description = describe(args.handle, trust=args.trust)
    if args.json:
        print_json(description)
    else:
        print(format_text(description))


def run_scan(args):
    from tfhub_llm.hub.security import UntrustedModelError, check_saved_model

    try:
        check_saved_model(args.path, allow_ops=args.allow_op)
    except UntrustedModelError as error:
        print(printable_lines(error))
        return EXIT_CHECK_FAILED
    print(f"{args.path}: every op is on the allow-list")


def run_convert(args):
    from tfhub_llm.bert.convert import convert_hf_bert

    convert_hf_bert(args.src, args.out, overwrite=args.overwrite, compute_dtype=args.compute_dtype)
