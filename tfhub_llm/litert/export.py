"""``export_litert``: a task model as one ``.tflite`` file that takes raw strings, float or quantized.

The on-device graph is built for TFLite rather than converted from the training graph (whose
preprocessor uses ragged ops TFLite lacks): an :class:`~tfhub_llm.litert.tokenizer.OnDeviceTokenizer`
(TF Text's Fast* kernels), :func:`~tfhub_llm.tasks.packing.pack_segments` (builtins only), then
the model's own :class:`~tfhub_llm.tasks.serving.PackedSignature` on those inputs: the strings its
TF Serving export takes and the outputs it gives, as the task says them
(:class:`~tfhub_llm.tasks.base.PackedTask`).

Conversion uses TFLite builtins plus custom ops, not Select TF ops: TF Text's tokenizers are TFLite
custom ops, and the Flex delegate that Select TF ops need is not part of ai-edge-litert's
interpreter, nor of a plain LiteRT app. Ops of the encoder or head without a builtin kernel are
found right after conversion and refused by name (:func:`~tfhub_llm.litert.ops.unresolved_custom_ops`).
"""

from __future__ import annotations

import os
import pathlib

import tensorflow as tf
from tensorflow.lite.python.convert_phase import ConverterError

from tfhub_llm.atomic import atomic_file
from tfhub_llm.errors import InvalidArgumentError, InvalidArgumentTypeError, TargetExistsError
from tfhub_llm.hub_contract import string_input_specs
from tfhub_llm.layers.hub_layers import whole_batches
from tfhub_llm.litert.ops import LiteRTConversionError, unresolved_custom_ops
from tfhub_llm.litert.tokenizer import on_device_tokenizer
from tfhub_llm.tasks.base import PackedTask
from tfhub_llm.tasks.packing import pack_segments
from tfhub_llm.tasks.serving import PackedSignature, track_model

QUANTIZATIONS = (None, "dynamic_int8", "float16")


def _packed_signature(model) -> PackedSignature:
    if not isinstance(model, PackedTask):
        raise InvalidArgumentTypeError(
            f"export_litert exports a TextClassifier or TextEmbedder, not {type(model).__name__}: a task whose "
            "outputs come from one packed encoder row per text (tfhub_llm.tasks.base.PackedTask).")
    return model.packed_signature()


def on_device_function(model):
    """``(concrete function, trackable, tokenizer)``: the on-device graph of ``model`` over string inputs."""
    signature = _packed_signature(model)
    tokenizer = on_device_tokenizer(model.preprocessor, model.encoder)
    preprocessor = model.preprocessor

    def serve(*texts):
        segments = [tokenizer.tokenize(segment) for segment in texts]
        return signature.outputs(pack_segments(segments, preprocessor.max_seq_length, *preprocessor.special_ids))

    with whole_batches(model.encoder):
        function = tf.function(serve, input_signature=string_input_specs(signature.input_names)).get_concrete_function()
    trackable = tf.Module()
    track_model(trackable, model)
    return function, trackable, tokenizer


def convert(model: PackedTask, quantize: str | None = None) -> bytes:
    """The ``.tflite`` flatbuffer (bytes) of ``model``'s on-device graph; see :func:`export_litert`."""
    if quantize not in QUANTIZATIONS:
        raise InvalidArgumentError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}.")
    function, trackable, tokenizer = on_device_function(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], trackable)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True  # TF Text's tokenizer kernels are custom ops
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        flatbuffer = converter.convert()
    except ConverterError as error:
        raise LiteRTConversionError(
            f"TFLite cannot convert the model over the encoder {model.encoder.handle!r}: {error}") from error
    unresolved = unresolved_custom_ops(flatbuffer, tokenizer.custom_ops)
    if unresolved:
        raise LiteRTConversionError(
            f"The model over the encoder {model.encoder.handle!r} uses TensorFlow ops (in its encoder, head or "
            f"outputs) that have no TFLite builtin kernel: {', '.join(unresolved)}. They would need Select TF ops "
            "and the Flex delegate, which ai-edge-litert's interpreter does not ship; re-export the encoder "
            "without them.")
    return flatbuffer


def export_litert(model: PackedTask, path: str | os.PathLike, quantize: str | None = None,
                  overwrite: bool = False) -> str:
    """Writes ``model`` as a LiteRT (TFLite) model that takes raw strings.

    Args:
        model: a ``TextClassifier`` (single texts or pairs) or a ``TextEmbedder``.
        path: the ``.tflite`` file to write (atomically).
        quantize: None (float32), ``"dynamic_int8"`` (int8 weights, float activations) or ``"float16"``.
        overwrite: replace an existing file.

    The file's ``serving_default`` signature (:data:`~tfhub_llm.hub_contract.SERVING_SIGNATURE`) takes ``text``
    (and ``text_b``) strings ``[batch]`` and returns what the TF Serving export returns (``probabilities``,
    ``label``, ``label_name``, or ``value``; ``embedding`` for an embedder). Run it with :class:`tfhub_llm.litert.LiteRTModel` (or any
    LiteRT interpreter with TF Text's kernels).

    Returns:
        ``path`` as a string.
    """
    with atomic_file(path, overwrite=overwrite, exists_error=_exists_error) as temporary:
        pathlib.Path(temporary).write_bytes(convert(model, quantize))
    return str(path)


def _exists_error(path):
    return TargetExistsError(f"{path} already exists; pass overwrite=True (or --overwrite) to replace it")
