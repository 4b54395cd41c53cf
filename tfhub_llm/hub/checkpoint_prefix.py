"""Checkpoint prefixes: whether a save / restore op writes or reads only inside the model's variables folder.

:func:`prefix_from_argument` accepts a checkpoint op whose prefix inputs are the function's file-name
argument plus constant suffixes (``StringJoin``, ``ShardedFilename``, ``Select`` of constants) that
contain no ``..``, ``\\`` or NUL, the layout TensorFlow's own saver writes.
"""

from __future__ import annotations

from tensorflow.core.framework import types_pb2

from tfhub_llm.hub.saved_model_graph import data_inputs

_CHECKPOINT_PREFIX_INPUTS = {"SaveV2": (0,), "RestoreV2": (0,), "MergeV2Checkpoints": (0, 1)}
_MAX_SUFFIXES = 64


def _constant_strings(name, nodes, depth=0) -> set[str] | None:
    """The strings a tensor can hold when it is a constant or a Select of constants; else None."""
    node = nodes.get(name)
    if node is None or depth > 16:
        return None
    if node.op == "Const":
        tensor = node.attr["value"].tensor
        if tensor.dtype == types_pb2.DT_STRING and not tensor.tensor_shape.dim and len(tensor.string_val) == 1:
            return {tensor.string_val[0].decode("utf-8", "replace")}
        return None
    inputs = data_inputs(node)
    if node.op == "Identity" and inputs:
        return _constant_strings(inputs[0], nodes, depth + 1)
    if node.op in ("Select", "SelectV2") and len(inputs) == 3:
        branches = [_constant_strings(i, nodes, depth + 1) for i in inputs[1:]]
        return None if None in branches else branches[0] | branches[1]
    return None


def _prefix_suffixes(name, nodes, prefix_arg, depth=0) -> set[str] | None:
    """What a tensor appends to the function's file-name argument, when it is that argument plus constants."""
    if name == prefix_arg:
        return {""}
    node = nodes.get(name)
    if node is None or depth > 32:
        return None
    inputs = data_inputs(node)
    if not inputs:
        return None
    if node.op == "Identity":
        return _prefix_suffixes(inputs[0], nodes, prefix_arg, depth + 1)
    if node.op == "ShardedFilename":
        heads = _prefix_suffixes(inputs[0], nodes, prefix_arg, depth + 1)
        return None if heads is None else {head + "-00000-of-00001" for head in heads}
    if node.op == "Pack":
        parts = [_prefix_suffixes(i, nodes, prefix_arg, depth + 1) for i in inputs]
        return None if None in parts else set().union(*parts)
    if node.op == "StringJoin":
        separator = node.attr["separator"].s.decode("utf-8", "replace")
        suffixes = _prefix_suffixes(inputs[0], nodes, prefix_arg, depth + 1)
        for tail in inputs[1:]:
            strings = _constant_strings(tail, nodes)
            if suffixes is None or strings is None:
                return None
            suffixes = {head + separator + string for head in suffixes for string in strings}
            if len(suffixes) > _MAX_SUFFIXES:
                return None
        return suffixes
    return None


def _is_safe_suffix(suffix: str) -> bool:
    """A suffix that keeps ``<dir>/variables/variables`` + suffix inside the variables folder."""
    return "\x00" not in suffix and "\\" not in suffix and not any(
        part in ("", ".", "..") for part in suffix.split("/")[1:])


def prefix_from_argument(function, node) -> bool:
    """Whether a checkpoint op's prefix inputs are the function's file-name argument plus safe constant suffixes."""
    args = function.signature.input_arg
    if not args or args[0].type != types_pb2.DT_STRING:
        return False
    nodes = {n.name: n for n in function.node_def}
    inputs = data_inputs(node)
    for index in _CHECKPOINT_PREFIX_INPUTS.get(node.op, ()):
        suffixes = _prefix_suffixes(inputs[index], nodes, args[0].name) if index < len(inputs) else None
        if suffixes is None or not all(_is_safe_suffix(suffix) for suffix in suffixes):
            return False
    return True
