"""Token-classification features, in numpy: words' word pieces ⇄ ``[CLS] window [SEP]`` encoder rows.

A sentence whose word pieces do not fit in ``max_seq_length - 2`` becomes several windows, each
starting ``doc_stride`` pieces after the previous one (:mod:`tfhub_llm.tasks.windows`, as
question answering's contexts), so no word is lost. In training, each word's tag sits on its
first word piece in every window holding that piece; all other positions ([CLS], [SEP], later
pieces, padding) have weight 0, out of the loss and the metrics. In prediction, a word's tag is
read from the window that gives its first piece the most context (the BERT reference's rule).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.tasks.windows import max_context_window, window_spans


@dataclasses.dataclass
class TokenFeatures:
    """One row per window; ``[n, max_seq_length]`` arrays, plus where each word's prediction is read.

    ``labels`` holds tag ids (0 where unlabelled) and ``label_weights`` 1.0 on each word's first
    piece (0 elsewhere, and everywhere when the features were made without tags).
    ``word_rows[s][w]`` / ``word_positions[s][w]``: the row and position of word ``w`` of sentence
    ``s`` in its max-context window; -1 for a word without word pieces (it is tagged ``O``).
    """

    input_word_ids: np.ndarray
    input_mask: np.ndarray
    input_type_ids: np.ndarray
    labels: np.ndarray
    label_weights: np.ndarray
    word_rows: list[np.ndarray]
    word_positions: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.input_word_ids)

    def encoder_inputs(self) -> dict[str, np.ndarray]:
        """The three arrays a TF-Hub BERT encoder takes."""
        return {"input_word_ids": self.input_word_ids, "input_mask": self.input_mask,
                "input_type_ids": self.input_type_ids}

    def word_values(self, values: np.ndarray, sentence: int) -> np.ndarray:
        """``values[row, position]`` (``[n, max_seq_length, ...]``, e.g. probabilities) for each word of ``sentence``."""
        rows, positions = self.word_rows[sentence], self.word_positions[sentence]
        return values[np.maximum(rows, 0), np.maximum(positions, 0)]


def make_token_features(word_pieces: Sequence[Sequence[np.ndarray]], special_ids: tuple[int, int, int],
                        max_seq_length: int = 128, doc_stride: int = 64,
                        label_ids: Sequence[Sequence[int]] | None = None) -> TokenFeatures:
    """Windows over each sentence's word pieces, with tags on first pieces when ``label_ids`` is given.

    ``word_pieces[s][w]`` are the word piece ids of word ``w`` of sentence ``s``; ``special_ids`` is
    ``(cls_id, sep_id, pad_id)``; ``label_ids[s][w]`` the tag id of that word.
    """
    if max_seq_length < 3:
        raise InvalidArgumentError(f"max_seq_length must leave room for [CLS], a word piece and [SEP], got {max_seq_length}")
    if doc_stride < 1:
        raise InvalidArgumentError(f"doc_stride must be >= 1, got {doc_stride}")
    if label_ids is not None and len(label_ids) != len(word_pieces):
        raise InvalidArgumentError(f"{len(label_ids)} label sequences for {len(word_pieces)} sentences")
    cls_id, sep_id, pad_id = special_ids
    window_length = max_seq_length - 2
    rows, word_rows, word_positions = [], [], []
    for sentence, words in enumerate(word_pieces):
        lengths = np.array([len(pieces) for pieces in words], dtype=np.int64)
        pieces = np.concatenate([np.asarray(p, dtype=np.int32) for p in words] + [np.zeros(0, np.int32)])
        first_piece = np.cumsum(lengths) - lengths
        has_pieces = lengths > 0
        tags = None if label_ids is None else np.asarray(label_ids[sentence], dtype=np.int32)
        if tags is not None and len(tags) != len(words):
            raise InvalidArgumentError(f"sentence {sentence} has {len(words)} words but {len(tags)} labels")
        spans = window_spans(len(pieces), window_length, doc_stride)
        best_window = max_context_window(spans, len(pieces))
        word_window = best_window[np.minimum(first_piece, max(len(pieces) - 1, 0))] if len(pieces) else first_piece
        window_starts = np.array([start for start, _ in spans])
        word_rows.append(np.where(has_pieces, len(rows) + word_window, -1))
        word_positions.append(np.where(has_pieces, 1 + first_piece - window_starts[word_window], -1))
        for start, length in spans:
            in_window = has_pieces & (first_piece >= start) & (first_piece < start + length)
            rows.append(_window_row(pieces[start:start + length], 1 + first_piece[in_window] - start,
                                    None if tags is None else tags[in_window], max_seq_length, cls_id, sep_id, pad_id))
    columns = {key: np.stack([row[key] for row in rows]) for key in rows[0]} if rows else _no_rows(max_seq_length)
    return TokenFeatures(**columns, word_rows=word_rows, word_positions=word_positions)


def _window_row(window_pieces, label_positions, tags, max_seq_length, cls_id, sep_id, pad_id) -> dict:
    used = len(window_pieces) + 2
    word_ids = np.full(max_seq_length, pad_id, dtype=np.int32)
    word_ids[0], word_ids[1:used - 1], word_ids[used - 1] = cls_id, window_pieces, sep_id
    mask = np.zeros(max_seq_length, dtype=np.int32)
    mask[:used] = 1
    labels = np.zeros(max_seq_length, dtype=np.int32)
    weights = np.zeros(max_seq_length, dtype=np.float32)
    if tags is not None:
        labels[label_positions] = tags
        weights[label_positions] = 1.0
    return {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": np.zeros(max_seq_length, np.int32),
            "labels": labels, "label_weights": weights}


def _no_rows(max_seq_length):
    return {key: np.zeros((0, max_seq_length), dtype=np.float32 if key == "label_weights" else np.int32)
            for key in ("input_word_ids", "input_mask", "input_type_ids", "labels", "label_weights")}
