"""Per-op size rules: from the bounds of an op's inputs, a bound of its output, without running anything.

:class:`Bound` is what is known of one tensor: upper bounds of its element count and bytes (None =
unknown), its exact shape and small integer value when they follow from constants, and whether it
depends on the call's inputs. :func:`rule_of` gives each op type's rule: broadcasting (``SelectV2``,
``AddV2`` ...) yields the broadcast shape and folds small integer arithmetic, ``Pack`` / ``ConcatV2``
the sum of their inputs (the same input repeated counts each time), ``Fill`` / ``BroadcastTo`` /
``Tile`` / ``Range`` and every op whose registration takes a ``shape`` / ``dims`` input the sizes
their constant inputs name, tables their size attributes (``MutableDenseHashTableV2``: buckets x key
and value width), checkpoint and variable reads and vocabulary files the sizes of the model's files
(:class:`FileSizes`). An op without a rule has no bound.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy
from tensorflow.core.framework import types_pb2

from tfhub_llm.hub.saved_model_graph import registered_op_def

_DTYPE_BYTES = {types_pb2.DT_BOOL: 1, types_pb2.DT_INT8: 1, types_pb2.DT_UINT8: 1, types_pb2.DT_INT16: 2,
                types_pb2.DT_UINT16: 2, types_pb2.DT_HALF: 2, types_pb2.DT_BFLOAT16: 2, types_pb2.DT_INT32: 4,
                types_pb2.DT_UINT32: 4, types_pb2.DT_FLOAT: 4}  # others: 8 (64-bit, complex64, strings)
_STRING_ELEMENT_BYTES = 32  # a tstring's own size; longer strings add their characters
GIVEN_BYTES = 4096  # what the loader hands a load-time function: a checkpoint path, an asset path, a handle
_TABLE_ENTRY_BYTES = 64  # per entry of a table filled from a vocabulary file (hash node, two tensors)
_PARSED_MODEL_FACTOR = 16  # a SentencePiece model parsed from its serialized attr
_MAX_VALUE_ELEMENTS = 64  # integer tensors whose values the pass tracks (shapes, multiples, ranges)
_MAX_RANK = 254
# Input argument names through which an op's registration takes the shape of what it allocates.
_SHAPE_ARGS = ("shape", "dims", "output_shape", "dense_shape", "element_shape")


def dtype_bytes(dtype: int) -> int:
    """Bytes per element of a ``DataType`` enum value (strings: the fixed part)."""
    if dtype == types_pb2.DT_STRING:
        return _STRING_ELEMENT_BYTES
    return _DTYPE_BYTES.get(dtype, 8)


@dataclasses.dataclass(frozen=True)
class Bound:
    """What the pass knows of one tensor: upper bounds (None = unknown), exact shape and small values."""

    elements: int | None
    nbytes: int | None
    shape: tuple[int, ...] | None = None
    value: tuple[int, ...] | None = None
    from_inputs: bool = False


@dataclasses.dataclass(frozen=True)
class FileSizes:
    """Bytes of the model's files that load-time ops read: the checkpoint and the assets."""

    variables: int
    assets: int


INPUT = Bound(None, None, from_inputs=True)
UNKNOWN = Bound(None, None)
HANDLE = Bound(1, GIVEN_BYTES, ())


def _sized(elements, per_element, shape=None, from_inputs=False) -> Bound:
    if elements is None or per_element is None:
        return Bound(None, None, shape, None, from_inputs)
    return Bound(elements, elements * per_element, shape, None, from_inputs)


def const_bound(node) -> Bound:
    """A constant's bound from its declared shape: a few stored values can expand to the whole shape."""
    tensor = node.attr["value"].tensor
    shape = tuple(max(dim.size, 0) for dim in tensor.tensor_shape.dim)
    elements = math.prod(shape)
    if tensor.dtype == types_pb2.DT_STRING:
        longest = max((len(s) for s in tensor.string_val), default=0)
        nbytes = elements * (_STRING_ELEMENT_BYTES + longest)
    else:
        nbytes = max(elements * dtype_bytes(tensor.dtype), len(tensor.tensor_content))
    value = None
    if tensor.dtype in (types_pb2.DT_INT32, types_pb2.DT_INT64) and elements <= _MAX_VALUE_ELEMENTS:
        from tensorflow.python.framework import tensor_util  # small: at most _MAX_VALUE_ELEMENTS values

        try:
            value = tuple(int(v) for v in tensor_util.MakeNdarray(tensor).reshape(-1))
        except (ValueError, TypeError):  # a malformed constant: its value stays unknown
            value = None
    return Bound(elements, nbytes, shape, value)


def _out_bytes(node, inputs) -> int | None:
    """Bytes per output element: the node's dtype attribute, else the widest element of its inputs."""
    for attr in ("dtype", "T", "out_type", "DstT", "Tidx"):
        if attr in node.attr and node.attr[attr].type:
            dtype = node.attr[attr].type
            if dtype != types_pb2.DT_STRING:
                return dtype_bytes(dtype)
    widest = [b.nbytes // max(b.elements, 1) for b in inputs if b.nbytes is not None and b.elements]
    return max(widest + [8]) if len(widest) == len(inputs) else None


def _broadcast(inputs) -> tuple[int | None, tuple | None]:
    """Elements and shape of the broadcast of ``inputs``: exact for known shapes, else at most their product."""
    shapes = [b.shape for b in inputs]
    if all(shape is not None for shape in shapes):
        rank = max(len(shape) for shape in shapes)
        dims = []
        for position in range(rank):
            sizes = {shape[position - rank + len(shape)] for shape in shapes if position - rank + len(shape) >= 0}
            sizes.discard(1)
            if len(sizes) > 1:
                return None, None
            dims.append(sizes.pop() if sizes else 1)
        return math.prod(dims), tuple(dims)
    counts = [b.elements for b in inputs]
    return (None, None) if None in counts else (math.prod(counts), None)


def merge(bounds) -> Bound:
    """One bound for any of several tensors (a node's outputs, a join of call results)."""
    bounds = list(bounds) or [Bound(0, 0, ())]
    elements = [b.elements for b in bounds]
    nbytes = [b.nbytes for b in bounds]
    shapes = {b.shape for b in bounds}
    values = {b.value for b in bounds}
    return Bound(None if None in elements else max(elements), None if None in nbytes else max(nbytes),
                 shapes.pop() if len(shapes) == 1 else None, values.pop() if len(values) == 1 else None,
                 any(b.from_inputs for b in bounds))


def _total(bounds) -> Bound:
    """The bound of a tensor holding all of ``bounds`` (Pack, ConcatV2, StringJoin's characters)."""
    bounds = list(bounds)
    elements = [b.elements for b in bounds]
    nbytes = [b.nbytes for b in bounds]
    return Bound(None if None in elements else sum(elements), None if None in nbytes else sum(nbytes),
                 None, None, any(b.from_inputs for b in bounds))


# ---------------------------------------------------------------- the rules: (node, input bounds, files) → bound


def _same(node, inputs, files) -> Bound:
    return inputs[0] if inputs else UNKNOWN


def _elementwise(node, inputs, files) -> Bound:
    elements, shape = _broadcast(inputs)
    bound = _sized(elements, _out_bytes(node, inputs), shape, any(b.from_inputs for b in inputs))
    return dataclasses.replace(bound, value=_folded(node.op, inputs, shape))


def _folded(op, inputs, shape) -> tuple[int, ...] | None:
    """The value of integer arithmetic on small known values (shape computations), else None."""
    if op not in _FOLDABLE or shape is None or any(b.value is None or b.shape is None for b in inputs):
        return None
    try:
        arrays = [numpy.asarray(b.value, numpy.int64).reshape(b.shape) for b in inputs]
        with numpy.errstate(all="ignore"):
            return tuple(int(v) for v in numpy.broadcast_to(_FOLDABLE[op](*arrays), shape).reshape(-1))
    except ValueError:  # values that do not fit their shapes (a malformed graph): unknown
        return None


def _select_v1(node, inputs, files) -> Bound:
    return merge(inputs[1:])


def _pack(node, inputs, files) -> Bound:
    bound = _total(inputs)
    shapes = {b.shape for b in inputs}
    values = [b.value for b in inputs]
    shape = (len(inputs),) + shapes.pop() if len(shapes) == 1 and None not in shapes else None
    value = tuple(v[0] for v in values) if all(v is not None and len(v) == 1 for v in values) else None
    return dataclasses.replace(bound, shape=shape if node.attr["axis"].i == 0 else None, value=value)


def _concat(node, inputs, files) -> Bound:
    return _total(inputs[:-1])


def _string_join(node, inputs, files) -> Bound:
    elements, shape = _broadcast(inputs)
    characters = _total(inputs).nbytes
    return _sized(elements, None if characters is None else characters + _STRING_ELEMENT_BYTES, shape,
                  any(b.from_inputs for b in inputs))


def _shape_of(node, inputs, files) -> Bound:
    source = inputs[0] if inputs else UNKNOWN
    if node.op == "Shape":
        rank = len(source.shape) if source.shape is not None else _MAX_RANK
        return Bound(rank, rank * 8, (rank,), source.shape, source.from_inputs)
    known = source.shape is not None
    value = (math.prod(source.shape) if node.op == "Size" else len(source.shape),) if known else None
    return Bound(1, 8, (), value, source.from_inputs)


def _reshape(node, inputs, files) -> Bound:
    shape = inputs[1].value if len(inputs) > 1 and inputs[1].value and -1 not in inputs[1].value else None
    return dataclasses.replace(inputs[0], shape=shape, from_inputs=any(b.from_inputs for b in inputs))


def _tile(node, inputs, files) -> Bound:
    source, multiples = inputs
    from_inputs = source.from_inputs or multiples.from_inputs
    if multiples.value is None or source.elements is None:
        return Bound(None, None, from_inputs=from_inputs)
    factor = math.prod(max(m, 0) for m in multiples.value)
    shape = tuple(d * m for d, m in zip(source.shape, multiples.value)) if source.shape is not None else None
    return Bound(source.elements * factor, source.nbytes * factor, shape, None, from_inputs)


def _range(node, inputs, files) -> Bound:
    values = [b.value for b in inputs[:3]]
    from_inputs = any(b.from_inputs for b in inputs)
    if any(v is None or len(v) != 1 for v in values) or values[2][0] == 0:
        return Bound(None, None, from_inputs=from_inputs)
    (start,), (limit,), (delta,) = values
    count = max(math.ceil((limit - start) / delta), 0)
    return _sized(count, _out_bytes(node, inputs), (count,), from_inputs)


def _shaped_by_argument(index):
    """The rule of an op that allocates the shape its ``index``-th input names (Fill, BroadcastTo, Empty, ...)."""

    def rule(node, inputs, files) -> Bound:
        shape = inputs[index] if index < len(inputs) else UNKNOWN
        from_inputs = any(b.from_inputs for b in inputs)
        if shape.value is None or any(d < 0 for d in shape.value):
            return Bound(None, None, from_inputs=from_inputs)
        others = [b for i, b in enumerate(inputs) if i != index]
        return _sized(math.prod(shape.value), _out_bytes(node, others), tuple(shape.value), from_inputs)

    return rule


def _dense_table(node, inputs, files) -> Bound:
    """A MutableDenseHashTableV2 allocates its buckets up front: (rounded up) buckets × (key + value) bytes."""
    key = inputs[0] if inputs else UNKNOWN
    value_shape = [max(dim.size, 0) for dim in node.attr["value_shape"].shape.dim]
    if key.nbytes is None or node.attr["value_shape"].shape.unknown_rank:
        return UNKNOWN
    buckets = 1 << max(int(node.attr["initial_num_buckets"].i) - 1, 0).bit_length()
    per_bucket = key.nbytes + math.prod(value_shape) * dtype_bytes(node.attr["value_dtype"].type)
    return Bound(1, buckets * per_bucket, ())


def _copies_inputs(node, inputs, files) -> Bound:
    """A table fill or variable assignment keeps a copy of what it is given."""
    return dataclasses.replace(_total(inputs[1:]), shape=())


def _checkpoint_read(node, inputs, files) -> Bound:
    return Bound(files.variables, files.variables)


def _variable(node, inputs, files) -> Bound:
    """A variable handle stands for the variable's content: its declared shape, else the whole checkpoint."""
    return variable_bound(node.attr["shape"].shape, node.attr["dtype"].type, files)


def variable_bound(shape, dtype, files) -> Bound:
    dims = tuple(dim.size for dim in shape.dim)
    if shape.unknown_rank or any(d < 0 for d in dims):
        return Bound(files.variables, files.variables)
    return Bound(math.prod(dims), math.prod(dims) * dtype_bytes(dtype), dims)


def _read_variable(node, inputs, files) -> Bound:
    handle = inputs[0] if inputs else UNKNOWN
    return handle if handle.elements is not None else Bound(files.variables, files.variables)


def _table_export(node, inputs, files) -> Bound:
    entries = files.variables + files.assets
    return Bound(entries, entries * (_TABLE_ENTRY_BYTES + 1))


def _text_file_table(node, inputs, files) -> Bound:
    return Bound(1, files.assets * 2 + (files.assets + 1) * _TABLE_ENTRY_BYTES, ())


def _parsed_model(node, inputs, files) -> Bound:
    return Bound(1, len(node.attr["model_proto"].s) * _PARSED_MODEL_FACTOR, ())


def _handle(node, inputs, files) -> Bound:
    return HANDLE


def _nothing(node, inputs, files) -> Bound:
    return Bound(0, 0, ())


_ELEMENTWISE = ("Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "FloorDiv", "FloorMod", "Maximum", "Minimum",
                "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr",
                "LogicalNot", "SelectV2", "Cast", "Neg", "Abs", "Sqrt", "Rsqrt", "Exp", "Log", "Square", "Tanh",
                "Sigmoid", "ZerosLike", "OnesLike", "StaticRegexFullMatch", "Pow", "BiasAdd", "Relu", "Erf")
_FOLDABLE = {"Add": numpy.add, "AddV2": numpy.add, "Sub": numpy.subtract, "Mul": numpy.multiply,
             "Maximum": numpy.maximum, "Minimum": numpy.minimum, "Neg": numpy.negative, "Abs": numpy.abs,
             "Cast": lambda x: x}
_RULES = {
    **{op: _elementwise for op in _ELEMENTWISE},
    **{op: _same for op in ("Identity", "IdentityN", "StopGradient", "Snapshot", "PreventGradient", "EnsureShape",
                            "ExpandDims", "Squeeze", "ShardedFilename")},
    **{op: _shape_of for op in ("Shape", "Size", "Rank")},
    **{op: _handle for op in ("HashTableV2", "MutableHashTableV2", "MutableHashTableOfTensorsV2",
                              "VarIsInitializedOp", "LookupTableSizeV2")},
    **{op: _nothing for op in ("NoOp", "DestroyResourceOp", "DisableCopyOnRead", "SaveV2", "MergeV2Checkpoints",
                               "AssignVariableOp")},  # an assignment keeps the value it is given, counted there
    **{op: _copies_inputs for op in ("InitializeTableV2", "LookupTableImportV2", "LookupTableInsertV2")},
    "RestoreV2": _checkpoint_read, "VarHandleOp": _variable, "ReadVariableOp": _read_variable,
    "Const": lambda node, inputs, files: const_bound(node), "Placeholder": lambda node, inputs, files: UNKNOWN,
    "Select": _select_v1, "Pack": _pack, "ConcatV2": _concat, "StringJoin": _string_join,
    "Reshape": _reshape, "Tile": _tile, "Range": _range, "MutableDenseHashTableV2": _dense_table,
    "LookupTableExportV2": _table_export, "InitializeTableFromTextFileV2": _text_file_table,
    "SentencepieceOp": _parsed_model,
}


_EXPANDING = frozenset({"Tile", "Range", "MutableDenseHashTableV2"})
# Ops whose output is (a view of) memory that exists already: what they output is not allocated again.
ALIASES = frozenset({"Identity", "IdentityN", "StopGradient", "Snapshot", "PreventGradient", "EnsureShape",
                      "ExpandDims", "Squeeze", "Reshape", "VarHandleOp", "ReadVariableOp", "Placeholder"})


@functools.cache
def _registry_rule(op: str):
    """The rule of an op whose registration takes the shape it allocates as an input (``shape``, ``dims``, ...)."""
    op_def = registered_op_def(op)
    if op_def is None or len(op_def.output_arg) != 1:
        return None
    names = [arg.name for arg in op_def.input_arg]
    index = next((names.index(name) for name in _SHAPE_ARGS if name in names), None)
    return None if index is None else _shaped_by_argument(index)


def expands(op: str) -> bool:
    """Whether an op's output size comes from the values of its inputs (a shape, multiples, a range, a size
    attribute) rather than from their sizes: where an unknown value means an unbounded allocation."""
    return op in _EXPANDING or (op not in _RULES and _registry_rule(op) is not None)


def rule_of(op: str):
    """The size rule of an op type, or None when the pass cannot bound its output."""
    return _RULES.get(op) or _registry_rule(op)
