"""Length-sorted micro-batches: the one policy for cutting a batch so short inputs skip the longest's padding.

A batch of at least ``micro_batches * MIN_ROWS_PER_MICRO_BATCH`` rows is sorted by input length and
cut into ``micro_batches`` parts of (nearly) equal size (:func:`part_starts`); each part is then run
at its own longest length and the results are put back in the input order. ``HubEncoder`` applies it
with TF ops inside the graph; :func:`sorted_parts` is the same cut for runners that call a model per
part (``LiteRTModel``).
"""

import numpy as np

DEFAULT_MICRO_BATCHES = 4
MIN_ROWS_PER_MICRO_BATCH = 4


def is_cut(batch_size, micro_batches):
    """Whether a batch of ``batch_size`` rows is cut into ``micro_batches`` parts."""
    return micro_batches > 1 and batch_size >= micro_batches * MIN_ROWS_PER_MICRO_BATCH


def part_starts(batch_size, micro_batches):
    """Where each part starts in the length-sorted order, then the end: ``np.array_split``'s cut (the first
    ``batch_size % micro_batches`` parts one row longer), for ints and scalar tensors alike."""
    size, longer = batch_size // micro_batches, batch_size % micro_batches
    return [i * size + (i + longer - abs(i - longer)) // 2 for i in range(micro_batches + 1)]  # + min(i, longer)


def sorted_parts(lengths, micro_batches=DEFAULT_MICRO_BATCHES):
    """Row indices of each part: ``[indices]`` sorted by ``lengths`` (stable), or one part in input order."""
    lengths = np.asarray(lengths)
    if not is_cut(len(lengths), micro_batches):
        return [np.arange(len(lengths))]
    order = np.argsort(lengths, kind="stable")
    starts = part_starts(len(lengths), micro_batches)
    return [order[start:end] for start, end in zip(starts, starts[1:])]
