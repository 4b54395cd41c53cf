"""Does the opt-in bfloat16 mode cost accuracy? SST-2 accuracy of one fine-tuned model in fp32 and bf16.

    .venv/bin/python bench/bf16_accuracy.py [--train 1600] [--test 800] [--seed 0]

Fine-tunes ``TextClassifier`` on MiniLM (fp32) on a seeded sample of SST-2 phrases, saves it as a
``.keras`` file, and evaluates it on other held-out phrases twice: in this process (fp32) and in a
child process with TensorFlow's oneDNN bfloat16 auto-mixed-precision rewrite on (the mode
``bench/ours.py --bfloat16`` measures). Prints both accuracies, their difference and the share of
identical predictions; exits 1 when bf16 loses more than 0.5 points.
"""

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import workload as wl  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from savedmodels import MINILM  # noqa: E402
SST2 = REPO / "data" / "sst2" / "train.tsv"
ALLOWED_DROP_POINTS = 0.5


def _split(train_size, test_size, seed):
    from tfhub_llm.data import read_text_examples

    examples = read_text_examples(SST2, text_column="text", label_column="label")
    rows = random.Random(seed).sample(list(zip(examples.texts, examples.labels.tolist())), train_size + test_size)
    return rows[:train_size], rows[train_size:]


def predictions(model_path, texts):
    """Class ids the saved model predicts for ``texts`` (batches of 32)."""
    import keras
    import numpy as np

    import tfhub_llm.tasks.classifier  # noqa: F401  (registers TextClassifier for loading)

    model = keras.models.load_model(model_path)
    probabilities = model.predict(np.asarray(texts, dtype=object), batch_size=wl.BATCH_SIZE, verbose=0)
    return probabilities.argmax(axis=-1).tolist()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1600)
    parser.add_argument("--test", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--predict", metavar="MODEL", help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--bfloat16", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    train, test = _split(args.train, args.test, args.seed)
    texts, labels = [text for text, _ in test], [label for _, label in test]
    if args.predict:
        replies = wl.protocol_stdout()
        if args.bfloat16:
            from tfhub_llm.precision import enable_cpu_bfloat16

            enable_cpu_bfloat16()
        replies.write(json.dumps(predictions(args.predict, texts)) + "\n")
        return 0

    import numpy as np

    from tfhub_llm.tasks.classifier import TextClassifier

    model = TextClassifier(str(MINILM / "encoder"), str(MINILM / "preprocessor"), num_classes=2)
    model.fit(np.asarray([text for text, _ in train], dtype=object), np.asarray([label for _, label in train]),
              batch_size=wl.BATCH_SIZE, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory(prefix="bench-bf16-") as scratch:
        path = str(pathlib.Path(scratch) / "sst2.keras")
        model.save(path)
        fp32 = predictions(path, texts)
        child = [sys.executable, __file__, "--predict", path, "--train", str(args.train), "--test", str(args.test),
                 "--seed", str(args.seed), "--bfloat16"]
        bf16 = json.loads(subprocess.run(child, capture_output=True, text=True, check=True).stdout)
    accuracy = {name: 100 * sum(p == y for p, y in zip(predicted, labels)) / len(labels)
                for name, predicted in (("fp32", fp32), ("bf16", bf16))}
    agreement = 100 * sum(a == b for a, b in zip(fp32, bf16)) / len(labels)
    drop = accuracy["fp32"] - accuracy["bf16"]
    print(json.dumps({"train": args.train, "test": args.test, "accuracy": accuracy, "drop_points": drop,
                      "same_prediction_percent": agreement}))
    print(f"SST-2 accuracy on {args.test} held-out phrases: fp32 {accuracy['fp32']:.2f}, bf16 "
          f"{accuracy['bf16']:.2f} (drop {drop:.2f} points, allowed {ALLOWED_DROP_POINTS}); "
          f"{agreement:.1f}% identical predictions")
    return 0 if drop <= ALLOWED_DROP_POINTS else 1


if __name__ == "__main__":
    sys.exit(main())
