"""``batch``: score or embed input files with a TF Serving export on Apache Beam (the ``beam`` extra).

Options the command does not know are Beam's pipeline options, passed to the runner as they are
(``--direct_num_workers=2``, ``--project=...``, ``--temp_location=gs://...``).
"""

import logging

from tfhub_llm.batch.shards import DEFAULT_ROWS_PER_SHARD, OUTPUT_FORMATS
from tfhub_llm.cli.options import POSITIVE_INT, add_trust, command_parser
from tfhub_llm.errors import UnsupportedPlatformError

# The columns of each export input: --text-column C reads the input "text" from column C, and so on.
INPUT_COLUMN_OPTIONS = {"text": "--text-column", "text_b": "--text-b-column", "question": "--question-column",
                        "context": "--context-column"}


def add_commands(commands):
    batch = command_parser(commands, "batch",
                           "score or embed files with a TF Serving export on Apache Beam (any other option is Beam's)",
                           "tfhub-llm batch serving/sst2/1 'reviews/*.jsonl' scored --direct_num_workers=2")
    batch.add_argument("export_dir", metavar="SERVING_EXPORT", help="a TF Serving version folder, e.g. served/1")
    batch.add_argument("input", metavar="INPUT", help="a file or glob: .jsonl, .csv, .tsv, .txt or .parquet")
    batch.add_argument("output", metavar="OUTPUT", help="the output folder (a re-run resumes it)")
    for name, option in INPUT_COLUMN_OPTIONS.items():
        batch.add_argument(option, metavar="C", dest=f"{name}_column",
                           help=f"the column of the export's input {name!r} (default: {name!r})")
    batch.add_argument("--id-column", metavar="C", help="a column copied to each answer as 'id'")
    batch.add_argument("--input-format", metavar="FORMAT",
                       help="read every input as jsonl, csv, tsv, text or parquet (default: from each file's suffix)")
    batch.add_argument("--output-format", choices=OUTPUT_FORMATS, default=OUTPUT_FORMATS[0])
    batch.add_argument("--rows-per-shard", type=POSITIVE_INT, default=DEFAULT_ROWS_PER_SHARD, metavar="N",
                       help=f"input lines per output shard (default: {DEFAULT_ROWS_PER_SHARD})")
    batch.add_argument("--max-batch-size", type=POSITIVE_INT, metavar="N", help="the most rows per call of the export")
    batch.add_argument("--runner", default="DirectRunner", help="Beam's runner (default: DirectRunner)")
    add_trust(batch, "the export")
    batch.set_defaults(run=run_batch, takes_extra_options=True)


def run_batch(args):
    # Beam without its [gcp] extra logs "apitools not found ..." on the root logger while it is imported.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        from tfhub_llm.batch.pipeline import run_batch as run
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith(("apache_beam", "pyarrow")):
            raise
        raise UnsupportedPlatformError(f"this command needs Apache Beam ({error.name} is missing): "
                                       'pip install "tfhub-llm[beam]"') from error
    finally:
        root.setLevel(level)

    columns = {name: getattr(args, f"{name}_column") for name in INPUT_COLUMN_OPTIONS
               if getattr(args, f"{name}_column") is not None}
    batching = {} if args.max_batch_size is None else {"max_batch_size": args.max_batch_size}
    summary = run(args.export_dir, args.input, args.output, columns=columns, id_column=args.id_column,
                  input_format=args.input_format, output_format=args.output_format,
                  rows_per_shard=args.rows_per_shard, trust=args.trust,
                  pipeline_args=[f"--runner={args.runner}", *args.extra_options], **batching)
    print(summary.format())
