"""UTF-8 byte offsets (what the preprocessors' ``tokenize_with_offsets`` gives) as character offsets into the text.

In numpy for one text (:func:`characters_at_bytes`) and in TensorFlow ops for a batch (:func:`char_offsets`), so
answers and entities are ``text[start:end]`` in Python whichever path found them.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def characters_at_bytes(text: str, byte_starts: np.ndarray, byte_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 byte offsets into one ``text`` as character offsets (numpy arrays)."""
    char_byte_starts = np.cumsum([0] + [len(char.encode("utf-8")) for char in text])
    return (
        np.searchsorted(char_byte_starts, byte_starts, side="right") - 1,
        np.searchsorted(char_byte_starts, byte_ends, side="left"),
    )


def char_offsets(texts: tf.Tensor, byte_starts: tf.RaggedTensor,
                 byte_ends: tf.RaggedTensor) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """Ragged ``[batch, (tokens)]`` UTF-8 byte offsets into the string tensor ``texts`` as character offsets."""
    _, char_byte_offsets = tf.strings.unicode_decode_with_offsets(texts, "UTF-8")
    total_bytes = tf.cast(tf.strings.length(texts), tf.int64)[:, None]
    char_bytes = tf.concat([char_byte_offsets, total_bytes], axis=1).to_tensor(default_value=tf.int64.max)
    starts = tf.searchsorted(char_bytes, byte_starts.to_tensor(), side="right", out_type=tf.int64) - 1
    ends = tf.searchsorted(char_bytes, byte_ends.to_tensor(), side="left", out_type=tf.int64)
    lengths = byte_starts.row_lengths()
    return tf.RaggedTensor.from_tensor(starts, lengths), tf.RaggedTensor.from_tensor(ends, lengths)
