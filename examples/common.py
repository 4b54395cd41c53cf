"""What the example scripts share: where the bundled models and data live, the common flags, result files.

Each example imports this module as ``common`` (Python puts the script's folder on ``sys.path``).
"""

import argparse
import json
import os
import pathlib
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from savedmodels import MINILM, TINY  # noqa: E402,F401  (the examples' default models)
from tfhub_llm.atomic import write_text  # noqa: E402

DATA = REPO / "data"


def parser(description, model=MINILM, out="runs/examples"):
    """An argument parser with the flags every example has: the model pair and the output folder."""
    result = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    result.add_argument("--encoder", default=str(model / "encoder"), help="TF-Hub BERT encoder handle")
    result.add_argument("--preprocessor", default=str(model / "preprocessor"),
                        help="TF-Hub BERT preprocessor handle")
    result.add_argument("--out", default=out, help="folder for the results")
    return result


def add_training_flags(result, max_examples, epochs, batch_size, seq_length, learning_rate, seed=42):
    """Adds the flags of the examples that fine-tune: data size, epochs, batch, length, rate, seed."""
    result.add_argument("--max-examples", type=int, default=max_examples,
                        help="train on at most this many examples")
    result.add_argument("--epochs", type=int, default=epochs)
    result.add_argument("--batch-size", type=int, default=batch_size)
    result.add_argument("--seq-length", type=int, default=seq_length, help="maximum packed length in tokens")
    result.add_argument("--learning-rate", type=float, default=learning_rate)
    result.add_argument("--seed", type=int, default=seed)


def add_sst2_flags(result, validation_examples=500):
    """Adds the flags of the examples that fine-tune on a sample of SST-2 phrases (read by :func:`read_sst2_sample`)."""
    result.add_argument("--train", default=str(DATA / "sst2" / "train.tsv"),
                        help="TSV with columns 'text' and 'label' (0/1)")
    result.add_argument("--validation-examples", type=int, default=validation_examples,
                        help="held-out phrases to measure accuracy on")
    add_training_flags(result, max_examples=2000, epochs=1, batch_size=32, seq_length=64, learning_rate=5e-5)


def read_sst2_sample(args):
    """Seeded, disjoint (train, validation) samples of the phrases in ``args.train``, sized by the flags."""
    from tfhub_llm.readers.text_examples import read_text_examples

    examples = read_text_examples(args.train, text_column="text", label_column="label", num_classes=2)
    return sample_split(examples, args.max_examples, args.validation_examples, args.seed)


def write_json(path, value):
    """Writes ``value`` as JSON to ``path`` through a temporary sibling, so readers never see half a file."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(value, indent=2, sort_keys=True))
    return path


def sample_split(examples, num_train, num_validation, seed):
    """Disjoint seeded samples of ``examples`` (a ``TextExamples``) for training and validation."""
    if num_train + num_validation > len(examples):
        raise SystemExit(f"{examples.path} has {len(examples)} examples, fewer than the {num_train} for "
                         f"training plus {num_validation} for validation asked for")
    order = np.random.default_rng(seed).permutation(len(examples))
    return examples.subset(order[:num_train]), examples.subset(order[num_train:num_train + num_validation])
