"""What ``tfhub-llm inspect`` prints: a SavedModel's TF-Hub interface, read from the loaded object."""

import numpy as np
import tensorflow as tf

from tfhub_llm import hub

SUB_OBJECTS = ("mlm", "tokenize", "tokenize_with_offsets", "bert_pack_inputs")


def describe(handle, *, trust=False, allow_ops=()):
    """A dict describing the SavedModel at ``handle``: kind, call and signatures, sub-objects, variables, vocab."""
    path = hub.resolve(handle)
    module = hub.load(handle, trust=trust, allow_ops=allow_ops)
    variables = hub.module_variables(module)
    description = {
        "handle": str(handle),
        "path": path,
        "kind": _kind(module),
        "call": _call_interface(module),
        "sub_objects": [name for name in SUB_OBJECTS if hasattr(module, name)],
        "signatures": {name: _signature(function) for name, function in module.signatures.items()},
        "variables": {
            "count": len(variables),
            "trainable": sum(1 for variable in variables if variable.trainable),
            "parameters": int(sum(np.prod(variable.shape) for variable in variables)),
            "bytes": int(sum(np.prod(variable.shape) * variable.dtype.size for variable in variables)),
        },
    }
    description.update(_vocabulary(module))
    return description


def format_description(description):
    """The description as the lines ``tfhub-llm inspect`` prints."""
    variables = description["variables"]
    lines = [
        f"{description['handle']}",
        f"  resolved to   {description['path']}",
        f"  kind          {description['kind']}",
        f"  __call__      {description['call'] or '-'}",
        f"  sub-objects   {', '.join(description['sub_objects']) or '-'}",
        f"  variables     {variables['count']} ({variables['trainable']} trainable), "
        f"{variables['parameters']:,} parameters, {variables['bytes'] / 2**20:.1f} MiB",
    ]
    if "vocab_size" in description:
        casing = {True: "lower-cased", False: "cased", None: "casing unknown"}[description.get("do_lower_case")]
        lines.append(f"  vocabulary    {description['vocab_size']:,} tokens, {casing}")
    for name, signature in description["signatures"].items():
        lines.append(f"  signature {name!r}")
        lines += [f"    in  {key}: {spec}" for key, spec in signature["inputs"].items()]
        lines += [f"    out {key}: {spec}" for key, spec in signature["outputs"].items()]
    return "\n".join(lines)


def _kind(module):
    kind = hub.interface_kind(module)
    if kind is None:
        return "other SavedModel"
    if kind == hub.TEXT_EMBEDDING:
        return kind
    return f"BERT {kind}" + (" with MLM head" if hasattr(module, "mlm") else "")


def _spec(spec):
    shape = "[" + ", ".join("None" if size is None else str(size) for size in spec.shape.as_list()) + "]"
    return f"{spec.dtype.name} {shape}"


def _signature(function):
    inputs = function.structured_input_signature[1]
    outputs = function.structured_outputs
    return {
        "inputs": {key: _spec(spec) for key, spec in sorted(inputs.items())},
        "outputs": {key: _spec(tensor) for key, tensor in sorted(outputs.items())},
    }


def _call_interface(module):
    functions = getattr(getattr(module, "__call__", None), "concrete_functions", None)
    if not functions:
        return ""
    inputs = tf.nest.map_structure(_spec, functions[0].structured_input_signature[0][0])
    outputs = functions[0].structured_outputs
    output_keys = sorted(outputs) if isinstance(outputs, dict) else tf.nest.map_structure(_spec, outputs)
    return f"{inputs} -> {output_keys}"


def _vocabulary(module):
    facts = {}
    if hasattr(module, "tokenize") and hasattr(module.tokenize, "get_special_tokens_dict"):
        facts["vocab_size"] = int(module.tokenize.get_special_tokens_dict()["vocab_size"])
    elif hasattr(module, "vocab_file"):
        with tf.io.gfile.GFile(module.vocab_file.asset_path.numpy()) as vocab:
            facts["vocab_size"] = sum(1 for _ in vocab)
    if hasattr(module, "do_lower_case"):
        facts["do_lower_case"] = bool(module.do_lower_case.numpy())
    return facts
