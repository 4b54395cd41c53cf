"""The Keras 3 BERT encoder against a numpy BERT with Hugging Face's weight layout."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.bert.numpy_bert import hf_bert_forward, random_hf_tensors
from tfhub_llm.bert import BertConfig, BertEncoder, build_bert_encoder
from tfhub_llm.bert.convert import load_hf_weights
from tfhub_llm.errors import InvalidArgumentError

CONFIG = BertConfig(vocab_size=60, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
                    max_position_embeddings=300, with_mlm=True)


@pytest.fixture(scope="module")
def encoder_and_tensors():
    tensors = random_hf_tensors(CONFIG, seed=3, with_mlm=True)
    encoder = build_bert_encoder(CONFIG)
    load_hf_weights(encoder, tensors, "random tensors")
    return encoder, tensors


def _batch(seq_length, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, seq_length + 1, size=3)
    lengths[0] = seq_length
    mask = (np.arange(seq_length)[None] < lengths[:, None]).astype(np.int32)
    word_ids = (rng.integers(1, CONFIG.vocab_size, size=(3, seq_length)) * mask).astype(np.int32)
    type_ids = (rng.integers(0, 2, size=(3, seq_length)) * mask).astype(np.int32)
    return {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids}


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")  # seq_length 1: one key per query
@pytest.mark.parametrize("seq_length", [1, 7, 128, 300])
def test_matches_numpy_bert_at_any_length(encoder_and_tensors, seq_length):
    encoder, tensors = encoder_and_tensors
    inputs = _batch(seq_length)
    outputs = encoder(inputs, training=False)
    sequence, pooled, layers, _ = hf_bert_forward(
        tensors, CONFIG, inputs["input_word_ids"], inputs["input_mask"], inputs["input_type_ids"])
    unmasked = inputs["input_mask"].astype(bool)
    assert np.abs(np.asarray(outputs["sequence_output"])[unmasked] - sequence[unmasked]).max() < 1e-4
    assert np.abs(np.asarray(outputs["pooled_output"]) - pooled).max() < 1e-4
    assert np.array_equal(outputs["default"], outputs["pooled_output"])
    assert len(outputs["encoder_outputs"]) == CONFIG.num_layers
    assert np.abs(np.asarray(outputs["encoder_outputs"][0])[unmasked] - layers[0][unmasked]).max() < 1e-4


def test_masked_lm_logits_match_numpy(encoder_and_tensors):
    encoder, tensors = encoder_and_tensors
    inputs = _batch(9)
    positions = np.array([[0, 3], [1, 1], [0, 0]], np.int32)
    outputs = encoder.masked_lm({**inputs, "masked_lm_positions": positions})
    *_, logits = hf_bert_forward(tensors, CONFIG, inputs["input_word_ids"], inputs["input_mask"],
                                 inputs["input_type_ids"], positions)
    assert outputs["mlm_logits"].shape == (3, 2, CONFIG.vocab_size)
    assert np.abs(np.asarray(outputs["mlm_logits"]) - logits).max() < 1e-3


def test_padding_does_not_change_unmasked_outputs(encoder_and_tensors):
    encoder, _ = encoder_and_tensors
    short = _batch(6, seed=5)
    padded = {key: np.pad(value, ((0, 0), (0, 10))) for key, value in short.items()}
    unmasked = short["input_mask"].astype(bool)
    a = np.asarray(encoder(short)["sequence_output"])[unmasked]
    b = np.asarray(encoder(padded)["sequence_output"])[:, :6][unmasked]
    assert np.abs(a - b).max() < 1e-5


def test_only_real_tokens_are_computed_and_padding_outputs_zeros(encoder_and_tensors):
    encoder, tensors = encoder_and_tensors
    inputs = _batch(9, seed=4)
    mask = inputs["input_mask"].copy()
    mask[1, 2:4] = 0  # a hole: keys masked, the tokens after it still real
    mask[2] = 0  # an empty row: nothing real in it
    inputs["input_mask"] = mask
    outputs = encoder(inputs, training=False)
    sequence, _, layers, _ = hf_bert_forward(
        tensors, CONFIG, inputs["input_word_ids"], mask, inputs["input_type_ids"])
    real = mask.astype(bool)
    for ours, reference in zip([outputs["sequence_output"]] + outputs["encoder_outputs"], [sequence] + layers[:1]):
        ours = np.asarray(ours)
        assert np.abs(ours[real] - reference[real]).max() < 1e-4
        padding = ~real
        padding[:, 0] = False  # every row's first position is computed, even when masked
        assert np.all(ours[padding] == 0)
    assert np.all(np.isfinite(np.asarray(outputs["pooled_output"])))


def test_padding_adds_nothing_to_the_gradients(encoder_and_tensors):
    encoder, _ = encoder_and_tensors
    short = _batch(6, seed=5)
    padded = {key: np.pad(value, ((0, 0), (0, 10))) for key, value in short.items()}

    def gradients(inputs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(encoder(inputs, training=False)["pooled_output"]))
        return [tf.convert_to_tensor(g) for g in tape.gradient(loss, encoder.trainable_weights) if g is not None]

    for a, b in zip(gradients(short), gradients(padded)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_training_mode_applies_dropout(encoder_and_tensors):
    encoder, _ = encoder_and_tensors
    inputs = _batch(8)
    inference = np.asarray(encoder(inputs, training=False)["pooled_output"])
    assert np.array_equal(inference, np.asarray(encoder(inputs, training=False)["pooled_output"]))
    assert not np.allclose(inference, np.asarray(encoder(inputs, training=True)["pooled_output"]))


def test_longer_than_max_positions_fails(encoder_and_tensors):
    encoder, _ = encoder_and_tensors
    with pytest.raises(Exception, match="(?i)indices|out of range|bound"):
        encoder(_batch(CONFIG.max_position_embeddings + 1))


def test_masked_lm_without_head_is_refused():
    encoder = build_bert_encoder(BertConfig(60, 16, 1, 2, 32))
    with pytest.raises(ValueError, match="without an MLM head"):
        encoder.masked_lm({**_batch(4), "masked_lm_positions": np.zeros((3, 1), np.int32)})


def test_seeded_builds_are_identical():
    config = BertConfig(60, 16, 1, 2, 32)
    first, second = build_bert_encoder(config, seed=7), build_bert_encoder(config, seed=7)
    for a, b in zip(first.weights, second.weights):
        assert np.array_equal(a.numpy(), b.numpy()), a.path


def test_keras_config_round_trip(encoder_and_tensors):
    encoder, _ = encoder_and_tensors
    clone = BertEncoder.from_config(encoder.get_config())
    assert clone.config == CONFIG
    assert keras.saving.get_registered_object("tfhub_llm>BertEncoder") is BertEncoder


@pytest.mark.parametrize("kwargs, message", [
    ({"hidden_size": 30}, "divisible"),
    ({"num_layers": 0}, "num_layers"),
    ({"vocab_size": 2.5}, "vocab_size"),
    ({"hidden_dropout": 1.0}, "hidden_dropout"),
    ({"compute_dtype": "float16"}, "compute_dtype must be one of"),
])
def test_config_validation(kwargs, message):
    fields = {"vocab_size": 60, "hidden_size": 16, "num_layers": 2, "num_heads": 4, "intermediate_size": 32}
    with pytest.raises(InvalidArgumentError, match=message):
        BertConfig(**{**fields, **kwargs})


BFLOAT16_ATOL = 0.05  # bfloat16 keeps 8 significant bits; outputs of unit-scale LayerNorms move by ~1e-2


def test_bfloat16_compute_matches_float32_from_the_same_float32_weights(encoder_and_tensors):
    encoder, tensors = encoder_and_tensors
    config = dataclasses.replace(CONFIG, compute_dtype="bfloat16")
    bf16 = build_bert_encoder(config)
    load_hf_weights(bf16, tensors, "random tensors")
    assert {weight.dtype for weight in bf16.weights} == {"float32"}
    inputs = _batch(40, seed=2)
    fp32_outputs, bf16_outputs = encoder(inputs, training=False), bf16(inputs, training=False)
    unmasked = inputs["input_mask"].astype(bool)
    for key in ("sequence_output", "pooled_output"):
        assert bf16_outputs[key].dtype == "float32"
    sequence_error = np.abs(np.asarray(bf16_outputs["sequence_output"]) - np.asarray(fp32_outputs["sequence_output"]))
    assert 0 < sequence_error[unmasked].max() < BFLOAT16_ATOL  # really computed in bfloat16, and close
    np.testing.assert_allclose(bf16_outputs["pooled_output"], fp32_outputs["pooled_output"], atol=BFLOAT16_ATOL)
    assert BertEncoder.from_config(bf16.get_config()).config.compute_dtype == "bfloat16"


def test_bfloat16_compute_trains_its_float32_weights():
    encoder = build_bert_encoder(dataclasses.replace(CONFIG, compute_dtype="bfloat16", with_mlm=False), seed=0)
    inputs = _batch(8)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(encoder(inputs, training=True)["pooled_output"]))
    gradients = tape.gradient(loss, encoder.trainable_weights)
    kernels = [(w, g) for w, g in zip(encoder.trainable_weights, gradients) if "intermediate" in w.path]
    assert kernels and all(g is not None and g.dtype == "float32" and float(tf.reduce_max(tf.abs(g))) > 0
                           for _, g in kernels)
