"""Keras 3 ``fit`` / ``evaluate`` under ``MultiWorkerMirroredStrategy``: the fixes Keras 3.15 needs.

Two spots of Keras' TensorFlow trainer fail with more than one worker (keras-team/keras#20585; both
measured on Keras 3.15 with two CPU workers, ``examples/distributed_fit.py``):

- a model built inside ``strategy.scope()`` is built from a first batch that Keras all-reduces
  (``_maybe_symbolic_build``): a batch of strings cannot be, and ``fit`` fails converting a
  ``PerReplica`` of strings. Inside :func:`multi_worker_fixes` the model builds while its first step
  is traced instead, Keras' own path for a model created outside a strategy scope (``fit`` still
  finds the strategy of the enclosing scope). No public API chooses that path: the one private
  attribute below does.
- every scalar log of a step is averaged over the workers with ``strategy.reduce("MEAN", value,
  axis=0)`` ("Invalid reduction dimension 0 for input with 0 dimensions"). Inside
  :func:`multi_worker_fixes` ``train_step`` / ``test_step`` (Keras' public override points) return
  each log with a leading axis of length 1, so that the same reduction averages over the workers.

With any other strategy, or one worker, :func:`multi_worker_fixes` does nothing. The task models
apply it to their ``fit`` and ``evaluate``; wrap your own model's calls in it when it is not a task model.
"""

import contextlib
import functools

import tensorflow as tf


@contextlib.contextmanager
def multi_worker_fixes(model):
    """Makes one ``fit`` / ``evaluate`` of ``model`` work under multi-worker training (see the module)."""
    strategy = model.distribute_strategy
    if not _spans_workers(strategy):
        yield
        return
    # keras-team/keras#20585: Keras builds from an all-reduced batch when this is set; None builds while tracing.
    model_strategy, model._distribute_strategy = model._distribute_strategy, None
    model.train_step, model.test_step = _logs_with_worker_axis(model.train_step), _logs_with_worker_axis(model.test_step)
    try:
        with strategy.scope():
            yield
    finally:
        del model.train_step, model.test_step  # the class's own steps again
        model._distribute_strategy = model_strategy


def _spans_workers(strategy):
    """Whether ``strategy`` is a MultiWorkerMirroredStrategy with replicas in more than this worker."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices))


def _logs_with_worker_axis(step):
    """``step`` with each log given a leading axis of length 1: Keras averages logs over the workers along axis 0."""
    @functools.wraps(step)
    def step_with_worker_axis(data):
        return tf.nest.map_structure(lambda value: tf.expand_dims(value, 0), step(data))

    return step_with_worker_axis
