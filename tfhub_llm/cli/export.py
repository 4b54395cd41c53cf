"""``export serving|hub|text-embedding|litert`` of a fine-tuned model, ``check-serving`` and ``check-litert``."""

import os
import sys

from tfhub_llm.cli.options import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    POSITIVE_INT,
    add_trust,
    command_parser,
    load_model,
    trust_scope,
)


def add_commands(commands):
    export = command_parser(commands, "export", "export a fine-tuned model",
                            "tfhub-llm export serving runs/sst2/model.keras serving/sst2")
    targets = export.add_subparsers(dest="target", metavar="TARGET", required=True)
    serving = _target_parser(targets, "serving", "TF Serving SavedModel (raw-text signature, warmup) in BASE_DIR/N",
                             run_export_serving, "base_dir", "runs/sst2/model.keras serving/sst2")
    serving.add_argument("--version", type=POSITIVE_INT, help="default: one more than the highest")
    hub = _target_parser(targets, "hub", "the fine-tuned encoder (and preprocessor) as TF-Hub SavedModels",
                         run_export_hub, "out_dir", "runs/sst2/model.keras runs/hub")
    hub.add_argument("--no-preprocessor", action="store_true", help="write the encoder only")
    _target_parser(targets, "text-embedding", "a fine-tuned embedder as a TF-Hub text embedding",
                   run_export_text_embedding, "out_dir", "runs/sts/model.keras runs/sts-embedding",
                   model_help="a model.keras written by finetune embed")
    litert = _target_parser(targets, "litert", "on-device LiteRT (TFLite) model that takes raw strings",
                            run_export_litert, "out", "runs/sst2/model.keras sst2.tflite --quantize dynamic-int8",
                            out_help="the .tflite file to write")
    litert.add_argument("--quantize", choices=["dynamic-int8", "float16"], help="default: float32")
    litert.add_argument("--overwrite", action="store_true")

    check_litert = command_parser(commands, "check-litert", "load a .tflite export, run sample texts, list its ops",
                                  "tfhub-llm check-litert sst2.tflite")
    check_litert.add_argument("path", help="a .tflite file written by `export litert`")
    check_litert.set_defaults(run=run_check_litert)
    check = command_parser(commands, "check-serving", "load an export as TF Serving does; list missing ops",
                           "tfhub-llm check-serving serving/sst2/1 --tf-serving-version 2.19")
    check.add_argument("export_dir", help="BASE_DIR/N")
    check.add_argument("--tf-serving-version", default="2.19", help="the model server release to check against")
    add_trust(check)
    check.set_defaults(run=run_check_serving)


def _target_parser(targets, name, help, run, out, example, *, out_help=None,
                   model_help="a model.keras written by finetune"):
    """``export NAME MODEL OUT [--trust]``, ``example`` its arguments; the caller adds the target's options."""
    parser = command_parser(targets, name, help, f"tfhub-llm export {name} {example}")
    parser.add_argument("model", help=model_help)
    parser.add_argument(out, help=out_help)
    add_trust(parser, "the model file")
    parser.set_defaults(run=run)
    return parser


def _export(args, write):
    """``write(model)`` for the model file ``args.model``, loaded (and written) under ``--trust``."""
    with trust_scope(args):
        return write(load_model(args.model))


def run_export_serving(args):
    from tfhub_llm.cpu_threads import describe_choice, inference_threads
    from tfhub_llm.tf_serving.export import export_for_serving

    print(_export(args, lambda model: export_for_serving(model, args.base_dir, version=args.version)))
    setting = inference_threads()
    flags = f"tensorflow_model_server {' '.join(setting.model_server_flags())}" if setting else "no thread flags"
    print(f"on a CPU like this one, serve it with {flags}; {describe_choice(setting)}", file=sys.stderr)


def run_export_hub(args):
    from tfhub_llm.publishing.encoder import export_to_hub

    print(_export(args, lambda model: export_to_hub(model, args.out_dir, preprocessor=not args.no_preprocessor)))


def run_export_text_embedding(args):
    from tfhub_llm.publishing.text_embedding import export_text_embedding

    print(_export(args, lambda model: export_text_embedding(model, args.out_dir)))


def run_export_litert(args):
    from tfhub_llm.litert import export_litert

    quantize = args.quantize.replace("-", "_") if args.quantize else None
    path = _export(args, lambda model: export_litert(model, args.out, quantize=quantize, overwrite=args.overwrite))
    print(f"{path} ({os.path.getsize(path) / 1e6:.1f} MB)")


def run_check_litert(args):
    from tfhub_llm.litert.check import check_litert

    return _report(check_litert(args.path))


def run_check_serving(args):
    from tfhub_llm.tf_serving.check import check_serving

    return _report(check_serving(args.export_dir, tf_serving_version=args.tf_serving_version, trust=args.trust))


def _report(report):
    """Prints a check's report; its exit code."""
    print(report.format())
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED
