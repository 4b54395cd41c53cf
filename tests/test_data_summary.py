"""The data summary printed before a classification run trains."""

import numpy as np
import pytest

from tests.harness import TINY_PREPROCESSOR
from tfhub_llm.data_summary import summarize_text_examples
from tfhub_llm.layers import HubPreprocessor
from tfhub_llm.readers.text_examples import TextExamples


@pytest.fixture(scope="module")
def preprocessor():
    return HubPreprocessor(TINY_PREPROCESSOR, seq_length=8)


def _examples(labels, label_names=None, texts_b=None):
    texts = ["a film", "a gripping and beautifully acted film about a lighthouse keeper", "dull", "fine"]
    return TextExamples(texts=texts[: len(labels)], texts_b=texts_b, labels=np.asarray(labels),
                        label_names=label_names, path="train.tsv")


def test_counts_labels_and_word_pieces_against_the_packed_length(preprocessor):
    train = _examples([1, 0, 0, 1], ["negative", "positive"])
    summary = summarize_text_examples(train, _examples([0]), preprocessor, "10% of the rows held out")
    lines = summary.splitlines()
    assert lines[0] == "data: 4 training and 1 validation examples (10% of the rows held out), from train.tsv"
    assert lines[1] == "labels: negative 2 (50%), positive 2 (50%)"
    longest = int(preprocessor.token_ids(train.texts[1:2]).row_lengths().numpy()[0]) + 2
    assert f"longest {longest}; packed to at most 8, so 25.0% are cut" in lines[2]
    assert len(lines) == 3


def test_regression_targets_and_pairs(preprocessor):
    train = _examples(np.array([0.5], np.float32), texts_b=["x"])
    summary = summarize_text_examples(train, train, preprocessor, "validation from dev.tsv")
    assert "regression targets from 0.5 to 0.5" in summary
    assert "median 6," in summary  # "a film" + "x": 2 + 1 word pieces, [CLS] and two [SEP]
