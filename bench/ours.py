"""Our side of the benchmark: a worker process in the package's ``.venv`` (see ``workload.py``).

    .venv/bin/python bench/ours.py {serving,keras} NAME WORKLOAD.json ENCODER_DIR PREPROCESSOR_DIR
        [--bfloat16 | --bfloat16-compute HF_DIR] [--inference-threads]

Builds ``TextClassifier(encoder, preprocessor, num_classes=2)`` over the embedded MiniLM (head
seeded, so every worker of ours holds the same weights), then as system ``NAME``
  * ``serving``: exports it with ``export_for_serving`` and calls the reloaded SavedModel's
    ``serving_default`` on each batch (strings in, probabilities out), as TF Serving would; also
    measures the token counts, the encoder alone and TensorFlow's matmul peaks;
  * ``keras``: ``fit`` on ``tfhub_llm.readers.datasets.to_dataset`` batches (training throughput).
``--bfloat16`` turns on ``tfhub_llm.precision.enable_cpu_bfloat16()`` (oneDNN's bfloat16 graph rewrite);
``--bfloat16-compute HF_DIR`` converts MiniLM's Hugging Face folder with ``compute_dtype="bfloat16"``
(the package BERT's matmuls in bfloat16 from float32 weights) and uses that encoder instead.
``--inference-threads`` sets one thread per op first, the micro-batches side by side
(``tfhub_llm.cpu_threads.one_thread_per_op()``, whatever ``use_inference_threads()`` would choose for this
CPU), so every run measures both settings.
"""

import argparse
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import workload as wl  # noqa: E402

SEED = 0
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


def seeded_classifier(encoder_dir, preprocessor_dir):
    """``TextClassifier`` over MiniLM with a fresh 2-class head, the same in every worker."""
    import keras

    from tfhub_llm.layers.hub_layers import HubEncoder
    from tfhub_llm.tasks.classifier import TextClassifier

    keras.utils.set_random_seed(SEED)
    return TextClassifier(HubEncoder(encoder_dir, trainable=True), preprocessor_dir, num_classes=2)


class OursServing(wl.MeasuredSystem):
    """The model's TF Serving export, reloaded, called through ``serving_default``."""

    def __init__(self, model):
        import tensorflow as tf

        from tfhub_llm.tf_serving.export import export_for_serving

        self.tf, self.model = tf, model
        self._export_dir = tempfile.TemporaryDirectory(prefix="bench-serving-")
        path = export_for_serving(model, self._export_dir.name)
        self.serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def predict(self, texts):
        return self.serve(text=self.tf.constant(texts))["probabilities"].numpy()

    def lengths(self, workload):
        """Packed length (with [CLS] and [SEP], at most 128) of every text of each set."""
        result = {}
        for name in ("sentences", "long"):
            pieces = self.model.preprocessor.tokenize(self.tf.constant(wl.flat(workload[name]))).merge_dims(1, -1)
            result[name] = [min(int(n) + 2, wl.SEQ_LENGTH) for n in pieces.row_lengths().numpy()]
        return {"lengths": result}

    def encoder(self, workload):
        """Seconds the encoder alone takes on the sentence batches, preprocessed beforehand."""
        packed = [self.model.preprocessor(self.tf.constant(texts)) for texts in workload["sentences"]]
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
        from tfhub_llm.precision import cpu_has_bfloat16

        bf16 = matmul_gflops(self.tf, self.tf.bfloat16) if cpu_has_bfloat16() else None
        return {"fp32_gflops": matmul_gflops(self.tf, self.tf.float32), "bf16_gflops": bf16}


class OursKeras(wl.MeasuredSystem):
    """The Keras model's ``fit`` on ``to_dataset`` batches of the training sentences."""

    trains = True

    def __init__(self, model):
        import numpy as np

        from tfhub_llm.readers.datasets import to_dataset
        from tfhub_llm.readers.text_examples import TextExamples

        self.model, self._np, self._examples, self._to_dataset = model, np, TextExamples, to_dataset

    def fit(self, batches, labels):
        examples = self._examples(texts=wl.flat(batches), texts_b=None, path="bench workload", label_names=None,
                                  labels=self._np.asarray(wl.flat(labels), dtype=self._np.int32))
        self.model.fit(self._to_dataset(examples, batch_size=len(batches[0]), shuffle=False), epochs=1, verbose=0)


def build_systems(args):
    """This worker's one system: the place to add variants of ours (one flag, one branch)."""
    if args.inference_threads:
        from tfhub_llm.cpu_threads import one_thread_per_op

        one_thread_per_op().apply()
    if args.bfloat16:
        from tfhub_llm.precision import enable_cpu_bfloat16

        enable_cpu_bfloat16()
    encoder_dir, converted = args.encoder_dir, None
    if args.bfloat16_compute:
        from tfhub_llm.bert.convert import convert_hf_bert

        converted = tempfile.TemporaryDirectory(prefix="bench-bf16-compute-")  # removed when the worker ends
        encoder_dir = str(convert_hf_bert(args.bfloat16_compute, converted.name, progress=lambda line: None,
                                          compute_dtype="bfloat16") / "encoder")
    model = seeded_classifier(encoder_dir, args.preprocessor_dir)
    system = OursServing(model) if args.mode == "serving" else OursKeras(model)
    system.converted_encoder = converted
    return {args.name: system}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("serving", "keras"))
    parser.add_argument("name", help="the system's name in the results")
    parser.add_argument("workload")
    parser.add_argument("encoder_dir")
    parser.add_argument("preprocessor_dir")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--bfloat16", action="store_true", help="oneDNN's bfloat16 graph rewrite")
    precision.add_argument("--bfloat16-compute", metavar="HF_DIR",
                           help="MiniLM converted from HF_DIR with the package BERT's bfloat16 matmuls")
    parser.add_argument("--inference-threads", action="store_true",
                        help="one thread per op, the micro-batches side by side (tfhub_llm.cpu_threads.one_thread_per_op)")
    args = parser.parse_args()
    wl.run_worker(args.workload, lambda: build_systems(args))


if __name__ == "__main__":
    main()
