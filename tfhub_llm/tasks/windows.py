"""Windows over long token sequences, shared by question answering and token classification.

A sequence longer than a window becomes several windows, each starting ``doc_stride`` tokens after
the previous one (BERT's reference ``run_squad.py`` layout), so no token is lost; every token is
read from the window that gives it the most context: its distance to the nearer window edge plus
0.01 x the window's length, the first such window winning. The same rules twice: in numpy
(:func:`window_spans`, :func:`max_context_window`) for features, and in TensorFlow ops
(:func:`sliding_windows`) for the serving graphs, which run no Python.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def window_spans(num_tokens: int, window_length: int, doc_stride: int) -> list[tuple[int, int]]:
    """(first token, length) of each window over ``num_tokens`` tokens; an empty sequence gets one window."""
    spans, start = [], 0
    while True:
        length = min(num_tokens - start, window_length)
        spans.append((start, length))
        if start + length >= num_tokens:
            return spans
        start += min(length, doc_stride)


def max_context_window(spans: list[tuple[int, int]], num_tokens: int) -> np.ndarray:
    """For each token, the index of the window (of :func:`window_spans`) where it has the most context."""
    best_score = np.full(num_tokens, -np.inf)
    best_window = np.full(num_tokens, -1)
    for window, (start, length) in enumerate(spans):
        positions = np.arange(start, start + length)
        score = np.minimum(positions - start, start + length - 1 - positions) + 0.01 * length
        better = score > best_score[positions]
        best_score[positions[better]] = score[better]
        best_window[positions[better]] = window
    return best_window


def sliding_windows(row_starts: tf.Tensor, num_tokens: tf.Tensor, window_length: tf.Tensor,
                    doc_stride: int) -> tuple[tf.Tensor, tf.RaggedTensor, tf.RaggedTensor]:
    """The windows of :func:`window_spans` over each example's tokens, in TensorFlow ops (the serving graphs').

    ``row_starts`` / ``num_tokens`` ([examples]) locate each example's tokens in a flat token vector;
    ``window_length`` ([examples]) is how many fit in a window. Returns each window's example index,
    the ragged ``[windows, (tokens)]`` flat indices of its tokens, and whether the window gives each
    of them its most context.
    """
    step = tf.minimum(window_length, doc_stride)
    num_windows = 1 + tf.maximum(tf.constant(0, tf.int64), -((window_length - num_tokens) // step))  # 1 + ceil((n-W)/step)
    example = tf.repeat(tf.range(tf.size(num_tokens, out_type=tf.int64)), num_windows)
    window = tf.ragged.range(num_windows).flat_values
    window_start = window * tf.gather(step, example)
    window_tokens = tf.minimum(tf.gather(num_tokens, example) - window_start, tf.gather(window_length, example))
    first_token = tf.gather(row_starts, example) + window_start
    token_index = tf.ragged.range(first_token, first_token + window_tokens)
    is_max_context = _is_max_context(window, window_start, window_tokens, example, num_tokens, window_length, step)
    return example, token_index, is_max_context


def _is_max_context(window, window_start, window_tokens, example, num_tokens, window_length, step):
    """Ragged ``[rows, (window tokens)]``: whether each token has its most context in this window.

    A token's score in a window is its distance to the nearer window edge plus 0.01 x the window's
    length; the first window with the highest score wins (BERT's reference rule, as :func:`max_context_window`).
    """
    positions = tf.ragged.range(window_start, window_start + window_tokens)
    token_example = tf.gather(example, positions.value_rowids())
    max_windows = tf.maximum(tf.reduce_max(window) + 1, 0)  # 0 for an empty request
    candidates = tf.range(max_windows)[None, :]
    starts = candidates * tf.gather(step, token_example)[:, None]
    lengths = tf.minimum(tf.gather(num_tokens, token_example)[:, None] - starts,
                         tf.gather(window_length, token_example)[:, None])
    position = positions.values[:, None]
    inside = (position >= starts) & (position < starts + lengths)
    distance = tf.minimum(position - starts, starts + lengths - 1 - position)
    score = tf.where(inside, tf.cast(distance, tf.float64) + 0.01 * tf.cast(lengths, tf.float64), -float("inf"))
    best_score = tf.reduce_max(score, axis=1, keepdims=True)
    first_best = tf.reduce_min(tf.where(score == best_score, candidates, max_windows), axis=1)
    is_best = first_best == tf.gather(window, positions.value_rowids())
    return tf.RaggedTensor.from_row_splits(is_best, positions.row_splits)
