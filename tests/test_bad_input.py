"""Hostile text through the package's preprocessor, HubEncoder, TextClassifier and SpanQuestionAnswerer.

Empty, blank, overlong, control-character, mixed-script, emoji, zero-width and combining-mark texts
give deterministic, finite outputs of the right shape. Invalid UTF-8 bytes are read as U+FFFD
(TF Text's replacement), so the word holding them becomes [UNK] and the rest of the text is kept.
Property tests over random Unicode check the packing invariants and that every QA answer is
exactly ``context[start:end]``.
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer

SEQ_LENGTH = 16
HOSTILE_TEXTS = [
    "",
    " ",
    "\t\n\r \u3000\u00a0",
    "a fairly ordinary sentence " * 400,
    "\x00\x01\x07\x1b[31mred\x1b[0m\x7f\x9f",
    "Hello мир 世界 مرحبا שלום नमस्ते ไทย",
    "👍🏽🎉🇫🇷 great film 😀😀😀",
    "👩\u200d👩\u200d👧\u200d👦 a\u200db \u200b\ufeff\u2060",
    "e\u0301 a\u0308\u0308\u0308 Z\u0334\u0321\u0319a\u0337l\u0336g\u0335o\u0338",
    "\u202eevil\u202c \ufffd \U0010ffff \ue000",
]
INVALID_UTF8 = [
    b"\xff\xfe",  # never valid in UTF-8
    b"abc\xe2\x82",  # a multi-byte sequence cut short
    b"caf\xc3 au lait",
    b"hello \xff world",
    b"\xed\xa0\x80 surrogate",  # an encoded UTF-16 surrogate
    b"\xc0\xaf overlong",  # an overlong encoding of "/"
]


@pytest.fixture(scope="module")
def preprocessor():
    return HubPreprocessor(TINY_PREPROCESSOR, seq_length=SEQ_LENGTH)


@pytest.fixture(scope="module")
def encoder():
    return HubEncoder(TINY_ENCODER)


@pytest.fixture(scope="module")
def classifier():
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=3, seq_length=SEQ_LENGTH)
    rng = np.random.default_rng(0)
    for weight in model.get_layer("probabilities").weights:  # rows must differ for the checks to mean something
        weight.assign(rng.normal(0, 3, weight.shape).astype("float32"))
    return model


def _numpy(outputs):
    return {key: np.asarray(value) for key, value in outputs.items()}


def _assert_well_packed(packed, preprocessor, num_segments=1):
    """[CLS] first, one [SEP] per segment ending each segment, 1s then 0s in the mask, padding after."""
    ids, mask, types = packed["input_word_ids"], packed["input_mask"], packed["input_type_ids"]
    assert ids.shape == mask.shape == types.shape and ids.shape[1] <= SEQ_LENGTH
    assert ((ids >= 0) & (ids < preprocessor.vocab_size)).all()
    for row_ids, row_mask, row_types in zip(ids, mask, types):
        length = int(row_mask.sum())
        assert num_segments + 1 <= length <= SEQ_LENGTH
        assert (row_mask[:length] == 1).all() and (row_mask[length:] == 0).all()
        assert row_ids[0] == preprocessor.cls_id and row_ids[length - 1] == preprocessor.sep_id
        assert (row_ids[:length] == preprocessor.sep_id).sum() == num_segments  # no [SEP] smuggled in by text
        assert (row_ids[length:] == preprocessor.pad_id).all() and (row_types[length:] == 0).all()
        assert (np.diff(row_types[:length]) >= 0).all() and set(row_types[:length]) <= set(range(num_segments))


def test_hostile_texts_pack_well_and_deterministically(preprocessor):
    first = _numpy(preprocessor(tf.constant(HOSTILE_TEXTS)))
    second = _numpy(preprocessor(tf.constant(HOSTILE_TEXTS)))
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert first["input_word_ids"].shape == (len(HOSTILE_TEXTS), SEQ_LENGTH)
    _assert_well_packed(first, preprocessor)
    lengths = first["input_mask"].sum(axis=1)
    assert list(lengths[:3]) == [2, 2, 2]  # empty and blank texts: [CLS] [SEP]
    assert lengths[3] == SEQ_LENGTH  # the overlong text is cut, not refused


def test_hostile_text_pairs_pack_well(preprocessor):
    packed = _numpy(preprocessor([tf.constant(HOSTILE_TEXTS), tf.constant(HOSTILE_TEXTS[::-1])]))
    _assert_well_packed(packed, preprocessor, num_segments=2)


def test_encoder_outputs_are_finite_and_deterministic(preprocessor, encoder):
    packed = preprocessor(tf.constant(HOSTILE_TEXTS))
    first, second = _numpy(encoder(packed)), _numpy(encoder(packed))
    for key in ("pooled_output", "sequence_output", "default"):
        assert np.isfinite(first[key]).all(), key
        np.testing.assert_array_equal(first[key], second[key])
    assert first["sequence_output"].shape[:2] == (len(HOSTILE_TEXTS), SEQ_LENGTH)


def test_classifier_gives_finite_probabilities_whatever_the_batch(classifier):
    texts = tf.constant(HOSTILE_TEXTS)
    batch = classifier.predict(texts, verbose=0)
    assert batch.shape == (len(HOSTILE_TEXTS), 3) and np.isfinite(batch).all()
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(batch, classifier.predict(texts, verbose=0))
    np.testing.assert_allclose(classifier.predict(texts[::-1], verbose=0)[::-1], batch, atol=1e-5)
    np.testing.assert_allclose(classifier.predict(texts[3:4], verbose=0), batch[3:4], atol=1e-5)
    assert len({tuple(row.round(4)) for row in batch}) > 1  # not one constant answer for everything


def test_invalid_utf8_is_read_as_replacement_characters(preprocessor, classifier):
    raw = tf.constant(INVALID_UTF8)
    replaced = tf.strings.unicode_transcode(raw, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)
    packed = _numpy(preprocessor(raw))
    np.testing.assert_array_equal(packed["input_word_ids"], preprocessor(replaced)["input_word_ids"])
    _assert_well_packed(packed, preprocessor)
    hello, world = (int(preprocessor.tokenize(tf.constant([word])).flat_values[0]) for word in ("hello", "world"))
    unk = int(preprocessor.tokenize(tf.constant(["\ufffd"])).flat_values[0])
    assert list(packed["input_word_ids"][3][:5]) == [preprocessor.cls_id, hello, unk, world, preprocessor.sep_id]
    probabilities = classifier.predict(raw, verbose=0)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities, classifier.predict(replaced, verbose=0), atol=1e-6)


def test_invalid_utf8_offsets_stay_inside_the_bytes(preprocessor):
    ids, starts, ends = (part.merge_dims(1, -1).to_list()
                         for part in preprocessor.module.tokenize_with_offsets(tf.constant(INVALID_UTF8)))
    for raw, row_ids, row_starts, row_ends in zip(INVALID_UTF8, ids, starts, ends):
        assert len(row_ids) == len(row_starts) == len(row_ends) >= 1
        assert all(0 <= start < end <= len(raw) for start, end in zip(row_starts, row_ends))


unicode_text = st.text(max_size=60)


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(unicode_text, min_size=1, max_size=4), texts_b=st.lists(unicode_text, min_size=4, max_size=4))
def test_random_unicode_packs_well(preprocessor, texts, texts_b):
    single = _numpy(preprocessor(tf.constant(texts)))
    _assert_well_packed(single, preprocessor)
    again = _numpy(preprocessor(tf.constant(texts)))
    np.testing.assert_array_equal(single["input_word_ids"], again["input_word_ids"])
    pieces = preprocessor.tokenize(tf.constant(texts)).merge_dims(1, -1).to_list()
    for row_ids, row_mask, row_pieces in zip(single["input_word_ids"], single["input_mask"], pieces):
        assert list(row_ids[1:row_mask.sum() - 1]) == row_pieces[:SEQ_LENGTH - 2]  # packing keeps the first pieces
    pairs = _numpy(preprocessor([tf.constant(texts), tf.constant(texts_b[:len(texts)])]))
    _assert_well_packed(pairs, preprocessor, num_segments=2)


@pytest.fixture(scope="module")
def question_answerer():
    model = SpanQuestionAnswerer(TINY_ENCODER, TINY_PREPROCESSOR, max_seq_length=24, doc_stride=8,
                                 max_query_length=6, max_answer_length=6)
    rng = np.random.default_rng(1)
    for weight in model.get_layer("span_logits").weights:  # spread the logits so answers land all over
        weight.assign(rng.normal(0, 3, weight.shape).astype("float32"))
    return model


@settings(max_examples=12, deadline=None)
@example(pairs=[("", "¼")])  # "¼" becomes "1⁄4": word pieces with empty character spans
@given(pairs=st.lists(st.tuples(st.text(max_size=15), st.text(max_size=120)), min_size=1, max_size=6))
def test_random_unicode_answers_are_exact_context_substrings(question_answerer, pairs):
    questions, contexts = [list(column) for column in zip(*pairs)]
    answers = question_answerer.predict_answers(questions, contexts)
    assert len(answers) == len(contexts)
    for answer, context in zip(answers, contexts):
        if answer["answer"]:
            assert 0 <= answer["start"] < answer["end"] <= len(context)
            assert answer["answer"] == context[answer["start"]:answer["end"]]
            assert np.isfinite(answer["score"])
        else:
            assert answer["start"] == answer["end"] == -1
