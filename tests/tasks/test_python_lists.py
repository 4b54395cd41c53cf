"""Task models take texts as users type them: a Python list of strings, or of pairs for a pair model."""

import numpy as np
import pytest
import tensorflow as tf

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.embedding import TextEmbedder

TEXTS = ["a gripping, beautifully acted film", "a dull film"]
PAIRS = [("a gripping film", "it grips"), ("a dull film", "it thrills")]


@pytest.fixture(scope="module")
def single():
    return TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, 2, seq_length=16)


def test_a_classifier_predicts_calls_and_evaluates_on_lists_of_strings(single):
    expected = single.predict(tf.constant(TEXTS), verbose=0)
    np.testing.assert_allclose(single.predict(TEXTS, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(single(TEXTS), expected, atol=1e-6)
    metrics = single.evaluate(TEXTS, [1, 0], verbose=0, return_dict=True)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    single.fit(TEXTS, [1, 0], epochs=1, verbose=0)


def test_a_pair_classifier_takes_a_list_of_pairs():
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, 2, text_pair=True, seq_length=16)
    columns = {"text": tf.constant([a for a, _ in PAIRS]), "text_b": tf.constant([b for _, b in PAIRS])}
    expected = model.predict(columns, verbose=0)
    np.testing.assert_allclose(model.predict(PAIRS, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(model([list(pair) for pair in PAIRS]), expected, atol=1e-6)
    assert set(model.evaluate(PAIRS, [1, 0], verbose=0, return_dict=True)) >= {"loss", "accuracy"}


def test_an_embedder_takes_a_list_of_strings():
    embedder = TextEmbedder(TINY_ENCODER, TINY_PREPROCESSOR, seq_length=16)
    np.testing.assert_allclose(embedder.predict(TEXTS, verbose=0), embedder.predict(tf.constant(TEXTS), verbose=0),
                               atol=1e-6)
