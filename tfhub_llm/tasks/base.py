"""What every task model shares: BERT fine-tuning's default ``compile``, (de)serialising its encoder and
preprocessor, recompiling after load, taking texts as users type them (Python lists), and the protocols
through which a task says how it is served, so exporters need not know the task classes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import keras
import numpy as np
import tensorflow as tf

from tfhub_llm.hub.limits import check_config_sizes
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.training.distribute import multi_worker_fixes
from tfhub_llm.training.optimization import bert_adamw
from tfhub_llm.training.options import CLASSIFIER_TRAINING

if TYPE_CHECKING:
    from tfhub_llm.tasks.serving import PackedSignature, TaskServing


@runtime_checkable
class ServedTask(Protocol):
    """A model that says its TF Serving behaviour (every task): ``export_for_serving`` saves its module."""

    def serving_module(self) -> TaskServing:
        """Its ``serving_default`` signature over raw strings, with its input names."""


@runtime_checkable
class PackedTask(Protocol):
    """A model whose outputs come from one packed encoder row per text (``TextClassifier``, ``TextEmbedder``):
    its TF Serving module and its on-device graph (``export_litert``) both run its :class:`PackedSignature`."""

    def packed_signature(self) -> PackedSignature:
        """Its string inputs and its outputs as a function of the packed encoder inputs."""


def encoder_layer(encoder: str | HubEncoder, trainable: bool = True) -> HubEncoder:
    """A :class:`HubEncoder` from a handle, or the layer itself."""
    return encoder if isinstance(encoder, HubEncoder) else HubEncoder(encoder, trainable=trainable)


def preprocessor_layer(preprocessor: str | HubPreprocessor, seq_length: int | None = None) -> HubPreprocessor:
    """A :class:`HubPreprocessor` padding each batch to its longest input, from a handle or the layer itself."""
    if isinstance(preprocessor, HubPreprocessor):
        return preprocessor
    return HubPreprocessor(preprocessor, seq_length=seq_length, pad_to_longest=True)


class BertTask(keras.Model):
    """A functional model over a HubEncoder and a HubPreprocessor whose config holds both layers.

    ``fit`` and ``evaluate`` run unchanged under ``MultiWorkerMirroredStrategy`` (see
    :mod:`tfhub_llm.training.distribute`). A model over raw strings takes a Python list of strings, and a
    model over text pairs a list of ``(text, text_b)`` pairs, in ``fit``, ``evaluate``, ``predict``
    and calls, besides tensors, arrays and datasets; Python lists of labels are taken as arrays.
    """

    LAYER_ARGUMENTS = ("encoder", "preprocessor")
    LEARNING_RATE = CLASSIFIER_TRAINING.learning_rate  # compile's default peak learning rate for this task

    def compile(self, optimizer="auto", loss="auto", *, learning_rate: float | None = None,
                train_steps: int | None = None, warmup_fraction: float = 0.1, weight_decay: float = 0.01,
                **kwargs) -> None:
        """Compiles as BERT fine-tuning does by default; any argument may be replaced.

        With ``optimizer="auto"``: AdamW at ``learning_rate`` (the task's ``LEARNING_RATE`` unless given)
        with ``weight_decay``, warmed up linearly over ``warmup_fraction`` of ``train_steps`` and decayed
        linearly to 0 (constant when ``train_steps`` is not given). With ``loss="auto"``: the task's
        :meth:`default_loss`. Other keyword arguments (``metrics``, ...) go to ``keras.Model.compile``.
        """
        if optimizer == "auto":
            learning_rate = self.LEARNING_RATE if learning_rate is None else learning_rate
            optimizer = bert_adamw(learning_rate, train_steps, warmup_fraction, weight_decay)
        super().compile(optimizer=optimizer, loss=self.default_loss() if loss == "auto" else loss, **kwargs)

    def default_loss(self) -> object:
        """The loss ``compile(loss="auto")`` uses; None for a model that is not trained on its own outputs."""
        return None

    def task_config(self) -> dict:
        """The constructor arguments of the task besides the encoder and preprocessor."""
        raise NotImplementedError

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, **self.task_config()}
        for key in self.LAYER_ARGUMENTS:
            config[key] = keras.saving.serialize_keras_object(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config: dict) -> BertTask:
        check_config_sizes(config, f"the saved {cls.__name__}")
        config = dict(config)
        for key in cls.LAYER_ARGUMENTS:
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def fit(self, x=None, y=None, *args, **kwargs):
        with multi_worker_fixes(self):
            return super().fit(self._texts(x), _labels(y), *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        with multi_worker_fixes(self):
            return super().evaluate(self._texts(x), _labels(y), *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(self._texts(x), *args, **kwargs)

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self._texts(inputs), *args, **kwargs)

    def _texts(self, x):
        """``x`` as the model's string inputs take it when it is a list of strings or of string pairs; else ``x``."""
        if not isinstance(x, (list, tuple)) or not x or not self._takes_strings():
            return x
        if all(isinstance(text, str) for text in x):
            return tf.constant(x)
        if all(isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(text, str) for text in pair)
               for pair in x) and isinstance(self.input, dict) and len(self.input) == 2:
            return {name: tf.constant([pair[index] for pair in x]) for index, name in enumerate(self.input)}
        return x

    def _takes_strings(self):
        return all(tensor.dtype == "string" for tensor in keras.tree.flatten(self.input))

    def compile_from_config(self, config):
        """Recompiles a loaded model with its saved optimizer, loss and metrics (through our ``compile``)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.trainable_variables)


def _labels(y):
    """A Python list of labels as the array Keras takes; anything else unchanged."""
    return np.asarray(y) if isinstance(y, list) else y
