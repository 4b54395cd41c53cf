"""How a task is served: the raw-text signatures every exporter builds from the task models.

A task says its serving behaviour itself (the protocols of :mod:`tfhub_llm.tasks.base`):
``model.serving_module()`` is its TF Serving ``serving_default`` as a :class:`TaskServing` (a
``tf.Module`` ready for ``tf.saved_model.save``), and a task whose outputs come from one packed
encoder row per text (``TextClassifier``, ``TextEmbedder``) also gives its :class:`PackedSignature`,
which both its TF Serving module (:class:`PackedServing`) and its on-device graph
(:mod:`tfhub_llm.litert.export`) run. Question answering's and entity recognition's signatures,
with their windows over long texts in the graph, are in :mod:`~tfhub_llm.tasks.qa_serving` and
:mod:`~tfhub_llm.tasks.entity_serving`.

Every signature pads each request only to its longest input. Over a preprocessor whose own packing
uses ops TF Serving 2.12-2.19 lacks, inputs are packed with ragged ops and only the preprocessor's
tokenizers are saved (:mod:`tfhub_llm.tasks.packing`). The modules track the restored TF-Hub encoder
and preprocessor and the model's weights, not the Keras model itself, so an export holds no
optimizer state.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Protocol

import tensorflow as tf

from tfhub_llm.hub_contract import SERVING_SIGNATURE, string_input_specs
from tfhub_llm.layers.hub_layers import pack_inputs
from tfhub_llm.readers.labels import MULTILABEL, REGRESSION
from tfhub_llm.tasks.packing import TokenizeOnly, unservable_packing_ops

MULTI_LABEL_THRESHOLD = 0.5


def track_model(module: tf.Module, model) -> None:
    """Makes ``module`` (a ``tf.Module`` to save or convert) hold ``model``'s weights and its encoder's TF-Hub module."""
    module.model_variables = [weight.value for weight in model.weights]
    module.encoder = model.encoder.module


class TextServing(Protocol):
    """What an exporter needs of a serving module: a task's :class:`TaskServing`, or a plain Keras model's."""

    input_names: tuple[str, ...]

    def save(self, path: str | os.PathLike) -> None:
        """Writes the SavedModel with its ``serving_default`` signature to ``path``."""


@dataclasses.dataclass(frozen=True)
class PackedSignature:
    """The signature of a task whose outputs come from one packed encoder row per text.

    Attributes:
        input_names: the string inputs, one per segment, e.g. ``("text", "text_b")``.
        outputs: called on the encoder inputs (a dict of int32 ``[batch, length]``), returns the
            signature's outputs (the model's inference-mode outputs after its preprocessor).
    """

    input_names: tuple[str, ...]
    outputs: Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]


class TaskServing(tf.Module):
    """Base of every task's serving module: tracks its weights and TF-Hub modules; subclasses set ``serve``."""

    def __init__(self, model, input_names: tuple[str, ...]):
        super().__init__(name=type(self).__name__)
        track_model(self, model)
        self.ragged_ops = bool(unservable_packing_ops(model.preprocessor))
        # Saved whole, the module would keep its own packing functions (and their ops) in the export.
        self.preprocessor = TokenizeOnly(model.preprocessor.module) if self.ragged_ops else model.preprocessor.module
        self.input_names = tuple(input_names)

    def input_signature(self) -> list[tf.TensorSpec]:
        return string_input_specs(self.input_names)

    def _trace(self, serve):
        """The concrete function of ``serve`` over the input signature (traced once; saving reuses it)."""
        return tf.function(serve, input_signature=self.input_signature()).get_concrete_function()

    def signatures(self) -> dict[str, tf.types.experimental.ConcreteFunction]:
        """``{"serving_default": concrete function}`` for ``tf.saved_model.save``."""
        return {SERVING_SIGNATURE: self.serve}

    def save(self, path: str | os.PathLike) -> None:
        """Writes the SavedModel with its signatures to ``path``."""
        tf.saved_model.save(self, str(path), signatures=self.signatures())


class PackedServing(TaskServing):
    """``serving_default`` of a task with a :class:`PackedSignature`: its strings packed to the batch's
    longest input, then its outputs (a ``TextClassifier``'s :func:`classifier_outputs`, a ``TextEmbedder``'s
    ``embedding`` float32 ``[batch, dim]``)."""

    def __init__(self, model, signature: PackedSignature):
        super().__init__(model, signature.input_names)
        seq_length = model.preprocessor.max_seq_length

        def serve(*texts):
            encoder_inputs = pack_inputs(self.preprocessor, list(texts), seq_length, pad_to_longest=True,
                                         ragged_ops=self.ragged_ops)
            return signature.outputs(encoder_inputs)

        self.serve = self._trace(serve)


def classifier_outputs(probabilities: tf.Tensor, label_type: str,
                       label_names: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
    """A ``TextClassifier``'s serving outputs from its probabilities, by label type.

    * multi-class: ``probabilities`` float32 ``[batch, classes]``, ``label`` int64 ``[batch]`` (argmax)
      and, with label names, ``label_name`` string ``[batch]``;
    * multi-label: ``probabilities``, ``label`` int64 k-hot ``[batch, classes]`` (probability above
      0.5, the threshold Keras' binary accuracy uses) and, with label names, ``label_name`` string
      ``[batch, classes]`` holding each predicted class's name and "" elsewhere;
    * regression: ``value`` float32 ``[batch]``.

    ``label_names`` is a string tensor of the class names, or None.
    """
    if label_type == REGRESSION:
        return {"value": probabilities[:, 0]}
    multi_label = label_type == MULTILABEL
    if multi_label:
        label = tf.cast(probabilities > MULTI_LABEL_THRESHOLD, tf.int64)
    else:
        label = tf.argmax(probabilities, axis=-1)
    outputs = {"probabilities": probabilities, "label": label}
    if label_names is not None:
        if multi_label:  # each predicted class's name, "" elsewhere: a gather, as TFLite selects no strings
            names_after_blank = tf.concat([[""], label_names], axis=0)
            name_index = label * tf.range(1, tf.size(label_names, tf.int64) + 1)  # 0 (the blank) where not predicted
            outputs["label_name"] = tf.gather(names_after_blank, name_index)
        else:
            outputs["label_name"] = tf.gather(label_names, label)
    return outputs
