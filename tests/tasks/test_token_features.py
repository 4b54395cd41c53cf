"""Token features: tagged words → windows of word pieces, tags on each word's first piece."""

import numpy as np
import pytest

from tfhub_llm.tasks.token_features import make_token_features

SPECIAL_IDS = (101, 102, 0)


def test_short_sentences_take_one_window_with_tags_on_first_pieces():
    # two words: [7, 8] (a word of two pieces) and [9]
    features = make_token_features([[np.array([7, 8]), np.array([9])]], SPECIAL_IDS, max_seq_length=8,
                                   label_ids=[[2, 1]])
    assert features.input_word_ids.tolist() == [[101, 7, 8, 9, 102, 0, 0, 0]]
    assert features.input_mask.tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]
    assert features.labels.tolist() == [[0, 2, 0, 1, 0, 0, 0, 0]]
    assert features.label_weights.tolist() == [[0, 1, 0, 1, 0, 0, 0, 0]]
    assert features.word_rows[0].tolist() == [0, 0] and features.word_positions[0].tolist() == [1, 3]


def test_long_sentences_are_windowed_so_no_word_is_lost():
    words = [np.array([100 + i]) if i % 3 else np.array([100 + i, 500]) for i in range(30)]  # 40 pieces
    labels = [[i % 5 for i in range(30)]]
    features = make_token_features([words], SPECIAL_IDS, max_seq_length=12, doc_stride=4, label_ids=labels)
    assert len(features) > 1
    assert features.input_mask.sum(axis=1).max() == 12
    labelled = {(row, position) for row, position in zip(*np.nonzero(features.label_weights))}
    for word, (row, position) in enumerate(zip(features.word_rows[0], features.word_positions[0])):
        assert features.input_word_ids[row, position] == 100 + word  # its first piece, in the window it is read from
        assert (row, position) in labelled and features.labels[row, position] == labels[0][word]
    # each word is read from the window where it is farthest from an edge
    middle = features.word_rows[0][15]
    assert 3 <= features.word_positions[0][15] <= 8, middle


def test_words_without_pieces_are_marked_and_features_need_matching_labels():
    features = make_token_features([[np.array([5]), np.zeros(0, np.int32), np.array([6])]], SPECIAL_IDS,
                                   label_ids=[[1, 2, 3]])
    assert features.word_rows[0].tolist() == [0, -1, 0] and features.labels[0, :3].tolist() == [0, 1, 3]
    with pytest.raises(ValueError, match="sentence 0 has 1 words but 2 labels"):
        make_token_features([[np.array([5])]], SPECIAL_IDS, label_ids=[[1, 2]])
    with pytest.raises(ValueError, match="doc_stride"):
        make_token_features([[np.array([5])]], SPECIAL_IDS, doc_stride=0)
    empty = make_token_features([], SPECIAL_IDS, max_seq_length=8)
    assert len(empty) == 0 and empty.input_word_ids.shape == (0, 8)
