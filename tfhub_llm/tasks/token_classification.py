"""``TokenClassifier``: a tag per word (named entities and the like) over any TF-Hub BERT encoder.

The model maps the encoder's input dict to per-token tag probabilities over ``sequence_output``.
Words become word pieces through the preprocessor (``tokenize`` for given words,
``tokenize_with_offsets`` for raw text, whose own word splitting then defines the words); windows
over long sentences live in :mod:`tfhub_llm.tasks.token_features`, and tags become entities by
the rules of :mod:`tfhub_llm.tasks.entities`, so every entity's ``start`` / ``end`` are
character offsets with ``text[start:end]`` its text.
"""

import functools

import keras
import numpy as np
import tensorflow as tf

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub.assets import asset_file, read_asset_lines
from tfhub_llm.hub_contract import ENCODER_INPUT_KEYS
from tfhub_llm.tasks.base import BertTask, encoder_layer, preprocessor_layer
from tfhub_llm.tasks.entities import OUTSIDE, checked_tag_scheme, entity_spans
from tfhub_llm.tasks.question_answering import characters_at_bytes
from tfhub_llm.tasks.token_features import make_token_features
from tfhub_llm.training_options import TOKEN_CLASSIFIER_TRAINING


@keras.saving.register_keras_serializable(package="tfhub_llm")
class TokenClassifier(BertTask):
    """Word-level tagging (IOB1, IOB2 / BIO or IOBES entity tags) trained with ``fit``.

    Args:
        encoder: a :class:`HubEncoder` or an encoder handle (loaded trainable).
        preprocessor: a :class:`HubPreprocessor` or handle; raw-text prediction needs ``tokenize_with_offsets``.
        label_names: the tags, ``"O"`` among them (e.g. ``TaggedSentences.label_names()``).
        tag_scheme: ``"IOB1"``, ``"IOB2"`` or ``"IOBES"``; default: IOBES when a tag has an E- or S-
            prefix, else IOB2. Every label must fit it.
        max_seq_length, doc_stride: the windows over long sentences (pieces per window, pieces between starts).
        dropout: dropout rate before the output layer.

    The first word piece of each word carries the word's tag; the other pieces, [CLS], [SEP] and
    padding are out of the loss and the accuracy (weight 0).

    Example:
        >>> sentences = read_conll("train.txt")
        >>> model = TokenClassifier(ENCODER, PREPROCESSOR, sentences.label_names())
        >>> model.fit_examples(sentences, epochs=1)
        >>> model.predict_entities(["Angela Merkel visited Paris."])
        [[{'text': 'Angela Merkel', 'label': 'PER', 'start': 0, 'end': 13, 'score': ...}, ...]]
    """

    LEARNING_RATE = TOKEN_CLASSIFIER_TRAINING.learning_rate

    def __init__(self, encoder, preprocessor, label_names, tag_scheme=None, max_seq_length=128, doc_stride=64,
                 dropout=0.1, **kwargs):
        label_names = list(label_names)
        if OUTSIDE not in label_names or len(set(label_names)) != len(label_names):
            raise InvalidArgumentError(f"label_names must hold 'O' and no duplicates, got {label_names}")
        scheme = checked_tag_scheme(label_names, tag_scheme)
        encoder = encoder_layer(encoder)
        preprocessor = preprocessor_layer(preprocessor, max_seq_length)
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in ENCODER_INPUT_KEYS}
        sequence = encoder(inputs)["sequence_output"]
        outputs = keras.layers.Dense(len(label_names), activation="softmax", dtype="float32",
                                     name="tag_probabilities")(keras.layers.Dropout(dropout, name="head_dropout")(sequence))
        super().__init__(inputs, outputs, **kwargs)
        self.encoder = encoder
        self.preprocessor = preprocessor
        self.label_names = label_names
        self.tag_scheme = scheme
        self.max_seq_length = max_seq_length
        self.doc_stride = doc_stride
        self.dropout = dropout
        self.compile()

    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", **kwargs):
        """:meth:`BertTask.compile`; loss and accuracy are averaged over the weighted (first) pieces."""
        if weighted_metrics == "auto":
            weighted_metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer, loss, weighted_metrics=weighted_metrics, **kwargs)

    def default_loss(self):
        return keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight")

    def task_config(self):
        return {"label_names": self.label_names, "tag_scheme": self.tag_scheme, "max_seq_length": self.max_seq_length,
                "doc_stride": self.doc_stride, "dropout": self.dropout}

    @functools.cached_property
    def continuation_pieces(self):
        """Bool ``[vocab_size]``: which word pieces continue a word (see :func:`preprocessor_words`)."""
        return continuation_pieces(self.encoder, self.preprocessor)

    # --- features ---------------------------------------------------------------------------------

    def make_features(self, token_lists, tag_lists=None):
        """Windows over sentences of words (``TaggedSentences`` or lists of tokens, with ``tag_lists``)."""
        if tag_lists is None and hasattr(token_lists, "tags"):
            token_lists, tag_lists = token_lists.tokens, token_lists.tags
        label_ids = None
        if tag_lists is not None:
            index = {name: i for i, name in enumerate(self.label_names)}
            unknown = sorted({tag for tags in tag_lists for tag in tags} - set(index))
            if unknown:
                raise InvalidArgumentError(f"tags {unknown} are not among the model's labels {self.label_names}")
            label_ids = [[index[tag] for tag in tags] for tags in tag_lists]
        return self._features(word_pieces(self.preprocessor, token_lists), label_ids)

    def _features(self, pieces, label_ids=None):
        return make_token_features(pieces, self.preprocessor.special_ids, self.max_seq_length, self.doc_stride, label_ids)

    def features_dataset(self, features, batch_size=32, shuffle=True, seed=None):
        """A ``tf.data`` pipeline of ``(encoder inputs, tag ids, weights)``; weights are 1 on first pieces."""
        dataset = tf.data.Dataset.from_tensor_slices((features.encoder_inputs(), features.labels, features.label_weights))
        if shuffle:
            dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def fit_examples(self, sentences, batch_size=32, epochs=1, seed=None, **fit_kwargs):
        """Trains on ``TaggedSentences``: features, a shuffled dataset, then ``fit``."""
        dataset = self.features_dataset(self.make_features(sentences), batch_size, shuffle=True, seed=seed)
        return self.fit(dataset, epochs=epochs, shuffle=False, **fit_kwargs)  # the dataset shuffles itself

    # --- prediction -------------------------------------------------------------------------------

    def _word_probabilities(self, features, batch_size):
        """Per sentence, ``[words, labels]`` probabilities read at each word's max-context first piece."""
        probabilities = self.predict(features.encoder_inputs(), batch_size=batch_size, verbose=0) if len(features) else None
        return [features.word_values(probabilities, sentence) for sentence in range(len(features.word_rows))]

    def _tags(self, word_probabilities, features, sentence):
        tags = [self.label_names[index] for index in np.argmax(word_probabilities, axis=-1)] if len(word_probabilities) else []
        return [tag if row >= 0 else OUTSIDE for tag, row in zip(tags, features.word_rows[sentence])]

    def predict_tags(self, token_lists, batch_size=32):
        """The tag of every word of each sentence (lists of tokens); a word without word pieces gets ``O``."""
        token_lists = [list(tokens) for tokens in token_lists]
        features = self.make_features(token_lists)
        return [self._tags(probabilities, features, sentence)
                for sentence, probabilities in enumerate(self._word_probabilities(features, batch_size))]

    def predict_entities(self, texts, batch_size=32):
        """Per text, its entities: ``{"text", "label", "start", "end", "score"}`` with ``text == texts[i][start:end]``.

        Words are the preprocessor's own (``tokenize_with_offsets``); ``score`` is the mean, over the
        entity's words, of the probability of each word's predicted tag.
        """
        texts = [str(text) for text in texts]
        words = words_with_offsets(self.preprocessor, texts, self.continuation_pieces)
        features = self._features([pieces for pieces, _, _ in words])
        results = []
        for sentence, probabilities in enumerate(self._word_probabilities(features, batch_size)):
            text, (_, starts, ends) = texts[sentence], words[sentence]
            tags = self._tags(probabilities, features, sentence)
            scores = probabilities.max(axis=-1) if len(probabilities) else np.zeros(0)
            results.append([
                {"text": text[starts[first]:ends[end - 1]], "label": label, "start": int(starts[first]),
                 "end": int(ends[end - 1]), "score": float(scores[first:end].mean())}
                for label, first, end in entity_spans(tags)])
        return results


def word_pieces(preprocessor, token_lists):
    """``[sentence][word]`` word piece ids of given words (each token through the preprocessor's ``tokenize``)."""
    flat = [token for tokens in token_lists for token in tokens]
    pieces = preprocessor.token_ids(flat) if flat else None
    splits = pieces.row_splits.numpy() if flat else np.zeros(1, np.int64)
    values = pieces.flat_values.numpy() if flat else np.zeros(0, np.int32)
    per_word = [values[start:end] for start, end in zip(splits[:-1], splits[1:])]
    sentence_starts = np.cumsum([0] + [len(tokens) for tokens in token_lists])
    return [per_word[start:end] for start, end in zip(sentence_starts[:-1], sentence_starts[1:])]


def continuation_pieces(encoder, preprocessor):
    """Bool ``[vocab_size]``: which word pieces continue a word (``##`` tokens), from the model's vocabulary file."""
    vocab_file = asset_file([encoder.module, preprocessor.module], "vocab_file")
    if vocab_file is None:
        raise InvalidArgumentError(f"Neither the encoder {encoder.handle!r} nor the preprocessor {preprocessor.handle!r} has a "
                         "vocab_file, which tells the word pieces that continue a word from those that start one.")
    return np.array([token.startswith("##") for token in read_asset_lines(vocab_file)])


def preprocessor_words(preprocessor_module, texts, continuation):
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


def words_with_offsets(preprocessor, texts, continuation):
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
