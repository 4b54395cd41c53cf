"""The one micro-batch policy: which batches are cut, and into which length-sorted parts."""

import numpy as np

from tfhub_llm.layers.micro_batches import is_cut, sorted_parts


def test_small_batches_and_one_micro_batch_stay_whole_in_input_order():
    assert not is_cut(15, 4) and is_cut(16, 4) and not is_cut(1000, 1)
    for lengths, micro_batches in (([5, 1, 3], 4), (list(range(40, 0, -1)), 1), ([], 4)):
        parts = sorted_parts(lengths, micro_batches)
        assert len(parts) == 1 and parts[0].tolist() == list(range(len(lengths)))


def test_a_cut_batch_is_every_row_once_sorted_by_length_in_near_equal_parts():
    lengths = np.random.default_rng(0).integers(1, 60, size=18)
    parts = sorted_parts(lengths, 4)
    assert [len(part) for part in parts] == [5, 5, 4, 4]
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(18))
    assert np.all(np.diff(lengths[joined]) >= 0)  # each part holds shorter rows than the next
