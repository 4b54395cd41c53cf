"""``TokenClassifier``: a tag per word (named entities and the like) over any TF-Hub BERT encoder.

The model maps the encoder's input dict to per-token tag probabilities over ``sequence_output``.
Words become word pieces through the preprocessor (:mod:`tfhub_llm.tasks.words`: ``tokenize`` for given
words, ``tokenize_with_offsets`` for raw text, whose own word splitting then defines the words); windows
over long sentences live in :mod:`tfhub_llm.tasks.token_features`, and tags become entities by
the rules of :mod:`tfhub_llm.tasks.entities`, so every entity's ``start`` / ``end`` are
character offsets with ``text[start:end]`` its text.
"""

from __future__ import annotations

import functools
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub_contract import ENCODER_INPUT_KEYS
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.readers.tag_schemes import OUTSIDE, checked_tag_scheme
from tfhub_llm.tasks.base import BertTask, encoder_layer, preprocessor_layer
from tfhub_llm.tasks.entities import entity_spans
from tfhub_llm.tasks.entity_serving import EntityServing
from tfhub_llm.tasks.token_features import TokenFeatures, make_token_features
from tfhub_llm.tasks.words import continuation_pieces, word_pieces, words_with_offsets
from tfhub_llm.training.options import TOKEN_CLASSIFIER_TRAINING


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

    def __init__(self, encoder: str | HubEncoder, preprocessor: str | HubPreprocessor, label_names: Sequence[str],
                 tag_scheme: str | None = None, max_seq_length: int = 128, doc_stride: int = 64, dropout: float = 0.1,
                 **kwargs):
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

    def compile(self, optimizer="auto", loss="auto", weighted_metrics="auto", **kwargs) -> None:
        """:meth:`BertTask.compile`; loss and accuracy are averaged over the weighted (first) pieces."""
        if weighted_metrics == "auto":
            weighted_metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer, loss, weighted_metrics=weighted_metrics, **kwargs)

    def default_loss(self) -> keras.losses.Loss:
        return keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight")

    def serving_module(self) -> EntityServing:
        """Its TF Serving signature: ``text`` in, its entities out (as :meth:`predict_entities` finds them)."""
        return EntityServing(self)

    def task_config(self) -> dict:
        return {"label_names": self.label_names, "tag_scheme": self.tag_scheme, "max_seq_length": self.max_seq_length,
                "doc_stride": self.doc_stride, "dropout": self.dropout}

    @functools.cached_property
    def continuation_pieces(self) -> np.ndarray:
        """Bool ``[vocab_size]``: which word pieces continue a word (see :func:`preprocessor_words`)."""
        return continuation_pieces(self.encoder, self.preprocessor)

    # --- features ---------------------------------------------------------------------------------

    def make_features(self, token_lists, tag_lists: Sequence[Sequence[str]] | None = None) -> TokenFeatures:
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

    def features_dataset(self, features: TokenFeatures, batch_size: int = 32, shuffle: bool = True,
                         seed: int | None = None) -> tf.data.Dataset:
        """A ``tf.data`` pipeline of ``(encoder inputs, tag ids, weights)``; weights are 1 on first pieces."""
        dataset = tf.data.Dataset.from_tensor_slices((features.encoder_inputs(), features.labels, features.label_weights))
        if shuffle:
            dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def fit_examples(self, sentences, batch_size: int = 32, epochs: int = 1, seed: int | None = None,
                     **fit_kwargs) -> keras.callbacks.History:
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

    def predict_tags(self, token_lists: Sequence[Sequence[str]], batch_size: int = 32) -> list[list[str]]:
        """The tag of every word of each sentence (lists of tokens); a word without word pieces gets ``O``."""
        token_lists = [list(tokens) for tokens in token_lists]
        features = self.make_features(token_lists)
        return [self._tags(probabilities, features, sentence)
                for sentence, probabilities in enumerate(self._word_probabilities(features, batch_size))]

    def predict_entities(self, texts: Sequence[str], batch_size: int = 32) -> list[list[dict]]:
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


