"""The on-device figures of the README: MiniLM fine-tuned on SST-2, exported for TF Serving and LiteRT.

    .venv/bin/python scripts/quality_litert.py [--sst2 data/sst2/train.tsv] [--out runs/quality_litert]

SST-2 is split as everywhere in this repository, by ``tfhub_llm.split_examples(..., by="sentences")``:
a seeded fraction of its whole sentences is held out and every phrase inside one of them is dropped
from training, so nothing held out was seen in training, not even in part. The model (MiniLM) is
fine-tuned on a seeded sample of the remaining phrases, as ``make demo`` does, exported with
``export_for_serving`` (the reference) and ``export_litert`` (float32 and dynamic int8), and all
three label the held-out sentences. Reports: how often the LiteRT models give the SavedModel's
labels, the largest probability difference, each one's accuracy and the file sizes. Writes
``OUT/metrics.json``.
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfhub_llm import LiteRTModel, TextClassifier, export_for_serving, export_litert, split_examples  # noqa: E402
from tfhub_llm.atomic import write_text  # noqa: E402
from tfhub_llm.data import read_text_examples, to_dataset  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from savedmodels import MINILM  # noqa: E402

LABEL_NAMES = ["negative", "positive"]
BATCH_SIZE = 32


def fine_tune(train, args):
    keras.utils.set_random_seed(args.seed)
    model = TextClassifier(str(MINILM / "encoder"), str(MINILM / "preprocessor"), num_classes=2,
                           label_names=LABEL_NAMES, seq_length=args.seq_length)
    steps = -(-len(train) // BATCH_SIZE) * args.epochs
    model.compile(learning_rate=args.learning_rate, train_steps=steps)
    started = time.monotonic()
    model.fit(to_dataset(train, BATCH_SIZE, seed=args.seed), epochs=args.epochs, verbose=2)
    return model, time.monotonic() - started


def batched(function, texts):
    """``function`` (texts → probabilities) over ``texts`` in batches: probabilities and seconds."""
    started = time.monotonic()
    parts = [function(texts[start:start + BATCH_SIZE]) for start in range(0, len(texts), BATCH_SIZE)]
    return np.concatenate(parts), time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sst2", default=str(REPO / "data" / "sst2" / "train.tsv"),
                        help="GLUE SST-2 train.tsv (columns text, label)")
    parser.add_argument("--out", default="runs/quality_litert")
    parser.add_argument("--heldout-fraction", type=float, default=0.1,
                        help="fraction of SST-2's whole sentences held out")
    parser.add_argument("--train-examples", type=int, default=20000, help="seeded sample of the other phrases")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    examples = read_text_examples(args.sst2, text_column="text", label_column="label", num_classes=2)
    phrases, heldout = split_examples(examples, args.heldout_fraction, args.seed, by="sentences")
    train = phrases.subset(np.random.default_rng(args.seed).permutation(len(phrases))[:args.train_examples])
    print(f"{len(heldout)} held-out whole sentences; training on {len(train)} of the {len(phrases)} phrases "
          "not inside any of them", flush=True)

    model, train_seconds = fine_tune(train, args)
    texts, labels = list(heldout.texts), np.asarray(heldout.labels)
    with tempfile.TemporaryDirectory(prefix="quality-litert-") as scratch:
        serving = tf.saved_model.load(export_for_serving(model, f"{scratch}/serving")).signatures["serving_default"]
        reference, reference_seconds = batched(
            lambda batch: serving(text=tf.constant(batch))["probabilities"].numpy(), texts)
        results = {"savedmodel": {"accuracy": float((reference.argmax(1) == labels).mean()),
                                  "seconds": reference_seconds}}
        for name, quantize in (("litert_float32", None), ("litert_int8", "dynamic_int8")):
            path = export_litert(model, f"{scratch}/{name}.tflite", quantize=quantize)
            litert = LiteRTModel(path)
            probabilities, seconds = batched(lambda batch: litert(batch)["probabilities"], texts)
            results[name] = {
                "accuracy": float((probabilities.argmax(1) == labels).mean()),
                "label_agreement_with_savedmodel": float((probabilities.argmax(1) == reference.argmax(1)).mean()),
                "max_probability_difference": float(np.abs(probabilities - reference).max()),
                "size_bytes": os.path.getsize(path),
                "seconds": seconds,
            }
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    float_result, int8_result = results["litert_float32"], results["litert_int8"]
    results["int8_size_fraction_of_float"] = int8_result["size_bytes"] / float_result["size_bytes"]
    results["int8_accuracy_loss_points"] = 100 * (float_result["accuracy"] - int8_result["accuracy"])
    results["targets"] = {
        "float labels agree with the SavedModel on >= 99.5%": float_result["label_agreement_with_savedmodel"] >= 0.995,
        "int8 loses at most 1 accuracy point": results["int8_accuracy_loss_points"] <= 1.0,
        "int8 file at most 30% of the float file": results["int8_size_fraction_of_float"] <= 0.30,
    }
    results["run"] = {"heldout": len(heldout), "heldout_fraction": args.heldout_fraction,
                      "train_examples": len(train), "epochs": args.epochs, "seq_length": args.seq_length,
                      "train_seconds": train_seconds, "seed": args.seed}
    write_text(out / "metrics.json", json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"wrote {out / 'metrics.json'}")


if __name__ == "__main__":
    main()
