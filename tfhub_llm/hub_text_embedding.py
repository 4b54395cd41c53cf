"""``HubTextEmbedding``: any TF-Hub text-embedding SavedModel (USE, NNLM, an exported ``TextEmbedder``) as a Keras 3 layer.

TF Hub's common API for text embeddings: ``__call__`` on a 1-D string tensor returns float
``[batch, dim]``, optionally with a ``training`` argument, next to ``variables``,
``trainable_variables`` and ``regularization_losses``. ``hub.KerasLayer`` consumes it only under
tf-keras (tensorflow/hub#920); this layer does under Keras 3, with the scan, ``training`` and the
shared Keras weights of :class:`tfhub_llm.HubEncoder`.
"""

import keras
import tensorflow as tf

from tfhub_llm import hub
from tfhub_llm.layers import add_regularization_losses, track_module_variables


def takes_training(module):
    """Whether the restored ``__call__`` of ``module`` has a ``training`` argument."""
    return any("training" in function.function_type.parameters for function in module.__call__.concrete_functions)


@keras.saving.register_keras_serializable(package="tfhub_llm")
class HubTextEmbedding(keras.layers.Layer):
    """A TF-Hub text embedding as a Keras 3 layer: a batch of strings → float ``[batch, dim]``.

    Args:
        handle: where the SavedModel lives (a directory, ``file://``, ``http(s)://``, tfhub.dev / Kaggle URL).
        trainable: whether ``fit`` updates the SavedModel's trainable variables (fine-tuning).
        trust: skip the scan of the SavedModel's ops (see :mod:`tfhub_llm.security`).
        **kwargs: the usual Keras layer arguments (``name``, ...).

    Example:
        >>> text = keras.Input(shape=(), dtype="string")
        >>> vectors = HubTextEmbedding(HANDLE, trainable=True)(text)
        >>> model = keras.Model(text, keras.layers.Dense(2, activation="softmax")(vectors))
    """

    def __init__(self, handle, trainable=False, trust=False, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        self.handle = str(handle)
        self.trust = trust
        self._module = hub.load_text_embedding(handle, trust=trust)
        self._takes_training = takes_training(self._module)
        self._dimension = self._module.__call__.concrete_functions[0].structured_outputs.shape[-1]
        track_module_variables(self, self._module)
        self.built = True

    @property
    def module(self):
        """The restored SavedModel object."""
        return self._module

    def call(self, inputs, training=None):
        texts = tf.reshape(tf.convert_to_tensor(inputs, tf.string), [-1])
        if self._takes_training:
            vectors = self._module(texts, training=bool(training))
        else:
            vectors = self._module(texts)
        if training and self.trainable:
            add_regularization_losses(self, self._module)
        return vectors

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((inputs.shape[0], self._dimension), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "handle": self.handle, "trust": self.trust}
