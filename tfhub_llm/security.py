"""Scanning SavedModels before anything from them runs, and loading exactly what was scanned.

A SavedModel is a program: restoring it runs its initializers and restore code, calling it runs its
functions. This module parses ``saved_model.pb`` as a protocol buffer, never executing it, and refuses
a model unless all of these hold (each rule is one function below):

* every op of every function and of the top-level graph is on the allow-list (``data/allowed_ops.json``);
  a denied op (``data/denied_ops.json``) only where TensorFlow's own machinery puts it:
  checkpoint writes (SaveV2, MergeV2Checkpoints) in the save function and reads (RestoreV2) in the
  restore function that the MetaGraph's ``saver_def`` names, each called only from there with the saver's
  file name, the checkpoint prefix built from that argument plus constant suffixes without ``..``;
  text-file table initializers on an asset bound to their function or handed down through plain 1:1
  calls (never through If / Case / While, never from a caller's own input). TF1 checkpoint ops (Save,
  SaveSlices, Restore, RestoreSlice) are refused everywhere, and saveable objects' save and restore
  functions (TensorFlow runs both while restoring) may hold no denied op;
* function calls name functions of the library;
* ``Stateless*`` control flow holds no stateful op in its bodies;
* load-time code (resource creators, initializers and destroyers, saveable objects' functions, the
  saver's functions, the top-level init and restore ops, and everything they call) uses only
  ``LOAD_TIME_OPS``: no loops and no op whose output size comes from an input's value, so a load takes
  time and memory linear in the model's files;
* no constant expands to more than ``MAX_CONST_BYTES`` from fewer stored values;
* every asset name is relative and normalised and names a regular file inside ``<model>/assets``,
  reached without symbolic links.

``scanned_copy`` returns the folder to load: a private copy holding the very ``saved_model.pb`` bytes
and asset bytes that were checked (variables are linked: they are data, restored by TensorFlow's own
code), so swapping files after the scan changes nothing. Findings are cached by the sha256 of
``saved_model.pb``; assets are read and checked on every call.

Trust comes only from the caller, never from a file: ``trust=True``, ``allow_ops=[...]``,
``trusting()`` for a block of code, or a trusted folder (``trust_directory(path)`` or
``TFHUB_LLM_TRUSTED_DIRS``, ``os.pathsep``-separated), judged by the handle the caller named.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import json
import os
import posixpath
import shutil
import stat
import tempfile
import urllib.parse
from importlib import resources

from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

TOP_LEVEL_GRAPH = "<graph>"
OBJECT_GRAPH = "<object graph>"
ASSETS = "<assets>"
TRUSTED_DIRS_ENV = "TFHUB_LLM_TRUSTED_DIRS"
REMOTE_HANDLES_ENV = "TFHUB_LLM_ALLOW_REMOTE_HANDLES"
# Function-valued attributes through which TensorFlow calls a function (PartitionedCall, If, While, Case, ...).
CALL_ATTRS = frozenset({"f", "then_branch", "else_branch", "body", "cond", "branches"})
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
MAX_ASSET_BYTES = 512 << 20
_SAVE_SCOPE = "checkpoint_save"
_RESTORE_SCOPE = "checkpoint_restore"
_ASSET_SCOPE = "asset"
_V1_CHECKPOINT_OPS = frozenset({"Save", "SaveSlices", "Restore", "RestoreSlice"})
_PLAIN_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
_CHECKPOINT_PREFIX_INPUTS = {"SaveV2": (0,), "RestoreV2": (0,), "MergeV2Checkpoints": (0, 1)}
_RESOURCE_FUNCTIONS = frozenset({"_create_resource", "_initialize", "_destroy_resource"})
_INIT_OP_SIGNATURE = "__saved_model_init_op"
_MAX_SUFFIXES = 64
_NOT_ALLOWED_REASON = "not on the allow-list of ops BERT encoders and preprocessors need"
_LOAD_TIME_REASON = ("runs while the model loads, where only resource, variable, table and checkpoint ops "
                     "may run (no loops, no allocation sized by a value), so a load cannot hang or exhaust memory")
_STATELESS_BODY_REASON = ("a stateful op inside the body of {op} {node!r}: TensorFlow may run such bodies "
                          "any number of times, or none, at graph-optimisation time")

_trusted_directories: list[str] = []
_trust_all = contextvars.ContextVar("tfhub_llm_trust_all", default=False)
_remote_handles = contextvars.ContextVar("tfhub_llm_remote_handles", default=False)


class UntrustedModelError(ValueError):
    """A SavedModel does something untrusted models may not; names each op (or asset) and its function."""

    def __init__(self, source: str, findings: tuple[Finding, ...]):
        self.source = source
        self.findings = findings
        shown = "\n".join(f"  - op {f.op!r} in function {f.function!r}: {f.reason}" for f in findings[:10])
        more = f"\n  ... and {len(findings) - 10} more" if len(findings) > 10 else ""
        ops = sorted({f.op for f in findings})
        super().__init__(
            f"Refusing to run SavedModel {source}: it does what untrusted models may not:\n{shown}{more}\n"
            f"If you trust this model, pass trust=True (--trust on the command line), or allow_ops={ops!r}, "
            f"or trust its folder with tfhub_llm.security.trust_directory(...) or ${TRUSTED_DIRS_ENV}."
        )


class RemoteHandleError(ValueError):
    """A saved Keras model names an http(s) handle, and the caller did not allow downloads from files."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One op of one function (or one asset) that the policy refuses."""

    function: str
    op: str
    reason: str


@dataclasses.dataclass(frozen=True)
class _Policy:
    allowed: frozenset[str]
    denied_reason: dict[str, str]
    permitted_in: dict[str, str]


@functools.cache
def _policy() -> _Policy:
    data = resources.files("tfhub_llm") / "data"
    allowed = json.loads((data / "allowed_ops.json").read_text())["ops"]
    denied_reason, permitted_in = {}, {}
    for family in json.loads((data / "denied_ops.json").read_text())["families"]:
        for op in family["ops"]:
            denied_reason[op] = family["reason"]
            if "permitted_in" in family:
                permitted_in[op] = family["permitted_in"]
    overlap = set(allowed) & set(denied_reason)
    if overlap:
        raise RuntimeError(f"allowed_ops.json lists denied ops {sorted(overlap)}")
    return _Policy(frozenset(allowed), denied_reason, permitted_in)


def denied_ops() -> dict[str, str]:
    """Every denied op type mapped to the reason it is denied."""
    return dict(_policy().denied_reason)


def allowed_ops() -> frozenset[str]:
    """The op types untrusted SavedModels may use."""
    return _policy().allowed


# ---------------------------------------------------------------- parsing


def _saved_model_file(path: str) -> str:
    for name in ("saved_model.pb", "saved_model.pbtxt"):
        candidate = os.path.join(path, name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"{path} is not a SavedModel: no saved_model.pb or saved_model.pbtxt in it")


def _parse_saved_model(data: bytes, filename: str) -> saved_model_pb2.SavedModel:
    saved_model = saved_model_pb2.SavedModel()
    try:
        if filename.endswith(".pbtxt"):
            text_format.Parse(data.decode("utf-8"), saved_model)
        else:
            saved_model.ParseFromString(data)
    except Exception as error:  # protobuf raises its own DecodeError / ParseError, not a ValueError
        raise ValueError(f"{filename} is not a SavedModel protobuf: {error}") from error
    return saved_model


def _read_saved_model(path: str) -> saved_model_pb2.SavedModel:
    filename = _saved_model_file(path)
    with open(filename, "rb") as f:
        return _parse_saved_model(f.read(), filename)


def _function_attrs(node):
    """(attribute name, function name) for every function-valued attribute of a node."""
    for attr, value in node.attr.items():
        if value.func.name:
            yield attr, value.func.name
        for function in value.list.func:
            yield attr, function.name


def _real_calls(node, library) -> set[str]:
    """Functions a node runs: as its op type, or through the call attributes TensorFlow follows."""
    called = {node.op} if node.op in library else set()
    called.update(name for attr, name in _function_attrs(node) if attr in CALL_ATTRS)
    return called


def _op_types(nodes, library) -> set[str]:
    return {node.op for node in nodes if node.op not in library}


def saved_model_op_types(path: str) -> dict[str, set[str]]:
    """Map every function of a SavedModel (and ``"<graph>"``) to the op types it uses.

    Reads ``saved_model.pb`` without loading or running it. Calls of other library
    functions are not op types; the callees appear under their own names.
    """
    op_types: dict[str, set[str]] = {}
    for meta_graph in _read_saved_model(path).meta_graphs:
        graph = meta_graph.graph_def
        library = {f.signature.name for f in graph.library.function}
        op_types.setdefault(TOP_LEVEL_GRAPH, set()).update(_op_types(graph.node, library))
        for function in graph.library.function:
            op_types.setdefault(function.signature.name, set()).update(_op_types(function.node_def, library))
    return op_types


def saved_model_op_names(path: str) -> set[str]:
    """Every op type a SavedModel's graphs use, function library included (what TF Serving must link)."""
    return set().union(*saved_model_op_types(path).values())


# ---------------------------------------------------------------- the graph and who refers to each function


def _tensor_node(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _data_inputs(node) -> list[str]:
    return [_tensor_node(name) for name in node.input if not name.startswith("^")]


@dataclasses.dataclass(frozen=True)
class _Reference:
    """One place that names a function: a node (``unit`` = its function, or TOP_LEVEL_GRAPH) or the object graph."""

    unit: str
    node: object = None
    attr: str | None = None  # the attribute naming the function; None when it is the node's op type


@dataclasses.dataclass
class _Graph:
    """One MetaGraph: its function library, top-level nodes, and every reference to each function."""

    meta_graph: object
    library: dict
    top: dict
    references: dict

    def units(self):
        """(unit name, nodes) of the top-level graph and of every function."""
        yield TOP_LEVEL_GRAPH, self.meta_graph.graph_def.node
        for name, function in self.library.items():
            yield name, function.node_def

    def object_functions(self, node_id: int) -> list[str]:
        node = self.meta_graph.object_graph_def.nodes[node_id]
        kind = node.WhichOneof("kind")
        if kind == "bare_concrete_function":
            return [node.bare_concrete_function.concrete_function_name]
        if kind == "function":
            return list(node.function.concrete_functions)
        return []


def _graph(meta_graph) -> _Graph:
    library = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    graph = _Graph(meta_graph, library, {node.name: node for node in meta_graph.graph_def.node},
                   collections.defaultdict(list))
    for unit, nodes in graph.units():
        for node in nodes:
            if node.op in library:
                graph.references[node.op].append(_Reference(unit, node))
            for attr, name in _function_attrs(node):
                graph.references[name].append(_Reference(unit, node, attr))
    objects = meta_graph.object_graph_def
    exposed = set(objects.concrete_functions)
    for node_id in range(len(objects.nodes)):
        exposed.update(graph.object_functions(node_id))
    for name in exposed:
        graph.references[name].append(_Reference(OBJECT_GRAPH))
    return graph


# ---------------------------------------------------------------- roles: saver, saveable objects, load time


@dataclasses.dataclass(frozen=True)
class _Roles:
    save: str | None
    restore: str | None
    saveable: frozenset[str]
    load_time: frozenset[str]
    load_time_top: frozenset[str]


def _saver_function(graph: _Graph, tensor_name: str) -> str | None:
    """The function a saver_def entry runs, when it has TensorFlow's own layout; else None.

    The layout: a top-level call node whose first input is the saver's file-name placeholder,
    calling a function that nothing else names (no other node, attribute or object).
    """
    node = graph.top.get(_tensor_node(tensor_name)) if tensor_name else None
    filename = graph.top.get(_tensor_node(graph.meta_graph.saver_def.filename_tensor_name))
    if node is None or node.op not in _PLAIN_CALL_OPS or filename is None or filename.op != "Placeholder":
        return None
    name = node.attr["f"].func.name
    inputs = _data_inputs(node)
    if name not in graph.library or not inputs or inputs[0] != filename.name:
        return None
    if graph.references.get(name) != [_Reference(TOP_LEVEL_GRAPH, node, "f")]:
        return None
    return name


def _saveable_functions(graph: _Graph) -> set[str]:
    """Saveable objects' save and restore functions: TensorFlow runs both while restoring."""
    functions = set()
    for obj in graph.meta_graph.object_graph_def.nodes:
        for saveable in obj.saveable_objects.values():
            for node_id in (saveable.save_function, saveable.restore_function):
                if node_id:
                    functions.update(graph.object_functions(node_id))
    return functions


def _closure(roots, edges) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges(name))
    return seen


def _load_time_code(graph: _Graph, saver_functions) -> tuple[set[str], set[str]]:
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
    top_nodes = _closure({_tensor_node(name) for name in top_roots if name},
                         lambda name: [_tensor_node(i) for i in graph.top[name].input] if name in graph.top else [])
    top_nodes &= graph.top.keys()
    for name in top_nodes:
        node = graph.top[name]
        roots.update(called for _, called in _function_attrs(node))
        roots.update({node.op} & graph.library.keys())

    def callees(name):
        function = graph.library.get(name)
        if function is None:
            return []
        return [called for node in function.node_def
                for called in ({node.op} & graph.library.keys()) | {n for _, n in _function_attrs(node)}]

    return _closure(roots & graph.library.keys(), callees), top_nodes


def _roles(graph: _Graph) -> _Roles:
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
    inputs = _data_inputs(node)
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
    inputs = _data_inputs(node)
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
    inputs = _data_inputs(node)
    for index in _CHECKPOINT_PREFIX_INPUTS.get(node.op, ()):
        suffixes = _prefix_suffixes(inputs[index], nodes, args[0].name) if index < len(inputs) else None
        if suffixes is None or not all(_is_safe_suffix(suffix) for suffix in suffixes):
            return False
    return True


# ---------------------------------------------------------------- table initializers and their assets


def _top_level_asset_tensors(graph: _Graph) -> set[str]:
    return {_tensor_node(asset.tensor_info.name) for asset in graph.meta_graph.asset_file_def}


def _reads_bound_asset(node, unit: str, graph: _Graph) -> bool:
    """Whether a table initializer's file name is one of the SavedModel's own assets."""
    inputs = _data_inputs(node)
    if len(inputs) < 2:
        return False
    if unit == TOP_LEVEL_GRAPH:
        return inputs[1] in _top_level_asset_tensors(graph)
    return _argument_is_asset(unit, inputs[1], graph, frozenset())


def _argument_is_asset(function_name, argument, graph: _Graph, visited) -> bool:
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


def _hands_down_asset(reference: _Reference, index: int, graph: _Graph, visited) -> bool:
    plain_call = reference.attr is None or (reference.attr == "f" and reference.node.op in _PLAIN_CALL_OPS)
    if reference.node is None or not plain_call:
        return False
    inputs = _data_inputs(reference.node)
    if index >= len(inputs):
        return False
    if reference.unit == TOP_LEVEL_GRAPH:
        return inputs[index] in _top_level_asset_tensors(graph)
    return _argument_is_asset(reference.unit, inputs[index], graph, visited)


# ---------------------------------------------------------------- the rules per node


def _is_permitted_denied_op(unit: str, node, graph: _Graph, roles: _Roles, policy: _Policy) -> bool:
    """Whether a denied op stands in the one place its family is accepted."""
    op = node.op
    scope = policy.permitted_in.get(op)
    if op in _V1_CHECKPOINT_OPS or unit in roles.saveable:
        return False
    if scope == _SAVE_SCOPE:
        return unit == roles.save and _prefix_from_argument(graph.library[unit], node)
    if scope == _RESTORE_SCOPE:
        return unit == roles.restore and _prefix_from_argument(graph.library[unit], node)
    if scope == _ASSET_SCOPE:
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


def _node_refusal(unit: str, node, graph: _Graph, roles: _Roles, policy: _Policy) -> str | None:
    """Why a node is refused, or None."""
    missing = sorted({name for _, name in _function_attrs(node) if name not in graph.library})
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


def _stateless_body_findings(graph: _Graph):
    """Stateful ops in the bodies (and their callees) of StatelessIf / StatelessWhile / StatelessCase."""
    for unit, nodes in graph.units():
        for node in nodes:
            if not node.op.startswith("Stateless"):
                continue
            bodies = {name for attr, name in _function_attrs(node) if attr in CALL_ATTRS}
            calls = lambda name: _real_calls_of(graph, name)  # noqa: E731
            for body in _closure(bodies & graph.library.keys(), calls):
                for inner in graph.library[body].node_def:
                    if inner.op not in graph.library and _is_stateful(inner.op):
                        yield Finding(body, inner.op, _STATELESS_BODY_REASON.format(op=node.op, node=node.name))


def _real_calls_of(graph: _Graph, name: str) -> set[str]:
    function = graph.library.get(name)
    if function is None:
        return set()
    return set().union(*(_real_calls(node, graph.library) for node in function.node_def)) & graph.library.keys()


def _graph_findings(saved_model) -> tuple[Finding, ...]:
    """Everything the rules refuse in a parsed SavedModel's graphs (assets are checked separately)."""
    policy = _policy()
    findings: list[Finding] = []
    for meta_graph in saved_model.meta_graphs:
        graph = _graph(meta_graph)
        roles = _roles(graph)
        for unit, nodes in graph.units():
            for node in nodes:
                reason = _node_refusal(unit, node, graph, roles, policy)
                if reason:
                    findings.append(Finding(unit, node.op, reason))
        findings.extend(_stateless_body_findings(graph))
    return tuple(dict.fromkeys(findings))


# ---------------------------------------------------------------- assets


def _asset_names(saved_model) -> list[str]:
    return list(dict.fromkeys(asset.filename for meta_graph in saved_model.meta_graphs
                              for asset in meta_graph.asset_file_def))


def _asset_name_problem(name: str) -> str | None:
    if not name or "\x00" in name or "\\" in name or posixpath.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return "is not a relative path"
    if posixpath.normpath(name) != name or any(part in ("", ".", "..") for part in name.split("/")):
        return "is not a normalised path inside assets/ (it has '..', '.' or empty parts)"
    return None


def _open_confined(folder: str, relative: str) -> int:
    """Open ``folder/relative`` for reading without following any symbolic link on the way."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(folder, flags | getattr(os, "O_DIRECTORY", 0))
    try:
        parts = relative.split("/")
        for part in parts[:-1]:
            inner = os.open(part, flags | getattr(os, "O_DIRECTORY", 0), dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], flags | getattr(os, "O_NONBLOCK", 0), dir_fd=fd)
    finally:
        os.close(fd)


def _read_confined(folder: str, relative: str, max_bytes: int) -> bytes:
    """The bytes of a regular file inside ``folder``; OSError / ValueError naming the problem otherwise."""
    fd = _open_confined(folder, relative)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("is not a regular file")
        if info.st_size > max_bytes:
            raise ValueError(f"has {info.st_size} bytes, more than the {max_bytes} an asset may have")
        return f.read(max_bytes + 1)[:max_bytes]


def _read_assets(path: str, saved_model) -> tuple[dict[str, bytes], list[Finding]]:
    """The bytes of every asset the SavedModel names, and findings for names outside ``path/assets``."""
    contents, findings = {}, []
    for name in _asset_names(saved_model):
        problem = _asset_name_problem(name)
        if problem is None:
            try:
                contents[name] = _read_confined(os.path.join(path, "assets"), name, MAX_ASSET_BYTES)
            except (OSError, ValueError) as error:
                problem = f"cannot be read as a regular file inside assets/ without symbolic links ({error})"
        if problem:
            findings.append(Finding(ASSETS, "asset", f"asset file name {name!r} {problem}"))
    for meta_graph in saved_model.meta_graphs:
        for obj in meta_graph.object_graph_def.nodes:
            index = obj.asset.asset_file_def_index
            if obj.WhichOneof("kind") == "asset" and not 0 <= index < len(meta_graph.asset_file_def):
                findings.append(Finding(ASSETS, "asset", f"an asset object names asset_file_def #{index}, which is missing"))
    return contents, findings


def read_asset(asset_path: str | os.PathLike, max_bytes: int = MAX_ASSET_BYTES) -> bytes:
    """The bytes of a loaded model's asset: a regular file inside ``<model>/assets``, reached without links."""
    parts = os.path.abspath(asset_path).split(os.sep)
    for i in range(len(parts) - 2, 0, -1):
        model = os.sep.join(parts[:i]) or os.sep
        if parts[i] == "assets" and os.path.isfile(os.path.join(model, "saved_model.pb")):
            try:
                return _read_confined(os.path.join(model, "assets"), "/".join(parts[i + 1:]), max_bytes)
            except (OSError, ValueError) as error:
                raise ValueError(f"{asset_path}: refusing to read this asset: {error}") from None
    raise ValueError(f"{asset_path}: refusing to read an asset that is not inside a SavedModel's assets/ folder")


def asset_line_count(asset_path: str | os.PathLike) -> int:
    """Number of lines of a loaded model's asset (a vocabulary), read through ``read_asset``."""
    data = read_asset(asset_path)
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


# ---------------------------------------------------------------- scanning and loading


_findings_cache: collections.OrderedDict[str, tuple[Finding, ...]] = collections.OrderedDict()
_CACHE_SIZE = 64


def _cached_graph_findings(data: bytes, saved_model) -> tuple[Finding, ...]:
    """``_graph_findings``, cached by the sha256 of the saved_model.pb bytes they were computed from."""
    digest = hashlib.sha256(data).hexdigest()
    if digest not in _findings_cache:
        _findings_cache[digest] = _graph_findings(saved_model)
        while len(_findings_cache) > _CACHE_SIZE:
            _findings_cache.popitem(last=False)
    _findings_cache.move_to_end(digest)
    return _findings_cache[digest]


@dataclasses.dataclass(frozen=True)
class _Scanned:
    path: str
    filename: str
    data: bytes
    assets: dict


def _scan(path, allow_ops, handle) -> _Scanned:
    """Read a SavedModel's bytes once, check them, and return them; raise ``UntrustedModelError``."""
    path = os.path.realpath(path)
    filename = _saved_model_file(path)
    with open(filename, "rb") as f:
        data = f.read()
    saved_model = _parse_saved_model(data, filename)
    assets, asset_findings = _read_assets(path, saved_model)
    extra = set(allow_ops)
    findings = tuple(f for f in _cached_graph_findings(data, saved_model) + tuple(asset_findings)
                     if f.op not in extra)
    if findings:
        source = f"{handle!r} ({path})" if handle else repr(path)
        raise UntrustedModelError(source, findings)
    return _Scanned(path, filename, data, assets)


def check_saved_model(path, *, trust: bool = False, allow_ops=(), handle: str | None = None) -> None:
    """Raise ``UntrustedModelError`` unless the SavedModel at ``path`` is safe to run.

    Skipped when the caller trusts it (``trust``, ``trusting()``, or ``handle`` / ``path`` in a
    trusted folder); ``allow_ops`` names extra op types to accept (even denied ones).
    """
    if not is_trusted(path, trust=trust, handle=handle):
        _scan(path, allow_ops, handle)


def scanned_copy(path, *, trust: bool = False, allow_ops=(), handle: str | None = None) -> str:
    """The folder to load the SavedModel at ``path`` from, after ``check_saved_model``.

    Trusted: ``path`` itself. Otherwise a private copy (removed when the process exits) of
    the scanned ``saved_model.pb`` bytes and asset bytes, with ``variables/`` linked to the
    original, so what TensorFlow loads is what was scanned.
    """
    if is_trusted(path, trust=trust, handle=handle):
        return os.fspath(path)
    scanned = _scan(path, allow_ops, handle)
    copy = tempfile.mkdtemp(prefix="model.", dir=_staging_root())
    with open(os.path.join(copy, os.path.basename(scanned.filename)), "wb") as f:
        f.write(scanned.data)
    for name, content in scanned.assets.items():
        target = os.path.join(copy, "assets", *name.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(content)
    variables = os.path.join(scanned.path, "variables")
    if os.path.isdir(variables):
        os.symlink(variables, os.path.join(copy, "variables"))
    return copy


@functools.cache
def _staging_root() -> str:
    root = tempfile.mkdtemp(prefix="tfhub_llm-scanned-")
    atexit.register(shutil.rmtree, root, True)
    return root


# ---------------------------------------------------------------- trust


def trust_directory(path: str | os.PathLike) -> None:
    """Trust every SavedModel inside ``path`` (for this process): they are not scanned."""
    real = os.path.realpath(path)
    if real not in _trusted_directories:
        _trusted_directories.append(real)


def trusted_directories() -> list[str]:
    """Folders whose SavedModels skip the scan: ``$TFHUB_LLM_TRUSTED_DIRS`` plus ``trust_directory``."""
    from_env = [os.path.realpath(p) for p in os.environ.get(TRUSTED_DIRS_ENV, "").split(os.pathsep) if p]
    return from_env + list(_trusted_directories)


def is_trusted_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies inside a trusted folder."""
    real = os.path.realpath(path)
    return any(os.path.commonpath([real, folder]) == folder for folder in trusted_directories())


def _local_path(handle: str) -> str | None:
    """The file-system path a handle names, or None for a remote (http, hub) handle."""
    parsed = urllib.parse.urlparse(handle)
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path)
    return handle if parsed.scheme == "" or len(parsed.scheme) == 1 else None


def is_trusted(path, *, trust: bool = False, handle: str | None = None) -> bool:
    """Whether the caller trusts a model: ``trust``, a ``trusting()`` block, or the handle in a trusted folder.

    A folder is judged by the handle the caller named (``handle``, else ``path``), never by the
    cache folder a download landed in: a remote handle is never trusted by folder.
    """
    if trust or _trust_all.get():
        return True
    local = _local_path(os.fspath(handle if handle is not None else path))
    return local is not None and is_trusted_path(local)


@contextlib.contextmanager
def trusting():
    """Trust every SavedModel loaded inside the block (the caller vouches for it, like ``--trust``)."""
    token = _trust_all.set(True)
    try:
        yield
    finally:
        _trust_all.reset(token)


@contextlib.contextmanager
def allowing_remote_handles():
    """Let saved Keras models loaded inside the block download the http(s) / hub handles their config names."""
    token = _remote_handles.set(True)
    try:
        yield
    finally:
        _remote_handles.reset(token)


def remote_handles_allowed() -> bool:
    """Inside ``allowing_remote_handles()``, under ``trusting()``, or with ``$TFHUB_LLM_ALLOW_REMOTE_HANDLES=1``."""
    return _remote_handles.get() or _trust_all.get() or os.environ.get(REMOTE_HANDLES_ENV) == "1"


def layer_config_for_load(config: dict, layer: str) -> dict:
    """A HubEncoder / HubPreprocessor config from a saved file, made safe: its ``trust`` is dropped
    (trust never travels in a file) and a remote handle raises ``RemoteHandleError`` unless allowed."""
    config = {key: value for key, value in config.items() if key != "trust"}
    handle = str(config.get("handle", ""))
    if _local_path(handle) is None and not remote_handles_allowed():
        raise RemoteHandleError(
            f"The saved {layer} names the remote handle {handle!r}: a model file does not get to download "
            f"models. If you trust the file, load it inside tfhub_llm.security.allowing_remote_handles(), "
            f"or set {REMOTE_HANDLES_ENV}=1.")
    return config
