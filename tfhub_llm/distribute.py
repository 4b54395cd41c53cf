"""Keras 3 ``fit`` / ``evaluate`` under ``MultiWorkerMirroredStrategy``: the fixes Keras 3.15 needs.

Two spots of ``keras/src/backend/tensorflow/trainer.py`` fail with more than one worker
(keras-team/keras#20585): ``_maybe_symbolic_build`` all-reduces a whole ``(x, y)`` batch (a nested
structure, here strings), and ``reduce_per_replica`` averages the scalar logs along an axis 0 they
do not have. Inside :func:`multi_worker_fixes` the model builds while its first step is traced
(Keras' own path when a model has no strategy of its own; ``fit`` still finds the strategy of the
enclosing scope) and scalar logs are averaged over the workers. With any other strategy it does
nothing. The task models apply it to their ``fit`` and ``evaluate``; wrap your own model's calls
in it when it is not a task model.
"""

import contextlib

import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_tf_trainer


@contextlib.contextmanager
def multi_worker_fixes(model):
    """Patches Keras for the duration of one ``fit`` / ``evaluate`` of ``model`` under multi-worker training."""
    strategy = model.distribute_strategy
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    reduce_per_replica = keras_tf_trainer.reduce_per_replica

    def reduce_logs(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean"):
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    model_strategy, model._distribute_strategy = model._distribute_strategy, None
    keras_tf_trainer.reduce_per_replica = reduce_logs
    try:
        with strategy.scope():
            yield
    finally:
        keras_tf_trainer.reduce_per_replica = reduce_per_replica
        model._distribute_strategy = model_strategy
