"""One MetaGraph of a parsed ``saved_model.pb`` as the scan reads it, without running anything.

:class:`Graph` holds the function library, the top-level nodes and, for every function, each place
that names it (:class:`Reference`: a node's op type, a function-valued attribute, or the object
graph). The rules of :mod:`tfhub_llm.hub.scan_rules` ask it who calls what.
"""

from __future__ import annotations

import collections
import dataclasses
import functools

TOP_LEVEL_GRAPH = "<graph>"
OBJECT_GRAPH = "<object graph>"
# Function-valued attributes through which TensorFlow calls a function (PartitionedCall, If, While, Case, ...).
CALL_ATTRS = frozenset({"f", "then_branch", "else_branch", "body", "cond", "branches"})
# Calls that hand their inputs 1:1 to the called function's arguments.
PLAIN_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})


def tensor_node(name: str) -> str:
    """The node name of a tensor or control input name (``^a``, ``a:0`` → ``a``)."""
    return name.lstrip("^").split(":")[0]


def data_inputs(node) -> list[str]:
    """The node names of a node's data inputs (control inputs left out), in order."""
    return [tensor_node(name) for name in node.input if not name.startswith("^")]


def function_attrs(node):
    """(attribute name, function name) for every function-valued attribute of a node."""
    for attr, value in node.attr.items():
        if value.func.name:
            yield attr, value.func.name
        for function in value.list.func:
            yield attr, function.name


def _real_calls(node, library) -> set[str]:
    """Functions a node runs: as its op type, or through the call attributes TensorFlow follows."""
    called = {node.op} if node.op in library else set()
    called.update(name for attr, name in function_attrs(node) if attr in CALL_ATTRS)
    return called


@functools.cache
def _op_registry():
    from tensorflow.python.framework import op_def_registry  # the op registry has no public API

    try:
        import tensorflow_text  # noqa: F401  (registers the TF Text ops preprocessors use)
    except ImportError:
        pass
    return op_def_registry


def registered_op_def(op: str):
    """The ``OpDef`` TensorFlow (and TF Text, when installed) registers for an op type, or None."""
    return _op_registry().get(op)


def closure(roots, edges) -> set[str]:
    """Everything reachable from ``roots`` through ``edges(name)``, the roots included."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges(name))
    return seen


@dataclasses.dataclass(frozen=True)
class Reference:
    """One place that names a function: a node (``unit`` = its function, or TOP_LEVEL_GRAPH) or the object graph."""

    unit: str
    node: object = None
    attr: str | None = None  # the attribute naming the function; None when it is the node's op type


@dataclasses.dataclass
class Graph:
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
        """The concrete functions an object-graph node stands for (none for non-function nodes)."""
        node = self.meta_graph.object_graph_def.nodes[node_id]
        kind = node.WhichOneof("kind")
        if kind == "bare_concrete_function":
            return [node.bare_concrete_function.concrete_function_name]
        if kind == "function":
            return list(node.function.concrete_functions)
        return []

    def real_calls_of(self, name: str) -> set[str]:
        """Library functions that function ``name`` runs (see :func:`_real_calls`)."""
        function = self.library.get(name)
        if function is None:
            return set()
        return set().union(*(_real_calls(node, self.library) for node in function.node_def)) & self.library.keys()

    def named_by(self, name: str) -> list[str]:
        """Library functions that function ``name`` names anywhere: op types and every function-valued attribute."""
        function = self.library.get(name)
        if function is None:
            return []
        return [called for node in function.node_def
                for called in ({node.op} & self.library.keys()) | {n for _, n in function_attrs(node)}]


def build_graph(meta_graph) -> Graph:
    """The :class:`Graph` of one MetaGraph proto, with every reference to each function indexed."""
    library = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    graph = Graph(meta_graph, library, {node.name: node for node in meta_graph.graph_def.node},
                  collections.defaultdict(list))
    for unit, nodes in graph.units():
        for node in nodes:
            if node.op in library:
                graph.references[node.op].append(Reference(unit, node))
            for attr, name in function_attrs(node):
                graph.references[name].append(Reference(unit, node, attr))
    objects = meta_graph.object_graph_def
    exposed = set(objects.concrete_functions)
    for node_id in range(len(objects.nodes)):
        exposed.update(graph.object_functions(node_id))
    for name in exposed:
        graph.references[name].append(Reference(OBJECT_GRAPH))
    return graph
