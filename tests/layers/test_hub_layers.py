"""HubEncoder and HubPreprocessor on the TF Model Garden reference pair."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub

import keras
from tests.harness import FIXTURE_ENCODER, FIXTURE_PREPROCESSOR, assert_keras_round_trip
from tfhub_llm.hub_contract import ENCODER_INPUT_KEYS
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor

SENTENCES = tf.constant(["the movie was great", "a dull, boring film", "Héllo wörld!", ""])
LABELS = np.array([1, 0, 1, 0])


def classifier(trainable, sequential=False):
    preprocessor = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=16)
    encoder = HubEncoder(FIXTURE_ENCODER, trainable=trainable, output_key="pooled_output")
    head = keras.layers.Dense(2, activation="softmax")
    if sequential:
        model = keras.Sequential([keras.Input(shape=(), dtype="string"), preprocessor, encoder, head])
    else:
        text = keras.Input(shape=(), dtype="string")
        model = keras.Model(text, head(keras.layers.Dropout(0.1)(encoder(preprocessor(text)))))
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, encoder


def test_outputs_equal_direct_hub_load():
    preprocessor = HubPreprocessor(FIXTURE_PREPROCESSOR)
    encoder = HubEncoder(FIXTURE_ENCODER)
    ours = encoder(preprocessor(SENTENCES))
    direct_inputs = hub.load(FIXTURE_PREPROCESSOR)(SENTENCES)
    direct = hub.load(FIXTURE_ENCODER)(direct_inputs, training=False)
    for key, value in preprocessor(SENTENCES).items():
        np.testing.assert_array_equal(value, direct_inputs[key])
    for key in ("pooled_output", "sequence_output", "default"):
        np.testing.assert_allclose(ours[key], direct[key], atol=1e-6)
    assert len(ours["encoder_outputs"]) == len(direct["encoder_outputs"]) == 2


@pytest.mark.parametrize("sequential", [False, True])
def test_fit_moves_encoder_only_when_trainable(sequential):
    for trainable in (True, False):
        model, encoder = classifier(trainable, sequential)
        before = [weight.numpy().copy() for weight in encoder.weights]
        model.fit(SENTENCES, LABELS, epochs=2, batch_size=4, verbose=0)
        moved = [not np.array_equal(b, w.numpy()) for b, w in zip(before, encoder.weights)]
        assert any(moved) == trainable
        assert (len(encoder.trainable_weights) > 0) == trainable


def test_training_flag_reaches_dropout():
    preprocessor = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=16)
    encoder = HubEncoder(FIXTURE_ENCODER, output_key="sequence_output")
    inputs = preprocessor(SENTENCES)
    tf.random.set_seed(1)
    first, second = encoder(inputs, training=True), encoder(inputs, training=True)
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(encoder(inputs), encoder(inputs, training=False))


def test_keras_file_round_trip_keeps_fine_tuned_weights(tmp_path):
    model, encoder = classifier(trainable=True)
    model.fit(SENTENCES, LABELS, epochs=2, batch_size=4, verbose=0)
    restored = assert_keras_round_trip(model, SENTENCES, tmp_path)
    original = hub.load(FIXTURE_ENCODER).variables
    restored_encoder = next(layer for layer in restored.layers if isinstance(layer, HubEncoder))
    assert any(not np.allclose(a, b) for a, b in zip(original, restored_encoder.weights))


def test_subclassed_model_and_strategy_scope():
    class PooledClassifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.preprocessor = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=8)
            self.encoder = HubEncoder(FIXTURE_ENCODER, trainable=True, output_key="pooled_output")
            self.head = keras.layers.Dense(2)

        def call(self, text, training=False):
            return self.head(self.encoder(self.preprocessor(text), training=training))

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = PooledClassifier()
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.encoder.weights[0].numpy().copy()
    dataset = tf.data.Dataset.from_tensor_slices((SENTENCES, LABELS)).batch(4)
    model.fit(dataset, epochs=1, verbose=0)
    assert not np.array_equal(before, model.encoder.weights[0].numpy())


def test_seq_length_override_and_pad_to_longest():
    assert HubPreprocessor(FIXTURE_PREPROCESSOR)(SENTENCES)["input_word_ids"].shape == (4, 128)
    assert HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=20)(SENTENCES)["input_mask"].shape == (4, 20)
    longest = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=64, pad_to_longest=True)(SENTENCES)
    full = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=64)(SENTENCES)
    width = int(np.max(np.sum(full["input_mask"], axis=1)))
    assert longest["input_mask"].shape == (4, width)
    for key in full:
        np.testing.assert_array_equal(longest[key], full[key][:, :width])
    capped = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=4, pad_to_longest=True)(SENTENCES)
    assert capped["input_mask"].shape == (4, 4)


def test_the_default_length_is_probed_eagerly_even_when_first_read_inside_a_traced_graph():
    preprocessor = HubPreprocessor(FIXTURE_PREPROCESSOR)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def lengths(texts):
        return tf.fill(tf.shape(texts), preprocessor.max_seq_length)

    ops = {op.type for op in lengths.get_concrete_function().graph.get_operations()}
    assert preprocessor.default_seq_length == 128
    assert not any("Tokenize" in op or "PartitionedCall" in op for op in ops), ops


def test_sentence_pairs_pack_two_segments():
    preprocessor = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=12)
    packed = preprocessor([tf.constant(["hello world"]), tf.constant(["good bye"])])
    ids, types = packed["input_word_ids"].numpy()[0], packed["input_type_ids"].numpy()[0]
    sep = preprocessor.sep_id
    assert ids[0] == preprocessor.cls_id and list(ids).count(sep) == 2
    second_start = list(ids).index(sep) + 1
    assert set(types[:second_start]) == {0} and types[second_start] == 1


def test_special_tokens_and_tokenize():
    preprocessor = HubPreprocessor(FIXTURE_PREPROCESSOR)
    assert (preprocessor.vocab_size, preprocessor.cls_id, preprocessor.sep_id) == (30522, 101, 102)
    assert (preprocessor.pad_id, preprocessor.mask_id) == (0, 103)
    tokens = preprocessor.tokenize(["hello world"])
    assert tokens.shape.rank == 3 and tokens.to_list() == [[[7592], [2088]]]
    packed = preprocessor.bert_pack_inputs([tokens], seq_length=5)
    assert packed["input_word_ids"].numpy().tolist() == [[101, 7592, 2088, 102, 0]]


def test_encoder_without_mlm_says_so():
    encoder = HubEncoder(FIXTURE_ENCODER)
    assert not encoder.has_mlm
    with pytest.raises(ValueError, match="no 'mlm'"):
        encoder.mlm_logits(HubPreprocessor(FIXTURE_PREPROCESSOR)(SENTENCES), [[1]] * 4)
    assert encoder.vocab_file.endswith("vocab.txt")


class RegularizedEncoder(tf.Module):
    """A minimal encoder SavedModel that declares a regularization loss, as Model Garden's may."""

    def __init__(self):
        super().__init__()
        self.embeddings = tf.Variable(tf.fill([30522, 4], 0.5))
        self.regularization_losses = [tf.function(lambda: 0.01 * tf.reduce_sum(self.embeddings), input_signature=[])]

    @tf.function
    def __call__(self, inputs, training=False):
        sequence = tf.gather(self.embeddings, inputs["input_word_ids"])
        pooled = sequence[:, 0]
        return {"pooled_output": pooled, "sequence_output": sequence, "encoder_outputs": [sequence], "default": pooled}


def test_regularization_losses_are_added_when_trainable(tmp_path):
    module = RegularizedEncoder()
    spec = {key: tf.TensorSpec([None, None], tf.int32, name=key) for key in ENCODER_INPUT_KEYS}
    for training in (False, True):
        module.__call__.get_concrete_function(spec, training=training)
    tf.saved_model.save(module, str(tmp_path))
    inputs = HubPreprocessor(FIXTURE_PREPROCESSOR, seq_length=8)(SENTENCES)
    expected = 0.01 * 0.5 * 30522 * 4
    for trainable, losses in ((True, [expected]), (False, [])):
        encoder = HubEncoder(str(tmp_path), trainable=trainable)
        encoder(inputs, training=True)
        np.testing.assert_allclose([float(loss) for loss in encoder.losses], losses, rtol=1e-5)
