"""Text examples → batched ``tf.data`` datasets, for Keras' ``fit``, ``evaluate`` and ``predict``.

The one place the readers meet TensorFlow: :mod:`tfhub_llm.readers.text_examples` reads and checks
files without it, :func:`to_dataset` batches what it read.
"""

from __future__ import annotations

import tensorflow as tf

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.readers.text_examples import TextExamples


def to_dataset(examples: TextExamples, batch_size: int, shuffle: bool = True,
               seed: int | None = None) -> tf.data.Dataset:
    """Batches `examples` as `(x, y)`: x a string batch, or `{"text", "text_b"}` for pairs.

    Without labels the dataset yields x alone. Shuffling draws a new order each epoch, the
    sequence of orders fixed by `seed`.
    """
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
    x = examples.texts if examples.texts_b is None else {
        "text": examples.texts, "text_b": examples.texts_b}
    elements = x if examples.labels is None else (x, examples.labels)
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
