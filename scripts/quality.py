"""Quality runs behind the README's accuracy figures: MiniLM fine-tuned on the shared data sets.

    .venv/bin/python scripts/quality.py [--tasks sst2 mrpc rte squad] [--out runs/quality]

Each task fine-tunes the embedded all-MiniLM-L6-v2 encoder with ``tfhub_llm.finetune_*`` and
evaluates on examples it did not train on (a seeded 10% split of the classification files; the
last SQuAD article). Results go to ``OUT/<task>/metrics.json`` and ``OUT/quality.json``, with the
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
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))
from savedmodels import MINILM  # noqa: E402

CLASSIFICATION = {
    "sst2": dict(train_file=DATA / "sst2" / "train.tsv", text_column="text", label_column="label",
                 max_train_examples=20000, max_validation_examples=2000, epochs=2, learning_rate=5e-5, seq_length=64),
    "mrpc": dict(train_file=DATA / "mrpc" / "train.tsv", text_column="#1 String", text_b_column="#2 String",
                 label_column="Quality", epochs=4, learning_rate=5e-5, seq_length=128),
    "rte": dict(train_file=DATA / "rte" / "train.tsv", text_column="sentence1", text_b_column="sentence2",
                label_column="label", epochs=4, learning_rate=3e-5, seq_length=256),
}
SQUAD = dict(train_file=DATA / "squad" / "train-v2.0-first10articles.json", validation_articles=1, epochs=2,
             batch_size=16, learning_rate=5e-5, max_seq_length=256, doc_stride=128, max_query_length=64)


def run_classification(name, out):
    options = dict(CLASSIFICATION[name])
    result = tfhub_llm.finetune_classifier(
        str(MINILM / "encoder"), str(MINILM / "preprocessor"), options.pop("train_file"), str(out / name),
        batch_size=32, seed=0, verbose=2, **options,
    )
    labels = result.validation_examples.labels
    majority = float(np.max(np.bincount(labels)) / len(labels))
    return {
        "accuracy": result.metrics["validation_accuracy"],
        "f1": result.metrics.get("validation_f1"),
        "majority_class_accuracy": majority,
        "train_examples": options.get("max_train_examples") or "90% of the file",
        "validation_examples": len(labels),
        "train_seconds": result.train_seconds,
    }


def run_squad(out):
    options = dict(SQUAD)
    result = tfhub_llm.finetune_question_answering(
        str(MINILM / "encoder"), str(MINILM / "preprocessor"), options.pop("train_file"), str(out / "squad"),
        seed=0, verbose=2, **options,
    )
    keys = ("exact_match", "f1", "baseline_exact_match", "baseline_f1", "total", "HasAns_f1", "NoAns_exact")
    return {**{key: result.metrics[key] for key in keys if key in result.metrics},
            "train_seconds": result.train_seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=[*CLASSIFICATION, "squad"],
                        choices=[*CLASSIFICATION, "squad"])
    parser.add_argument("--out", default="runs/quality")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "quality.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    for task in args.tasks:
        started = time.perf_counter()
        print(f"\n== {task}", flush=True)
        summary[task] = run_squad(out) if task == "squad" else run_classification(task, out)
        summary[task]["wall_seconds"] = time.perf_counter() - started
        summary_path.write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary[task], indent=2), flush=True)


if __name__ == "__main__":
    main()
