"""The ``tfhub-llm`` command: thin subcommands over the library.

Exit codes: 0 success, 1 a check found problems (``check-serving``, ``scan``), 2 bad usage or bad
input (any :class:`~tfhub_llm.errors.TfhubLlmError` or ``OSError``: a missing file, a malformed
data row, an unloadable handle, a failed upload): reported in one line, without a traceback. Any
other exception is a bug and keeps its traceback. Each command imports only the library modules it
calls.
"""

import argparse
import json
import os
import sys

from tfhub_llm.errors import MissingFileError, TfhubLlmError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.run(args) or EXIT_OK
    except KeyboardInterrupt:
        return 130
    except (TfhubLlmError, OSError) as error:
        print(f"tfhub-llm {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def build_parser():
    parser = argparse.ArgumentParser(prog="tfhub-llm", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_model_commands(commands)
    _add_training_commands(commands)
    _add_export_commands(commands)
    _add_publish_command(commands)
    _add_serving_commands(commands)
    return parser


def _add_model_commands(commands):
    """``inspect``, ``scan`` and ``convert``: what a SavedModel is, whether it is safe, making one."""
    inspect = commands.add_parser("inspect", help="print a SavedModel's TF-Hub interface")
    inspect.add_argument("handle")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    _add_trust(inspect)
    inspect.set_defaults(run=run_inspect)

    scan = commands.add_parser("scan", help="check a SavedModel's ops against the allow-list (exit 1 if refused)")
    scan.add_argument("path")
    scan.add_argument("--allow-op", action="append", default=[], metavar="OP", help="also allow this op type")
    scan.set_defaults(run=run_scan)

    convert = commands.add_parser("convert", help="Hugging Face BERT directory -> TF-Hub encoder + preprocessor")
    convert.add_argument("src", help="directory with config.json, model.safetensors, vocab.txt")
    convert.add_argument("out", help="writes OUT/encoder and OUT/preprocessor")
    convert.add_argument("--overwrite", action="store_true")
    convert.set_defaults(run=run_convert)


def _add_training_commands(commands):
    """``finetune classify|qa|embed`` and ``evaluate``."""
    finetune = commands.add_parser("finetune", help="fine-tune a task model from data files")
    tasks = finetune.add_subparsers(dest="task", metavar="TASK", required=True)
    classify = tasks.add_parser("classify", help="text (or pair) classification from CSV / TSV / JSONL")
    _add_model_handles(classify)
    classify.add_argument("--train", required=True, metavar="FILE")
    classify.add_argument("--validation", metavar="FILE", help="default: 10%% of --train held out")
    classify.add_argument("--split", choices=["rows", "sentences"], default="rows",
                          help="without --validation, hold out rows, or whole sentences of a phrase "
                               "treebank such as SST-2 (their phrases are dropped from training)")
    _add_columns(classify)
    classify.add_argument("--num-classes", type=int, help="default: the labels found; 1 = regression")
    classify.add_argument("--multi-label", action="store_true", help="k-hot labels ('a|b'), sigmoid outputs")
    classify.add_argument("--seq-length", type=int, default=None,
                          help="maximum packed length (default: the preprocessor's own)")
    _add_training(classify, batch_size=32, learning_rate=3e-5)
    classify.set_defaults(run=run_finetune_classify)
    qa = tasks.add_parser("qa", help="extractive question answering from SQuAD JSON")
    _add_model_handles(qa)
    qa.add_argument("--train", required=True, metavar="SQUAD.json")
    qa.add_argument("--validation", metavar="SQUAD.json", help="default: the last article of --train held out")
    qa.add_argument("--max-seq-length", type=int, default=None,
                    help="window length (default: the preprocessor's own)")
    qa.add_argument("--doc-stride", type=int, default=128)
    qa.add_argument("--max-query-length", type=int, default=None,
                    help="question tokens kept (default: 64, or half the window when that is shorter)")
    _add_training(qa, batch_size=16, learning_rate=5e-5)
    qa.set_defaults(run=run_finetune_qa)
    embed = tasks.add_parser("embed", help="sentence embeddings from pairs (scored: cosine loss; else in-batch negatives)")
    _add_model_handles(embed)
    embed.add_argument("--train", required=True, metavar="FILE")
    embed.add_argument("--validation", metavar="FILE", help="default: 10%% of --train held out")
    embed.add_argument("--text-column", required=True, metavar="C")
    embed.add_argument("--text-b-column", required=True, metavar="C", help="the second text of each pair")
    embed.add_argument("--score-column", metavar="C", help="similarity scores; without it every pair is a positive")
    embed.add_argument("--max-score", type=float, default=1.0, help="scores are divided by it (5 for STS-B)")
    embed.add_argument("--pooling", choices=["mean", "cls", "pooled"], default="mean")
    embed.add_argument("--seq-length", type=int, default=256, help="maximum word pieces per text")
    _add_training(embed, batch_size=32, learning_rate=2e-5)
    embed.set_defaults(run=run_finetune_embed)
    ner = tasks.add_parser("ner", help="named entities (token tags) from CoNLL or JSONL")
    _add_model_handles(ner)
    ner.add_argument("--train", required=True, metavar="FILE", help="CoNLL (tag in the last column) or .jsonl")
    ner.add_argument("--validation", metavar="FILE", help="default: 10%% of --train's documents held out")
    ner.add_argument("--tag-scheme", choices=["IOB1", "IOB2", "IOBES"], help="default: the one the tags follow")
    ner.add_argument("--max-seq-length", type=int, default=128)
    ner.add_argument("--doc-stride", type=int, default=64, help="word pieces between the starts of windows")
    _add_training(ner, batch_size=32, learning_rate=5e-5)
    ner.set_defaults(run=run_finetune_ner)

    evaluate = commands.add_parser("evaluate", help="evaluate a fine-tuned model.keras on labelled data")
    evaluate.add_argument("task", choices=["classify", "qa", "ner"])
    evaluate.add_argument("model", help="a model.keras written by finetune")
    evaluate.add_argument("--data", required=True, metavar="FILE")
    _add_columns(evaluate, required=False)
    evaluate.add_argument("--batch-size", type=int, default=32)
    _add_trust(evaluate, "the model file")
    evaluate.set_defaults(run=run_evaluate)


def _add_export_commands(commands):
    """``export serving|hub|text-embedding|litert``, ``check-serving`` and ``check-litert``."""
    export = commands.add_parser("export", help="export a fine-tuned model")
    targets = export.add_subparsers(dest="target", metavar="TARGET", required=True)
    serving = targets.add_parser("serving", help="TF Serving SavedModel (raw-text signature, warmup) in BASE_DIR/N")
    serving.add_argument("model", help="a model.keras written by finetune")
    serving.add_argument("base_dir")
    serving.add_argument("--version", type=int, help="default: one more than the highest")
    _add_trust(serving, "the model file")
    serving.set_defaults(run=run_export_serving)
    hub = targets.add_parser("hub", help="the fine-tuned encoder (and preprocessor) as TF-Hub SavedModels")
    hub.add_argument("model", help="a model.keras written by finetune")
    hub.add_argument("out_dir")
    hub.add_argument("--no-preprocessor", action="store_true", help="write the encoder only")
    _add_trust(hub, "the model file")
    hub.set_defaults(run=run_export_hub)
    text_embedding = targets.add_parser("text-embedding", help="a fine-tuned embedder as a TF-Hub text embedding")
    text_embedding.add_argument("model", help="a model.keras written by finetune embed")
    text_embedding.add_argument("out_dir")
    _add_trust(text_embedding, "the model file")
    text_embedding.set_defaults(run=run_export_text_embedding)
    litert = targets.add_parser("litert", help="on-device LiteRT (TFLite) model that takes raw strings")
    litert.add_argument("model", help="a model.keras written by finetune")
    litert.add_argument("out", help="the .tflite file to write")
    litert.add_argument("--quantize", choices=["dynamic-int8", "float16"], help="default: float32")
    litert.add_argument("--overwrite", action="store_true")
    _add_trust(litert, "the model file")
    litert.set_defaults(run=run_export_litert)

    check_litert = commands.add_parser("check-litert", help="load a .tflite export, run sample texts, list its ops")
    check_litert.add_argument("path", help="a .tflite file written by `export litert`")
    check_litert.set_defaults(run=run_check_litert)
    check = commands.add_parser("check-serving", help="load an export as TF Serving does; list missing ops")
    check.add_argument("export_dir", help="BASE_DIR/N")
    check.add_argument("--tf-serving-version", default="2.19", help="the model server release to check against")
    _add_trust(check)
    check.set_defaults(run=run_check_serving)


def _add_publish_command(commands):
    """``publish``: a SavedModel as HUB_DIR/NAME/VERSION, its model card from the flags."""
    publish = commands.add_parser("publish", help="publish a SavedModel as HUB_DIR/NAME/VERSION (+ sha256, card)")
    publish.add_argument("saved_model_dir")
    publish.add_argument("hub_dir")
    publish.add_argument("--name", required=True)
    publish.add_argument("--version", required=True, type=int)
    publish.add_argument("--kaggle", metavar="OWNER/MODEL/tensorFlow2/VARIATION", help="also upload to Kaggle")
    publish.add_argument("--summary", default="", help="model card: what the model is")
    publish.add_argument("--training-data", action="append", default=[], metavar="TEXT")
    publish.add_argument("--eval", action="append", default=[], type=_metric, metavar="METRIC=VALUE")
    publish.add_argument("--limitations", default="")
    publish.add_argument("--base-model", default="", metavar="HANDLE")
    publish.add_argument("--hub-url", default="", help="where HUB_DIR is served, for the card's usage lines")
    publish.add_argument("--license", default="Apache 2.0")
    _add_trust(publish)
    publish.set_defaults(run=run_publish)


def _add_serving_commands(commands):
    """``serve`` (the development server) and ``predict`` (the REST client)."""
    serve = commands.add_parser("serve", help="development server with TF Serving's REST API over BASE_DIR")
    serve.add_argument("base_dir")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--model-name", help="default: BASE_DIR's last folder")
    _add_trust(serve, "every version")
    serve.set_defaults(run=run_serve)

    predict = commands.add_parser("predict", help="send texts to a TF Serving REST endpoint")
    predict.add_argument("texts", nargs="+", metavar="TEXT")
    predict.add_argument("--server", required=True, help="e.g. http://127.0.0.1:8501")
    predict.add_argument("--model", required=True)
    predict.add_argument("--version", type=int)
    predict.add_argument("--signature")
    predict.add_argument("--columnar", action="store_true", help='send {"inputs": ...} instead of {"instances": ...}')
    predict.add_argument("--timeout", type=float, default=30)
    predict.set_defaults(run=run_predict)


def _add_trust(parser, what="the SavedModel"):
    parser.add_argument("--trust", action="store_true",
                        help=f"you vouch for {what}: skip the scan (and, in a model file, allow http(s) handles)")


def _trust_scope(args):
    """``trusting()`` under ``--trust``, so every model the command loads is trusted; else nothing."""
    import contextlib

    from tfhub_llm.hub.trust import trusting

    return trusting() if args.trust else contextlib.nullcontext()


def _add_model_handles(parser):
    parser.add_argument("--encoder", required=True, metavar="HANDLE")
    parser.add_argument("--preprocessor", required=True, metavar="HANDLE")


def _add_columns(parser, required=True):
    parser.add_argument("--text-column", required=required, metavar="C", default="text" if not required else None)
    parser.add_argument("--text-b-column", metavar="C", help="second text of a pair")
    parser.add_argument("--label-column", required=required, metavar="C", default="label" if not required else None)


def _add_training(parser, batch_size, learning_rate):
    parser.add_argument("--out", required=True, metavar="DIR")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--learning-rate", type=float, default=learning_rate)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-examples", type=int, help="train on a seeded sample of this size")
    parser.add_argument("--max-validation-examples", type=int)
    parser.add_argument("--patience", type=int, help="stop early after this many epochs without improvement")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")


def _training_options(args):
    return dict(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        max_train_examples=args.max_train_examples,
        max_validation_examples=args.max_validation_examples,
        patience=args.patience,
        resume=args.resume,
    )


def _print_json(value):
    print(json.dumps(value, indent=2, ensure_ascii=False))


def run_inspect(args):
    from tfhub_llm.hub.describe import describe, format_text

    description = describe(args.handle, trust=args.trust)
    if args.json:
        _print_json(description)
    else:
        print(format_text(description))


def run_scan(args):
    from tfhub_llm.hub.security import UntrustedModelError, check_saved_model

    try:
        check_saved_model(args.path, allow_ops=args.allow_op)
    except UntrustedModelError as error:
        print(error)
        return EXIT_CHECK_FAILED
    print(f"{args.path}: every op is on the allow-list")


def run_convert(args):
    from tfhub_llm.bert.convert import convert_hf_bert

    convert_hf_bert(args.src, args.out, overwrite=args.overwrite)


def run_finetune_classify(args):
    from tfhub_llm.finetune import finetune_classifier

    result = finetune_classifier(
        args.encoder,
        args.preprocessor,
        args.train,
        args.out,
        text_column=args.text_column,
        label_column=args.label_column,
        text_b_column=args.text_b_column,
        num_classes=args.num_classes,
        multi_label=args.multi_label,
        validation_file=args.validation,
        split_by=args.split,
        seq_length=args.seq_length,
        **_training_options(args),
    )
    _report_run(result)


def run_finetune_qa(args):
    from tfhub_llm.finetune import finetune_question_answering

    result = finetune_question_answering(
        args.encoder,
        args.preprocessor,
        args.train,
        args.out,
        validation_file=args.validation,
        max_seq_length=args.max_seq_length,
        doc_stride=args.doc_stride,
        max_query_length=args.max_query_length,
        **_training_options(args),
    )
    _report_run(result)


def run_finetune_embed(args):
    from tfhub_llm.finetune_embedding import finetune_embedder

    result = finetune_embedder(
        args.encoder,
        args.preprocessor,
        args.train,
        args.out,
        text_column=args.text_column,
        text_b_column=args.text_b_column,
        score_column=args.score_column,
        max_score=args.max_score,
        validation_file=args.validation,
        pooling=args.pooling,
        seq_length=args.seq_length,
        **_training_options(args),
    )
    _report_run(result)


def run_finetune_ner(args):
    from tfhub_llm.finetune_ner import finetune_token_classifier

    result = finetune_token_classifier(
        args.encoder,
        args.preprocessor,
        args.train,
        args.out,
        validation_file=args.validation,
        tag_scheme=args.tag_scheme,
        max_seq_length=args.max_seq_length,
        doc_stride=args.doc_stride,
        **_training_options(args),
    )
    _report_run(result)


def _report_run(result):
    print(f"trained in {result.train_seconds:.0f} s; model saved to {result.model_path}")
    _print_json(result.metrics)


def run_evaluate(args):
    with _trust_scope(args):
        _evaluate(args)


def _evaluate(args):
    from tfhub_llm import finetune

    if args.task == "qa":
        _print_json(finetune.evaluate_question_answering(args.model, args.data))
    elif args.task == "ner":
        from tfhub_llm.finetune_ner import evaluate_token_classifier

        _print_json(evaluate_token_classifier(args.model, args.data, batch_size=args.batch_size))
    else:
        _print_json(
            finetune.evaluate_classifier(
                args.model,
                args.data,
                text_column=args.text_column,
                label_column=args.label_column,
                text_b_column=args.text_b_column,
                batch_size=args.batch_size,
            )
        )


def _load_model(path):
    import keras

    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such model file")
    return keras.models.load_model(path)


def run_export_serving(args):
    from tfhub_llm.tf_serving.export import export_for_serving

    with _trust_scope(args):
        print(export_for_serving(_load_model(args.model), args.base_dir, version=args.version))


def run_export_hub(args):
    from tfhub_llm.publishing.encoder import export_to_hub

    with _trust_scope(args):
        print(export_to_hub(_load_model(args.model), args.out_dir, preprocessor=not args.no_preprocessor))


def run_export_litert(args):
    from tfhub_llm.litert import export_litert

    quantize = args.quantize.replace("-", "_") if args.quantize else None
    with _trust_scope(args):
        path = export_litert(_load_model(args.model), args.out, quantize=quantize, overwrite=args.overwrite)
    print(f"{path} ({os.path.getsize(path) / 1e6:.1f} MB)")


def run_check_litert(args):
    from tfhub_llm.litert.check import check_litert

    report = check_litert(args.path)
    print(report.format())
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def run_export_text_embedding(args):
    from tfhub_llm.publishing.text_embedding import export_text_embedding

    with _trust_scope(args):
        print(export_text_embedding(_load_model(args.model), args.out_dir))


def run_check_serving(args):
    from tfhub_llm.tf_serving.check import check_serving

    report = check_serving(args.export_dir, tf_serving_version=args.tf_serving_version, trust=args.trust)
    print(report.format())
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def _metric(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected METRIC=VALUE, got {text!r}")
    return tuple(text.split("=", 1))


def run_publish(args):
    from tfhub_llm.publishing.hub_dir import ModelCard, publish

    card = ModelCard(
        summary=args.summary,
        training_data=args.training_data,
        evaluation=dict(args.eval),
        limitations=args.limitations,
        base_model=args.base_model,
        hub_url=args.hub_url,
        license_name=args.license,
    )
    published = publish(args.saved_model_dir, args.hub_dir, args.name, args.version, model_card=card, kaggle=args.kaggle,
                        trust=args.trust)
    print(f"{published.archive}\nsha256 {published.sha256}\nmodel card {published.model_card}")


def run_serve(args):
    from tfhub_llm.tf_serving.server import serve

    serve(args.base_dir, args.host, args.port, args.model_name, trust=args.trust)


def run_predict(args):
    from tfhub_llm.tf_serving.client import predict_texts

    _print_json(
        predict_texts(
            args.server,
            args.model,
            args.texts,
            version=args.version,
            signature=args.signature,
            columnar=args.columnar,
            timeout=args.timeout,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
