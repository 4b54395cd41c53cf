"""Which code of a SavedModel runs while it loads, and which functions are its saver's save and restore.

:func:`roles` reads one MetaGraph (nothing runs): the save and restore functions its ``saver_def`` names
when they have TensorFlow's own layout, saveable objects' functions (TensorFlow runs both while
restoring), and the load-time code: resources' creators, initializers and destroyers, saveable objects'
and the saver's functions, the top-level init and restore ops, and all they call (over-approximated:
any reference is a call).
"""

from __future__ import annotations

import dataclasses

from tfhub_llm.hub.saved_model_graph import (
    PLAIN_CALL_OPS,
    TOP_LEVEL_GRAPH,
    Graph,
    Reference,
    closure,
    data_inputs,
    function_attrs,
    tensor_node,
)

_RESOURCE_FUNCTIONS = frozenset({"_create_resource", "_initialize", "_destroy_resource"})
_INIT_OP_SIGNATURE = "__saved_model_init_op"


@dataclasses.dataclass(frozen=True)
class Roles:
    """The saver's save and restore functions, saveable objects' functions, and the code that runs at load."""

    save: str | None
    restore: str | None
    saveable: frozenset[str]
    load_time: frozenset[str]
    load_time_top: frozenset[str]

    def runs_at_load(self, unit: str, node) -> bool:
        """Whether a node of ``unit`` (a function, or the top-level graph) runs while the model loads."""
        return unit in self.load_time or (unit == TOP_LEVEL_GRAPH and node.name in self.load_time_top)


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

def roles(graph: Graph) -> Roles:
    """The :class:`Roles` of one MetaGraph's functions."""
    saver = graph.meta_graph.saver_def
    save = _saver_function(graph, saver.save_tensor_name)
    restore = _saver_function(graph, saver.restore_op_name)
    if save == restore:
        save = restore = None
    load_time, load_time_top = _load_time_code(graph, {save, restore} - {None})
    return Roles(save, restore, frozenset(_saveable_functions(graph)), frozenset(load_time),
                 frozenset(load_time_top))
