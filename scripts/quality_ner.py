"""Quality run behind the named-entity figure of docs/ner.md: MiniLM fine-tuned on CoNLL-2003 English train.

    .venv/bin/python scripts/quality_ner.py --conll PATH/TO/conll2003/train.txt [--out runs/quality_ner]

CoNLL-2003 cannot be redistributed, so its path comes from the command line. The run is
``tfhub_llm.finetune_token_classifier`` on the embedded all-MiniLM-L6-v2 (uncased: capitalisation,
the strongest cue for names, is gone before the encoder sees the text): a seeded 10% of the
DOCUMENTS (``-DOCSTART-`` boundaries) is held out whole, the model trains on the rest and is
scored on the held-out sentences with entity-level F1 (seqeval's default mode), next to the
capitalised-words baseline: every maximal run of words starting with an upper-case letter, the
first word of each sentence excluded, tagged as the entity type most frequent in training.
Writes ``OUT/metrics.json`` (the run's) and ``OUT/quality_ner.json`` (the summary).
"""

import argparse
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tfhub_llm  # noqa: E402
from tfhub_llm.atomic import write_text  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from savedmodels import MINILM  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conll", required=True, help="CoNLL-2003 train.txt (token ... tag per line)")
    parser.add_argument("--out", default="runs/quality_ner")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-train-examples", type=int, help="train on a seeded sample of this many sentences")
    args = parser.parse_args()

    started = time.monotonic()
    result = tfhub_llm.finetune_token_classifier(
        str(MINILM / "encoder"), str(MINILM / "preprocessor"), args.conll, args.out, validation_fraction=0.1,
        max_seq_length=args.max_seq_length,
        options=tfhub_llm.TrainingOptions(epochs=args.epochs, batch_size=args.batch_size,
                                           learning_rate=args.learning_rate,
                                           max_train_examples=args.max_train_examples, verbose=2))
    metrics = result.metrics
    summary = {
        "command": "scripts/quality_ner.py --conll PATH " + " ".join(
            f"--{key.replace('_', '-')} {value}" for key, value in vars(args).items() if key not in ("conll", "out")
            and value is not None),
        "train_sentences": args.max_train_examples or len(tfhub_llm.read_conll(args.conll)) - metrics["sentences"],
        "held_out_sentences": metrics["sentences"],
        "entity_f1": metrics["entity_f1"], "entity_precision": metrics["entity_precision"],
        "entity_recall": metrics["entity_recall"],
        "per_type_f1": {name: scores["f1"] for name, scores in metrics["entity_per_type"].items()},
        "baseline_type": metrics["baseline_type"], "baseline_entity_f1": metrics["baseline_entity_f1"],
        "train_seconds": result.train_seconds, "total_seconds": time.monotonic() - started,
    }
    path = pathlib.Path(args.out) / "quality_ner.json"
    write_text(path, json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
