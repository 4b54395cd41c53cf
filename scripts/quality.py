"""Quality runs behind the accuracy figures of docs/figures.md: MiniLM fine-tuned on public data sets.

    .venv/bin/python scripts/quality.py [--tasks sst2 mrpc rte squad] [--out runs/quality]
        [--sst2 data/sst2/train.tsv] [--squad data/squad/train-v2.0-first10articles.json]
        [--mrpc MRPC/train.tsv] [--rte RTE/train.tsv]

Each task fine-tunes the embedded all-MiniLM-L6-v2 encoder with ``tfhub_llm.finetune_*`` and
evaluates on examples it did not train on: SST-2 on 10% of its whole sentences, none of whose
phrases is trained on; MRPC and RTE on a seeded 10% of their pairs; SQuAD on its last article.
SST-2 and the SQuAD slice ship in ``data/``; MRPC and RTE (GLUE, not redistributed here) are read
from the paths given. Results go to ``OUT/<task>/metrics.json`` and ``OUT/quality.json``, with the
majority-class / first-sentence baselines next to each figure.
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import tfhub_llm  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = REPO / "data"
sys.path.insert(0, str(REPO))
from savedmodels import MINILM  # noqa: E402

TrainingOptions = tfhub_llm.TrainingOptions
CLASSIFICATION = {
    "sst2": dict(text_column="text", label_column="label", split_by="sentences", seq_length=64,
                 options=TrainingOptions(epochs=1, learning_rate=5e-5, max_train_examples=20000, verbose=2)),
    "mrpc": dict(text_column="#1 String", text_b_column="#2 String", label_column="Quality", seq_length=128,
                 options=TrainingOptions(epochs=4, learning_rate=5e-5, verbose=2)),
    "rte": dict(text_column="sentence1", text_b_column="sentence2", label_column="label", seq_length=256,
                options=TrainingOptions(epochs=4, learning_rate=3e-5, verbose=2)),
}
SQUAD = dict(validation_articles=1, max_seq_length=256, doc_stride=128, max_query_length=64,
             options=TrainingOptions(epochs=2, batch_size=16, learning_rate=5e-5, verbose=2))


def run_classification(name, train_file, out):
    task_options = CLASSIFICATION[name]
    result = tfhub_llm.finetune_classifier(
        str(MINILM / "encoder"), str(MINILM / "preprocessor"), train_file, str(out / name),
        **task_options,
    )
    labels = result.validation_examples.labels
    majority = float(np.max(np.bincount(labels)) / len(labels))
    return {
        "accuracy": result.metrics["validation_accuracy"],
        "f1": result.metrics.get("validation_f1"),
        "majority_class_accuracy": majority,
        "train_examples": task_options["options"].max_train_examples or "90% of the file",
        "validation_examples": len(labels),
        "train_seconds": result.train_seconds,
    }


def run_squad(train_file, out):
    result = tfhub_llm.finetune_question_answering(
        str(MINILM / "encoder"), str(MINILM / "preprocessor"), train_file, str(out / "squad"),
        **SQUAD,
    )
    keys = ("exact_match", "f1", "baseline_exact_match", "baseline_f1", "total", "HasAns_f1", "NoAns_exact")
    return {**{key: result.metrics[key] for key in keys if key in result.metrics},
            "train_seconds": result.train_seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=[*CLASSIFICATION, "squad"],
                        choices=[*CLASSIFICATION, "squad"])
    parser.add_argument("--out", default="runs/quality")
    parser.add_argument("--sst2", default=str(DATA / "sst2" / "train.tsv"), help="GLUE SST-2 train.tsv")
    parser.add_argument("--squad", default=str(DATA / "squad" / "train-v2.0-first10articles.json"),
                        help="SQuAD v2.0 JSON; its last article is held out")
    parser.add_argument("--mrpc", help="GLUE MRPC train.tsv (needed for the mrpc task)")
    parser.add_argument("--rte", help="GLUE RTE train.tsv (needed for the rte task)")
    args = parser.parse_args()
    for task in args.tasks:
        if getattr(args, task) is None:
            parser.error(f"the {task} task needs --{task} PATH (GLUE's train.tsv of {task.upper()})")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "quality.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for task in args.tasks:
        started = time.perf_counter()
        print(f"\n== {task}", flush=True)
        data = getattr(args, task)
        summary[task] = run_squad(data, out) if task == "squad" else run_classification(task, data, out)
        summary[task]["wall_seconds"] = time.perf_counter() - started
        summary_path.write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary[task], indent=2), flush=True)


if __name__ == "__main__":
    main()
