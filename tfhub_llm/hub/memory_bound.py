"""Upper bounds of the memory a SavedModel's graphs allocate, read from the graph without running it.

A pass evaluates each function's nodes in dataflow order with the per-op rules of
:mod:`tfhub_llm.hub.shape_rules`, following calls with their arguments' bounds (memoized), so a
function called 64 times counts 64 times.

* :func:`load_time_bytes`: the bytes loading can allocate (everything that runs at load); an op there
  whose output cannot be bounded is reported, as unknown ops are.
* :func:`call_time_findings`: in functions a caller calls, allocations whose size does not depend on
  the inputs (a ``Fill`` of a constant huge shape) beyond a limit, shapes that follow from neither the
  inputs nor constants, and ``While`` loops whose condition does not depend on the inputs.
"""

from __future__ import annotations

import dataclasses

from tfhub_llm.ascii_digits import is_ascii_digits
from tfhub_llm.hub.saved_model_graph import (
    CALL_ATTRS,
    OBJECT_GRAPH,
    PLAIN_CALL_OPS,
    TOP_LEVEL_GRAPH,
    Graph,
    tensor_node,
)
from tfhub_llm.hub.shape_rules import (
    ALIASES,
    HANDLE,
    INPUT,
    UNKNOWN,
    Bound,
    FileSizes,
    const_bound,
    expands,
    merge,
    rule_of,
    variable_bound,
)

MEMORY = "memory"  # the pseudo-op of a memory finding (allow_ops=["memory"] accepts it)
_MAX_DEPTH = 64
_WHILE_OPS = frozenset({"While", "StatelessWhile", "_While"})
_UNBOUNDED = "the size of its output cannot be bounded from the graph"
_INPUT_INDEPENDENT = ("allocates {size:.0f} MiB by shapes that do not depend on the call's inputs, above the limit "
                      "of {limit:.0f} MiB")


# ---------------------------------------------------------------- the pass over functions and calls


@dataclasses.dataclass
class _Result:
    """Bounds of the outputs of a function (a tuple) or of a unit's nodes (a dict by node), what it allocates."""

    outputs: tuple | dict
    allocated: int
    problems: list  # (unit, op, reason)


class _Pass:
    """Evaluates functions (memoized by their arguments' bounds) and sums what they allocate.

    ``given`` is the bound of what the caller hands in (top-level placeholders, unbound arguments of
    root functions); at load time the loader's own values, at call time the caller's inputs, whose
    allocations do not count.
    """

    def __init__(self, graph: Graph, files: FileSizes, *, load_time: bool, given: Bound, limit: int | None = None):
        self.graph, self.files, self.load_time, self.given, self.limit = graph, files, load_time, given, limit
        self.memo: dict = {}
        self.active: set = set()

    def function(self, name: str, args: tuple[Bound, ...], depth: int = 0) -> _Result:
        key = (name, args)
        if key in self.memo:
            return self.memo[key]
        if key in self.active or depth > _MAX_DEPTH:
            return _Result((), 0, [(name, "call", "calls itself (recursion) or nests calls too deep to bound")])
        self.active.add(key)
        function = self.graph.library[name]
        bounds = {arg.name: bound for arg, bound in zip(function.signature.input_arg, args)}
        result = self.nodes(name, {n.name: n for n in function.node_def}, bounds, depth)
        outputs = tuple(self.tensor(function.ret[arg.name], result, bounds) for arg in function.signature.output_arg)
        self.active.discard(key)
        self.memo[key] = _Result(outputs, result.allocated, result.problems)
        return self.memo[key]

    @staticmethod
    def tensor(name: str, result, bounds) -> Bound:
        node = tensor_node(name)
        if node in bounds:
            return bounds[node]
        outputs = result.outputs.get(node, (UNKNOWN,))
        parts = name.split(":")
        index = int(parts[-1]) if len(parts) > 1 and is_ascii_digits(parts[-1]) else 0
        return outputs[index] if index < len(outputs) and len(outputs) > 1 else merge(outputs)

    def nodes(self, unit: str, nodes: dict, bounds: dict, depth: int, only=None):
        """Evaluate ``nodes`` (all, or those named in ``only``) in dataflow order."""
        result = _Result({}, 0, [])
        order, seen = [], set()
        for start in (only if only is not None else nodes):
            stack = [(start, False)]
            while stack:
                name, expanded = stack.pop()
                if name in seen or name not in nodes:
                    continue
                if expanded:
                    seen.add(name)
                    order.append(name)
                    continue
                stack.append((name, True))
                stack.extend((tensor_node(i), False) for i in nodes[name].input if tensor_node(i) not in seen)
        for name in order:
            node = nodes[name]
            inputs = [self.tensor(i, result, bounds) for i in node.input if not i.startswith("^")]
            outputs, allocated, problems = self.node(unit, node, inputs, depth)
            result.outputs[name] = outputs
            result.allocated += allocated
            result.problems.extend(problems)
        return result

    def node(self, unit: str, node, inputs, depth):
        """(output bounds, bytes allocated, problems) of one node."""
        graph = self.graph
        called = [value.func.name for attr, value in node.attr.items() if attr in CALL_ATTRS and value.func.name]
        called += [f.name for attr, value in node.attr.items() if attr in CALL_ATTRS for f in value.list.func]
        if node.op in graph.library:
            called.append(node.op)
        called = [name for name in called if name in graph.library]
        if called:
            return self.call(unit, node, inputs, called, depth)
        rule = rule_of(node.op)
        if node.op == "Placeholder":
            bound = self.given
        elif rule is not None:
            try:
                bound = rule(node, inputs, self.files)
            except (ValueError, IndexError, TypeError):  # inputs or attributes the op cannot have
                bound = Bound(None, None, from_inputs=any(b.from_inputs for b in inputs))
        else:  # refused at load time by the op list; at call time its size is what its inputs make it
            bound = Bound(None, None, from_inputs=any(b.from_inputs for b in inputs))
        problems = []
        unbounded = rule is not None and bound.nbytes is None
        if unbounded and (self.load_time or (expands(node.op) and not bound.from_inputs)):
            problems.append((unit, node.op, _UNBOUNDED))
        counted = bound.nbytes is not None and node.op not in ALIASES and (self.load_time or not bound.from_inputs)
        if counted and self.limit is not None and bound.nbytes > self.limit:
            problems.append((unit, node.op, _INPUT_INDEPENDENT.format(size=bound.nbytes / 2**20,
                                                                       limit=self.limit / 2**20)))
        outputs = tuple(inputs) if node.op == "IdentityN" else (bound,)
        return outputs, bound.nbytes if counted else 0, problems

    def call(self, unit, node, inputs, called, depth):
        args = tuple(inputs[1:] if node.op not in _WHILE_OPS and node.op not in PLAIN_CALL_OPS
                     and node.op not in self.graph.library else inputs)
        results = [self.function(name, args, depth + 1) for name in called]
        problems = [p for r in results for p in r.problems]
        if node.op in _WHILE_OPS:
            problems.extend(self.loop_problems(unit, node, args, depth + 1))
        width = max((len(r.outputs) for r in results), default=0)
        outputs = tuple(merge(r.outputs[i] for r in results if i < len(r.outputs)) for i in range(width))
        return outputs or (UNKNOWN,), sum(r.allocated for r in results), problems

    def loop_problems(self, unit, node, args, depth):
        """A loop whose condition does not depend on the call's inputs may never end."""
        cond = node.attr["cond"].func.name
        if cond not in self.graph.library:
            return []
        result = self.function(cond, args, depth)
        if result.outputs and all(b.from_inputs for b in result.outputs):
            return []
        return [(unit, node.op, f"a loop whose condition ({cond!r}) does not depend on the call's inputs, "
                                "so nothing a caller sends bounds how long it runs")]


# ---------------------------------------------------------------- entry points


def _root_args(graph: Graph, name: str, given: Bound, files: FileSizes) -> tuple[Bound, ...]:
    """Bounds of a root function's arguments: captured values as the object graph binds them, the rest ``given``."""
    args = graph.library[name].signature.input_arg
    objects = graph.meta_graph.object_graph_def
    bound = list(objects.concrete_functions[name].bound_inputs) if name in objects.concrete_functions else []
    bounds = [given] * (len(args) - len(bound))
    for node_id in bound:
        obj = objects.nodes[node_id] if 0 <= node_id < len(objects.nodes) else None
        kind = obj.WhichOneof("kind") if obj is not None else None
        top = graph.top.get(obj.constant.operation) if kind == "constant" else None
        if kind == "variable":
            bounds.append(variable_bound(obj.variable.shape, obj.variable.dtype, files))
        elif kind == "constant":
            bounds.append(const_bound(top) if top is not None and top.op == "Const" else UNKNOWN)
        else:
            bounds.append(HANDLE if kind else UNKNOWN)
    return tuple(bounds[:len(args)])


def _roots(graph: Graph, functions) -> list[str]:
    """Functions the loader or a caller calls directly (top-level nodes' callees are reached through them)."""
    return sorted(name for name in functions if name in graph.library and any(
        ref.unit == OBJECT_GRAPH for ref in graph.references.get(name, ())))


def load_time_bytes(graph: Graph, roles, files: FileSizes) -> tuple[int, list]:
    """(upper bound of the bytes loading allocates, problems) for one MetaGraph's load-time code."""
    run = _Pass(graph, files, load_time=True, given=HANDLE)
    top = run.nodes(TOP_LEVEL_GRAPH, graph.top, {}, 0, only=sorted(roles.load_time_top))
    total, problems = top.allocated, list(top.problems)
    for name in _roots(graph, roles.load_time):
        result = run.function(name, _root_args(graph, name, HANDLE, files))
        total += result.allocated
        problems.extend(result.problems)
    return total, problems


def call_time_findings(graph: Graph, roles, files: FileSizes, limit: int) -> list:
    """Problems of the functions callers call: input-independent allocations beyond ``limit``, endless loops."""
    run = _Pass(graph, files, load_time=False, given=INPUT, limit=limit)
    signature_outputs = {tensor_node(tensor.name) for signature in graph.meta_graph.signature_def.values()
                         for tensor in signature.outputs.values()}
    top = run.nodes(TOP_LEVEL_GRAPH, graph.top, {}, 0, only=sorted(signature_outputs - roles.load_time_top))
    problems = list(top.problems)
    for name in _roots(graph, set(graph.library) - roles.load_time):
        result = run.function(name, _root_args(graph, name, INPUT, files))
        problems.extend(result.problems)
        if result.allocated > limit:
            problems.append((name, MEMORY, _INPUT_INDEPENDENT.format(size=result.allocated / 2**20,
                                                                        limit=limit / 2**20)))
    return problems
