"""Accuracy of the fast inference paths against the fp32 TF Serving export, on held-out SST-2 sentences.

    .venv/bin/python scripts/quality_fast_paths.py [--sst2 data/sst2/train.tsv] [--out runs/quality_fast_paths]

SST-2 is split as everywhere in this repository, by ``tfhub_llm.split_examples(..., by="sentences")``:
a seeded fraction of its whole sentences is held out and every phrase inside one of them is dropped
from training, so nothing held out was seen in training, not even in part. The model (MiniLM) is
fine-tuned on a seeded sample of the remaining phrases, as ``make demo`` does, exported with
``export_for_serving`` (the reference, fp32), and the held-out sentences are labelled by: the
reference; the same export with ``enable_cpu_bfloat16()`` (in a child process, since the rewrite is
process-wide; skipped on CPUs without native bfloat16); ``export_litert`` float32 and dynamic int8.
Reports: how often each path gives the reference's labels, the largest probability difference,
each one's accuracy, the file sizes, and the targets (LiteRT float labels >= 99.5% equal, bf16
within 0.5 and int8 within 1 accuracy point, int8 file <= 30% of the float one). Writes
``OUT/metrics.json``.
"""

import argparse
import json
import os
import pathlib
import sys
import subprocess
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfhub_llm import LiteRTModel, TextClassifier, export_for_serving, export_litert, split_examples  # noqa: E402
from tfhub_llm.atomic import write_text  # noqa: E402
from tfhub_llm.precision import cpu_has_bfloat16, enable_cpu_bfloat16  # noqa: E402
from tfhub_llm.readers.datasets import to_dataset  # noqa: E402
from tfhub_llm.readers.text_examples import read_text_examples  # noqa: E402

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


def serving_probabilities(export_dir, texts):
    """The reloaded export's ``serving_default`` probabilities for ``texts`` (batches of 32), and seconds."""
    serving = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    return batched(lambda batch: serving(text=tf.constant(batch))["probabilities"].numpy(), texts)


def bfloat16_probabilities(export_dir, texts, scratch):
    """``serving_probabilities`` in a child process with TensorFlow's bfloat16 rewrite on."""
    texts_file, output = pathlib.Path(scratch, "texts.json"), pathlib.Path(scratch, "bf16.npy")
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    subprocess.run([sys.executable, __file__, "--bfloat16-child", str(export_dir), str(texts_file), str(output)],
                   check=True)
    return np.load(output)


def compared(probabilities, reference, labels, **extra):
    """Accuracy of ``probabilities`` and how they differ from the fp32 reference's."""
    return {"accuracy": float((probabilities.argmax(1) == labels).mean()),
            "label_agreement_with_savedmodel": float((probabilities.argmax(1) == reference.argmax(1)).mean()),
            "max_probability_difference": float(np.abs(probabilities - reference).max()), **extra}


def main():
    if sys.argv[1:2] == ["--bfloat16-child"]:
        export_dir, texts_file, output = sys.argv[2:5]
        enable_cpu_bfloat16()
        np.save(output, serving_probabilities(export_dir, json.loads(pathlib.Path(texts_file).read_text()))[0])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sst2", default=str(REPO / "data" / "sst2" / "train.tsv"),
                        help="GLUE SST-2 train.tsv (columns text, label)")
    parser.add_argument("--out", default="runs/quality_fast_paths")
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
    with tempfile.TemporaryDirectory(prefix="quality-fast-paths-") as scratch:
        export_dir = export_for_serving(model, f"{scratch}/serving")
        reference, reference_seconds = serving_probabilities(export_dir, texts)
        results = {"savedmodel": {"accuracy": float((reference.argmax(1) == labels).mean()),
                                  "seconds": reference_seconds}}
        if cpu_has_bfloat16():
            results["savedmodel_bf16"] = compared(bfloat16_probabilities(export_dir, texts, scratch), reference, labels)
            print(f"savedmodel_bf16: {json.dumps(results['savedmodel_bf16'])}", flush=True)
        for name, quantize in (("litert_float32", None), ("litert_int8", "dynamic_int8")):
            path = export_litert(model, f"{scratch}/{name}.tflite", quantize=quantize)
            litert = LiteRTModel(path)
            probabilities, seconds = batched(lambda batch: litert(batch)["probabilities"], texts)
            results[name] = compared(probabilities, reference, labels, size_bytes=os.path.getsize(path),
                                     seconds=seconds)
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    float_result, int8_result = results["litert_float32"], results["litert_int8"]
    results["int8_size_fraction_of_float"] = int8_result["size_bytes"] / float_result["size_bytes"]
    results["int8_accuracy_loss_points"] = 100 * (results["savedmodel"]["accuracy"] - int8_result["accuracy"])
    results["targets"] = {
        "float labels agree with the SavedModel on >= 99.5%": float_result["label_agreement_with_savedmodel"] >= 0.995,
        "int8 loses at most 1 accuracy point": results["int8_accuracy_loss_points"] <= 1.0,
        "int8 file at most 30% of the float file": results["int8_size_fraction_of_float"] <= 0.30,
    }
    if "savedmodel_bf16" in results:
        results["bf16_accuracy_loss_points"] = 100 * (results["savedmodel"]["accuracy"]
                                                      - results["savedmodel_bf16"]["accuracy"])
        results["targets"]["bf16 loses at most 0.5 accuracy points"] = results["bf16_accuracy_loss_points"] <= 0.5
    results["run"] = {"heldout": len(heldout), "heldout_fraction": args.heldout_fraction,
                      "train_examples": len(train), "epochs": args.epochs, "seq_length": args.seq_length,
                      "train_seconds": train_seconds, "seed": args.seed}
    write_text(out / "metrics.json", json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"wrote {out / 'metrics.json'}")


if __name__ == "__main__":
    main()
