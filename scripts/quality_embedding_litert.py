"""The on-device embedding figures of docs/on-device.md: the MiniLM TextEmbedder as LiteRT float32 and int8 against Keras.

    .venv/bin/python scripts/quality_embedding_litert.py [--sst2 data/sst2/train.tsv] [--texts 1000]

Embeds a seeded sample of SST-2 texts with the embedded all-MiniLM-L6-v2 as ``TextEmbedder`` (mean
pooling, L2 norm, 256 word pieces) through Keras and through ``export_litert`` float32 and dynamic
int8, run by ``LiteRTModel``. Reports, for each LiteRT file, the cosine of its vectors with Keras'
(smallest and mean), the largest absolute difference, whether the nearest neighbour of every text
among the others stays the same, and the file size. Writes ``OUT/metrics.json``.
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from tfhub_llm import LiteRTModel, TextEmbedder, export_litert  # noqa: E402
from tfhub_llm.atomic import write_text  # noqa: E402
from tfhub_llm.readers.text_examples import read_text_examples  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from savedmodels import MINILM  # noqa: E402

BATCH_SIZE = 32


def nearest_neighbours(vectors):
    """Index of each row's most similar other row (cosine; rows have unit length)."""
    similarities = vectors @ vectors.T
    np.fill_diagonal(similarities, -np.inf)
    return similarities.argmax(axis=1)


def compare(vectors, reference):
    cosines = np.sum(vectors * reference, axis=1) / np.linalg.norm(vectors, axis=1)
    return {
        "min_cosine": float(cosines.min()),
        "mean_cosine": float(cosines.mean()),
        "max_abs_difference": float(np.abs(vectors - reference).max()),
        "same_nearest_neighbour": float((nearest_neighbours(vectors) == nearest_neighbours(reference)).mean()),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sst2", default=str(REPO / "data" / "sst2" / "train.tsv"), help="a TSV with a text column")
    parser.add_argument("--texts", type=int, default=1000, help="seeded sample of distinct texts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/quality_embedding_litert")
    args = parser.parse_args()
    out = pathlib.Path(args.out)

    examples = read_text_examples(args.sst2, text_column="text", label_column="label", num_classes=2)
    distinct = sorted(set(examples.texts))
    texts = [distinct[i] for i in np.random.default_rng(args.seed).permutation(len(distinct))[:args.texts]]
    embedder = TextEmbedder(str(MINILM / "encoder"), str(MINILM / "preprocessor"))
    reference = embedder.embed(texts, batch_size=BATCH_SIZE)
    results = {"texts": len(texts), "seed": args.seed}
    with tempfile.TemporaryDirectory(prefix="quality-embedding-litert-") as scratch:
        for name, quantize in (("litert_float32", None), ("litert_int8", "dynamic_int8")):
            path = export_litert(embedder, f"{scratch}/{name}.tflite", quantize=quantize)
            litert = LiteRTModel(path)
            vectors = np.concatenate([litert(texts[start:start + BATCH_SIZE])["embedding"]
                                      for start in range(0, len(texts), BATCH_SIZE)])
            results[name] = {**compare(vectors, reference), "size_bytes": os.path.getsize(path)}
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    write_text(out / "metrics.json", json.dumps(results, indent=2) + "\n")
    print(f"wrote {out / 'metrics.json'}")


if __name__ == "__main__":
    main()
