"""QA feature creation (windows, answer positions, offsets) and postprocessing to exact substrings."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfhub_llm.readers.squad import SquadExample, read_squad
from tfhub_llm.tasks.qa_features import make_qa_features, postprocess_qa
from tfhub_llm.tasks.squad import squad_evaluate

from tests.harness import DATA

SQUAD_V2 = str(DATA / "squad" / "train-v2.0-first10articles.json")
_WORD_OR_MARK = re.compile(r"\w+|[^\w\s]")


class PieceTokenizer:
    """Lower-cased words and punctuation marks, each word cut into pieces of at most 3 characters."""

    pad_id, unk_id, cls_id, sep_id = 0, 1, 2, 3

    def __init__(self):
        self.vocab = {}

    def pieces(self, text):
        for match in _WORD_OR_MARK.finditer(text):
            for offset in range(match.start(), match.end(), 3):
                yield offset, min(offset + 3, match.end())

    def piece_id(self, piece):
        return self.vocab.setdefault(piece.lower(), 4 + len(self.vocab))

    def tokenize_with_offsets(self, texts):
        results = []
        for text in texts:
            spans = list(self.pieces(text))
            ids = np.array([self.piece_id(text[s:e]) for s, e in spans], dtype=np.int32)
            starts = np.array([s for s, _ in spans], dtype=np.int64)
            ends = np.array([e for _, e in spans], dtype=np.int64)
            results.append((ids, starts, ends))
        return results


class ByteOffsetTokenizer(PieceTokenizer):
    """Reports UTF-8 byte offsets, the mistake the offset check must catch."""

    def tokenize_with_offsets(self, texts):
        results = []
        for text, (ids, _, _) in zip(texts, super().tokenize_with_offsets(texts)):
            spans = list(self.pieces(text))
            starts = np.array([len(text[:s].encode()) for s, _ in spans])
            ends = np.array([len(text[:e].encode()) for _, e in spans])
            results.append((ids, starts, ends))
        return results


def example(context, answer=None, question="what is it?", qas_id="q"):
    answers = [] if answer is None else [(answer, context.index(answer))]
    return SquadExample(qas_id=qas_id, question=question, context=context, answers=answers,
                        is_impossible=answer is None)


def oracle_logits(features, peak=10.0):
    """Logits peaking at each window's labelled start / end token."""
    start = np.zeros(features.input_word_ids.shape)
    end = np.zeros(features.input_word_ids.shape)
    rows = np.arange(len(features))
    start[rows, features.start_positions] = peak
    end[rows, features.end_positions] = peak
    return start, end


def test_window_layout_and_offsets():
    tokenizer = PieceTokenizer()
    context = "The Eiffel Tower stands in Paris."
    features = make_qa_features([example(context, "Paris", question="Where?")], tokenizer,
                                max_seq_length=32, max_query_length=8)
    assert len(features) == 1
    ids = features.input_word_ids[0]
    question_ids = tokenizer.tokenize_with_offsets(["Where?"])[0][0]
    context_ids = tokenizer.tokenize_with_offsets([context])[0][0]
    n_q, n_c = len(question_ids), len(context_ids)
    assert ids[0] == tokenizer.cls_id and ids[n_q + 1] == tokenizer.sep_id
    np.testing.assert_array_equal(ids[1:n_q + 1], question_ids)
    np.testing.assert_array_equal(ids[n_q + 2:n_q + 2 + n_c], context_ids)
    assert ids[n_q + 2 + n_c] == tokenizer.sep_id
    used = n_q + n_c + 3
    assert features.input_mask[0].tolist() == [1] * used + [0] * (32 - used)
    assert features.input_type_ids[0].tolist() == [0] * (n_q + 2) + [1] * (n_c + 1) + [0] * (32 - used)
    assert (ids[used:] == tokenizer.pad_id).all()
    starts, ends = features.token_char_starts[0], features.token_char_ends[0]
    assert (starts[:n_q + 2] == -1).all() and (starts[n_q + 2 + n_c:] == -1).all()
    pieces = [context[s:e] for s, e in zip(starts[n_q + 2:n_q + 2 + n_c], ends[n_q + 2:n_q + 2 + n_c])]
    assert pieces == [context[s:e] for s, e in tokenizer.pieces(context)]
    answer = context[starts[features.start_positions[0]]:ends[features.end_positions[0]]]
    assert answer == "Paris"
    assert features.encoder_inputs()["input_word_ids"] is features.input_word_ids


def test_sliding_windows_follow_the_stride_and_share_max_context():
    # Ten one-piece context tokens after a one-piece question.
    context = "a0 b1 c2 d3 e4 f5 g6 h7 i8 j9"
    features = make_qa_features([example(context, "g6")], PieceTokenizer(), max_seq_length=8,
                                doc_stride=3, max_query_length=1)
    # Windows of 8 - 1 - 3 = 4 tokens starting at tokens 0, 3, 6 (hand-computed).
    first_tokens = [context[s:e] for s, e in zip(features.token_char_starts[:, 3], features.token_char_ends[:, 3])]
    assert first_tokens == ["a0", "d3", "g6"]
    assert features.example_index.tolist() == [0, 0, 0]
    # "g6" is token 6: outside window 0, at slot 3 + 3 in window 1, at slot 3 in window 2.
    assert features.start_positions.tolist() == [0, 6, 3]
    assert features.end_positions.tolist() == [0, 6, 3]
    # Every context token is the max-context token of exactly one window.
    counts = {}
    for window in range(len(features)):
        for slot in np.flatnonzero(features.token_is_max_context[window]):
            key = int(features.token_char_starts[window, slot])
            counts[key] = counts.get(key, 0) + 1
    assert sorted(counts) == [m.start() for m in re.finditer(r"\S+", context)]
    assert set(counts.values()) == {1}


def test_a_stride_longer_than_the_window_still_covers_every_token():
    context = "a0 b1 c2 d3 e4 f5 g6 h7 i8 j9"
    features = make_qa_features([example(context, "e4")], PieceTokenizer(), max_seq_length=8,
                                doc_stride=10, max_query_length=1)
    # Windows of 4 tokens advance by 4, not 10: tokens 0-3, 4-7, 8-9.
    first_tokens = [context[s:e] for s, e in zip(features.token_char_starts[:, 3], features.token_char_ends[:, 3])]
    assert first_tokens == ["a0", "e4", "i8"]
    assert features.input_mask.sum(axis=1).tolist() == [8, 8, 6]


def test_answer_split_across_windows_is_labelled_cls():
    context = "a0 b1 c2 d3 e4 f5 g6 h7 i8 j9"
    features = make_qa_features([example(context, "c2 d3 e4 f5")], PieceTokenizer(), max_seq_length=8,
                                doc_stride=3, max_query_length=1)
    # The answer spans tokens 2-5; the windows hold tokens 0-3, 3-6 and 6-9.
    assert features.start_positions.tolist() == [0, 0, 0]


def test_unanswerable_and_unlabelled_examples_point_at_cls():
    unlabelled = SquadExample("u", "why?", "Some context here.", [], is_impossible=False)
    features = make_qa_features([example("No answer in here."), unlabelled], PieceTokenizer(),
                                max_seq_length=24, max_query_length=4)
    assert features.start_positions.tolist() == [0, 0] and features.end_positions.tolist() == [0, 0]


def test_long_question_is_cut_to_max_query_length():
    tokenizer = PieceTokenizer()
    question = "one two six ten red big old new"
    features = make_qa_features([example("It is red.", "red", question=question)], tokenizer,
                                max_seq_length=16, max_query_length=3)
    assert features.input_word_ids[0, 4] == tokenizer.sep_id
    np.testing.assert_array_equal(features.input_word_ids[0, 1:4],
                                  tokenizer.tokenize_with_offsets([question])[0][0][:3])


def test_settings_that_leave_no_room_for_context_are_refused():
    with pytest.raises(ValueError, match="max_seq_length=10"):
        make_qa_features([example("x y", "x")], PieceTokenizer(), max_seq_length=10, max_query_length=8)
    with pytest.raises(ValueError, match="doc_stride"):
        make_qa_features([example("x y", "x")], PieceTokenizer(), doc_stride=0)
    with pytest.raises(ValueError, match="at least one example"):
        make_qa_features([], PieceTokenizer())


def test_byte_offsets_are_caught():
    with pytest.raises(ValueError, match="byte offsets must be converted"):
        make_qa_features([example("Ça coûte 5 €.", "5")], ByteOffsetTokenizer())


def test_oracle_logits_recover_gold_answers_across_windows_on_squad():
    examples = read_squad(SQUAD_V2)
    examples = examples[:200] + [e for e in examples if e.is_impossible][:100]
    tokenizer = PieceTokenizer()
    features = make_qa_features(examples, tokenizer, max_seq_length=96, doc_stride=32, max_query_length=24)
    assert len(features) > 2 * len(examples)  # most contexts need several windows here
    start, end = oracle_logits(features)
    answers = postprocess_qa(features, start, end, [e.context for e in examples], max_answer_length=64,
                             version_2_with_negative=True)
    for ex, answer in zip(examples, answers):
        assert answer["answer"] == ex.context[answer["start"]:answer["end"]]
        if ex.is_impossible:
            assert (answer["answer"], answer["start"], answer["end"]) == ("", -1, -1)
        else:
            gold, gold_start = ex.answers[0]
            # The span covers the gold answer and adds at most the rest of its boundary tokens.
            assert answer["start"] <= gold_start and answer["end"] >= gold_start + len(gold)
            assert len(answer["answer"]) - len(gold) <= 4
    dataset = {"version": "v2.0", "data": [{"paragraphs": [{"context": e.context, "qas": [
        {"id": e.qas_id, "answers": [{"text": t, "answer_start": s} for t, s in e.answers]}]}
        for e in examples]}]}
    metrics = squad_evaluate(dataset, {e.qas_id: a["answer"] for e, a in zip(examples, answers)})
    assert metrics["NoAns_exact"] == 100.0 and metrics["HasAns_f1"] > 95.0


def three_window_features():
    context = "a0 b1 c2 d3 e4 f5 g6 h7 i8 j9"
    return context, make_qa_features([example(context, "b1")], PieceTokenizer(), max_seq_length=8,
                                     doc_stride=3, max_query_length=1)


def test_best_span_over_all_windows_wins():
    context, features = three_window_features()
    start, end = np.zeros((2, 3, 8))
    start[2, 4], end[2, 5] = 5.0, 5.0  # window 2, tokens 7-8: "h7 i8"
    start[0, 3], end[0, 3] = 4.0, 4.0  # window 0, token 0: "a0"
    [answer] = postprocess_qa(features, start, end, [context])
    assert answer["answer"] == "h7 i8" == context[answer["start"]:answer["end"]]


def test_spans_longer_than_max_answer_length_are_skipped():
    context, features = three_window_features()
    start, end = np.zeros((2, 3, 8))
    start[0, 3], end[0, 6] = 9.0, 9.0   # window 0 slots 3..6 hold "a0 b1 c2 d3"
    end[0, 4] = 1.0
    answers = [postprocess_qa(features, start, end, [context], max_answer_length=n)[0]["answer"]
               for n in (2, 4)]
    assert answers == ["a0 b1", "a0 b1 c2 d3"]


def test_spans_ending_before_they_start_are_skipped():
    context, features = three_window_features()
    start, end = np.zeros((2, 3, 8))
    start[0, 6], end[0, 3] = 9.0, 9.0   # start "d3", end "a0"
    end[0, 6] = 1.0
    [answer] = postprocess_qa(features, start, end, [context])
    assert answer["answer"] == "d3"


def test_start_tokens_are_taken_only_where_they_have_max_context():
    context, features = three_window_features()
    start, end = np.zeros((2, 3, 8))
    # Token 3 ("d3") has equal context in window 0 (slot 6) and window 1 (slot 3); the first
    # window keeps it, so a high score at window 1 slot 3 may not start an answer.
    start[1, 3], end[1, 3] = 9.0, 9.0
    start[0, 4], end[0, 4] = 1.0, 1.0
    assert not features.token_is_max_context[1, 3] and features.token_is_max_context[0, 6]
    [answer] = postprocess_qa(features, start, end, [context])
    assert answer["answer"] == "b1"


def test_null_answer_follows_the_threshold():
    context, features = three_window_features()
    start, end = np.zeros((2, 3, 8))
    start[:, 0] = end[:, 0] = 3.0                 # null score 6 in every window
    start[0, 4], end[0, 4] = 2.5, 2.5             # best span "b1" scores 5
    null, span = (postprocess_qa(features, start, end, [context], version_2_with_negative=True,
                                 null_score_diff_threshold=threshold)[0] for threshold in (0.5, 1.5))
    assert (null["answer"], null["start"], null["end"]) == ("", -1, -1)
    assert span["answer"] == "b1"
    at_threshold = postprocess_qa(features, start, end, [context], version_2_with_negative=True,
                                  null_score_diff_threshold=1.0)[0]
    assert at_threshold["answer"] == "b1"  # the null answer must win by more than the threshold
    assert 0.0 < span["score"] < null["score"] < 1.0  # both are n-best probabilities; null is likelier
    plain = postprocess_qa(features, start, end, [context])[0]
    assert plain["answer"] == "b1"


def test_null_score_is_the_lowest_over_windows():
    context, features = three_window_features()
    start, end = np.zeros((2, 3, 8))
    start[:, 0] = end[:, 0] = 9.0
    start[1, 0] = end[1, 0] = 1.0                 # lowest null score: 2
    start[0, 4] = end[0, 4] = 2.0                 # span "b1": 4 beats 2
    [answer] = postprocess_qa(features, start, end, [context], version_2_with_negative=True)
    assert answer["answer"] == "b1"
    start[0, 4] = end[0, 4] = 0.5                 # span "b1": 1 loses to 2
    [answer] = postprocess_qa(features, start, end, [context], version_2_with_negative=True)
    assert answer["answer"] == ""


def test_logits_of_the_wrong_shape_are_refused():
    context, features = three_window_features()
    with pytest.raises(ValueError, match="must both have the features' shape"):
        postprocess_qa(features, np.zeros((3, 7)), np.zeros((3, 7)), [context])
    with pytest.raises(ValueError, match="only 0 contexts"):
        postprocess_qa(features, np.zeros((3, 8)), np.zeros((3, 8)), [])


unicode_text = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"]), max_size=120)


@settings(max_examples=60, deadline=None)
@given(context=unicode_text, question=unicode_text.filter(str.strip),
       max_seq_length=st.integers(8, 40), doc_stride=st.integers(1, 12),
       version_2=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_answers_are_always_exact_substrings(context, question, max_seq_length, doc_stride, version_2, seed):
    features = make_qa_features([SquadExample("q", question, context, [])], PieceTokenizer(),
                                max_seq_length=max_seq_length, doc_stride=doc_stride, max_query_length=4)
    rng = np.random.default_rng(seed)
    start, end = rng.normal(size=(2,) + features.input_word_ids.shape)
    [answer] = postprocess_qa(features, start, end, [context], n_best_size=5, max_answer_length=8,
                              version_2_with_negative=version_2)
    assert answer["answer"] == context[answer["start"]:answer["end"]]
    assert answer["start"] <= answer["end"]
    if answer["answer"]:
        assert 0 <= answer["start"] < answer["end"] <= len(context)
    else:
        assert answer["start"] == answer["end"] == -1


@settings(max_examples=80, deadline=None)
@given(context=unicode_text.filter(bool), data=st.data(), max_seq_length=st.integers(10, 40),
       doc_stride=st.integers(1, 12))
def test_labelled_positions_cover_exactly_the_tokens_of_the_answer(context, data, max_seq_length, doc_stride):
    answer_start = data.draw(st.integers(0, len(context) - 1))
    answer_end = data.draw(st.integers(answer_start + 1, len(context)))
    answer = context[answer_start:answer_end]
    features = make_qa_features([SquadExample("q", "which?", context, [(answer, answer_start)])],
                                PieceTokenizer(), max_seq_length=max_seq_length, doc_stride=doc_stride,
                                max_query_length=2)
    pieces = list(PieceTokenizer().pieces(context))
    answer_pieces = [(s, e) for s, e in pieces if s < answer_end and e > answer_start]
    labelled = np.flatnonzero(features.start_positions)
    for window in labelled:
        span_start = features.token_char_starts[window, features.start_positions[window]]
        span_end = features.token_char_ends[window, features.end_positions[window]]
        assert [(s, e) for s, e in pieces if s >= span_start and e <= span_end] == answer_pieces
    if not answer_pieces:
        assert len(labelled) == 0
