"""TF Serving's REST JSON encoding, server side: request values → tensors checked against a signature, tensors → JSON.

Row format (``"instances"``, a list whose items are the batch) and columnar format (``"inputs"``), checked
against a signature's input specs (:func:`input_specs` of a SignatureDef);
strings as UTF-8 text or ``{"b64": ...}``. Every problem with a request raises :class:`RequestError`
with the HTTP status the development server (:mod:`tfhub_llm.tf_serving.server`) answers with.
"""

from __future__ import annotations

import base64
import binascii
import json

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from tfhub_llm.errors import TfhubLlmError


class RequestError(TfhubLlmError):
    """A request the server cannot answer; becomes `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def input_specs(signature_def) -> dict:
    """{input name: tf.TensorSpec} of a SignatureDef proto's inputs."""
    return {name: tf.TensorSpec(tf.TensorShape(info.tensor_shape), tf.as_dtype(info.dtype))
            for name, info in signature_def.inputs.items()}


def _dtype_name(dtype: tf.DType) -> str:
    """TF Serving's name for a dtype, e.g. DT_FLOAT."""
    return types_pb2.DataType.Name(dtype.as_datatype_enum)


def _check_leaves(value, dtype: tf.DType, where: str):
    """Returns `value` with {"b64"} strings decoded, after checking each leaf fits `dtype`."""
    if isinstance(value, list):
        return [_check_leaves(item, dtype, where) for item in value]
    if dtype == tf.string:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except binascii.Error:
                raise RequestError(400, f"{where}: invalid base64 in {value!r}") from None
    elif dtype == tf.bool:
        if isinstance(value, bool):
            return value
    elif dtype.is_integer:
        if isinstance(value, int) and not isinstance(value, bool):
            if not dtype.min <= value <= dtype.max:
                raise RequestError(
                    400, f"{where}: {value} is out of range for {_dtype_name(dtype)}")
            return value
    elif dtype.is_floating:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    else:
        raise RequestError(400, f"{where}: inputs of type {_dtype_name(dtype)} are not supported")
    raise RequestError(
        400, f"{where}: {json.dumps(value)} is not a valid {_dtype_name(dtype)} value")


def _to_tensor(value, spec: tf.TensorSpec, where: str) -> tf.Tensor:
    """A tensor of `spec`'s dtype from a JSON value, with its shape checked against `spec`."""
    try:
        tensor = tf.constant(_check_leaves(value, spec.dtype, where), dtype=spec.dtype)
    except (TypeError, ValueError) as error:
        raise RequestError(400, f"{where}: cannot make a {_dtype_name(spec.dtype)} tensor: "
                                f"{error}") from None
    if not spec.shape.is_compatible_with(tensor.shape):
        raise RequestError(400, f"{where}: shape {tensor.shape.as_list()} does not fit the "
                                f"signature's {spec.shape}")
    return tensor


def _is_named_inputs(value) -> bool:
    """True for a JSON object of named inputs (and not a {"b64": ...} value)."""
    return isinstance(value, dict) and not (set(value) == {"b64"})


def _check_names(given, specs: dict, where: str):
    missing, unknown = sorted(set(specs) - set(given)), sorted(set(given) - set(specs))
    if missing or unknown:
        raise RequestError(400, f"{where}: inputs must be exactly {sorted(specs)}; "
                                f"missing {missing}, unknown {unknown}")


def row_inputs(instances, specs: dict) -> tuple[dict, int]:
    """Tensors from row format: the list of instances is the batch dimension."""
    if not isinstance(instances, list) or not instances:
        raise RequestError(400, "'instances' must be a non-empty list, one item per example")
    named = [_is_named_inputs(item) for item in instances]
    if any(named) and not all(named):
        raise RequestError(400, "'instances' mixes named-input objects and plain values")
    if not all(named):
        if len(specs) != 1:
            raise RequestError(400, f"the signature takes {len(specs)} inputs {sorted(specs)}: "
                                    "each instance must be an object naming them")
        instances = [{next(iter(specs)): item} for item in instances]
    columns = {}
    for index, instance in enumerate(instances):
        _check_names(instance, specs, f"instance {index}")
    for name, spec in specs.items():
        columns[name] = _to_tensor([instance[name] for instance in instances], spec,
                                   f"input '{name}'")
    return columns, len(instances)


def columnar_inputs(inputs, specs: dict) -> dict:
    """Tensors from columnar format: a value for a single input, or an object of named inputs."""
    if not _is_named_inputs(inputs):
        if len(specs) != 1:
            raise RequestError(400, f"the signature takes {len(specs)} inputs {sorted(specs)}: "
                                    "'inputs' must be an object naming them")
        inputs = {next(iter(specs)): inputs}
    _check_names(inputs, specs, "'inputs'")
    return {name: _to_tensor(inputs[name], spec, f"input '{name}'") for name, spec in specs.items()}


def _string_to_json(value: bytes, as_b64: bool):
    if not as_b64:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def to_json(value, name: str):
    """An output (a session's array, or bytes for a scalar string) as nested JSON lists; strings as UTF-8 text
    when they decode, else {"b64": ...} (always {"b64": ...} for outputs named *_bytes, as in TF Serving)."""
    as_b64 = name.endswith("_bytes")
    if isinstance(value, bytes):
        return _string_to_json(value, as_b64)
    array = np.asarray(value)
    if array.dtype != object:
        return array.tolist()
    encode = np.frompyfunc(lambda item: _string_to_json(item, as_b64), 1, 1)
    return encode(array).tolist()
