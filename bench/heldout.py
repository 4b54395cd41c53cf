"""Prints the demo's held-out SST-2 sentences as JSON: ``{"texts": [...], "labels": [...]}``, file order.

    .venv/bin/python bench/heldout.py data/sst2/train.tsv [--fraction 0.1] [--seed 0]

The same split as ``scripts/demo.py`` (``finetune_classifier(split_by="sentences")`` with its
defaults): ``tfhub_llm.training.splits.split_examples(..., by="sentences")`` holds out whole sentences, none
of which the demo trains on in part. ``bench/run.py`` runs this once in the package's ``.venv``,
since the workload module itself is standard-library only.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def heldout_sentences(sst2_tsv, fraction=0.1, seed=0):
    """``{"texts": [...], "labels": [...]}``: the demo's held-out SST-2 sentences, file order."""
    from tfhub_llm.readers.text_examples import read_text_examples
    from tfhub_llm.training.splits import split_examples

    examples = read_text_examples(sst2_tsv, text_column="text", label_column="label")
    _, heldout = split_examples(examples, fraction, seed, by="sentences")
    return {"texts": [text.strip() for text in heldout.texts], "labels": [int(label) for label in heldout.labels]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sst2_tsv")
    parser.add_argument("--fraction", type=float, default=0.1, help="the demo's --heldout-fraction")
    parser.add_argument("--seed", type=int, default=0, help="finetune_classifier's seed")
    args = parser.parse_args()
    json.dump(heldout_sentences(args.sst2_tsv, args.fraction, args.seed), sys.stdout)


if __name__ == "__main__":
    main()
