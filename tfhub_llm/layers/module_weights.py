"""A restored SavedModel as a Keras 3 layer sees it: its variables, functions and regularization losses.

Every layer over a TF-Hub SavedModel (:mod:`tfhub_llm.layers.hub_layers`, :mod:`tfhub_llm.layers.keras_layer`) makes the
SavedModel's variables its own Keras weights through :func:`track_module_variables`
(``keras.Variable(initializer=tf_variable)`` shares the variable's storage, so ``fit`` trains the SavedModel
itself and ``model.save("m.keras")`` keeps what it learned), asks :func:`takes_training` whether to pass
``training``, and adds the SavedModel's ``regularization_losses`` with :func:`add_regularization_losses`.
"""

import inspect

import keras
import tensorflow as tf

from tfhub_llm.hub import handles


def concrete_functions(function):
    """The traced functions behind ``function``: a restored ``tf.function``, a restored object's ``__call__``
    (a module, or a sub-object such as a preprocessor's ``tokenize``), or a signature; [] for plain Python."""
    for candidate in (function, getattr(function, "__call__", None)):
        traced = getattr(candidate, "concrete_functions", None)
        if traced:
            return list(traced)
    if isinstance(function, tf.types.experimental.ConcreteFunction):
        return [function]
    return []


def takes_training(function):
    """Whether ``function`` (a restored function or object, or a Python callable) has a ``training`` argument."""
    traced = concrete_functions(function)
    if traced:
        return any("training" in f.function_type.parameters for f in traced)
    try:
        return "training" in inspect.signature(function).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a Python signature
        return False


def _keras_name(variable_name):
    return variable_name.split(":")[0].replace("/", "_")


def track_module_variables(layer, module, function=None):
    """Makes the variables of ``module`` (a restored SavedModel object) ``layer``'s Keras weights, sharing storage.

    A variable is trainable when it is and ``function`` (default: the module's ``__call__``) reads it:
    variables the called function does not read (an MLM head's) stay out of ``fit``'s gradients. A
    plain Python callable without variables contributes none.
    """
    if not (hasattr(module, "variables") or isinstance(module, tf.__internal__.tracking.Trackable)):
        return
    traced = concrete_functions(module if function is None else function)
    used = {id(v) for f in traced for v in f.trainable_variables} if traced else None
    for variable in handles.module_variables(module):
        layer._track_variable(
            keras.Variable(
                initializer=variable,
                trainable=variable.trainable and (used is None or id(variable) in used),
                dtype=variable.dtype,
                shape=variable.shape,
                name=_keras_name(variable.name),
            )
        )


def add_regularization_losses(layer, module):
    """Adds the SavedModel's ``regularization_losses`` (callables) to ``layer``'s losses."""
    for regularization_loss in getattr(module, "regularization_losses", ()):
        layer.add_loss(regularization_loss())
