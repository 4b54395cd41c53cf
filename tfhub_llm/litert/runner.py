"""``LiteRTModel``: runs a ``.tflite`` export from strings with ai-edge-litert and TF Text's kernels.

``ai_edge_litert.interpreter.InterpreterWithCustomOps`` takes the functions that register custom op
kernels (``tf.lite.Interpreter`` in TF 2.21 no longer does); TF Text's are
``tensorflow_text.core.pybinds.tflite_registrar.SELECT_TFTEXT_OPS``. ai-edge-litert is the optional
extra ``pip install "tfhub-llm[litert]"``.
"""

import os
import pathlib

import numpy as np
from tensorflow_text.core.pybinds import tflite_registrar

from tfhub_llm.errors import InvalidArgumentError, InvalidFileError, MissingFileError, UnsupportedPlatformError
from tfhub_llm.hub_contract import SERVING_SIGNATURE
from tfhub_llm.litert.ops import model_ops
from tfhub_llm.layers.micro_batches import DEFAULT_MICRO_BATCHES, sorted_parts


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import InterpreterWithCustomOps
    except ImportError as error:
        raise UnsupportedPlatformError(
            "Running LiteRT models needs ai-edge-litert: pip install \"tfhub-llm[litert]\"") from error
    return InterpreterWithCustomOps


class LiteRTModel:
    """A LiteRT model exported by :func:`tfhub_llm.export_litert`, called with strings.

    Args:
        path: the ``.tflite`` file.
        num_threads: interpreter threads (default: the interpreter's own choice).
        micro_batches: run a batch of at least ``micro_batches * 4`` texts as this many calls on texts of
            similar lengths (sorted by UTF-8 length), each padded only to its own longest, as
            ``HubEncoder`` does in the TF graph; ``1`` runs each batch in one call. The outputs are the
            same either way, in the input order.

    Example:
        >>> model = LiteRTModel("sentiment.tflite")
        >>> model(["a gripping, beautiful film"])["label_name"]
    """

    def __init__(self, path, num_threads=None, micro_batches=DEFAULT_MICRO_BATCHES):
        if micro_batches < 1:
            raise InvalidArgumentError(f"micro_batches must be at least 1, got {micro_batches}.")
        self.path = str(path)
        self.micro_batches = micro_batches
        if not os.path.isfile(self.path):
            raise MissingFileError(f"{self.path}: no such LiteRT model file")
        self.flatbuffer = pathlib.Path(self.path).read_bytes()
        try:
            self.interpreter = _interpreter_class()(
                model_content=self.flatbuffer, custom_op_registerers=tflite_registrar.SELECT_TFTEXT_OPS,
                num_threads=num_threads)
        except ValueError as error:  # not a flatbuffer, or an op without a kernel
            raise InvalidFileError(f"{self.path}: cannot load as a LiteRT model: {error}") from error
        signatures = self.interpreter.get_signature_list()
        if SERVING_SIGNATURE not in signatures:
            raise InvalidFileError(f"{self.path} has no {SERVING_SIGNATURE!r} signature (it has {sorted(signatures)}).")
        self.input_names = tuple(signatures[SERVING_SIGNATURE]["inputs"])
        self.output_names = tuple(signatures[SERVING_SIGNATURE]["outputs"])
        self._runner = self.interpreter.get_signature_runner(SERVING_SIGNATURE)

    @property
    def size_bytes(self):
        return len(self.flatbuffer)

    @property
    def ops(self):
        """``{op name: uses}``; custom ops as ``CUSTOM:<name>``."""
        return model_ops(self.flatbuffer)

    def __call__(self, text, text_b=None):
        """Outputs for a batch of strings (and their second texts, for a pair model) as numpy arrays.

        ``label_name`` comes back as ``str``s.
        """
        given = {"text": text} if text_b is None else {"text": text, "text_b": text_b}
        if set(given) != set(self.input_names):
            raise InvalidArgumentError(f"{self.path} takes the inputs {list(self.input_names)}, got {sorted(given)}.")
        inputs = {name: np.array([_utf8(value) for value in values], dtype=object) for name, values in given.items()}
        if len({len(values) for values in inputs.values()}) != 1:
            raise InvalidArgumentError(f"text and text_b need the same number of rows, got "
                             f"{[len(values) for values in inputs.values()]}.")
        lengths = np.sum([[len(value) for value in values] for values in inputs.values()], axis=0)
        parts = sorted_parts(lengths, self.micro_batches)
        results = [self._runner(**{name: values[rows] for name, values in inputs.items()}) for rows in parts]
        restore = np.argsort(np.concatenate(parts))
        return {name: _decoded(np.concatenate([result[name] for result in results])[restore])
                for name in results[0]}


def _decoded(value):
    return np.char.decode(value.astype(bytes), "utf-8") if value.dtype == object else value


def _utf8(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)
