"""The ONNX Runtime peer: the torch MiniLM classifier exported to ONNX, in four CPU variants.

At worker start, into a temporary folder: ``torch.onnx.export`` (TorchScript exporter, dynamic
batch and sequence axes) of ``BertForSequenceClassification`` with its fresh seeded head, then
  * ``ort_fp32``: the exported graph as is;
  * ``ort_fp32_opt``: ``onnxruntime.transformers.optimizer.optimize_model(model_type="bert")``;
  * ``ort_int8`` / ``ort_int8_per_channel``: ``quantize_dynamic`` (int8 weights, per tensor or
    per channel) of the optimized graph.
Every variant has two sessions on the CPU provider: one with ``intra_op_num_threads`` threads, and one
with a single thread per op for sub-batches run side by side from several Python threads
(``InferenceSession.run`` is thread-safe and releases the GIL).
"""

import os
import tempfile

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
NUM_HEADS = 12
HIDDEN_SIZE = 384


def export(model, path):
    """Writes ``model`` (a torch BERT classifier) as ONNX with dynamic batch and sequence axes."""
    import torch

    example = torch.ones([2, 8], dtype=torch.int64)
    axes = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    with torch.no_grad():
        torch.onnx.export(model.eval(), (example, example, torch.zeros_like(example)), path,
                          input_names=list(INPUTS), output_names=["logits"],
                          dynamic_axes={**axes, "logits": {0: "batch"}}, dynamo=False)


def variant_files(model, folder):
    """Each variant's ONNX file and how its graph was fused (see the module docstring)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    files = {"ort_fp32": os.path.join(folder, "fp32.onnx"), "ort_fp32_opt": os.path.join(folder, "fp32_opt.onnx")}
    export(model, files["ort_fp32"])
    optimized = optimize_model(files["ort_fp32"], model_type="bert", num_heads=NUM_HEADS, hidden_size=HIDDEN_SIZE)
    optimized.save_model_to_file(files["ort_fp32_opt"])
    fused = {op: count for op, count in optimized.get_fused_operator_statistics().items() if count}
    for name, per_channel in (("ort_int8", False), ("ort_int8_per_channel", True)):
        files[name] = os.path.join(folder, f"{name}.onnx")
        # The optimizer's fused ops carry no inferred types; their outputs are float32.
        quantize_dynamic(files["ort_fp32_opt"], files[name], per_channel=per_channel, weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    details = {name: {"bytes": os.path.getsize(path), "fused_ops": fused if name != "ort_fp32" else {}}
               for name, path in files.items()}
    return files, details


def _probabilities(path, threads):
    """``probabilities_of(numpy inputs)`` over a session of ``path`` with ``threads`` threads per op."""
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def probabilities_of(inputs):
        logits = session.run(None, {key: inputs[key].astype(np.int64) for key in INPUTS})[0]
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        return exp / exp.sum(-1, keepdims=True)
    return probabilities_of


def variants(model, threads):
    """name -> (``probabilities_of`` with ``threads`` threads per op, the same with one, details), sessions loaded."""
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as folder:
        files, details = variant_files(model, folder)
        return {name: (_probabilities(path, threads), _probabilities(path, 1), details[name])
                for name, path in files.items()}
