"""Our on-device side of the benchmark: a worker timing LiteRT exports (see ``workload.py``).

    .venv/bin/python bench/ours_litert.py {float32,int8} WORKLOAD.json ENCODER_DIR PREPROCESSOR_DIR

Builds the same ``TextClassifier`` over MiniLM as ``bench/ours.py``, exports it with
``tfhub_llm.export_litert`` (float32, or ``quantize="dynamic_int8"``) and runs the ``.tflite`` file
with ``tfhub_llm.LiteRTModel`` (ai-edge-litert's interpreter with TF Text's kernels, XNNPACK, one
thread per CPU): strings in, probabilities out. Phases: ``infer_sst2`` (batches of 32) and
``latency`` (batch 1, p50 and p99).
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import workload as wl  # noqa: E402
from ours import LATENCY_CALLS  # noqa: E402

QUANTIZE = {"float32": None, "int8": "dynamic_int8"}


class OursLiteRT:
    """A LiteRT export of ``TextClassifier(MiniLM, 2 classes)``, timed through ``LiteRTModel``."""

    def __init__(self, precision, encoder_dir, preprocessor_dir):
        from tfhub_llm import LiteRTModel, TextClassifier, export_litert

        model = TextClassifier(encoder_dir, preprocessor_dir, num_classes=2)
        self._folder = tempfile.TemporaryDirectory(prefix="bench-litert-")
        path = export_litert(model, f"{self._folder.name}/model.tflite", quantize=QUANTIZE[precision])
        self.litert = LiteRTModel(path, num_threads=os.cpu_count())

    def _infer(self, batches):
        for texts in batches:
            self.litert(texts)["probabilities"]

    def warmup(self, workload):
        self._infer(workload["warmup"])
        self.latency(workload, calls=10)

    def infer_sst2(self, workload):
        self._infer(workload["sst2"])

    def latency(self, workload, calls=LATENCY_CALLS):
        """Milliseconds per call on one short sentence: p50 and p99."""
        import numpy as np

        times = []
        for _ in range(calls):
            start = time.perf_counter()
            self.litert([wl.SHORT_SENTENCE])["probabilities"]
            times.append(time.perf_counter() - start)
        return {"p50_ms": 1e3 * float(np.percentile(times, 50)), "p99_ms": 1e3 * float(np.percentile(times, 99)),
                "size_bytes": self.litert.size_bytes}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("precision", choices=sorted(QUANTIZE))
    parser.add_argument("workload")
    parser.add_argument("encoder_dir")
    parser.add_argument("preprocessor_dir")
    args = parser.parse_args()
    wl.run_worker(args.workload, lambda: OursLiteRT(args.precision, args.encoder_dir, args.preprocessor_dir),
                  f"litert {args.precision}")


if __name__ == "__main__":
    main()
