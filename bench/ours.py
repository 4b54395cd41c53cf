"""Our side of the benchmark: a worker process in the package's ``.venv`` (see ``workload.py``).

    .venv/bin/python bench/ours.py {serving,keras} WORKLOAD.json ENCODER_DIR PREPROCESSOR_DIR [--bfloat16]

Builds ``TextClassifier(encoder, preprocessor, num_classes=2)`` over the embedded MiniLM, then
  * ``serving``: exports it with ``export_for_serving`` and calls the reloaded SavedModel's
    ``serving_default`` on each batch (strings in, probabilities out), as TF Serving would; also
    measures batch-1 latency, the encoder alone, the token counts and the TensorFlow matmul peak;
  * ``keras``: ``predict`` and ``fit`` on ``tfhub_llm.data.to_dataset`` batches.
``--micro-batches 1`` turns off ``HubEncoder``'s length-sorted micro-batches (for before/after
figures); ``--bfloat16`` turns on TensorFlow's oneDNN bfloat16 auto-mixed-precision graph rewrite (opt-in).
"""

import argparse
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import workload as wl  # noqa: E402

LATENCY_CALLS = 200
PEAK_SHAPES = ((2048, 2048, 2048), (1024, 384, 1536), (1024, 1536, 384))


def matmul_gflops(tf, dtype, repeats=5):
    """Best matmul rate TensorFlow reaches on this CPU for ``dtype`` over a few shapes, in GFLOP/s."""
    best = 0.0
    for m, k, n in PEAK_SHAPES:
        a = tf.cast(tf.random.normal([m, k]), dtype)
        b = tf.cast(tf.random.normal([k, n]), dtype)
        matmul = tf.function(tf.matmul)
        matmul(a, b).numpy()
        for _ in range(repeats):
            start = time.perf_counter()
            matmul(a, b).numpy()
            best = max(best, 2 * m * k * n / (time.perf_counter() - start) / 1e9)
    return best


class Ours:
    """``TextClassifier`` on MiniLM, measured through its serving export or through Keras."""

    def __init__(self, mode, encoder_dir, preprocessor_dir, micro_batches=None):
        import tensorflow as tf

        from tfhub_llm.data import TextExamples, to_dataset
        from tfhub_llm.layers import HubEncoder
        from tfhub_llm.tasks.classifier import TextClassifier

        self.tf, self.mode = tf, mode
        self._examples, self._to_dataset = TextExamples, to_dataset
        options = {} if micro_batches is None else {"micro_batches": micro_batches}
        encoder = HubEncoder(encoder_dir, trainable=True, **options)
        self.model = TextClassifier(encoder, preprocessor_dir, num_classes=2)
        if mode == "serving":
            from tfhub_llm.tf_serving.export import export_for_serving

            self._export_dir = tempfile.TemporaryDirectory(prefix="bench-serving-")
            path = export_for_serving(self.model, self._export_dir.name)
            self.serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def _dataset(self, batches, labels=None):
        examples = self._examples(texts=wl.flat(batches), texts_b=None, path="bench workload",
                                  labels=None if labels is None else self._np_labels(labels), label_names=None)
        return self._to_dataset(examples, batch_size=len(batches[0]), shuffle=False)

    @staticmethod
    def _np_labels(labels):
        import numpy as np

        return np.asarray(wl.flat(labels), dtype=np.int32)

    def _infer(self, batches):
        if self.mode == "serving":
            for texts in batches:
                self.serve(text=self.tf.constant(texts))["probabilities"].numpy()
        else:
            self.model.predict(self._dataset(batches), verbose=0)

    def warmup(self, workload):
        self._infer(workload["warmup"])
        if self.mode == "keras":
            self.train({"train": workload["warmup"][:len(workload["warmup_labels"])],
                        "train_labels": workload["warmup_labels"]})
        else:
            self.latency(workload, calls=10)

    def infer_sst2(self, workload):
        self._infer(workload["sst2"])

    def infer_squad(self, workload):
        self._infer(workload["squad"])

    def train(self, workload):
        self.model.fit(self._dataset(workload["train"], workload["train_labels"]), epochs=1, verbose=0)

    def latency(self, workload, calls=LATENCY_CALLS):
        """Milliseconds per ``serving_default`` call on one short sentence: p50 and p99."""
        import numpy as np

        text = self.tf.constant([wl.SHORT_SENTENCE])
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            self.serve(text=text)["probabilities"].numpy()
            times.append(time.perf_counter() - start)
        return {"p50_ms": 1e3 * float(np.percentile(times, 50)), "p99_ms": 1e3 * float(np.percentile(times, 99))}

    def lengths(self, workload):
        """Packed length (with [CLS] and [SEP], at most 128) of every text of each set."""
        preprocessor = self.model.preprocessor
        result = {}
        for name in ("sst2", "squad", "train"):
            pieces = preprocessor.tokenize(self.tf.constant(wl.flat(workload[name]))).merge_dims(1, -1)
            result[name] = [min(int(n) + 2, wl.SEQ_LENGTH) for n in pieces.row_lengths().numpy()]
        return {"lengths": result}

    def encoder(self, workload):
        """Seconds the encoder alone takes on the SST-2 batches, preprocessed beforehand."""
        packed = [self.model.preprocessor(self.tf.constant(texts)) for texts in workload["sst2"]]
        spec = {key: self.tf.TensorSpec([None, None], self.tf.int32) for key in packed[0]}
        call = self.tf.function(lambda inputs: self.model.encoder(inputs, training=False)["pooled_output"],
                                input_signature=[spec])
        call(packed[0]).numpy()
        start = time.perf_counter()
        for inputs in packed:
            call(inputs).numpy()
        return {"encoder_seconds": time.perf_counter() - start}

    def peak(self, workload):
        """TensorFlow's best matmul GFLOP/s on this CPU in float32, and in bfloat16 when the CPU has it."""
        bf16 = matmul_gflops(self.tf, self.tf.bfloat16) if wl.cpu_has_bfloat16() else None
        return {"fp32_gflops": matmul_gflops(self.tf, self.tf.float32), "bf16_gflops": bf16}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("serving", "keras"))
    parser.add_argument("workload")
    parser.add_argument("encoder_dir")
    parser.add_argument("preprocessor_dir")
    parser.add_argument("--bfloat16", action="store_true")
    parser.add_argument("--micro-batches", type=int, help="HubEncoder's micro_batches (default: the layer's)")
    args = parser.parse_args()

    def build_system():
        if args.bfloat16:
            from tfhub_llm.precision import enable_cpu_bfloat16

            enable_cpu_bfloat16()
        return Ours(args.mode, args.encoder_dir, args.preprocessor_dir, args.micro_batches)

    wl.run_worker(args.workload, build_system, args.mode)


if __name__ == "__main__":
    main()
