"""SavedModel exports for TF Serving: versioned, atomic, raw-text signatures, with warmup requests.

``export_for_serving(model, base_dir)`` writes ``base_dir/<version>/`` in TF Serving's layout::

    saved_model.pb  variables/  assets/  assets.extra/tf_serving_warmup_requests

TF Serving polls ``base_dir`` and loads any numeric folder it sees, so the export is written to a
non-numeric sibling (``.tmp-<version>-<pid>-<random>``, :func:`tfhub_llm.atomic.atomic_directory`)
and renamed into place once complete; on failure the sibling is removed. Versions count up from the highest numeric folder and are never
overwritten. The warmup file is a TFRecord of ``PredictionLog`` protos (tensorflow-serving-api)
that TF Serving replays at load time, so the first real request does not pay for graph setup.

What is saved is the model's own: a task says its signature (:class:`~tfhub_llm.tasks.base.ServedTask`),
and any other Keras model on raw text is exported through
:class:`~tfhub_llm.tf_serving.keras_model.KerasModelServing`; the warmup requests send the built-in sample
texts of the signature's inputs (:mod:`tfhub_llm.tasks.sample_texts`) unless others are given.
"""

from __future__ import annotations


import math
import os
import pathlib
import shutil

import keras
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from tfhub_llm.atomic import atomic_directory
from tfhub_llm.errors import InvalidArgumentError, InvalidArgumentTypeError, InvalidFileError, TargetExistsError
from tfhub_llm.hub.staging import process_alive
from tfhub_llm.hub.limits import MAX_WARMUP_FILE_BYTES, MAX_WARMUP_REQUESTS, MAX_WARMUP_TENSOR_BYTES
from tfhub_llm.hub.shape_rules import dtype_bytes
from tfhub_llm.hub_contract import SERVING_SIGNATURE
from tfhub_llm.tasks.base import ServedTask
from tfhub_llm.tasks.sample_texts import sample_texts
from tfhub_llm.tasks.serving import TextServing
from tfhub_llm.tf_serving.keras_model import KerasModelServing
from tfhub_llm.ascii_digits import is_ascii_digits

TEMP_PREFIX = ".tmp-"  # TF Serving ignores non-numeric folders
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # TF Serving reads at most this many warmup records

def export_for_serving(model: keras.Model, base_dir: str | os.PathLike, version: int | None = None,
                       warmup_inputs: dict[str, list[str]] | None = None) -> str:
    """Exports a ``TextClassifier``, ``SpanQuestionAnswerer``, ``TokenClassifier``, ``TextEmbedder``, or any Keras
    model on raw text (e.g. built with ``tfhub_llm.KerasLayer``, :mod:`tfhub_llm.tf_serving.keras_model`) as
    ``base_dir/<version>`` for TF Serving.

    Args:
        model: the trained task model, or a functional / Sequential Keras model whose inputs are strings ``[batch]``.
        base_dir: the model's base path in TF Serving (created when missing).
        version: the version number; default one more than the highest numeric folder in ``base_dir``.
        warmup_inputs: ``{input name: [strings]}`` for the warmup requests (default: the signature's own
            sample texts); the names are the signature's inputs, e.g. ``{"text": [...]}``.

    Returns:
        The path of the new version folder.
    """
    base_dir = pathlib.Path(base_dir)
    version = next_version(base_dir) if version is None else _checked_version(version)
    final_dir = base_dir / str(version)
    _refuse_existing(final_dir)
    serving_module = _serving_module(model)
    warmup_inputs = (sample_texts(serving_module.input_names) if warmup_inputs is None
                     else _checked_warmup_inputs(warmup_inputs, serving_module.input_names))
    base_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_exports(base_dir)
    prefix = f"{TEMP_PREFIX}{version}-{os.getpid()}-"
    with atomic_directory(final_dir, prefix=prefix, exists_error=_version_exists) as staging:
        serving_module.save(staging)
        write_warmup_requests(staging / WARMUP_FILE, warmup_inputs)
    return str(final_dir)


def _remove_abandoned_exports(base_dir):
    """Deletes temporary export folders whose exporting process is gone (killed mid-export)."""
    for path in base_dir.glob(f"{TEMP_PREFIX}*"):
        pid = path.name[len(TEMP_PREFIX):].split("-")[1:2]
        if pid and is_ascii_digits(pid[0]) and not process_alive(int(pid[0])):
            shutil.rmtree(path, ignore_errors=True)


def is_version_name(name: str) -> bool:
    """Whether a folder name in a base directory is a version: ASCII digits only ('²' passes str.isdigit())."""
    return is_ascii_digits(name)


def next_version(base_dir):
    """One more than the highest version folder in ``base_dir`` (1 when there is none)."""
    base_dir = pathlib.Path(base_dir)
    versions = [int(path.name) for path in base_dir.iterdir() if is_version_name(path.name)] if base_dir.is_dir() else []
    return max(versions, default=0) + 1


def _serving_module(model) -> TextServing:
    """The task's own serving module, else a plain Keras model's on raw text."""
    if isinstance(model, ServedTask):
        return model.serving_module()
    if isinstance(model, keras.Model):
        return KerasModelServing(model)
    raise InvalidArgumentTypeError(
        f"export_for_serving exports a TextClassifier, a SpanQuestionAnswerer, a TokenClassifier, a TextEmbedder or "
        f"a Keras model on raw text, not {type(model).__name__}.")


def _checked_version(version):
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidArgumentError(f"version must be a positive integer (TF Serving's version folders), got {version!r}.")
    return version


def _refuse_existing(final_dir):
    if final_dir.exists():
        raise _version_exists(final_dir)


def _version_exists(final_dir):
    return TargetExistsError(
        f"{final_dir} already exists: a served version is never overwritten. Omit version to export "
        f"version {next_version(final_dir.parent)}.")


def _checked_warmup_inputs(warmup_inputs, input_names):
    """``{name: list of str}`` with exactly the signature's inputs and the same number of rows in each."""
    if not isinstance(warmup_inputs, dict) or set(warmup_inputs) != set(input_names):
        given = sorted(warmup_inputs) if isinstance(warmup_inputs, dict) else type(warmup_inputs).__name__
        raise InvalidArgumentError(f"warmup_inputs must be a dict with exactly the inputs {list(input_names)}, got {given}.")
    rows = {name: list(values) for name, values in warmup_inputs.items()}
    counts = {name: len(values) for name, values in rows.items()}
    if len(set(counts.values())) != 1 or not 1 <= min(counts.values()) < MAX_WARMUP_RECORDS:
        raise InvalidArgumentError(f"warmup_inputs needs the same number (1 to {MAX_WARMUP_RECORDS - 1}) of rows in every "
                         f"input, got {counts}.")
    for name, values in rows.items():
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise InvalidArgumentError(f"warmup_inputs[{name!r}][{index}] is {type(value).__name__}, not str.")
    return rows


def warmup_requests(inputs):
    """``PredictionLog`` protos for ``inputs`` (``{name: [str]}``): one per row, then one with every row."""
    num_rows = len(next(iter(inputs.values())))
    batches = [slice(row, row + 1) for row in range(num_rows)] + [slice(0, num_rows)]
    logs = []
    for batch in batches:
        request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=SERVING_SIGNATURE))
        for name, values in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(values[batch], dtype=tf.string))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(path, inputs):
    """Writes the warmup requests of ``inputs`` as a TFRecord file at ``path``."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in warmup_requests(inputs):
            writer.write(log.SerializeToString())


def read_warmup_requests(path):
    """The ``PredictionLog`` protos of a warmup TFRecord file; a record that does not parse names its index.

    Capped as the file may come from an untrusted model: at most ``MAX_WARMUP_FILE_BYTES`` and
    ``MAX_WARMUP_REQUESTS`` records, each input tensor declaring at most ``MAX_WARMUP_TENSOR_BYTES``.
    """
    size = os.path.getsize(path)
    if size > MAX_WARMUP_FILE_BYTES:
        raise InvalidFileError(f"{path}: {size} bytes, more than the {MAX_WARMUP_FILE_BYTES} a warmup file may have")
    logs = []
    for index, record in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
        if index >= MAX_WARMUP_REQUESTS:
            raise InvalidFileError(f"{path}: more than {MAX_WARMUP_REQUESTS} warmup requests")
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record)
        except Exception as error:  # protobuf raises its own DecodeError
            raise InvalidFileError(f"{path}: record {index} is not a PredictionLog: {error}") from error
        for name, tensor in log.predict_log.request.inputs.items():
            declared = math.prod(max(dim.size, 0) for dim in tensor.tensor_shape.dim) * dtype_bytes(tensor.dtype)
            if declared > MAX_WARMUP_TENSOR_BYTES:
                raise InvalidFileError(f"{path}: record {index} input {name!r} declares {declared} bytes, more than "
                                       f"the {MAX_WARMUP_TENSOR_BYTES} a warmup tensor may have")
        logs.append(log)
    return logs
