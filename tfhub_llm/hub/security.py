"""Scanning SavedModels for dangerous ops before anything from them runs.

A SavedModel is a program: calling it (or merely restoring it) runs whatever ops
its functions contain. This module parses ``saved_model.pb`` as a protocol buffer,
never loading or executing it, and checks the op types of every function against

* an allow-list of the ops BERT encoders, preprocessors and this package's task
  exports need (``data/allowed_ops.json``, written by ``scripts/derive_allowed_ops.py``),
* a deny-list of ops that touch files, the network, other processes or Python
  (``data/denied_ops.json``, with a reason per family). Three denied families are
  accepted in exactly one place each: checkpoint writes (SaveV2, ...) in functions
  used only to save the SavedModel's own variables, checkpoint reads (RestoreV2, ...)
  in functions used only to restore them, and text-file table initializers reading
  one of the SavedModel's own assets.

Overrides: ``trust=True``, ``allow_ops=[...]``, or a trusted folder
(``trust_directory(path)`` or the ``TFHUB_LLM_TRUSTED_DIRS`` environment
variable, ``os.pathsep``-separated).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import os
from importlib import resources

from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from tfhub_llm.errors import InvalidFileError, MissingFileError, PackageDataError, TfhubLlmError

TOP_LEVEL_GRAPH = "<graph>"
TRUSTED_DIRS_ENV = "TFHUB_LLM_TRUSTED_DIRS"
_SAVE_SCOPE = "checkpoint_save"
_RESTORE_SCOPE = "checkpoint_restore"
_ASSET_SCOPE = "asset"
_NOT_ALLOWED_REASON = "not on the allow-list of ops BERT encoders and preprocessors need"

_trusted_directories: list[str] = []


class UntrustedModelError(TfhubLlmError, ValueError):
    """A SavedModel uses ops outside the allow-list; names each op and its function."""

    def __init__(self, source: str, findings: tuple[Finding, ...]):
        self.source = source
        self.findings = findings
        shown = "\n".join(f"  - op {f.op!r} in function {f.function!r}: {f.reason}" for f in findings[:10])
        more = f"\n  ... and {len(findings) - 10} more" if len(findings) > 10 else ""
        ops = sorted({f.op for f in findings})
        super().__init__(
            f"Refusing to run SavedModel {source}: it uses ops that are not allowed for "
            f"untrusted models:\n{shown}{more}\n"
            f"If you trust this model, pass trust=True, or allow_ops={ops!r}, or trust its "
            f"folder with tfhub_llm.hub.security.trust_directory(...) or ${TRUSTED_DIRS_ENV}."
        )


@dataclasses.dataclass(frozen=True)
class Finding:
    """One op of one function that the policy refuses."""

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
        raise PackageDataError(f"allowed_ops.json lists denied ops {sorted(overlap)}")
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
    raise MissingFileError(f"{path} is not a SavedModel: no saved_model.pb or saved_model.pbtxt in it")


def _read_saved_model(path: str) -> saved_model_pb2.SavedModel:
    saved_model = saved_model_pb2.SavedModel()
    filename = _saved_model_file(path)
    if filename.endswith(".pbtxt"):
        with open(filename) as f:
            text_format.Parse(f.read(), saved_model)
    else:
        with open(filename, "rb") as f:
            try:
                saved_model.ParseFromString(f.read())
            except Exception as error:  # protobuf raises its own DecodeError, not a ValueError
                raise InvalidFileError(f"{filename} is not a SavedModel protobuf: {error}") from error
    return saved_model


def _called_functions(node, library) -> set[str]:
    """Functions a node calls: as its op type, or through function-valued attrs."""
    called = {node.op} if node.op in library else set()
    for value in node.attr.values():
        if value.func.name:
            called.add(value.func.name)
        called.update(f.name for f in value.list.func)
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


# ---------------------------------------------------------------- where checkpoint and asset ops are fine


def _tensor_node(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _reachable(roots, calls) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(calls.get(name, ()))
    return seen


def _object_function_names(node) -> list[str]:
    kind = node.WhichOneof("kind")
    if kind == "bare_concrete_function":
        return [node.bare_concrete_function.concrete_function_name]
    if kind == "function":
        return list(node.function.concrete_functions)
    return []


def _checkpoint_scopes(meta_graph, top_calls, function_calls) -> dict[str, tuple[set[str], set[str]]]:
    """For "checkpoint_save" and "checkpoint_restore": top-level nodes and functions used only for it.

    Roots are the saver_def's save tensor / restore op and the object graph's
    saveable objects' save / restore functions; a function also reached from
    anything else (a signature, ``__call__``, an initializer, ...) is in no scope.
    """
    by_name = {node.name: node for node in meta_graph.graph_def.node}
    inputs = {name: [_tensor_node(i) for i in node.input] for name, node in by_name.items()}
    saver = meta_graph.saver_def
    objects = meta_graph.object_graph_def.nodes
    scopes = {}
    for scope, saver_root, field in ((_SAVE_SCOPE, saver.save_tensor_name, "save_function"),
                                     (_RESTORE_SCOPE, saver.restore_op_name, "restore_function")):
        top_nodes = _reachable([_tensor_node(saver_root)] if saver_root else [], inputs) & by_name.keys()
        roots = set().union(*(top_calls[name] for name in top_nodes))
        for obj in objects:
            for saveable in obj.saveable_objects.values():
                node_id = getattr(saveable, field)
                roots.update(_object_function_names(objects[node_id]) if node_id else ())
        scopes[scope] = (top_nodes, _reachable(roots, function_calls))
    checkpoint_top = set().union(*(top for top, _ in scopes.values()))
    checkpoint_functions = set().union(*(functions for _, functions in scopes.values()))
    ordinary_roots = (function_calls.keys() - checkpoint_functions).union(
        *(top_calls[name] for name in by_name.keys() - checkpoint_top))
    ordinary = _reachable(ordinary_roots, function_calls)
    return {scope: (top, functions - ordinary) for scope, (top, functions) in scopes.items()}


def _reads_bound_asset(node, function, graph) -> bool:
    """Whether a table initializer's file name is one of the SavedModel's own assets."""
    if len(node.input) < 2:
        return False
    filename = _tensor_node(node.input[1])
    if function is None:
        return filename in {_tensor_node(a.tensor_info.name) for a in graph.meta_graph.asset_file_def}
    return _argument_is_asset(function.signature.name, filename, graph, frozenset())


def _argument_is_asset(function_name, argument, graph, visited) -> bool:
    """Whether a function's argument is bound to an asset, directly or through every call that passes it.

    A re-saved SavedModel wraps the initializer in further functions, so the asset is bound to
    the outer one and handed down as an argument.
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
            return objects.nodes[bound[position]].WhichOneof("kind") == "asset"
    call_sites = graph.callers.get(function_name, [])
    return bool(call_sites) and all(
        caller is not None
        and index < len(call.input)
        and _argument_is_asset(caller, _tensor_node(call.input[index]), graph, visited | {function_name})
        for caller, call in call_sites
    )


@dataclasses.dataclass
class _Graph:
    """One MetaGraph with its function library and, for each function, the nodes that call it."""

    meta_graph: object
    library: dict
    callers: dict


def _graph(meta_graph) -> _Graph:
    library = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    callers = collections.defaultdict(list)
    units = [(None, meta_graph.graph_def.node)] + [(name, f.node_def) for name, f in library.items()]
    for caller, nodes in units:
        for node in nodes:
            for called in _called_functions(node, library):
                callers[called].append((caller, node))
    return _Graph(meta_graph, library, dict(callers))


def _node_findings(unit, nodes, graph, policy, function, in_scope):
    for node in nodes:
        op = node.op
        if op in graph.library or op in policy.allowed:
            continue
        scope = policy.permitted_in.get(op)
        if scope == _ASSET_SCOPE and _reads_bound_asset(node, function, graph):
            continue
        if scope in (_SAVE_SCOPE, _RESTORE_SCOPE) and in_scope(scope, node):
            continue
        yield Finding(unit, op, policy.denied_reason.get(op, _NOT_ALLOWED_REASON))


@functools.lru_cache(maxsize=64)
def _scan(path: str, mtime_ns: int, size: int) -> tuple[Finding, ...]:
    """Findings for one version of a SavedModel file (the cache key includes its stat)."""
    policy = _policy()
    findings: list[Finding] = []
    for meta_graph in _read_saved_model(path).meta_graphs:
        graph = _graph(meta_graph)
        library = graph.library
        top_calls = {node.name: _called_functions(node, library) for node in meta_graph.graph_def.node}
        function_calls = {
            name: set().union(*(_called_functions(node, library) for node in f.node_def))
            for name, f in library.items()
        }
        scopes = _checkpoint_scopes(meta_graph, top_calls, function_calls)
        findings.extend(_node_findings(
            TOP_LEVEL_GRAPH, meta_graph.graph_def.node, graph, policy, None,
            lambda scope, node: node.name in scopes[scope][0]))
        for name, function in library.items():
            findings.extend(_node_findings(
                name, function.node_def, graph, policy, function,
                lambda scope, node, name=name: name in scopes[scope][1]))
    return tuple(dict.fromkeys(findings))


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


def check_saved_model(path, *, trust: bool = False, allow_ops=(), handle: str | None = None) -> None:
    """Raise ``UntrustedModelError`` unless the SavedModel at ``path`` is safe to run.

    Skipped when ``trust`` is true or ``path`` is in a trusted folder; ``allow_ops``
    names extra op types to accept (even denied ones). Scan results are cached per
    (path, saved_model.pb mtime and size), so checking the same model twice is cheap.
    """
    if trust or is_trusted_path(path):
        return
    path = os.path.realpath(path)
    stat = os.stat(_saved_model_file(path))
    extra = set(allow_ops)
    findings = tuple(f for f in _scan(path, stat.st_mtime_ns, stat.st_size) if f.op not in extra)
    if findings:
        source = f"{handle!r} ({path})" if handle else repr(path)
        raise UntrustedModelError(source, findings)
