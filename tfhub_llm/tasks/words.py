"""Words as the preprocessor splits them: their word pieces, and their character spans in raw text.

Given words are tokenized one by one (:func:`word_pieces`); raw text is split by the
preprocessor's own ``tokenize_with_offsets`` (:func:`preprocessor_words` in TensorFlow ops, used by
the entity serving graph too; :func:`words_with_offsets` in numpy). A ``##`` continuation piece
never starts a word (:func:`continuation_pieces`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import tensorflow as tf

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub.assets import asset_file, read_asset_lines
from tfhub_llm.tasks.offsets import characters_at_bytes

if TYPE_CHECKING:
    from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor


def word_pieces(preprocessor: HubPreprocessor, token_lists: Sequence[Sequence[str]]) -> list[list[np.ndarray]]:
    """``[sentence][word]`` word piece ids of given words (each token through the preprocessor's ``tokenize``)."""
    flat = [token for tokens in token_lists for token in tokens]
    pieces = preprocessor.token_ids(flat) if flat else None
    splits = pieces.row_splits.numpy() if flat else np.zeros(1, np.int64)
    values = pieces.flat_values.numpy() if flat else np.zeros(0, np.int32)
    per_word = [values[start:end] for start, end in zip(splits[:-1], splits[1:])]
    sentence_starts = np.cumsum([0] + [len(tokens) for tokens in token_lists])
    return [per_word[start:end] for start, end in zip(sentence_starts[:-1], sentence_starts[1:])]


def continuation_pieces(encoder: HubEncoder, preprocessor: HubPreprocessor) -> np.ndarray:
    """Bool ``[vocab_size]``: which word pieces continue a word (``##`` tokens), from the model's vocabulary file."""
    vocab_file = asset_file([encoder.module, preprocessor.module], "vocab_file")
    if vocab_file is None:
        raise InvalidArgumentError(f"Neither the encoder {encoder.handle!r} nor the preprocessor {preprocessor.handle!r} has a "
                         "vocab_file, which tells the word pieces that continue a word from those that start one.")
    return np.array([token.startswith("##") for token in read_asset_lines(vocab_file)])


def preprocessor_words(preprocessor_module, texts: tf.Tensor, continuation: tf.Tensor) -> dict[str, tf.Tensor]:
    """The words of ``texts`` as the preprocessor splits them, in TensorFlow ops (eager or in a graph).

    A word starts at the first piece of each row that ``tokenize_with_offsets`` returns, unless that
    piece is a ``##`` continuation (``continuation``: bool ``[vocab_size]``), so the words are the
    same whether the preprocessor returns ``[batch, words, pieces]`` (BertTokenizer) or one row per
    piece (FastBertTokenizer). Returns the flat pieces ``[batch, (pieces)]`` and, per word (flat over
    the batch, in order), its text, first and last piece (indices into the pieces' values) and UTF-8
    byte span in its text.
    """
    rows, byte_starts, byte_ends = preprocessor_module.tokenize_with_offsets(texts)
    pieces = tf.cast(rows.merge_dims(1, -1), tf.int32)
    byte_starts, byte_ends = (offsets.merge_dims(1, -1).values for offsets in (byte_starts, byte_ends))
    if isinstance(rows.values, tf.RaggedTensor):
        row_lengths = rows.values.row_lengths()
    else:  # [rows, k]: k pieces in every row
        shape = tf.shape(rows.values, out_type=tf.int64)
        row_lengths = tf.fill(shape[:1], shape[1])
    first_in_row = tf.ragged.range(row_lengths).values == 0
    first_in_text = tf.ragged.range(pieces.row_lengths()).values == 0
    starts_word = first_in_text | (first_in_row & ~tf.gather(continuation, pieces.values))
    first_piece = tf.where(starts_word)[:, 0]
    last_piece = tf.concat([first_piece, tf.size(pieces.values, out_type=tf.int64)[None]], axis=0)[1:] - 1
    return {"pieces": pieces, "text": tf.gather(pieces.value_rowids(), first_piece), "first_piece": first_piece,
            "last_piece": last_piece, "byte_start": tf.gather(byte_starts, first_piece),
            "byte_end": tf.gather(byte_ends, last_piece)}


def words_with_offsets(preprocessor: HubPreprocessor, texts: Sequence[str],
                       continuation: np.ndarray) -> list[tuple[list[np.ndarray], np.ndarray, np.ndarray]]:
    """Per text: (word piece ids per word, character start per word, character end per word), the preprocessor's words."""
    if not preprocessor.has_offsets:
        raise InvalidArgumentError(
            f"The preprocessor {preprocessor.handle!r} has no tokenize_with_offsets, which finding entities in raw "
            "text needs to map words back to the text; use one that has it (those of tfhub_llm.convert_hf_bert "
            "and savedmodels/ do), or tag given words with predict_tags.")
    if not texts:
        return []
    words = preprocessor_words(preprocessor.module, tf.constant(texts, tf.string), tf.constant(continuation))
    pieces = words.pop("pieces").values.numpy()
    words = {key: value.numpy() for key, value in words.items()}
    bounds = np.searchsorted(words["text"], np.arange(len(texts) + 1))
    results = []
    for index, text in enumerate(texts):
        mine = slice(bounds[index], bounds[index + 1])
        char_starts, char_ends = characters_at_bytes(text, words["byte_start"][mine], words["byte_end"][mine])
        word_pieces = [pieces[first:last + 1] for first, last in zip(words["first_piece"][mine], words["last_piece"][mine])]
        results.append((word_pieces, char_starts, char_ends))
    return results
