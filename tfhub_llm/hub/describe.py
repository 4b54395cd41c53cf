"""What a SavedModel offers, read from the loaded object: one description, rendered two ways.

:func:`describe` returns a JSON-serialisable dict (``tfhub-llm inspect --json`` prints it);
:func:`format_text` renders it for ``tfhub-llm inspect`` and :func:`format_markdown` for the
"Interface" section of a model card (:mod:`tfhub_llm.publishing`). The vocabulary is counted
through :func:`tfhub_llm.hub.assets.read_asset_lines`: only a regular file inside the model's
``assets/``, with a size cap. Its strings are escaped (:mod:`tfhub_llm.escaping`) before any rendering.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from tfhub_llm.escaping import printable_tree
from tfhub_llm.hub import handles
from tfhub_llm.hub.assets import asset_file, read_asset_lines
from tfhub_llm.hub_contract import TEXT_EMBEDDING, interface_kind

# Sub-objects and functions of the TF-Hub BERT interface, in the order a description lists them.
INTERFACE_PARTS = ("__call__", "mlm", "tokenize", "tokenize_with_offsets", "bert_pack_inputs")
OTHER_KIND = "SavedModel"


def describe(handle: handles.Handle, *, trust: bool = False, allow_ops=()) -> dict:
    """Describes the SavedModel at ``handle`` (loaded after the op scan of :func:`handles.load`).

    Returns ``handle``, ``path``, ``kind`` (``"encoder"``, ``"preprocessor"``, ``"text embedding"`` or ``"SavedModel"``),
    ``has_mlm``, ``functions`` (name → lines ``(arguments) → outputs``), ``signatures`` (name →
    ``inputs`` and ``outputs``, each key → spec), ``vocab_file``, ``vocab_size``, ``do_lower_case``,
    ``variables``, ``trainable_variables``, ``parameters`` (floating-point values) and ``bytes``.
    Every string in it is :func:`~tfhub_llm.escaping.printable`: the model chose many of them.
    """
    resolved = handles.resolve(handle)
    module = handles.load(resolved, trust=trust, allow_ops=allow_ops)
    variables = handles.module_variables(module)
    trainable = getattr(module, "trainable_variables", None)
    return printable_tree({
        "handle": resolved.handle,
        "path": resolved.path,
        "kind": interface_kind(module) or OTHER_KIND,
        "has_mlm": hasattr(module, "mlm"),
        "functions": {name: _function_lines(module, name) for name in INTERFACE_PARTS if hasattr(module, name)},
        "signatures": {
            name: {"inputs": _specs(function.structured_input_signature[1]), "outputs": _specs(function.structured_outputs)}
            for name, function in sorted(module.signatures.items())
        },
        **_vocabulary(module),
        "variables": len(variables),
        "trainable_variables": len(trainable) if trainable is not None else sum(v.trainable for v in variables),
        "parameters": int(sum(np.prod(v.shape) for v in variables if v.dtype.is_floating)),
        "bytes": int(sum(np.prod(v.shape) * v.dtype.size for v in variables)),
    })


def format_text(description: dict) -> str:
    """The description as the lines ``tfhub-llm inspect`` prints."""
    lines = [
        description["handle"],
        f"  resolved to   {description['path']}",
        f"  kind          {_kind_text(description)}",
        f"  variables     {_variables_text(description)}, {description['bytes'] / 2**20:.1f} MiB",
    ]
    if description["vocab_size"] is not None:
        casing = {True: "lower-cased", False: "cased", None: "casing unknown"}[description["do_lower_case"]]
        lines.append(f"  vocabulary    {description['vocab_size']:,} tokens, {casing}")
    for name, function_lines in description["functions"].items():
        lines.append(f"  {name}")
        lines += [f"    {line}" for line in function_lines]
    for name, signature in description["signatures"].items():
        lines.append(f"  signature {name!r}")
        lines += [f"    in  {key}: {spec}" for key, spec in signature["inputs"].items()]
        lines += [f"    out {key}: {spec}" for key, spec in signature["outputs"].items()]
    return "\n".join(lines)


def format_markdown(description: dict) -> str:
    """The description as the Markdown list of a model card's "Interface" section."""
    lines = []
    for name, function_lines in description["functions"].items():
        lines.append(f"- `{name}`:" + "".join(f"\n  - `{line}`" for line in function_lines))
    for name, signature in description["signatures"].items():
        lines.append(f"- signature `{name}`: `{_braced(signature['inputs'])}` → `{_braced(signature['outputs'])}`")
    if description["vocab_file"]:
        lines.append(f"- `vocab_file` asset: `{description['vocab_file']}` ({description['vocab_size']:,} tokens)")
    if description["do_lower_case"] is not None:
        lines.append(f"- `do_lower_case`: {description['do_lower_case']}")
    lines.append(f"- {_variables_text(description)}")
    return "\n".join(lines)


def _kind_text(description):
    kind = description["kind"]
    if kind == OTHER_KIND:
        return "other SavedModel"
    if kind == TEXT_EMBEDDING:
        return kind
    return f"BERT {kind}" + (" with MLM head" if description["has_mlm"] else "")


def _variables_text(description):
    return (f"{description['variables']} variables ({description['trainable_variables']} trainable), "
            f"{description['parameters']:,} parameters")


def _part_functions(module, name):
    part = getattr(module, name)
    functions = getattr(part, "concrete_functions", None)
    if functions is None:
        functions = getattr(getattr(part, "__call__", None), "concrete_functions", ())
    return functions


def _function_lines(module, name):
    lines = []
    for function in _part_functions(module, name):
        args, kwargs = function.structured_input_signature
        named = {**dict(zip(function.function_type.parameters, args)), **kwargs}
        arguments = [f"{key}={_render(value)}" for key, value in named.items() if value is not None]
        line = f"({', '.join(arguments)}) → {_render(function.structured_outputs)}"
        if line not in lines:
            lines.append(line)
    return lines


def _specs(structure):
    return {key: _render(value) for key, value in sorted(structure.items())}


def _braced(specs):
    return "{" + ", ".join(f"{key}: {spec}" for key, spec in specs.items()) + "}"


def _render(value):
    """Short text for a structure of specs/tensors: ``input_mask: int32 [?, ?]``, lists as ``2 × ...``."""
    if isinstance(value, Mapping):
        return _braced({key: _render(item) for key, item in sorted(value.items())})
    if isinstance(value, (list, tuple)):
        items = [_render(item) for item in value]
        if len(items) > 1 and len(set(items)) == 1:
            return f"[{len(items)} × {items[0]}]"
        return "[" + ", ".join(items) + "]"
    if isinstance(value, (tf.RaggedTensorSpec, tf.RaggedTensor)):
        return f"ragged {value.dtype.name} {_shape(value.shape)}"
    if isinstance(value, (tf.TensorSpec, tf.Tensor)):
        return f"{value.dtype.name} {_shape(value.shape)}"
    return repr(value)


def _shape(shape):
    if shape.rank is None:
        return "[...]"
    return "[" + ", ".join("?" if size is None else str(size) for size in shape.as_list()) + "]"


def _vocabulary(module):
    vocab_path = asset_file([module], "vocab_file")
    if vocab_path:
        vocab_size = len(read_asset_lines(vocab_path))
    elif hasattr(module, "tokenize") and hasattr(module.tokenize, "get_special_tokens_dict"):
        vocab_size = int(module.tokenize.get_special_tokens_dict()["vocab_size"])
    else:
        vocab_size = None
    do_lower_case = getattr(module, "do_lower_case", None)
    return {
        "vocab_file": os.path.basename(vocab_path) if vocab_path else None,
        "vocab_size": vocab_size,
        "do_lower_case": bool(do_lower_case.numpy()) if do_lower_case is not None else None,
    }
