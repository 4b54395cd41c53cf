"""``tfhub_llm.KerasLayer``: ``hub.KerasLayer``'s constructor and behaviour as a Keras 3 layer.

Scripts written for ``hub.KerasLayer`` (the TF Hub and TF Text tutorials, BERT on GLUE, NNLM / USE
embeddings) run under Keras 3 with one change, ``hub.KerasLayer(`` → ``tfhub_llm.KerasLayer(``. This module
owns what that takes beyond loading (which is :func:`tfhub_llm.hub.handles.load`'s, scan included) and
weight sharing (:mod:`tfhub_llm.layers.module_weights`'s):

* the call contract of ``hub.KerasLayer``: ``arguments``, ``signature`` (inputs as keyword arguments,
  outputs as a dict or one ``output_key``), ``output_shape``, ``training`` passed only when the layer is
  trainable, and trainability refused through a signature;
* Keras 3's symbolic shape inference, which would turn a ragged output (a preprocessor's ``tokenize``)
  into a dense KerasTensor and builds subclassed models on float32 placeholders: the layer traces its
  function on the input specs the SavedModel declares, and keeps raggedness in its KerasTensors;
* Sequential's implicit ``InputLayer``, which takes its dtype from the layer's ``dtype=`` (``tf.string``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import keras
import tensorflow as tf

from tfhub_llm.errors import InvalidArgumentError, InvalidArgumentTypeError, TfhubLlmError
from tfhub_llm.hub import handles
from tfhub_llm.hub.trust import layer_config_for_load
from tfhub_llm.layers.module_weights import add_regularization_losses, concrete_functions, takes_training, track_module_variables


class UnserializableHandleError(TfhubLlmError, NotImplementedError):
    """A KerasLayer built on a callable cannot be written to a config (``model.save("m.keras")``)."""


@keras.saving.register_keras_serializable(package="tfhub_llm")
class KerasLayer(keras.layers.Layer):
    """A TF-Hub SavedModel (or a function of one) as a Keras 3 layer, with ``hub.KerasLayer``'s arguments.

    Args:
        handle: a local path, ``file://`` / ``http(s)://`` URL, tfhub.dev or Kaggle Models handle (resolved and
            cached by tensorflow_hub, then scanned by :mod:`tfhub_llm.hub.security`); or a callable such as
            ``hub.load(path).tokenize``. A callable is the caller's own object, already loaded: it is not
            scanned again (load it with :func:`tfhub_llm.hub.handles.load` to have it scanned), and a layer
            built on it cannot be saved to ``.keras``.
        trainable: whether ``fit`` updates the SavedModel's variables; not allowed with ``signature``.
        arguments: extra keyword arguments for every call, e.g. ``dict(seq_length=128)``.
        tags: the MetaGraph tags to load (string handles only).
        signature: call this named signature (e.g. ``"tokens"``) instead of the object itself; then set
            exactly one of ``output_key`` and ``signature_outputs_as_dict``. A dict input becomes its keyword arguments.
        signature_outputs_as_dict: return the signature's whole output dict.
        output_key: return only this item of a dict output (e.g. ``"pooled_output"``).
        output_shape: the output shape without the batch axis (a nest of them for nested outputs), for
            functions whose outputs have unknown shapes.
        load_options: a ``tf.saved_model.LoadOptions`` for loading a string handle (never saved in the config).
        trust: skip the scan of the SavedModel's ops, as for :class:`tfhub_llm.HubEncoder` (never saved in the config).
        **kwargs: Keras layer arguments: ``name``, ``dtype`` (e.g. ``tf.string``), ``input_shape`` (e.g. ``[]``).
    """

    def __init__(self, handle: str | os.PathLike | Callable, trainable: bool = False, arguments: dict | None = None,
                 _sentinel=None, tags=None, signature: str | None = None, signature_outputs_as_dict: bool | None = None,
                 output_key: str | None = None, output_shape=None, load_options: tf.saved_model.LoadOptions | None = None,
                 trust: bool = False, **kwargs):
        if _sentinel is not None:
            raise InvalidArgumentTypeError("KerasLayer takes only handle (and trainable, arguments) by position; "
                                           "pass the other arguments by name.")
        # Keras would hand `input_shape` to Sequential, which builds a float32 InputLayer from it; kept here, it
        # reaches Sequential through the `input_shape` property, and the InputLayer gets this layer's dtype.
        input_dim = kwargs.pop("input_dim", None)
        input_shape = kwargs.pop("input_shape", None if input_dim is None else [input_dim])
        self._declared_input_shape = None if input_shape is None else tuple(input_shape)
        kwargs.setdefault("autocast", False)  # the SavedModel's dtypes were fixed when it was saved
        super().__init__(trainable=trainable, **kwargs)
        self._handle = handle if callable(handle) else str(handle)
        self._arguments = dict(arguments or {})
        self._signature = signature
        self._signature_outputs_as_dict = bool(signature_outputs_as_dict)
        self._output_key = output_key
        self._output_shape = output_shape
        self._func = self._load(handle, tags, load_options, trust)
        self._callable = self._signature_function() if signature else self._func
        if not callable(self._callable):
            raise InvalidArgumentError(
                f"KerasLayer handle {self._described_handle()} is not callable; name one of its signatures "
                f"{sorted(getattr(self._func, 'signatures', {}))} with signature=.")
        if signature and (self._output_key is not None) == self._signature_outputs_as_dict:
            raise InvalidArgumentError(
                f"KerasLayer with signature={signature!r} needs exactly one of output_key= (one of "
                f"{self._output_names()}) and signature_outputs_as_dict=True.")
        if self._signature_outputs_as_dict and not signature:
            raise InvalidArgumentError("signature_outputs_as_dict=True needs signature= (the signature to call).")
        self._takes_training = not signature and takes_training(self._callable)
        track_module_variables(self, self._func, function=self._callable)
        self.built = True

    def _load(self, handle, tags, load_options, trust):
        if not callable(handle):
            return handles.load(handle, trust=trust, tags=tags, options=load_options)
        if tags is not None or load_options is not None:
            raise InvalidArgumentError("tags= and load_options= are for loading a string handle, not for a callable handle.")
        return handle

    def _described_handle(self):
        return repr(self._handle) if isinstance(self._handle, str) else f"(a callable {type(self._handle).__name__})"

    def _signature_function(self):
        signatures = getattr(self._func, "signatures", None) or {}
        if self._signature not in signatures:
            raise InvalidArgumentError(
                f"KerasLayer handle {self._described_handle()} has no signature {self._signature!r}; "
                f"its signatures are {sorted(signatures)}.")
        return signatures[self._signature]

    def _output_names(self):
        """The keys of the function's dict output as its traced functions declare them ([] when unknown)."""
        return sorted({key for f in concrete_functions(self._callable)
                       if isinstance(f.structured_outputs, dict) for key in f.structured_outputs})

    @property
    def resolved_object(self):
        """The object ``handle`` resolved to (the loaded SavedModel, or the callable itself)."""
        return self._func

    @property
    def input_shape(self):
        """The ``input_shape=`` given (with the batch axis); Sequential builds its ``InputLayer`` from it."""
        if self._declared_input_shape is None:
            raise AttributeError("This KerasLayer was not given input_shape=.")
        return (None, *self._declared_input_shape)

    def call(self, inputs, training=None):
        if self.trainable and self._signature:
            raise InvalidArgumentError(
                f"KerasLayer {self._described_handle()}: a layer that calls signature {self._signature!r} cannot be "
                "trainable (signatures have no training mode or regularization losses); set trainable=False.")
        if _keras_infers_shapes():  # e.g. of a subclassed model, on float32 placeholders
            inputs = tf.nest.map_structure(_placeholder_for, inputs, self._input_specs(inputs), expand_composites=False)
        kwargs = dict(self._arguments)
        args = [inputs]
        if self._signature and isinstance(inputs, dict):
            kwargs.update(inputs)
            args = []
        if self._takes_training:
            kwargs["training"] = bool(training) and self.trainable  # as BatchNormalization: only when trainable
        outputs = self._callable(*args, **kwargs)
        if training and self.trainable:
            add_regularization_losses(self, self._func)
        if self._output_key is not None:
            outputs = self._output_item(outputs)
        if self._output_shape is not None:
            batch = tf.nest.flatten(inputs)[0].shape[:1]
            tf.nest.map_structure(lambda tensor, shape: tensor.set_shape(batch.concatenate(shape)),
                                  outputs, _shapes(self._output_shape))
        return outputs

    def _output_item(self, outputs):
        if not isinstance(outputs, dict):
            raise InvalidArgumentError(
                f"KerasLayer {self._described_handle()}: output_key={self._output_key!r} needs a dict output, but it "
                f"returns {type(outputs).__name__}; drop output_key.")
        if self._output_key not in outputs:
            raise InvalidArgumentError(
                f"KerasLayer {self._described_handle()} has no output {self._output_key!r}; its outputs are "
                f"{sorted(outputs)}.")
        return outputs[self._output_key]

    def compute_output_spec(self, inputs, training=None):
        """Traces ``call`` on the input specs the SavedModel's function declares (ragged, string, int32) when
        they fit the inputs, else on the inputs' own specs; ragged outputs stay ragged KerasTensors."""
        specs = self._input_specs(inputs)
        traced = tf.function(lambda x: self.call(x), autograph=False).get_concrete_function(specs)
        return tf.nest.map_structure(_keras_tensor, traced.structured_outputs, expand_composites=False)

    def _input_specs(self, inputs):
        own = tf.nest.map_structure(_tensor_spec, inputs)
        for function in concrete_functions(self._callable):
            args, kwargs = function.structured_input_signature
            if args:
                declared = args[0]
            elif isinstance(inputs, dict) or len(kwargs) != 1:  # a signature: inputs by name
                declared = kwargs
            else:
                declared, = kwargs.values()
            if _fits(own, declared):
                return tf.nest.map_structure(_merged, own, declared, expand_composites=False)
        return own

    def get_config(self) -> dict:
        if not isinstance(self._handle, str):
            raise UnserializableHandleError(
                f"A KerasLayer built on {self._described_handle()} cannot be saved in a config (model.save('m.keras'), "
                "get_config): only a string handle can. Pass the SavedModel's path or URL as handle (with "
                "signature= for a named signature), or save the model with model.export(path) instead.")
        config = {**super().get_config(), "handle": self._handle}
        for key, value in (("arguments", self._arguments), ("signature", self._signature),
                           ("signature_outputs_as_dict", self._signature_outputs_as_dict),
                           ("output_key", self._output_key), ("output_shape", self._output_shape)):
            if value:
                _check_json(key, value)
                config[key] = value
        if self._declared_input_shape is not None:
            config["input_shape"] = list(self._declared_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict) -> KerasLayer:
        return cls(**layer_config_for_load(config, cls.__name__))


def _keras_infers_shapes() -> bool:
    """Whether Keras is inferring output shapes: it calls the model on placeholders of its own dtype in a graph of
    its own, which (unlike a traced ``tf.function``'s graph) has no input signature. Keras has no public name for
    this symbolic stage, so the check reads TensorFlow's side of it."""
    graph = tf.compat.v1.get_default_graph()
    return not tf.executing_eagerly() and getattr(graph, "structured_input_signature", None) is None


def _shapes(output_shape):
    """``output_shape`` (a shape, or a nest of them) as a nest of ``tf.TensorShape``."""
    if isinstance(output_shape, dict):
        return {key: _shapes(value) for key, value in output_shape.items()}
    if isinstance(output_shape, (list, tuple)) and output_shape and not all(
            dim is None or isinstance(dim, int) for dim in output_shape):
        return type(output_shape)(_shapes(value) for value in output_shape)
    return tf.TensorShape(output_shape)


def _placeholder_for(tensor, spec):
    """``tensor``, or a placeholder of the declared dtype where a shape-inference placeholder has another one."""
    if isinstance(spec, tf.TensorSpec) and tensor.dtype != spec.dtype:
        return tf.compat.v1.placeholder(spec.dtype, tensor.shape)
    return tensor


def _tensor_spec(tensor):
    """The spec of an input: a tensor's own, or the one a KerasTensor describes (ragged when it is)."""
    if not isinstance(tensor, keras.KerasTensor):
        return tf.type_spec_from_value(tensor)
    if tensor.ragged:
        return tf.RaggedTensorSpec(tensor.shape, tensor.dtype, ragged_rank=tensor.ragged_rank or len(tensor.shape) - 1)
    return tf.TensorSpec(tensor.shape, tensor.dtype)


def _fits(own, declared):
    """Whether a declared input spec nest has the inputs' structure and ranks (dtype and raggedness may differ:
    Keras 3 makes float32 placeholders and densifies ragged KerasTensors)."""
    def flat(nest):
        return tf.nest.flatten(nest, expand_composites=False)

    try:
        tf.nest.assert_same_structure(own, declared, check_types=False, expand_composites=False)
    except (ValueError, TypeError):
        return False
    return all(isinstance(d, tf.TypeSpec) and d.shape.rank == o.shape.rank for o, d in zip(flat(own), flat(declared)))


def _merged(own, declared):
    """The declared spec, with the static sizes the input knows and the declaration leaves open (a packed length)."""
    if isinstance(declared, tf.TensorSpec) and own.shape.is_compatible_with(declared.shape):
        return tf.TensorSpec(own.shape.merge_with(declared.shape), declared.dtype, declared.name)
    return declared


def _keras_tensor(tensor):
    if isinstance(tensor, tf.RaggedTensor):
        return keras.KerasTensor(tensor.shape, tensor.dtype, ragged=True, ragged_rank=tensor.ragged_rank)
    if tf.is_tensor(tensor):
        return keras.KerasTensor(tensor.shape, tensor.dtype, sparse=isinstance(tensor, tf.SparseTensor))
    return tensor


def _check_json(key, value):
    try:
        json.dumps(value)
    except TypeError as error:
        raise InvalidArgumentError(f"KerasLayer's {key}={value!r} cannot be saved in a config: {error}.") from error
