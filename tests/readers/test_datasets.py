"""readers.datasets.to_dataset: pairs and single texts, labelled or not, reshuffled reproducibly."""

import numpy as np
import pytest

from tfhub_llm.readers.datasets import to_dataset
from tfhub_llm.readers.text_examples import TextExamples, read_text_examples


def pairs(count=10):
    return TextExamples(texts=[f"t{i}" for i in range(count)], texts_b=[f"b{i}" for i in range(count)],
                        labels=np.arange(count, dtype=np.int32) % 2, label_names=None, path="mem")


def test_to_dataset_batches_pairs_and_reshuffles_reproducibly():
    examples = pairs()
    x, y = next(iter(to_dataset(examples, batch_size=4, shuffle=False)))
    assert [t.decode() for t in x["text"].numpy()] == ["t0", "t1", "t2", "t3"]
    assert [t.decode() for t in x["text_b"].numpy()] == ["b0", "b1", "b2", "b3"]
    assert y.numpy().tolist() == [0, 1, 0, 1]

    def epoch_orders(dataset):
        return [[t.decode() for x, _ in dataset for t in x["text"].numpy()] for _ in range(2)]

    first = epoch_orders(to_dataset(examples, batch_size=3, seed=7))
    again = epoch_orders(to_dataset(examples, batch_size=3, seed=7))
    assert first == again
    assert first[0] != first[1] and sorted(first[0]) == sorted(examples.texts)


def test_to_dataset_single_texts_and_unlabelled(tmp_path):
    path = tmp_path / "ok.tsv"
    path.write_text("text\tlabel\na\t1\nb\t0\nc\t1\n")
    labelled = read_text_examples(path, "text", "label")
    x, y = next(iter(to_dataset(labelled, batch_size=2, shuffle=False)))
    assert x.dtype.name == "string" and x.shape == (2,) and y.numpy().tolist() == [1, 0]
    unlabelled = read_text_examples(path, "text")
    batches = list(to_dataset(unlabelled, batch_size=2, shuffle=False))
    assert [b.shape[0] for b in batches] == [2, 1] and batches[0].dtype.name == "string"
    with pytest.raises(ValueError, match="batch_size"):
        to_dataset(labelled, batch_size=0)
