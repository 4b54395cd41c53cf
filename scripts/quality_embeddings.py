"""The sentence-embedding figures of docs/figures.md: STS-B Spearman of the embedded MiniLM before and after fine-tuning.

    .venv/bin/python scripts/quality_embeddings.py --stsb PATH/TO/stsb/train.tsv [--out runs/quality_embeddings]

STS-B's GLUE ``train.tsv`` (``sentence1``, ``sentence2``, ``score`` 0-5) is split here: a seeded sample of
pairs is held out for validation, and every training pair that contains one of their sentences is
dropped, so no validation sentence is ever trained on. The script scores all-MiniLM-L6-v2 as it comes
(mean pooling, L2 norm), fine-tunes it with the cosine-similarity loss (``finetune_embedder``, scores / 5)
and scores it again: Spearman and Pearson (x100) of the cosine against the gold scores. Writes
``OUT/train.tsv``, ``OUT/validation.tsv``, the run (``OUT/run/model.keras``, ...) and ``OUT/quality.json``.
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
from tfhub_llm.atomic import write_text  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from savedmodels import MINILM  # noqa: E402

COLUMNS = dict(text_column="sentence1", text_b_column="sentence2", label_column="score")
MAX_SCORE = 5.0


def sentence_disjoint_split(examples, num_validation, seed):
    """(train, validation, dropped): validation pairs sampled by seed; training pairs share none of their sentences."""
    order = np.random.default_rng(seed).permutation(len(examples))
    validation = np.sort(order[:num_validation])
    held_out = {examples.texts[i] for i in validation} | {examples.texts_b[i] for i in validation}
    rest = np.sort(order[num_validation:])
    train = [i for i in rest if examples.texts[i] not in held_out and examples.texts_b[i] not in held_out]
    return examples.subset(train), examples.subset(validation), len(rest) - len(train)


def write_pairs(path, examples):
    rows = zip(examples.texts, examples.texts_b, examples.labels)
    lines = ["\t".join(COLUMNS[key] for key in ("text_column", "text_b_column", "label_column"))]
    lines += [f"{a}\t{b}\t{score:g}" for a, b, score in rows]
    write_text(path, "\n".join(lines) + "\n")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stsb", required=True, help="STS-B train.tsv (GLUE format)")
    parser.add_argument("--out", default="runs/quality_embeddings")
    parser.add_argument("--validation-pairs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-5)
    parser.add_argument("--seq-length", type=int, default=128, help="word pieces per sentence (STS-B's are shorter)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    examples = tfhub_llm.read_text_examples(args.stsb, label_type="regression", **COLUMNS)
    train, validation, dropped = sentence_disjoint_split(examples, args.validation_pairs, args.seed)
    print(f"{args.stsb}: {len(examples)} pairs -> {len(validation)} validation, {len(train)} training "
          f"({dropped} dropped for sharing a validation sentence)")
    train_file, validation_file = write_pairs(out / "train.tsv", train), write_pairs(out / "validation.tsv", validation)

    started = time.perf_counter()
    pretrained = tfhub_llm.TextEmbedder(str(MINILM / "encoder"), str(MINILM / "preprocessor"))
    before = tfhub_llm.evaluate_similarity(pretrained, validation.texts, validation.texts_b, validation.labels)
    print(f"before fine-tuning: Spearman {before['spearman']:.2f}, Pearson {before['pearson']:.2f} "
          f"({time.perf_counter() - started:.0f} s)")
    result = tfhub_llm.finetune_embedder(
        str(MINILM / "encoder"), str(MINILM / "preprocessor"), train_file, out / "run",
        validation_file=validation_file, score_column=COLUMNS["label_column"], max_score=MAX_SCORE,
        text_column=COLUMNS["text_column"], text_b_column=COLUMNS["text_b_column"], seq_length=args.seq_length,
        options=tfhub_llm.TrainingOptions(epochs=args.epochs, batch_size=args.batch_size,
                                           learning_rate=args.learning_rate, seed=args.seed, verbose=2))
    after = {key: result.metrics[f"validation_{key}"] for key in ("spearman", "pearson", "pairs")}
    print(f"after fine-tuning: Spearman {after['spearman']:.2f}, Pearson {after['pearson']:.2f} "
          f"({result.train_seconds:.0f} s of training)")
    report = {
        "data": {"file": os.path.basename(args.stsb), "pairs": len(examples), "validation_pairs": len(validation),
                 "train_pairs": len(train), "dropped_train_pairs": dropped, "seed": args.seed},
        "before": before, "after": after,
        "training": {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                     "seq_length": args.seq_length, "loss": "cosine similarity (scores / 5)",
                     "train_seconds": result.train_seconds},
    }
    write_text(out / "quality.json", json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'quality.json'}")


if __name__ == "__main__":
    main()
