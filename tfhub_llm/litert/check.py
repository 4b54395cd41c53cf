"""``check_litert``: does a ``.tflite`` export load and answer from strings, and what does it need?

Loads the file as an app would (``InterpreterWithCustomOps`` with TF Text's kernels), runs sample
texts through its ``serving_default`` signature, and reports the signature, the file size, every op
the model uses (custom ops are the ones the app must register) and the sample outputs.
"""

import dataclasses

from tfhub_llm.errors import InvalidFileError
from tfhub_llm.litert.ops import custom_op_names
from tfhub_llm.litert.runner import LiteRTModel
from tfhub_llm.tasks.sample_texts import SAMPLE_TEXTS


@dataclasses.dataclass
class LiteRTCheckReport:
    """What :func:`check_litert` found."""

    path: str
    size_bytes: int = 0
    inputs: tuple = ()
    outputs: tuple = ()
    ops: dict = dataclasses.field(default_factory=dict)
    samples: dict = None
    results: dict = None
    error: str = None

    @property
    def ok(self):
        return self.error is None

    @property
    def custom_ops(self):
        return custom_op_names(self.ops)

    def format(self):
        """A human-readable summary."""
        lines = [f"{self.path}: {'OK' if self.ok else 'FAILED'}"]
        if self.error:
            return "\n".join(lines + [f"  {self.error}"])
        lines.append(f"  size: {self.size_bytes / 1e6:.1f} MB")
        lines.append(f"  signature serving_default: inputs {list(self.inputs)} -> outputs {list(self.outputs)}")
        lines.append(f"  custom ops (register TF Text's TFLite kernels): {', '.join(self.custom_ops) or 'none'}")
        builtins = {name: count for name, count in self.ops.items() if not name.startswith("CUSTOM:")}
        counts = ", ".join(f"{name} x{n}" for name, n in sorted(builtins.items()))
        lines.append(f"  builtin ops ({len(builtins)}): {counts}")
        for row in range(len(next(iter(self.samples.values())))):
            texts = " | ".join(repr(self.samples[name][row]) for name in self.inputs)
            values = ", ".join(f"{name}={_show(self.results[name][row])}" for name in self.outputs)
            lines.append(f"  {texts} -> {values}")
        return "\n".join(lines)


def _show(value):
    return value.round(4).tolist() if hasattr(value, "round") and getattr(value, "ndim", 0) else str(value)


def check_litert(path, samples=None):
    """Loads ``path`` with TF Text's kernels and runs ``samples`` (``{input: [str]}``; default: built-in texts)."""
    report = LiteRTCheckReport(str(path))
    try:
        model = LiteRTModel(path)
    except InvalidFileError as error:
        report.error = str(error)
        return report
    report.size_bytes, report.ops = model.size_bytes, model.ops
    report.inputs, report.outputs = model.input_names, model.output_names
    report.samples = samples or SAMPLE_TEXTS.get(model.input_names)
    if report.samples is None:
        report.error = f"no built-in sample texts for the inputs {list(model.input_names)}; pass samples"
        return report
    try:
        report.results = model(**report.samples)
    except (RuntimeError, ValueError) as error:
        report.error = f"running the sample texts failed: {error}"
    return report
