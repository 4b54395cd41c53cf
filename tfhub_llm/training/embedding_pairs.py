"""Fine-tuning a ``TextEmbedder`` on sentence pairs, with the two losses sentence-transformers users know.

* :class:`CosineSimilarityLoss`: scored pairs (e.g. STS-B, scores scaled to [0, 1]); the mean squared
  error between each pair's cosine similarity and its score.
* :class:`MultipleNegativesRankingLoss`: positive pairs (question → passage, ...); each text must pick
  its own partner among all partners of the batch (in-batch negatives), with cosines scaled by 20.

:class:`EmbeddingPairModel` is the training view of an embedder: ``{"text", "text_b"}`` → both
embeddings ``[batch, 2, width]``, sharing the embedder's weights, so ``fit`` trains the embedder.
"""

import keras
from keras import ops

from tfhub_llm.tasks.base import BertTask
from tfhub_llm.tasks.embedding import l2_normalize
from tfhub_llm.training.options import EMBEDDER_TRAINING

PAIR_INPUTS = ("text", "text_b")


def pair_cosine(pair_embeddings):
    """Cosine similarity of the two embeddings of each pair: ``[batch, 2, width]`` → ``[batch]``."""
    first, second = l2_normalize(pair_embeddings[:, 0]), l2_normalize(pair_embeddings[:, 1])
    return ops.sum(first * second, axis=-1)


@keras.saving.register_keras_serializable(package="tfhub_llm")
class CosineSimilarityLoss(keras.losses.Loss):
    """Squared error between each pair's cosine similarity and its gold score ``y_true`` (in [-1, 1])."""

    def __init__(self, name="cosine_similarity_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        cosine = pair_cosine(ops.cast(y_pred, "float32"))
        return ops.square(cosine - ops.reshape(ops.cast(y_true, "float32"), ops.shape(cosine)))


@keras.saving.register_keras_serializable(package="tfhub_llm")
class MultipleNegativesRankingLoss(keras.losses.Loss):
    """Cross-entropy of picking each pair's second text among all second texts of the batch.

    The logits are ``scale`` x the cosine similarities (sentence-transformers' default scale is 20).
    ``y_true`` holds an id of each pair's second text: pairs whose second texts share an id (the same
    passage for two questions) are not counted as each other's negatives.
    """

    def __init__(self, scale=20.0, name="multiple_negatives_ranking_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        logits = self.scale * ops.matmul(l2_normalize(y_pred[:, 0]), ops.transpose(l2_normalize(y_pred[:, 1])))
        ids = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        batch = ops.shape(ids)[0]
        same_text = ops.equal(ids[:, None], ids[None, :])
        duplicate = ops.logical_and(same_text, ops.logical_not(ops.eye(batch, dtype="bool")))
        logits = ops.where(duplicate, -1e9, logits)
        return keras.losses.sparse_categorical_crossentropy(ops.arange(batch), logits, from_logits=True)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="tfhub_llm")
class EmbeddingPairModel(BertTask):
    """``{"text": strings, "text_b": strings}`` → ``[batch, 2, width]``: the embedder applied to both sides.

    Args:
        embedder: the :class:`TextEmbedder` to train (its weights are shared, not copied).

    Example:
        >>> pairs = EmbeddingPairModel(embedder)
        >>> pairs.compile(loss=CosineSimilarityLoss(), learning_rate=2e-5, train_steps=100)
        >>> pairs.fit({"text": texts_a, "text_b": texts_b}, scores / 5.0, epochs=1, batch_size=32)
    """

    LAYER_ARGUMENTS = ("embedder",)
    LEARNING_RATE = EMBEDDER_TRAINING.learning_rate

    def __init__(self, embedder, **kwargs):
        inputs = {name: keras.Input(shape=(), dtype="string", name=name) for name in PAIR_INPUTS}
        both = ops.stack([embedder(inputs[name]) for name in PAIR_INPUTS], axis=1)
        super().__init__(inputs, both, **kwargs)
        self.embedder = embedder
        self.compile()

    def default_loss(self):
        return MultipleNegativesRankingLoss()

    def task_config(self):
        return {}
