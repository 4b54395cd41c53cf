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
* load-time code (:mod:`tfhub_llm.hub.scan_roles`) uses only ``LOAD_TIME_OPS``, so a load cannot loop,
  and the bytes it can allocate (:mod:`tfhub_llm.hub.memory_bound`: constants, broadcasts, repeated
  inputs, table sizes) stay within a limit proportional to the model's files;
* functions a caller calls allocate no more than that limit by shapes that do not depend on the
  inputs, and loop only while a condition that depends on the inputs holds;
* no constant expands to more than ``MAX_CONST_BYTES`` from fewer stored values;
* every asset object names an existing asset file entry.
"""

from __future__ import annotations

import dataclasses

from tfhub_llm.hub import scan_roles
from tfhub_llm.hub.checkpoint_prefix import prefix_from_argument
from tfhub_llm.hub.limits import MemoryLimit
from tfhub_llm.hub.memory_bound import MEMORY, call_time_findings, load_time_bytes
from tfhub_llm.hub.saved_model_graph import CALL_ATTRS, Graph, build_graph, closure, function_attrs, registered_op_def
from tfhub_llm.hub.scan_roles import Roles
from tfhub_llm.hub.shape_rules import FileSizes, dtype_bytes
from tfhub_llm.hub.table_assets import reads_bound_asset

ASSETS = "<assets>"
LOAD = "<load>"
# What load-time code may run: resources, variables, tables, checkpoint reads, string plumbing of the
# saver. Nothing loops; what they allocate (broadcasts, packs, table sizes) is bounded by memory_bound.
LOAD_TIME_OPS = frozenset({
    "Const", "Identity", "IdentityN", "NoOp", "Placeholder", "StopGradient",
    "VarHandleOp", "VarIsInitializedOp", "AssignVariableOp", "ReadVariableOp", "DestroyResourceOp",
    "DisableCopyOnRead",
    "HashTableV2", "MutableHashTableV2", "MutableHashTableOfTensorsV2", "MutableDenseHashTableV2",
    "InitializeTableV2", "InitializeTableFromTextFileV2", "LookupTableImportV2", "LookupTableExportV2",
    "LookupTableInsertV2", "LookupTableSizeV2",
    "SentencepieceOp",  # TF Text's SentencePiece model resource, parsed from the graph's own attr (ALBERT)
    "RestoreV2", "SaveV2", "MergeV2Checkpoints", "ShardedFilename", "StringJoin", "StaticRegexFullMatch",
    "Select", "SelectV2", "Pack",
    "PartitionedCall", "StatefulPartitionedCall",
})
MAX_CONST_BYTES = 64 << 20
SAVE_SCOPE = "checkpoint_save"
RESTORE_SCOPE = "checkpoint_restore"
ASSET_SCOPE = "asset"
_V1_CHECKPOINT_OPS = frozenset({"Save", "SaveSlices", "Restore", "RestoreSlice"})
_NOT_ALLOWED_REASON = "not on the allow-list: TensorFlow and TF Text do not register it (a custom op), so what it does is unknown"
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


# ---------------------------------------------------------------- the rules per node


def _is_permitted_denied_op(unit: str, node, graph: Graph, roles: Roles, policy: Policy) -> bool:
    """Whether a denied op stands in the one place its family is accepted."""
    op = node.op
    scope = policy.permitted_in.get(op)
    if op in _V1_CHECKPOINT_OPS or unit in roles.saveable:
        return False
    if scope == SAVE_SCOPE:
        return unit == roles.save and prefix_from_argument(graph.library[unit], node)
    if scope == RESTORE_SCOPE:
        return unit == roles.restore and prefix_from_argument(graph.library[unit], node)
    if scope == ASSET_SCOPE:
        return reads_bound_asset(node, unit, graph)
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
    return max(elements - stored, 0) * dtype_bytes(tensor.dtype)


def _node_refusal(unit: str, node, graph: Graph, roles: Roles, policy: Policy) -> str | None:
    """Why a node is refused, or None."""
    missing = sorted({name for _, name in function_attrs(node) if name not in graph.library})
    if missing:
        return f"calls {missing[0]!r}, which is not a function of the SavedModel's library"
    if node.op in graph.library:
        return None
    if node.op not in policy.allowed and not _is_permitted_denied_op(unit, node, graph, roles, policy):
        return policy.denied_reason.get(node.op, _NOT_ALLOWED_REASON)
    if roles.runs_at_load(unit, node) and node.op not in LOAD_TIME_OPS:
        return _LOAD_TIME_REASON
    expanded = _expanded_const_bytes(node)
    if expanded > MAX_CONST_BYTES:
        return f"a constant that expands a few stored values to {expanded / 2**20:.0f} MiB"
    return None


def _is_stateful(op: str) -> bool:
    op_def = registered_op_def(op)
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


def _memory_findings(graph: Graph, roles: Roles, files: FileSizes, limit: MemoryLimit):
    load_bytes, problems = load_time_bytes(graph, roles, files)
    problems += call_time_findings(graph, roles, files, limit.bytes)
    yield from (Finding(*problem) for problem in problems)
    if load_bytes > limit.bytes:
        yield Finding(LOAD, MEMORY, f"loading can allocate up to {load_bytes / 2**20:.0f} MiB (constants, broadcasts, "
                                    f"repeated inputs, table sizes), above the limit of {limit.description}")


def graph_findings(saved_model, policy: Policy, files: FileSizes, limit: MemoryLimit) -> tuple[Finding, ...]:
    """Everything the rules refuse in a parsed SavedModel's graphs (the asset files are checked by the caller).

    ``files`` sizes what checkpoint and vocabulary reads can hold; ``limit`` caps what loading allocates.
    """
    findings: list[Finding] = []
    for meta_graph in saved_model.meta_graphs:
        graph = build_graph(meta_graph)
        roles = scan_roles.roles(graph)
        for unit, nodes in graph.units():
            for node in nodes:
                reason = _node_refusal(unit, node, graph, roles, policy)
                if reason:
                    findings.append(Finding(unit, node.op, reason))
        findings.extend(_stateless_body_findings(graph))
        findings.extend(_asset_object_findings(meta_graph))
        findings.extend(_memory_findings(graph, roles, files, limit))
    return tuple(dict.fromkeys(findings))

