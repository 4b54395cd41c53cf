"""``TextEmbedder``: raw strings → one vector per string (sentence embeddings) over any TF-Hub BERT encoder.

The pooling is kept in pure functions (:func:`mean_pool`, :func:`pool_embeddings`) so that other
graphs built from the same encoder outputs (serving, on-device exports) compute the same vectors.
With the embedded all-MiniLM-L6-v2, ``pooling="mean"``, ``normalize=True`` and the default
``seq_length`` of 256, the vectors are sentence-transformers' ``all-MiniLM-L6-v2`` embeddings.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub_contract import EMBEDDING_INPUT, EMBEDDING_OUTPUT
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.tasks.base import BertTask, encoder_layer, preprocessor_layer
from tfhub_llm.tasks.serving import PackedServing, PackedSignature

POOLINGS = ("mean", "cls", "pooled")
# sentence-transformers cuts all-MiniLM-L6-v2 (and its other BERT models) at 256 word pieces,
# [CLS] and [SEP] included, instead of TF Hub preprocessors' usual 128.
DEFAULT_EMBEDDING_SEQ_LENGTH = 256


def mean_pool(sequence_output, input_mask):
    """Mean of ``sequence_output`` ``[batch, seq, width]`` over the positions where ``input_mask`` is 1.

    A row without any unmasked position gives zeros (the count is clamped at 1e-9, as
    sentence-transformers does).
    """
    sequence_output = ops.cast(sequence_output, "float32")
    mask = ops.expand_dims(ops.cast(input_mask, "float32"), -1)
    return ops.sum(sequence_output * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1e-9)


def pool_embeddings(encoder_outputs, input_mask, pooling="mean"):
    """One float32 vector per input from the encoder's outputs: ``"mean"``, ``"cls"`` or ``"pooled"``.

    ``"mean"`` averages ``sequence_output`` over the unmasked positions, ``"cls"`` takes its first
    position ([CLS]), ``"pooled"`` is BERT's ``pooled_output`` (the [CLS] vector through its pooler).
    """
    if pooling == "mean":
        return mean_pool(encoder_outputs["sequence_output"], input_mask)
    if pooling == "cls":
        return ops.cast(encoder_outputs["sequence_output"][:, 0], "float32")
    if pooling == "pooled":
        return ops.cast(encoder_outputs["pooled_output"], "float32")
    raise InvalidArgumentError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")


def l2_normalize(vectors):
    """``vectors`` scaled to unit L2 norm along the last axis (zero vectors stay zero)."""
    return ops.normalize(vectors, axis=-1, order=2)


@keras.saving.register_keras_serializable(package="tfhub_llm")
class EmbeddingPooling(keras.layers.Layer):
    """Keras layer over :func:`pool_embeddings` (then :func:`l2_normalize` when ``normalize``)."""

    def __init__(self, pooling="mean", normalize=True, **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise InvalidArgumentError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
        self.pooling = pooling
        self.normalize = normalize

    def call(self, encoder_outputs, input_mask):
        vectors = pool_embeddings(encoder_outputs, input_mask, self.pooling)
        return l2_normalize(vectors) if self.normalize else vectors

    def compute_output_spec(self, encoder_outputs, input_mask):
        width = encoder_outputs["pooled_output"].shape[-1]
        return keras.KerasTensor((input_mask.shape[0], width), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="tfhub_llm")
class TextEmbedder(BertTask):
    """A sentence embedder: a batch of strings → float32 ``[batch, width]``, trained with ``fit``.

    Args:
        encoder: a :class:`HubEncoder` or an encoder handle (loaded trainable, for fine-tuning).
        preprocessor: a :class:`HubPreprocessor` (used as it is) or a preprocessor handle.
        pooling: ``"mean"`` (over the unmasked positions), ``"cls"`` or ``"pooled"``; see :func:`pool_embeddings`.
        normalize: scale every vector to unit length (cosine similarity is then a dot product).
        seq_length: when ``preprocessor`` is a handle, the most word pieces per text, [CLS] and [SEP]
            included (default 256, sentence-transformers' cut); each batch is padded only to its longest text.

    Fine-tune it on sentence pairs through :class:`tfhub_llm.training.embedding_pairs.EmbeddingPairModel`
    (or :func:`tfhub_llm.finetune_embedder`), or ``compile`` and ``fit`` it directly on target vectors.

    Example:
        >>> embedder = TextEmbedder(ENCODER, PREPROCESSOR)
        >>> vectors = embedder.embed(["A man is playing a flute.", "Someone plays music."])
        >>> float(vectors[0] @ vectors[1])  # cosine similarity
    """

    def __init__(self, encoder: str | HubEncoder, preprocessor: str | HubPreprocessor, pooling: str = "mean",
                 normalize: bool = True, seq_length: int | None = None, **kwargs):
        encoder = encoder_layer(encoder)
        preprocessor = preprocessor_layer(preprocessor, seq_length or DEFAULT_EMBEDDING_SEQ_LENGTH)
        text = keras.Input(shape=(), dtype="string", name="text")
        packed = preprocessor(text)
        embedding = EmbeddingPooling(pooling, normalize, name="embedding")(encoder(packed), packed["input_mask"])
        super().__init__(text, embedding, **kwargs)
        self.encoder = encoder
        self.preprocessor = preprocessor
        self.pooling = pooling
        self.normalize = normalize
        self.seq_length = seq_length

    def embeddings(self, encoder_inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """The embeddings from packed encoder inputs (the model after its preprocessor), for inference.

        Serving signatures call it to pack the strings themselves (to each batch's longest input).
        """
        encoder_outputs = self.encoder(encoder_inputs, training=False)
        return self.get_layer("embedding")(encoder_outputs, encoder_inputs["input_mask"])

    @property
    def dimension(self) -> int:
        """The length of every embedding (the encoder's width)."""
        return self.output.shape[-1]

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 ``[len(texts), dimension]`` array, in the order given.

        Texts are batched by length (as sentence-transformers does), so short ones are not padded
        to the longest of the whole list.
        """
        texts = [str(text) for text in texts]
        order = np.argsort([len(text) for text in texts], kind="stable")
        vectors = np.zeros((len(texts), self.dimension), np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            vectors[rows] = np.asarray(self(np.asarray([texts[row] for row in rows], dtype=object), training=False))
        return vectors

    def packed_signature(self) -> PackedSignature:
        """``text`` in; ``embedding``, float32 ``[batch, dimension]``, out."""
        return PackedSignature((EMBEDDING_INPUT,), lambda encoder_inputs: {EMBEDDING_OUTPUT: self.embeddings(encoder_inputs)})

    def serving_module(self) -> PackedServing:
        """Its TF Serving signature: :meth:`packed_signature` over strings packed to each batch's longest input."""
        return PackedServing(self, self.packed_signature())

    def task_config(self) -> dict:
        return {"pooling": self.pooling, "normalize": self.normalize, "seq_length": self.seq_length}
