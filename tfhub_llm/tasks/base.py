"""What every task model shares: (de)serialising its encoder and preprocessor, recompiling after load."""

import keras

from tfhub_llm.distribute import multi_worker_fixes
from tfhub_llm.layers import HubEncoder, HubPreprocessor


def encoder_layer(encoder, trainable=True):
    """A :class:`HubEncoder` from a handle, or the layer itself."""
    return encoder if isinstance(encoder, HubEncoder) else HubEncoder(encoder, trainable=trainable)


def preprocessor_layer(preprocessor, seq_length=None):
    """A :class:`HubPreprocessor` padding each batch to its longest input, from a handle or the layer itself."""
    if isinstance(preprocessor, HubPreprocessor):
        return preprocessor
    return HubPreprocessor(preprocessor, seq_length=seq_length, pad_to_longest=True)


class BertTask(keras.Model):
    """A functional model over a HubEncoder and a HubPreprocessor whose config holds both layers.

    ``fit`` and ``evaluate`` run unchanged under ``MultiWorkerMirroredStrategy`` (see
    :mod:`tfhub_llm.distribute`).
    """

    LAYER_ARGUMENTS = ("encoder", "preprocessor")

    def task_config(self):
        """The constructor arguments of the task besides the encoder and preprocessor."""
        raise NotImplementedError

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, **self.task_config()}
        for key in self.LAYER_ARGUMENTS:
            config[key] = keras.saving.serialize_keras_object(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in cls.LAYER_ARGUMENTS:
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    def fit(self, *args, **kwargs):
        with multi_worker_fixes(self):
            return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        with multi_worker_fixes(self):
            return super().evaluate(*args, **kwargs)

    def compile_from_config(self, config):
        """Recompiles a loaded model with its saved optimizer, loss and metrics (through our ``compile``)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.trainable_variables)
