"""Sentence-pair classification (GLUE MRPC paraphrases or RTE entailment) with ``TextClassifier``.

``TextClassifier(..., text_pair=True)`` takes ``{"text": ..., "text_b": ...}``: the preprocessor packs
both sentences into one input (``[CLS] a [SEP] b [SEP]``, segment ids 0 and 1), the encoder reads
them together, and a softmax head decides. The script carves a validation split out of the task's
train.tsv, fine-tunes, and compares the accuracy with always answering the majority class.
GLUE's MRPC and RTE files are not redistributed with this repository: pass the path of the task's
train.tsv (from the GLUE benchmark's download).

    .venv/bin/python examples/sentence_pairs.py --data MRPC/train.tsv          # a few minutes on 2 cores
    .venv/bin/python examples/sentence_pairs.py --task rte --data RTE/train.tsv --epochs 3

Writes ``OUT/sentence_pairs/metrics.json``.
"""

import time

import common
import keras
import numpy as np

from tfhub_llm.readers.datasets import to_dataset
from tfhub_llm.readers.text_examples import read_text_examples
from tfhub_llm.tasks.classifier import TextClassifier

# Each task's columns as GLUE ships them (MRPC starts with a UTF-8 BOM, which the reader drops).
# MRPC's labels are class ids 0/1, named here; RTE's are the names themselves.
TASKS = {
    "mrpc": {"text_column": "#1 String", "text_b_column": "#2 String", "label_column": "Quality"},
    "rte": {"text_column": "sentence1", "text_b_column": "sentence2", "label_column": "label"},
}
CLASS_ID_NAMES = {"mrpc": ["not_equivalent", "equivalent"]}


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="mrpc")
    parser.add_argument("--data", required=True, help="the task's GLUE train.tsv")
    parser.add_argument("--validation-examples", type=int, default=400,
                        help="pairs held out of train.tsv to measure accuracy on")
    common.add_training_flags(parser, max_examples=1500, epochs=2, batch_size=32, seq_length=128,
                              learning_rate=5e-5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    examples = read_text_examples(args.data, num_classes=2, **TASKS[args.task])
    label_names = examples.label_names or CLASS_ID_NAMES[args.task]
    train, validation = common.sample_split(examples, args.max_examples, args.validation_examples, args.seed)
    print(f"data: {args.task}, {len(train)} training and {len(validation)} held-out pairs from {examples.path}; "
          f"classes {label_names}")

    model = TextClassifier(args.encoder, args.preprocessor, num_classes=len(label_names),
                           text_pair=True, label_names=label_names, seq_length=args.seq_length)
    train_steps = args.epochs * -(-len(train) // args.batch_size)
    model.compile(learning_rate=args.learning_rate, train_steps=train_steps)

    started = time.monotonic()
    history = model.fit(to_dataset(train, args.batch_size, seed=args.seed),
                        validation_data=to_dataset(validation, args.batch_size, shuffle=False),
                        epochs=args.epochs, verbose=2)
    train_seconds = time.monotonic() - started
    accuracy = history.history["val_accuracy"][-1]
    majority = np.bincount(train.labels).argmax()
    majority_accuracy = float(np.mean(validation.labels == majority))
    print(f"fit: {args.epochs} epoch(s) in {train_seconds:.0f} s")
    print(f"held-out accuracy {accuracy:.3f} vs {majority_accuracy:.3f} always answering the majority class "
          f"{label_names[majority]!r}")

    first = {"text": validation.texts[:1], "text_b": validation.texts_b[:1]}
    probabilities = model.predict({key: keras.ops.convert_to_tensor(value) for key, value in first.items()},
                                  verbose=0)[0]
    print(f"predict: {first['text'][0][:60]!r} / {first['text_b'][0][:60]!r} → "
          f"{label_names[int(probabilities.argmax())]!r} (p={probabilities.max():.2f})")

    path = common.write_json(f"{args.out}/sentence_pairs/metrics.json", {
        "task": args.task, "encoder": args.encoder, "train_examples": len(train),
        "validation_examples": len(validation), "epochs": args.epochs, "validation_accuracy": accuracy,
        "majority_class_accuracy": majority_accuracy, "history": history.history, "train_seconds": train_seconds})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
