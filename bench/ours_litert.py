"""Our on-device side of the benchmark: a worker timing a LiteRT export (see ``workload.py``).

    .venv/bin/python bench/ours_litert.py {float32,int8} NAME WORKLOAD.json ENCODER_DIR PREPROCESSOR_DIR
        [--micro-batches N]

Builds the same seeded ``TextClassifier`` over MiniLM as ``bench/ours.py``, exports it with
``tfhub_llm.export_litert`` (float32, or ``quantize="dynamic_int8"``) and runs the ``.tflite`` file
with ``tfhub_llm.LiteRTModel`` (ai-edge-litert's interpreter with TF Text's kernels, XNNPACK, one
thread per CPU): strings in, probabilities out; batches of 32 as ``LiteRTModel``'s length-sorted
micro-batches (``--micro-batches``, default the runner's; 1 for one call per batch).
"""

import argparse
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import workload as wl  # noqa: E402
from ours import seeded_classifier  # noqa: E402

QUANTIZE = {"float32": None, "int8": "dynamic_int8"}


class OursLiteRT(wl.MeasuredSystem):
    """A LiteRT export of ``TextClassifier(MiniLM, 2 classes)``, timed through ``LiteRTModel``."""

    def __init__(self, precision, encoder_dir, preprocessor_dir, micro_batches=None):
        from tfhub_llm import LiteRTModel, export_litert

        model = seeded_classifier(encoder_dir, preprocessor_dir)
        self._folder = tempfile.TemporaryDirectory(prefix="bench-litert-")
        path = export_litert(model, f"{self._folder.name}/model.tflite", quantize=QUANTIZE[precision])
        options = {} if micro_batches is None else {"micro_batches": micro_batches}
        self.litert = LiteRTModel(path, num_threads=os.cpu_count(), **options)
        self.details = {"bytes": self.litert.size_bytes}

    def predict(self, texts):
        return self.litert(texts)["probabilities"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("precision", choices=sorted(QUANTIZE))
    parser.add_argument("name", help="the system's name in the results")
    parser.add_argument("workload")
    parser.add_argument("encoder_dir")
    parser.add_argument("preprocessor_dir")
    parser.add_argument("--micro-batches", type=int, help="LiteRTModel's micro_batches (default: its own)")
    args = parser.parse_args()
    wl.run_worker(args.workload, lambda: {args.name: OursLiteRT(args.precision, args.encoder_dir,
                                                                args.preprocessor_dir, args.micro_batches)})


if __name__ == "__main__":
    main()
