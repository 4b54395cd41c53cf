"""The ops of a LiteRT model: listing them from the flatbuffer, and the error for ops that do not convert.

The on-device graphs are converted with TFLite builtins plus custom ops (``allow_custom_ops``), so
that TF Text's tokenizer kernels can run. The converter then turns *any* TensorFlow op without a
builtin kernel into a custom op, and the interpreter only fails on it when it loads the model.
:func:`unresolved_custom_ops` finds them right after conversion: every custom op of the model that
is not one of TF Text's TFLite kernels the graph was built with.
"""

import collections

from tensorflow.lite.python import schema_py_generated as schema

from tfhub_llm.errors import TfhubLlmError

_BUILTIN_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


class LiteRTConversionError(TfhubLlmError, ValueError):
    """A model that cannot become a LiteRT model that runs; the message names the model part or ops at fault."""


def model_ops(flatbuffer):
    """``{op name: number of uses}`` of a ``.tflite`` model's graphs; custom ops by their custom code."""
    model = schema.Model.GetRootAs(flatbuffer, 0)
    names = []
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())  # small codes live in the deprecated field
        name = _BUILTIN_NAMES.get(builtin, f"builtin {builtin}")
        names.append(f"{name}:{code.CustomCode().decode()}" if name == "CUSTOM" else name)
    counts = collections.Counter()
    for subgraph_index in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(subgraph_index)
        for op_index in range(subgraph.OperatorsLength()):
            counts[names[subgraph.Operators(op_index).OpcodeIndex()]] += 1
    return dict(counts)


def custom_op_names(op_names):
    """The custom ops among ``op_names`` (as :func:`model_ops` names them), by their custom code, sorted."""
    return sorted(name.split(":", 1)[1] for name in op_names if name.startswith("CUSTOM:"))


def custom_ops(flatbuffer):
    """The custom op names a ``.tflite`` model needs (each must be registered with the interpreter)."""
    return custom_op_names(model_ops(flatbuffer))


def unresolved_custom_ops(flatbuffer, provided):
    """The model's custom ops that are not in ``provided`` (the TF Text kernels its tokenizer uses)."""
    return [name for name in custom_ops(flatbuffer) if name not in set(provided)]
