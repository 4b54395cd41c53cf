"""``TextClassifier``: raw text (or text pairs) → class probabilities over any TF-Hub BERT encoder."""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.readers.labels import CATEGORICAL, MULTILABEL, REGRESSION, label_type_for
from tfhub_llm.tasks.base import BertTask, encoder_layer, preprocessor_layer
from tfhub_llm.tasks.serving import PackedServing, PackedSignature, classifier_outputs
from tfhub_llm.training.optimization import BinaryAUC, BinaryF1


@keras.saving.register_keras_serializable(package="tfhub_llm")
class TextClassifier(BertTask):
    """A BERT text classifier trained from raw strings with ``fit``.

    Args:
        encoder: a :class:`HubEncoder` or an encoder handle (loaded trainable, for fine-tuning).
        preprocessor: a :class:`HubPreprocessor` or a preprocessor handle.
        num_classes: the number of classes; ``1`` makes a regression model (mean squared error).
        multi_label: independent sigmoid outputs trained on k-hot labels instead of a softmax.
        text_pair: take ``{"text": ..., "text_b": ...}`` (sentence pairs) instead of one batch of strings.
        label_names: optional class names, kept in the config and in serving exports.
        dropout: dropout rate before the output layer.
        seq_length: the maximum packed length when ``preprocessor`` is a handle (default: the
            preprocessor's own default length).

    Example:
        >>> model = TextClassifier(ENCODER, PREPROCESSOR, num_classes=2)
        >>> model.fit(texts, labels, epochs=2, batch_size=32)
        >>> model.predict(["a gripping, beautiful film"])  # probabilities
    """

    def __init__(
        self,
        encoder: str | HubEncoder,
        preprocessor: str | HubPreprocessor,
        num_classes: int,
        multi_label: bool = False,
        text_pair: bool = False,
        label_names: Sequence[str] | None = None,
        dropout: float = 0.1,
        seq_length: int | None = None,
        **kwargs,
    ):
        encoder = encoder_layer(encoder)
        preprocessor = preprocessor_layer(preprocessor, seq_length)
        if num_classes < 1:
            raise InvalidArgumentError(f"num_classes must be at least 1, got {num_classes}.")
        if label_names is not None and len(label_names) != num_classes:
            raise InvalidArgumentError(f"label_names has {len(label_names)} names for {num_classes} classes.")
        if text_pair:
            inputs = {name: keras.Input(shape=(), dtype="string", name=name) for name in ("text", "text_b")}
            segments = [inputs["text"], inputs["text_b"]]
        else:
            inputs = keras.Input(shape=(), dtype="string", name="text")
            segments = inputs
        pooled = encoder(preprocessor(segments))["pooled_output"]
        label_type = label_type_for(num_classes, multi_label)
        activation = {CATEGORICAL: "softmax", MULTILABEL: "sigmoid", REGRESSION: "linear"}[label_type]
        outputs = keras.layers.Dense(num_classes, activation=activation, dtype="float32", name="probabilities")(
            keras.layers.Dropout(dropout, name="head_dropout")(pooled)
        )
        super().__init__(inputs, outputs, **kwargs)
        self.encoder = encoder
        self.preprocessor = preprocessor
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.text_pair = text_pair
        self.label_names = list(label_names) if label_names is not None else None
        self.dropout = dropout
        self.seq_length = seq_length
        self.label_type = label_type
        self.compile()

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs) -> None:
        """:meth:`BertTask.compile`; ``metrics="auto"``: accuracy (with F1 and AUC for two classes), AUC
        for multi-label, mean absolute error for regression."""
        super().compile(optimizer, loss, metrics=self._default_metrics() if metrics == "auto" else metrics, **kwargs)

    def default_loss(self) -> str:
        return {
            CATEGORICAL: "sparse_categorical_crossentropy",
            MULTILABEL: "binary_crossentropy",
            REGRESSION: "mean_squared_error",
        }[self.label_type]

    def _default_metrics(self):
        if self.label_type == REGRESSION:
            return [keras.metrics.MeanAbsoluteError(name="mae")]
        if self.label_type == MULTILABEL:
            return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc", multi_label=True)]
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if self.num_classes == 2:
            metrics += [BinaryF1(), BinaryAUC()]
        return metrics

    def probabilities(self, encoder_inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        """The model's outputs from packed encoder inputs (the model after its preprocessor), for inference.

        Serving signatures call it to pack the strings themselves (e.g. to each batch's longest input).
        """
        pooled = self.encoder(encoder_inputs, training=False)["pooled_output"]
        return self.get_layer("probabilities")(pooled)  # head_dropout is the identity at inference

    def packed_signature(self) -> PackedSignature:
        """``text`` (and ``text_b``) in; out :func:`~tfhub_llm.tasks.serving.classifier_outputs`: ``probabilities``,
        ``label`` (and ``label_name`` with label names), or ``value`` for regression."""
        label_names = tf.constant(self.label_names) if self.label_names else None
        return PackedSignature(
            ("text", "text_b") if self.text_pair else ("text",),
            lambda encoder_inputs: classifier_outputs(self.probabilities(encoder_inputs), self.label_type, label_names))

    def serving_module(self) -> PackedServing:
        """Its TF Serving signature: :meth:`packed_signature` over strings packed to each batch's longest input."""
        return PackedServing(self, self.packed_signature())

    def task_config(self) -> dict:
        return {
            "num_classes": self.num_classes,
            "multi_label": self.multi_label,
            "text_pair": self.text_pair,
            "label_names": self.label_names,
            "dropout": self.dropout,
            "seq_length": self.seq_length,
        }
