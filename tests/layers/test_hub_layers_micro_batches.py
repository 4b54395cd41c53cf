"""HubEncoder's length-sorted micro-batches: same results at every unpadded position, less padding computed."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tests.harness import FIXTURE_ENCODER, FIXTURE_PREPROCESSOR

from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor

SENTENCES = tf.constant([
    "a", "the movie was great", "ok", "a dull, boring and far too long film about nothing at all",
    "fine", "Héllo wörld!", "it is what it is, and that is not much", "", "superb", "meh",
])


def test_micro_batches_match_the_whole_batch_where_there_is_input():
    inputs = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=32, pad_to_longest=True)(SENTENCES)
    whole = HubEncoder(FIXTURE_ENCODER, micro_batches=1)(inputs)
    split = HubEncoder(FIXTURE_ENCODER, micro_batches=2)(inputs)  # 10 rows >= 2 * 4: split
    mask = inputs["input_mask"].numpy().astype(bool)
    for key in ("pooled_output", "default"):
        np.testing.assert_allclose(split[key], whole[key], atol=1e-5)
    for ours, reference in zip([split["sequence_output"]] + split["encoder_outputs"],
                               [whole["sequence_output"]] + whole["encoder_outputs"]):
        assert ours.shape == reference.shape
        np.testing.assert_allclose(ours.numpy()[mask], reference.numpy()[mask], atol=1e-5)
    # The short half is cut to its own longest input, so the longest sentence's padding is not computed.
    shortest = int(np.argmin(mask.sum(axis=1)))
    assert np.all(split["sequence_output"].numpy()[shortest, -1] == 0)


def test_small_batches_and_tracing_take_the_whole_batch():
    inputs = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=16)(SENTENCES[:3])
    whole = HubEncoder(FIXTURE_ENCODER, micro_batches=1)(inputs)["sequence_output"]
    split = HubEncoder(FIXTURE_ENCODER, micro_batches=4)(inputs)["sequence_output"]
    np.testing.assert_allclose(split, whole, atol=1e-6)  # 3 rows < 4 * 4: one call, padding included


def test_fit_trains_through_micro_batches_and_config_keeps_them():
    encoder = HubEncoder(FIXTURE_ENCODER, trainable=True, output_key="pooled_output", micro_batches=2)
    text = keras.Input(shape=(), dtype="string")
    packed = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=16, pad_to_longest=True)(text)
    model = keras.Model(text, keras.layers.Dense(2, activation="softmax")(encoder(packed)))
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    before = encoder.weights[0].numpy().copy()
    model.fit(tf.data.Dataset.from_tensor_slices((SENTENCES, np.arange(10) % 2)).batch(10), verbose=0)
    assert not np.array_equal(before, encoder.weights[0].numpy())
    assert HubEncoder.from_config(encoder.get_config()).micro_batches == 2


def test_micro_batches_below_one_are_refused():
    with pytest.raises(ValueError, match="micro_batches must be at least 1"):
        HubEncoder(FIXTURE_ENCODER, micro_batches=0)
