"""Extractive-QA features and postprocessing, in numpy: questions + contexts ⇄ encoder windows.

`make_qa_features` lays out `[CLS] question [SEP] context-window [SEP]` windows that slide over
long contexts with a stride, as BERT's reference `run_squad.py` does, and keeps for every token
its character span in the context. `postprocess_qa` turns start / end logits back into answers
that are always exact substrings `context[start:end]`, choosing the best span over all windows
of an example and, for SQuAD v2.0, the null answer when it wins by more than a threshold.

Tokenizers plug in through a protocol: `tokenize_with_offsets(texts) -> [(ids, char_starts,
char_ends), ...]` (flat word pieces per text, CHARACTER offsets into that text) and the
attributes `cls_id`, `sep_id`, `pad_id`.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence

import numpy as np

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.tasks.windows import max_context_window, window_spans


class OffsetTokenizer(Protocol):
    """What feature creation needs from a tokenizer."""

    cls_id: int
    sep_id: int
    pad_id: int

    def tokenize_with_offsets(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        ...


@dataclasses.dataclass
class QAFeatures:
    """One row per window; `[n, max_seq_length]` int32 arrays unless noted.

    `start_positions` / `end_positions` ([n]) index the answer's first / last token in the
    window, 0 ([CLS]) when the answer is not inside it or the question has none.
    `example_index` ([n]) names the example a window came from. `token_char_starts` /
    `token_char_ends` give each context token's character span in its context (-1 elsewhere).
    `token_is_max_context` (bool) marks the tokens for which this window is the one with the
    most surrounding context; only those may start an answer, as in the BERT reference.
    """

    input_word_ids: np.ndarray
    input_mask: np.ndarray
    input_type_ids: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray
    token_char_starts: np.ndarray
    token_char_ends: np.ndarray
    token_is_max_context: np.ndarray

    def __len__(self) -> int:
        return len(self.example_index)

    def encoder_inputs(self) -> dict[str, np.ndarray]:
        """The three arrays a TF-Hub BERT encoder takes."""
        return {"input_word_ids": self.input_word_ids, "input_mask": self.input_mask,
                "input_type_ids": self.input_type_ids}


def make_qa_features(examples: Sequence, tokenizer: OffsetTokenizer, max_seq_length: int = 384,
                     doc_stride: int = 128, max_query_length: int = 64) -> QAFeatures:
    """Windows over each example's context, with answer positions and token → character maps.

    `examples` are objects with `question`, `context`, `answers` ([(text, char_start), ...];
    the first one is the training target) and `is_impossible`, e.g. `tfhub_llm.readers.squad.SquadExample`.
    Questions longer than `max_query_length` tokens are cut; a context longer than fits
    becomes several windows, each starting `doc_stride` tokens after the previous one.
    """
    if not examples:
        raise InvalidArgumentError("make_qa_features needs at least one example")
    if doc_stride < 1:
        raise InvalidArgumentError(f"doc_stride must be >= 1, got {doc_stride}")
    if max_query_length < 1:
        raise InvalidArgumentError(f"max_query_length must be >= 1, got {max_query_length}")
    if max_seq_length < max_query_length + 4:
        raise InvalidArgumentError(f"max_seq_length={max_seq_length} leaves no room for context after a "
                         f"question of max_query_length={max_query_length} and 3 special tokens")
    questions = _tokenize_checked(tokenizer, [example.question for example in examples])
    unique_contexts = list(dict.fromkeys(example.context for example in examples))
    tokenized_contexts = dict(zip(unique_contexts, _tokenize_checked(tokenizer, unique_contexts)))

    rows = []
    for example_index, example in enumerate(examples):
        query_ids = questions[example_index][0][:max_query_length]
        doc_ids, doc_starts, doc_ends = tokenized_contexts[example.context]
        answer_tokens = _answer_token_span(example, doc_starts, doc_ends)
        spans = window_spans(len(doc_ids), max_seq_length - len(query_ids) - 3, doc_stride)
        best_window = max_context_window(spans, len(doc_ids))
        for window, (span_start, span_length) in enumerate(spans):
            rows.append(_window_row(
                tokenizer, max_seq_length, example_index, query_ids, doc_ids, doc_starts, doc_ends,
                span_start, span_length, best_window == window, answer_tokens))
    return QAFeatures(**{field.name: np.stack([row[field.name] for row in rows])
                         for field in dataclasses.fields(QAFeatures)})


def _tokenize_checked(tokenizer, texts: list[str]):
    """Tokenizes `texts`, checking the offsets are character spans inside each text."""
    results = tokenizer.tokenize_with_offsets(texts)
    if len(results) != len(texts):
        raise InvalidArgumentError(f"{type(tokenizer).__name__}.tokenize_with_offsets returned "
                         f"{len(results)} results for {len(texts)} texts")
    checked = []
    for text, (ids, starts, ends) in zip(texts, results):
        ids, starts, ends = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (ids, starts, ends))
        if not len(ids) == len(starts) == len(ends) or np.any(starts < 0) or np.any(
                ends > len(text)) or np.any(starts > ends):
            raise InvalidArgumentError(f"{type(tokenizer).__name__}.tokenize_with_offsets gave offsets that are "
                             f"not character spans of {text[:60]!r} ({len(text)} characters); "
                             "byte offsets must be converted to character offsets")
        checked.append((ids, starts, ends))
    return checked


def _answer_token_span(example, doc_starts, doc_ends) -> tuple[int, int] | None:
    """First and last context token overlapping the first answer, or None."""
    if example.is_impossible or not example.answers:
        return None
    text, char_start = example.answers[0]
    char_end = char_start + len(text)
    overlapping = np.flatnonzero((doc_starts < char_end) & (doc_ends > char_start))
    if len(overlapping) == 0:
        return None
    return int(overlapping[0]), int(overlapping[-1])


def _window_row(tokenizer, max_seq_length, example_index, query_ids, doc_ids, doc_starts, doc_ends,
                span_start, span_length, is_best_window, answer_tokens) -> dict:
    doc_offset = len(query_ids) + 2
    span = slice(span_start, span_start + span_length)
    context_slots = slice(doc_offset, doc_offset + span_length)
    used = doc_offset + span_length + 1

    word_ids = np.full(max_seq_length, tokenizer.pad_id, dtype=np.int32)
    word_ids[0] = tokenizer.cls_id
    word_ids[1:doc_offset - 1] = query_ids
    word_ids[doc_offset - 1] = tokenizer.sep_id
    word_ids[context_slots] = doc_ids[span]
    word_ids[used - 1] = tokenizer.sep_id
    mask = np.zeros(max_seq_length, dtype=np.int32)
    mask[:used] = 1
    type_ids = np.zeros(max_seq_length, dtype=np.int32)
    type_ids[doc_offset:used] = 1
    char_starts = np.full(max_seq_length, -1, dtype=np.int32)
    char_ends = np.full(max_seq_length, -1, dtype=np.int32)
    char_starts[context_slots] = doc_starts[span]
    char_ends[context_slots] = doc_ends[span]
    is_max_context = np.zeros(max_seq_length, dtype=bool)
    is_max_context[context_slots] = is_best_window[span]

    start_position = end_position = 0
    if answer_tokens is not None:
        first, last = answer_tokens
        if span_start <= first and last < span_start + span_length:
            start_position = doc_offset + first - span_start
            end_position = doc_offset + last - span_start
    return {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids,
            "start_positions": np.int32(start_position), "end_positions": np.int32(end_position),
            "example_index": np.int32(example_index), "token_char_starts": char_starts,
            "token_char_ends": char_ends, "token_is_max_context": is_max_context}


def postprocess_qa(features: QAFeatures, start_logits, end_logits, contexts: Sequence[str],
                   n_best_size: int = 20, max_answer_length: int = 30,
                   version_2_with_negative: bool = False,
                   null_score_diff_threshold: float = 0.0) -> list[dict]:
    """One `{"answer", "score", "start", "end"}` per context, best span over all its windows.

    `start` / `end` are character offsets with `answer == contexts[i][start:end]` always.
    Candidates are the `n_best_size` best start and end tokens of every window, kept when both
    are context tokens, start <= end, the span covers at least one character (a word piece
    that normalisation expands, like the "1" of "¼", may have an empty span), the span has at most `max_answer_length` tokens and its
    window gives the start token its most context. A span scores start logit + end logit.
    With `version_2_with_negative`, the null answer ("", start = end = -1) wins when the
    lowest [CLS] score over the windows exceeds the best span's score by more than
    `null_score_diff_threshold`; without it the null answer is returned only when no span is
    valid. `score` is the winner's softmax probability among the n-best spans (and the null
    answer for v2.0), as the reference reports it.
    """
    start_logits = np.asarray(start_logits, dtype=np.float64)
    end_logits = np.asarray(end_logits, dtype=np.float64)
    expected = features.input_word_ids.shape
    if start_logits.shape != expected or end_logits.shape != expected:
        raise InvalidArgumentError(f"start_logits {start_logits.shape} and end_logits {end_logits.shape} "
                         f"must both have the features' shape {expected}")
    if n_best_size < 1 or max_answer_length < 1:
        raise InvalidArgumentError(f"n_best_size ({n_best_size}) and max_answer_length ({max_answer_length}) must be >= 1")
    windows_of = [[] for _ in contexts]
    for window, example_index in enumerate(features.example_index):
        if example_index >= len(contexts):
            raise InvalidArgumentError(f"window {window} belongs to example {example_index} but only "
                             f"{len(contexts)} contexts were given")
        windows_of[example_index].append(window)

    answers = []
    for example_index, (context, windows) in enumerate(zip(contexts, windows_of)):
        if not windows:
            raise InvalidArgumentError(f"example {example_index} has no windows in the features")
        spans = []
        null_score = np.inf
        for window in windows:
            null_score = min(null_score, start_logits[window, 0] + end_logits[window, 0])
            spans.extend(_window_candidates(features, window, start_logits[window], end_logits[window],
                                            n_best_size, max_answer_length))
        answers.append(_choose_answer(context, spans, null_score, n_best_size,
                                      version_2_with_negative, null_score_diff_threshold))
    return answers


def _window_candidates(features, window, start_logits, end_logits, n_best_size, max_answer_length):
    """(score, char_start, char_end) of the valid spans among one window's n-best tokens."""
    starts = np.argsort(-start_logits, kind="stable")[:n_best_size][:, None]
    ends = np.argsort(-end_logits, kind="stable")[:n_best_size][None, :]
    char_starts = features.token_char_starts[window]
    char_ends = features.token_char_ends[window]
    valid = ((char_starts[starts] >= 0) & (char_ends[ends] > char_starts[starts]) & (ends >= starts)
             & (ends - starts + 1 <= max_answer_length)
             & features.token_is_max_context[window][starts])
    start_tokens, end_tokens = np.broadcast_arrays(starts, ends)
    start_tokens, end_tokens = start_tokens[valid], end_tokens[valid]
    scores = start_logits[start_tokens] + end_logits[end_tokens]
    return list(zip(scores.tolist(), char_starts[start_tokens].tolist(), char_ends[end_tokens].tolist()))


def _choose_answer(context, spans, null_score, n_best_size, version_2, threshold) -> dict:
    n_best, seen = [], set()
    for score, start, end in sorted(spans, key=lambda span: -span[0]):
        if (start, end) not in seen:
            seen.add((start, end))
            n_best.append((score, start, end))
            if len(n_best) == n_best_size:
                break
    null = (float(null_score), -1, -1)
    ranked = n_best + [null] if version_2 else n_best
    if not ranked:
        return {"answer": "", "score": 0.0, "start": -1, "end": -1}
    scores = np.array([score for score, _, _ in ranked])
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    if n_best and not (version_2 and null_score - n_best[0][0] > threshold):
        chosen = 0
    else:
        chosen = len(ranked) - 1
    _, start, end = ranked[chosen]
    answer = context[start:end] if start >= 0 else ""
    return {"answer": answer, "score": float(probabilities[chosen]), "start": start, "end": end}
