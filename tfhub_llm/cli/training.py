"""``finetune classify|qa|embed|ner`` and ``evaluate``: runs from data files, and scores of their models."""

import argparse
import os
import sys

from tfhub_llm.cli.options import (
    POSITIVE_FLOAT,
    POSITIVE_INT,
    add_columns,
    add_training,
    add_trust,
    command_parser,
    print_json,
    training_options,
    trust_scope,
)
from tfhub_llm.training.options import (
    CLASSIFIER_TRAINING,
    EMBEDDER_TRAINING,
    QUESTION_ANSWERING_TRAINING,
    TOKEN_CLASSIFIER_TRAINING,
)

EXAMPLE_MODEL = "savedmodels/minilm_l6_h384_uncased"
EXAMPLE_HANDLES = f"--encoder {EXAMPLE_MODEL}/encoder --preprocessor {EXAMPLE_MODEL}/preprocessor"


def add_commands(commands):
    finetune = command_parser(commands, "finetune", "fine-tune a task model from data files",
                              f"tfhub-llm finetune classify {EXAMPLE_HANDLES} --train data/sst2/train.tsv "
                              "--text-column text --label-column label --out runs/sst2")
    tasks = finetune.add_subparsers(dest="task", metavar="TASK", required=True)
    _add_finetune_classify(tasks)
    _add_finetune_qa(tasks)
    _add_finetune_embed(tasks)
    _add_finetune_ner(tasks)
    _add_evaluate(commands)


def _task_parser(tasks, name, help, run, example, *, validation_help, data="FILE", train_help=None):
    """``finetune NAME``: the model handles, ``--train`` and ``--validation``; the caller adds the task's options.

    ``example``: the example's options after the model handles.
    """
    parser = command_parser(tasks, name, help, f"tfhub-llm finetune {name} {EXAMPLE_HANDLES} {example}")
    parser.add_argument("--encoder", required=True, metavar="HANDLE")
    parser.add_argument("--preprocessor", required=True, metavar="HANDLE")
    parser.add_argument("--train", required=True, metavar=data, help=train_help)
    parser.add_argument("--validation", metavar=data, help=validation_help)
    parser.set_defaults(run=run)
    return parser


def _add_finetune_classify(tasks):
    classify = _task_parser(tasks, "classify", "text (or pair) classification from CSV / TSV / JSONL",
                            run_finetune_classify, "--train data/sst2/train.tsv --text-column text "
                            "--label-column label --split sentences --out runs/sst2",
                            validation_help="default: 10%% of --train held out")
    classify.add_argument("--split", choices=["rows", "sentences"], default="rows",
                          help="without --validation, hold out rows, or whole sentences of a phrase "
                               "treebank such as SST-2 (their phrases are dropped from training)")
    add_columns(classify)
    classify.add_argument("--num-classes", type=POSITIVE_INT, help="default: the labels found; 1 = regression")
    classify.add_argument("--label-names", type=_names, metavar="A,B,...",
                          help="the classes, in id order (default: the sorted labels found)")
    classify.add_argument("--multi-label", action="store_true", help="k-hot labels ('a|b'), sigmoid outputs")
    classify.add_argument("--seq-length", type=POSITIVE_INT, default=None,
                          help="maximum packed length (default: the preprocessor's own)")
    add_training(classify, CLASSIFIER_TRAINING)


def _names(text):
    names = [name.strip() for name in text.split(",")]
    if len(names) < 2 or "" in names:
        raise argparse.ArgumentTypeError(f"expected two or more comma-separated names, got {text!r}")
    return names


def _add_finetune_qa(tasks):
    qa = _task_parser(tasks, "qa", "extractive question answering from SQuAD JSON", run_finetune_qa,
                      "--train data/squad/train-v2.0-first10articles.json --out runs/squad", data="SQUAD.json",
                      validation_help="default: the last article of --train held out")
    qa.add_argument("--max-seq-length", type=POSITIVE_INT, default=None,
                    help="window length (default: the preprocessor's own)")
    qa.add_argument("--doc-stride", type=POSITIVE_INT, default=128)
    qa.add_argument("--max-query-length", type=POSITIVE_INT, default=None,
                    help="question tokens kept (default: 64, or half the window when that is shorter)")
    add_training(qa, QUESTION_ANSWERING_TRAINING)


def _add_finetune_embed(tasks):
    embed = _task_parser(tasks, "embed", "sentence embeddings from pairs (scored: cosine loss; else in-batch negatives)",
                         run_finetune_embed, "--train sts.tsv --text-column sentence1 --text-b-column sentence2 "
                         "--score-column score --max-score 5 --out runs/sts",
                         validation_help="default: 10%% of --train held out")
    embed.add_argument("--text-column", required=True, metavar="C")
    embed.add_argument("--text-b-column", required=True, metavar="C", help="the second text of each pair")
    embed.add_argument("--score-column", metavar="C", help="similarity scores; without it every pair is a positive")
    embed.add_argument("--max-score", type=POSITIVE_FLOAT, default=1.0, help="scores are divided by it (5 for STS-B)")
    embed.add_argument("--pooling", choices=["mean", "cls", "pooled"], default="mean")
    embed.add_argument("--seq-length", type=POSITIVE_INT, default=256, help="maximum word pieces per text")
    add_training(embed, EMBEDDER_TRAINING)


def _add_finetune_ner(tasks):
    ner = _task_parser(tasks, "ner", "named entities (token tags) from CoNLL or JSONL", run_finetune_ner,
                       "--train conll2003/train.txt --validation conll2003/valid.txt --out runs/ner",
                       train_help="CoNLL (tag in the last column) or .jsonl",
                       validation_help="default: 10%% of --train's documents held out")
    ner.add_argument("--tag-scheme", choices=["IOB1", "IOB2", "IOBES"], help="default: the one the tags follow")
    ner.add_argument("--max-seq-length", type=POSITIVE_INT, default=128)
    ner.add_argument("--doc-stride", type=POSITIVE_INT, default=64, help="word pieces between the starts of windows")
    add_training(ner, TOKEN_CLASSIFIER_TRAINING)


def _add_evaluate(commands):
    evaluate = command_parser(commands, "evaluate", "evaluate a fine-tuned model.keras on labelled data",
                              "tfhub-llm evaluate classify runs/sst2/model.keras --data data/sst2/train.tsv")
    evaluate.add_argument("task", choices=["classify", "qa", "ner", "embed"])
    evaluate.add_argument("model", help="a model.keras written by finetune")
    evaluate.add_argument("--data", required=True, metavar="FILE")
    add_columns(evaluate, required=False)
    evaluate.add_argument("--score-column", metavar="C", help="embed: similarity scores (default: every pair positive)")
    evaluate.add_argument("--max-score", type=POSITIVE_FLOAT, default=1.0, help="embed: scores are divided by it")
    evaluate.add_argument("--batch-size", type=POSITIVE_INT, default=32)
    add_trust(evaluate, "the model file")
    evaluate.set_defaults(run=run_evaluate)


def _finetune(finetune_task, args, **task_options):
    """Runs ``finetune_task`` (a ``finetune_*`` function) on the parsed options; prints where the model went."""
    try:
        result = finetune_task(args.encoder, args.preprocessor, args.train, args.out, validation_file=args.validation,
                               options=training_options(args), **task_options)
    except KeyboardInterrupt:
        print(f"tfhub-llm finetune: interrupted; {_how_to_go_on(args.out)}", file=sys.stderr)
        raise
    print(f"trained in {result.train_seconds:.0f} s; model saved to {result.model_path}")
    print_json(result.metrics)


def _how_to_go_on(out_dir):
    """What an interrupted run left in ``out_dir``, and the command that continues it."""
    from tfhub_llm.training.run import BACKUP_DIR

    backup = os.path.join(out_dir, BACKUP_DIR)
    if os.path.isdir(backup) and os.listdir(backup):
        return f"{backup} holds the finished epochs: run the same command with --resume to continue from there"
    return f"no epoch had finished, so there is nothing to resume; {out_dir} is as it was before the run"


def run_finetune_classify(args):
    from tfhub_llm.training.classifier import finetune_classifier

    _finetune(finetune_classifier, args, text_column=args.text_column, label_column=args.label_column,
              text_b_column=args.text_b_column, num_classes=args.num_classes, label_names=args.label_names,
              multi_label=args.multi_label,
              split_by=args.split, seq_length=args.seq_length)


def run_finetune_qa(args):
    from tfhub_llm.training.question_answering import finetune_question_answering

    _finetune(finetune_question_answering, args, max_seq_length=args.max_seq_length, doc_stride=args.doc_stride,
              max_query_length=args.max_query_length)


def run_finetune_embed(args):
    from tfhub_llm.training.embedder import finetune_embedder

    _finetune(finetune_embedder, args, text_column=args.text_column, text_b_column=args.text_b_column,
              score_column=args.score_column, max_score=args.max_score, pooling=args.pooling,
              seq_length=args.seq_length)


def run_finetune_ner(args):
    from tfhub_llm.training.token_classifier import finetune_token_classifier

    _finetune(finetune_token_classifier, args, tag_scheme=args.tag_scheme, max_seq_length=args.max_seq_length,
              doc_stride=args.doc_stride)


def run_evaluate(args):
    with trust_scope(args):
        print_json(_evaluate(args))


def _evaluate(args):
    if args.task == "qa":
        from tfhub_llm.training.question_answering import evaluate_question_answering

        return evaluate_question_answering(args.model, args.data)
    if args.task == "ner":
        from tfhub_llm.training.token_classifier import evaluate_token_classifier

        return evaluate_token_classifier(args.model, args.data, batch_size=args.batch_size)
    if args.task == "embed":
        from tfhub_llm.training.embedder import evaluate_embedder

        return evaluate_embedder(args.model, args.data, text_column=args.text_column, text_b_column=args.text_b_column,
                                 score_column=args.score_column, max_score=args.max_score, batch_size=args.batch_size)
    from tfhub_llm.training.classifier import evaluate_classifier

    return evaluate_classifier(args.model, args.data, text_column=args.text_column, label_column=args.label_column,
                               text_b_column=args.text_b_column, batch_size=args.batch_size)
