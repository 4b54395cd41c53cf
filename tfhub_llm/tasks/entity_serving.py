"""The raw-text serving signature of a ``TokenClassifier``: ``text`` in, padded entity tensors out.

Everything ``TokenClassifier.predict_entities`` does in Python happens in the graph, so TF Serving
runs no Python: the preprocessor's words (:func:`tfhub_llm.tasks.words.preprocessor_words`), windows over long texts
(:func:`tfhub_llm.tasks.windows.sliding_windows`, the layout of ``token_features``), each word's tag
read at its first word piece in its max-context window, and entities decoded with the chunking
rules of :mod:`tfhub_llm.tasks.entities` as lookup tables.
"""

import tensorflow as tf

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.readers.tag_schemes import tag_parts
from tfhub_llm.tasks.entities import chunk_boundary_tables
from tfhub_llm.tasks.offsets import char_offsets
from tfhub_llm.tasks.serving import TaskServing
from tfhub_llm.tasks.windows import sliding_windows
from tfhub_llm.tasks.words import preprocessor_words

NO_ENTITY = {"entity_text": "", "entity_label": "", "entity_start": -1, "entity_end": -1, "entity_score": 0.0}


class EntityServing(TaskServing):
    """``serving_default`` of a ``TokenClassifier``: the entities of each text.

    Outputs, ``[batch, max entities in the request]`` padded as ``NO_ENTITY``: ``entity_text``,
    ``entity_label`` (the entity type, e.g. ``PER``) strings, ``entity_start`` / ``entity_end`` int64
    character offsets with ``entity_text == text[start:end]``, ``entity_score`` float32; and
    ``num_entities`` int64 ``[batch]``. As ``model.predict_entities`` returns them.
    """

    def __init__(self, model):  # a TokenClassifier
        if not hasattr(model.preprocessor.module, "tokenize_with_offsets"):
            raise InvalidArgumentError(
                f"The preprocessor {model.preprocessor.handle!r} has no tokenize_with_offsets, which the entity "
                "serving signature needs to map words back to the text.")
        super().__init__(model, ("text",))
        special_ids = model.preprocessor.special_ids
        starts, ends = chunk_boundary_tables(model.label_names)
        entity_types = [tag_parts(name)[1] for name in model.label_names]
        window_length, doc_stride = model.max_seq_length - 2, model.doc_stride
        continuation = model.continuation_pieces

        def serve(texts):
            words = _words(self.preprocessor, texts, tf.constant(continuation))
            windows = _windows(words["pieces"], window_length, doc_stride, special_ids)
            probabilities = model(windows["encoder_inputs"], training=False)
            piece_probabilities = _at_max_context(probabilities, windows, tf.size(words["pieces"].values))
            word_probabilities = tf.gather(piece_probabilities, words["first_piece"])
            outside = tf.constant(len(entity_types), tf.int64)
            labels = tf.argmax(word_probabilities, axis=-1)
            return _entities(texts, words, labels, tf.reduce_max(word_probabilities, axis=-1),
                             tf.constant(starts), tf.constant(ends), tf.constant(entity_types), outside)

        self.serve = self._trace(serve)


def _words(preprocessor, texts, continuation):
    """The preprocessor's words (:func:`preprocessor_words`) with their character spans and the count per text."""
    words = preprocessor_words(preprocessor, texts, continuation)
    num_texts = tf.size(texts, out_type=tf.int64)
    by_text = {key: tf.RaggedTensor.from_value_rowids(words[key], words["text"], nrows=num_texts)
               for key in ("byte_start", "byte_end")}
    char_starts, char_ends = char_offsets(texts, by_text["byte_start"], by_text["byte_end"])
    return {**words, "char_start": char_starts.values, "char_end": char_ends.values,
            "words_per_text": by_text["byte_start"].row_lengths()}


def _windows(pieces, window_length, doc_stride, special_ids):
    """``[CLS] window [SEP]`` encoder rows over each text's pieces, and where each window's pieces came from."""
    cls_id, sep_id, pad_id = special_ids
    num_pieces = pieces.row_lengths()
    example, token_index, is_max_context = sliding_windows(
        pieces.row_starts(), num_pieces, tf.fill(tf.shape(num_pieces), tf.constant(window_length, tf.int64)),
        doc_stride)
    rows = tf.shape(example, out_type=tf.int64)[0]
    window_pieces = tf.RaggedTensor.from_row_splits(tf.gather(pieces.values, token_index.values),
                                                    token_index.row_splits)
    word_ids = tf.concat([tf.fill([rows, 1], cls_id), window_pieces, tf.fill([rows, 1], sep_id)], axis=1)
    return {
        "encoder_inputs": {
            "input_word_ids": word_ids.to_tensor(default_value=pad_id),
            "input_mask": tf.ones_like(word_ids).to_tensor(),
            "input_type_ids": tf.zeros_like(word_ids).to_tensor(),
        },
        "token_index": token_index,
        "is_max_context": is_max_context,
    }


def _at_max_context(probabilities, windows, num_pieces):
    """``[pieces, labels]``: each piece's probabilities in the window that gives it its most context."""
    token_index, best = windows["token_index"], windows["is_max_context"].values
    row = token_index.value_rowids()
    position = 1 + tf.ragged.range(token_index.row_lengths()).values  # after [CLS]
    picked = tf.gather_nd(probabilities, tf.boolean_mask(tf.stack([row, position], axis=1), best))
    piece = tf.boolean_mask(token_index.values, best)  # every piece exactly once
    shape = tf.stack([tf.cast(num_pieces, tf.int64), tf.shape(probabilities, out_type=tf.int64)[2]])
    return tf.scatter_nd(piece[:, None], picked, shape)


def _entities(texts, words, labels, scores, starts, ends, entity_types, outside):
    """Entities from word labels (``outside``, an int64 scalar, stands for before / after a text): chunk boundaries by table lookup, then padded."""
    position = tf.ragged.range(words["words_per_text"]).values
    is_first = position == 0
    is_last = position == tf.gather(words["words_per_text"], words["text"]) - 1
    sentinel = outside[None]
    previous = tf.where(is_first, outside, tf.concat([sentinel, labels[:-1]], axis=0))
    following = tf.where(is_last, outside, tf.concat([labels[1:], sentinel], axis=0))
    first_word = tf.where(tf.gather_nd(starts, tf.stack([previous, labels], axis=1)))[:, 0]
    last_word = tf.where(tf.gather_nd(ends, tf.stack([labels, following], axis=1)))[:, 0]  # the k-th start's end

    text_index = tf.gather(words["text"], first_word)
    start = tf.gather(words["char_start"], first_word)
    end = tf.gather(words["char_end"], last_word)
    cumulative = tf.concat([tf.zeros([1], tf.float64), tf.cumsum(tf.cast(scores, tf.float64))], axis=0)
    mean_score = (tf.gather(cumulative, last_word + 1) - tf.gather(cumulative, first_word)) / tf.cast(
        last_word - first_word + 1, tf.float64)
    values = {
        "entity_text": tf.strings.substr(tf.gather(texts, text_index), start, end - start, unit="UTF8_CHAR"),
        "entity_label": tf.gather(entity_types, tf.gather(labels, first_word)),
        "entity_start": start,
        "entity_end": end,
        "entity_score": tf.cast(mean_score, tf.float32),
    }
    num_texts = tf.size(texts, out_type=tf.int64)
    per_text = {name: tf.RaggedTensor.from_value_rowids(value, text_index, nrows=num_texts)
                for name, value in values.items()}
    outputs = {name: ragged.to_tensor(default_value=NO_ENTITY[name]) for name, ragged in per_text.items()}
    outputs["num_entities"] = per_text["entity_start"].row_lengths()
    return outputs
