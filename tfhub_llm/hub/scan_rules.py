"""The scan's rules: which op may stand where in a SavedModel's graphs, and why the others are refused.

:func:`graph_findings` applies them to a parsed ``saved_model.pb`` (nothing runs) and returns a
:class:`Finding` per refused op; :mod:`tfhub_llm.hub.security` is the entry point that reads the
files, adds the asset checks and raises. The rules, each one function below:

* every op is on the policy's allow-list, or is a denied op in the one place its family is accepted:
  checkpoint writes in the save function and reads in the restore function that the MetaGraph's
  ``saver_def`` names (TensorFlow's own layout, nothing else naming them), with the checkpoint
  prefix built from the function's file-name argument plus constant suffixes without ``..``;
  text-file table initializers on an asset bound to their function or handed down through plain
  1:1 calls (never through If / Case / While). TF1 checkpoint ops are refused everywhere, and
  saveable objects' functions (TensorFlow runs both while restoring) may hold no denied op;
* calls name functions of the library, through the attributes TensorFlow really calls;
* ``Stateless*`` control flow holds no stateful op in its bodies;
* load-time code (resources' creators, initializers and destroyers, saveable objects' and the
  saver's functions, the top-level init and restore ops, and all they call) uses only
  ``LOAD_TIME_OPS``, so a load takes time and memory linear in the model's files;
* no constant expands to more than ``MAX_CONST_BYTES`` from fewer stored values;
* every asset object names an existing asset file entry.
"""

from __future__ import annotations

import dataclasses
import functools

from tensorflow.core.framework import types_pb2

from tfhub_llm.hub.saved_model_graph import (
    CALL_ATTRS,
    PLAIN_CALL_OPS,
    TOP_LEVEL_GRAPH,
    Graph,
    Reference,
    build_graph,
    closure,
    data_inputs,
    function_attrs,
    tensor_node,
)

ASSETS = "<assets>"
# What load-time code may run: resources, variables, tables, checkpoint reads, string plumbing of the
# saver. Nothing loops, nothing allocates more than its inputs hold.
LOAD_TIME_OPS = frozenset({
    "Const", "Identity", "IdentityN", "NoOp", "Placeholder", "StopGradient",
    "VarHandleOp", "VarIsInitializedOp", "AssignVariableOp", "ReadVariableOp", "DestroyResourceOp",
    "DisableCopyOnRead",
    "HashTableV2", "MutableHashTableV2", "MutableHashTableOfTensorsV2", "MutableDenseHashTableV2",
    "InitializeTableV2", "InitializeTableFromTextFileV2", "LookupTableImportV2", "LookupTableExportV2",
    "LookupTableInsertV2", "LookupTableSizeV2",
    "RestoreV2", "SaveV2", "MergeV2Checkpoints", "ShardedFilename", "StringJoin", "StaticRegexFullMatch",
    "Select", "SelectV2", "Pack",
    "PartitionedCall", "StatefulPartitionedCall",
})
MAX_CONST_BYTES = 64 << 20
SAVE_SCOPE = "checkpoint_save"
RESTORE_SCOPE = "checkpoint_restore"
ASSET_SCOPE = "asset"
_V1_CHECKPOINT_OPS = frozenset({"Save", "SaveSlices", "Restore", "RestoreSlice"})
_CHECKPOINT_PREFIX_INPUTS = {"SaveV2": (0,), "RestoreV2": (0,), "MergeV2Checkpoints": (0, 1)}
_RESOURCE_FUNCTIONS = frozenset({"_create_resource", "_initialize", "_destroy_resource"})
_INIT_OP_SIGNATURE = "__saved_model_init_op"
_MAX_SUFFIXES = 64
_NOT_ALLOWED_REASON = "not on the allow-list of ops BERT encoders and preprocessors need"
_LOAD_TIME_REASON = ("runs while the model loads, where only resource, variable, table and checkpoint ops "
                     "may run (no loops, no allocation sized by a value), so a load cannot hang or exhaust memory")
_STATELESS_BODY_REASON = ("a stateful op inside the body of {op} {node!r}: TensorFlow may run such bodies "
                          "any number of times, or none, at graph-optimisation time")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One op of one function (or one asset) that the policy refuses."""

    function: str
    op: str
    reason: str


@dataclasses.dataclass(frozen=True)
class Policy:
    """The op lists: allowed ops, each denied op's reason, and the one scope where a denied op is accepted."""

    allowed: frozenset[str]
    denied_reason: dict[str, str]
    permitted_in: dict[str, str]


# ---------------------------------------------------------------- roles: saver, saveable objects, load time


@dataclasses.dataclass(frozen=True)
class _Roles:
    save: str | None
    restore: str | None
    saveable: frozenset[str]
    load_time: frozenset[str]
    load_time_top: frozenset[str]


def _saver_function(graph: Graph, tensor_name: str) -> str | None:
    """The function a saver_def entry runs, when it has TensorFlow's own layout; else None.

    The layout: a top-level call node whose first input is the saver's file-name placeholder,
    calling a function that nothing else names (no other node, attribute or object).
    """
    node = graph.top.get(tensor_node(tensor_name)) if tensor_name else None
    filename = graph.top.get(tensor_node(graph.meta_graph.saver_def.filename_tensor_name))
    if node is None or node.op not in PLAIN_CALL_OPS or filename is None or filename.op != "Placeholder":
        return None
    name = node.attr["f"].func.name
    inputs = data_inputs(node)
    if name not in graph.library or not inputs or inputs[0] != filename.name:
        return None
    if graph.references.get(name) != [Reference(TOP_LEVEL_GRAPH, node, "f")]:
        return None
    return name


def _saveable_functions(graph: Graph) -> set[str]:
    """Saveable objects' save and restore functions: TensorFlow runs both while restoring."""
    functions = set()
    for obj in graph.meta_graph.object_graph_def.nodes:
        for saveable in obj.saveable_objects.values():
            for node_id in (saveable.save_function, saveable.restore_function):
                if node_id:
                    functions.update(graph.object_functions(node_id))
    return functions


def _load_time_code(graph: Graph, saver_functions) -> tuple[set[str], set[str]]:
    """Functions and top-level nodes that run while a model loads (over-approximated: any reference is a call)."""
    meta_graph = graph.meta_graph
    objects = meta_graph.object_graph_def
    roots = set(saver_functions) | _saveable_functions(graph)
    for obj in objects.nodes:
        for child in obj.children:
            if child.local_name in _RESOURCE_FUNCTIONS:
                roots.update(graph.object_functions(child.node_id))
    top_roots = {meta_graph.saver_def.restore_op_name, meta_graph.saver_def.save_tensor_name}
    for collection in meta_graph.collection_def.values():
        top_roots.update(collection.node_list.value)
    init = meta_graph.signature_def.get(_INIT_OP_SIGNATURE)
    if init is not None:
        top_roots.update(tensor.name for tensor in init.outputs.values())
    top_nodes = closure({tensor_node(name) for name in top_roots if name},
                        lambda name: [tensor_node(i) for i in graph.top[name].input] if name in graph.top else [])
    top_nodes &= graph.top.keys()
    for name in top_nodes:
        node = graph.top[name]
        roots.update(called for _, called in function_attrs(node))
        roots.update({node.op} & graph.library.keys())
    return closure(roots & graph.library.keys(), graph.named_by), top_nodes


def _roles(graph: Graph) -> _Roles:
    saver = graph.meta_graph.saver_def
    save = _saver_function(graph, saver.save_tensor_name)
    restore = _saver_function(graph, saver.restore_op_name)
    if save == restore:
        save = restore = None
    load_time, load_time_top = _load_time_code(graph, {save, restore} - {None})
    return _Roles(save, restore, frozenset(_saveable_functions(graph)), frozenset(load_time),
                  frozenset(load_time_top))


# ---------------------------------------------------------------- checkpoint prefixes


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


def _prefix_from_argument(function, node) -> bool:
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


# ---------------------------------------------------------------- table initializers and their assets


def _top_level_asset_tensors(graph: Graph) -> set[str]:
    return {tensor_node(asset.tensor_info.name) for asset in graph.meta_graph.asset_file_def}


def _reads_bound_asset(node, unit: str, graph: Graph) -> bool:
    """Whether a table initializer's file name is one of the SavedModel's own assets."""
    inputs = data_inputs(node)
    if len(inputs) < 2:
        return False
    if unit == TOP_LEVEL_GRAPH:
        return inputs[1] in _top_level_asset_tensors(graph)
    return _argument_is_asset(unit, inputs[1], graph, frozenset())


def _argument_is_asset(function_name, argument, graph: Graph, visited) -> bool:
    """Whether a function's argument is bound to an asset, or handed one by every reference to the function.

    Only plain 1:1 calls (PartitionedCall, StatefulPartitionedCall, a call by op type) hand
    arguments down; any other reference (If / Case / While branches and bodies, other
    attributes, an object-graph function that callers call with their own values) does not.
    """
    arg_names = [arg.name for arg in graph.library[function_name].signature.input_arg]
    if argument not in arg_names or function_name in visited:
        return False
    index = arg_names.index(argument)
    objects = graph.meta_graph.object_graph_def
    if function_name in objects.concrete_functions:
        bound = objects.concrete_functions[function_name].bound_inputs
        position = index - (len(arg_names) - len(bound))
        if position >= 0:
            return 0 <= bound[position] < len(objects.nodes) and \
                objects.nodes[bound[position]].WhichOneof("kind") == "asset"
    references = graph.references.get(function_name, [])
    return bool(references) and all(
        _hands_down_asset(reference, index, graph, visited | {function_name}) for reference in references)


def _hands_down_asset(reference: Reference, index: int, graph: Graph, visited) -> bool:
    plain_call = reference.attr is None or (reference.attr == "f" and reference.node.op in PLAIN_CALL_OPS)
    if reference.node is None or not plain_call:
        return False
    inputs = data_inputs(reference.node)
    if index >= len(inputs):
        return False
    if reference.unit == TOP_LEVEL_GRAPH:
        return inputs[index] in _top_level_asset_tensors(graph)
    return _argument_is_asset(reference.unit, inputs[index], graph, visited)


# ---------------------------------------------------------------- the rules per node


def _is_permitted_denied_op(unit: str, node, graph: Graph, roles: _Roles, policy: Policy) -> bool:
    """Whether a denied op stands in the one place its family is accepted."""
    op = node.op
    scope = policy.permitted_in.get(op)
    if op in _V1_CHECKPOINT_OPS or unit in roles.saveable:
        return False
    if scope == SAVE_SCOPE:
        return unit == roles.save and _prefix_from_argument(graph.library[unit], node)
    if scope == RESTORE_SCOPE:
        return unit == roles.restore and _prefix_from_argument(graph.library[unit], node)
    if scope == ASSET_SCOPE:
        return _reads_bound_asset(node, unit, graph)
    return False


def _expanded_const_bytes(node) -> int:
    """Bytes a Const node expands to beyond what it stores (its last stored value fills the rest of its shape)."""
    if node.op != "Const":
        return 0
    tensor = node.attr["value"].tensor
    if tensor.tensor_content:
        return 0
    elements = 1
    for dim in tensor.tensor_shape.dim:
        elements *= max(dim.size, 0)
    stored = max((len(value) for field, value in tensor.ListFields() if field.name.endswith("_val")), default=0)
    return max(elements - stored, 0) * _DTYPE_BYTES.get(tensor.dtype, 8)


_DTYPE_BYTES = {types_pb2.DT_BOOL: 1, types_pb2.DT_INT8: 1, types_pb2.DT_UINT8: 1, types_pb2.DT_INT16: 2,
                types_pb2.DT_UINT16: 2, types_pb2.DT_HALF: 2, types_pb2.DT_BFLOAT16: 2, types_pb2.DT_INT32: 4,
                types_pb2.DT_UINT32: 4, types_pb2.DT_FLOAT: 4}  # others: 8 (64-bit, complex64, strings)


def _node_refusal(unit: str, node, graph: Graph, roles: _Roles, policy: Policy) -> str | None:
    """Why a node is refused, or None."""
    missing = sorted({name for _, name in function_attrs(node) if name not in graph.library})
    if missing:
        return f"calls {missing[0]!r}, which is not a function of the SavedModel's library"
    if node.op in graph.library:
        return None
    if node.op not in policy.allowed and not _is_permitted_denied_op(unit, node, graph, roles, policy):
        return policy.denied_reason.get(node.op, _NOT_ALLOWED_REASON)
    load_time = unit in roles.load_time or (unit == TOP_LEVEL_GRAPH and node.name in roles.load_time_top)
    if load_time and node.op not in LOAD_TIME_OPS:
        return _LOAD_TIME_REASON
    expanded = _expanded_const_bytes(node)
    if expanded > MAX_CONST_BYTES:
        return f"a constant that expands a few stored values to {expanded / 2**20:.0f} MiB"
    return None


@functools.cache
def _registered_op_defs():
    from tensorflow.python.framework import op_def_registry  # the op registry has no public API

    try:
        import tensorflow_text  # noqa: F401  (registers the TF Text ops preprocessors use)
    except ImportError:
        pass
    return op_def_registry


def _is_stateful(op: str) -> bool:
    op_def = _registered_op_defs().get(op)
    return op_def is None or op_def.is_stateful


def _stateless_body_findings(graph: Graph):
    """Stateful ops in the bodies (and their callees) of StatelessIf / StatelessWhile / StatelessCase."""
    for unit, nodes in graph.units():
        for node in nodes:
            if not node.op.startswith("Stateless"):
                continue
            bodies = {name for attr, name in function_attrs(node) if attr in CALL_ATTRS}
            for body in closure(bodies & graph.library.keys(), graph.real_calls_of):
                for inner in graph.library[body].node_def:
                    if inner.op not in graph.library and _is_stateful(inner.op):
                        yield Finding(body, inner.op, _STATELESS_BODY_REASON.format(op=node.op, node=node.name))


def _asset_object_findings(meta_graph):
    for obj in meta_graph.object_graph_def.nodes:
        index = obj.asset.asset_file_def_index
        if obj.WhichOneof("kind") == "asset" and not 0 <= index < len(meta_graph.asset_file_def):
            yield Finding(ASSETS, "asset", f"an asset object names asset_file_def #{index}, which is missing")


def graph_findings(saved_model, policy: Policy) -> tuple[Finding, ...]:
    """Everything the rules refuse in a parsed SavedModel's graphs (the asset files are checked by the caller)."""
    findings: list[Finding] = []
    for meta_graph in saved_model.meta_graphs:
        graph = build_graph(meta_graph)
        roles = _roles(graph)
        for unit, nodes in graph.units():
            for node in nodes:
                reason = _node_refusal(unit, node, graph, roles, policy)
                if reason:
                    findings.append(Finding(unit, node.op, reason))
        findings.extend(_stateless_body_findings(graph))
        findings.extend(_asset_object_findings(meta_graph))
    return tuple(dict.fromkeys(findings))
