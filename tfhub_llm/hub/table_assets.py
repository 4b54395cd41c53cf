"""Table initializers and their assets: whether a text-file initializer reads one of the model's own assets.

An initializer's file name passes when it is an asset tensor of the top-level graph, or a function
argument bound to an asset object, or handed one by every reference to the function through plain
1:1 calls (never through If / Case / While or any other attribute).
"""

from __future__ import annotations

from tfhub_llm.hub.saved_model_graph import PLAIN_CALL_OPS, TOP_LEVEL_GRAPH, Graph, Reference, data_inputs


def _top_level_asset_tensors(graph: Graph) -> set[str]:
    return {tensor_node(asset.tensor_info.name) for asset in graph.meta_graph.asset_file_def}


def reads_bound_asset(node, unit: str, graph: Graph) -> bool:
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
