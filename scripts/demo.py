"""The main job, end to end and offline (``make demo``): everything it writes goes under ``--out``.

1. fine-tunes a sentiment classifier on the embedded MiniLM encoder with SST-2 phrases and
   evaluates it on held-out whole sentences (``split_by="sentences"``: no phrase of a held-out
   sentence is trained on);
2. exports it for TF Serving (versioned, atomic, raw-text signature, warmup) and runs check-serving,
   then scores the exported SavedModel itself on the held-out sentences;
3. publishes the fine-tuned encoder to a local hub and reloads it through an http handle;
4. starts the development server with TF Serving's REST API and classifies sentences through the client;
5. draws the training curves and writes a report.
"""

import argparse
import http.server
import functools
import os
import pathlib
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_hub as hub  # noqa: E402

import tfhub_llm  # noqa: E402
from tfhub_llm.publishing import ModelCard, export_to_hub, publish  # noqa: E402
from tfhub_llm.tf_serving import check_serving, export_for_serving  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from savedmodels import MINILM  # noqa: E402
SST2 = REPO / "data" / "sst2" / "train.tsv"
MODEL_NAME = "sst2_sentiment"
SENTIMENT = {0: "negative", 1: "positive"}
SAMPLE_SENTENCES = [
    "a gripping, beautifully acted film",
    "the plot is a tedious mess",
    "I laughed, I cried, I loved every minute",
    "two hours of my life I will never get back",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--encoder", default=str(MINILM / "encoder"))
    parser.add_argument("--preprocessor", default=str(MINILM / "preprocessor"))
    parser.add_argument("--data", default=str(SST2))
    parser.add_argument("--train-examples", type=int, default=20000)
    parser.add_argument("--heldout-fraction", type=float, default=0.1,
                        help="fraction of SST-2's whole sentences held out for evaluation")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seq-length", type=int, default=64)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty: remove it (rm -r {out}) or pass another --out")
    out.mkdir(parents=True, exist_ok=True)
    timings, artifacts = {}, {}

    step("1/5", "fine-tuning the sentiment classifier on MiniLM (all-MiniLM-L6-v2 in TF-Hub format)")
    curve = BatchCurve()
    with timed(timings, "fine-tune"):
        result = tfhub_llm.finetune_classifier(
            args.encoder, args.preprocessor, args.data, str(out / "classifier"),
            text_column="text", label_column="label", split_by="sentences",
            validation_fraction=args.heldout_fraction, seq_length=args.seq_length,
            options=tfhub_llm.TrainingOptions(epochs=args.epochs, batch_size=32, learning_rate=args.learning_rate,
                                               max_train_examples=args.train_examples, verbose=2, callbacks=(curve,)),
        )
    keras_accuracy = result.metrics["validation_accuracy"]
    artifacts["Keras model"] = result.model_path
    heldout = result.validation_examples
    print(f"    held-out accuracy (Keras evaluate, {len(heldout)} whole sentences): {keras_accuracy:.1%}")

    step("2/5", "exporting for TF Serving and checking it as the model server loads it")
    with timed(timings, "export + check-serving"):
        export_dir = export_for_serving(result.model, out / "serving" / MODEL_NAME)
        report = check_serving(export_dir)
    print("    " + report.format().replace("\n", "\n    "))
    with timed(timings, "score the export"):
        export_accuracy = serving_accuracy(export_dir, heldout.texts, heldout.labels)
    artifacts["TF Serving export"] = export_dir
    print(f"    held-out accuracy of the exported SavedModel: {export_accuracy:.1%}")

    step("3/5", "publishing the fine-tuned encoder to a local hub and loading it back over http")
    with timed(timings, "publish + hub.load"):
        exported = export_to_hub(result.model, out / "hub_export")
        published = publish(
            os.path.join(exported, "encoder"), out / "hub", "minilm-sst2-encoder", 1,
            model_card=ModelCard(
                summary="all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide) fine-tuned for sentiment by the tfhub-llm demo.",
                training_data=[f"{args.train_examples} phrases of GLUE SST-2 train, none of a held-out sentence"],
                evaluation={f"accuracy on {len(heldout)} held-out SST-2 sentences": f"{export_accuracy:.1%}"},
                limitations="A demo run on a small sample: short English phrases, movie-review domain.",
                base_model=args.encoder,
            ),
        )
        hub_difference = reload_over_http(out, result.model)
    artifacts["hub archive"] = str(published.archive)
    print(f"    hub.load over http matches the fine-tuned encoder (max |difference| {hub_difference:.2e})")

    step("4/5", "serving over TF Serving's REST API and classifying through the client")
    with timed(timings, "serve + REST predictions"):
        rest_rows = classify_over_rest(out / "serving" / MODEL_NAME, result.model)
    for sentence, label, probability in rest_rows:
        print(f"    {label:>8} {probability:6.1%}  {sentence}")

    step("5/5", "plotting the training curves and writing the report")
    artifacts["training curves"] = str(curve.plot(out / "training_curves.png", result.history))
    summary = {
        "held-out accuracy (Keras)": f"{keras_accuracy:.1%}",
        "held-out accuracy (exported SavedModel)": f"{export_accuracy:.1%}",
        "check-serving (TF Serving 2.19)": "OK" if report.ok else "FAILED",
        **{f"time: {name}": f"{seconds:.0f} s" for name, seconds in timings.items()},
        **{f"artifact: {name}": path for name, path in artifacts.items()},
    }
    summary["artifact: report"] = str(out / "report.md")
    write_report(out / "report.md", summary)
    print_table(summary)
    if export_accuracy < 0.85 or not report.ok:
        raise SystemExit("the demo's checks failed (accuracy below 85% or check-serving failed)")


def step(number, what):
    print(f"\n[{number}] {what}", flush=True)


class timed:
    """Records how long a block took under ``name``."""

    def __init__(self, timings, name):
        self.timings, self.name = timings, name

    def __enter__(self):
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        self.timings[self.name] = time.perf_counter() - self.started


class BatchCurve(keras.callbacks.Callback):
    """Keeps the training loss and accuracy of every batch, for the plot."""

    def __init__(self):
        super().__init__()
        self.loss, self.accuracy = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.loss.append(float(logs["loss"]))
        self.accuracy.append(float(logs["accuracy"]))

    def plot(self, path, history):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        steps = np.arange(1, len(self.loss) + 1)
        epoch_ends = np.linspace(len(self.loss) / len(history["loss"]), len(self.loss), len(history["loss"]))
        left.plot(steps, self.loss, label="training loss (running mean per epoch)")
        left.plot(epoch_ends, history["val_loss"], "o-", label="held-out loss")
        left.set_xlabel("step")
        left.set_title("loss")
        left.legend()
        right.plot(steps, self.accuracy, label="training accuracy (running mean per epoch)")
        right.plot(epoch_ends, history["val_accuracy"], "o-", label="held-out accuracy")
        right.set_xlabel("step")
        right.set_title("accuracy")
        right.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return path


def serving_accuracy(export_dir, texts, labels, batch_size=64):
    """Accuracy of the exported SavedModel's ``serving_default`` on raw sentences."""
    serving = tf.saved_model.load(export_dir).signatures["serving_default"]
    predicted = [
        serving(text=tf.constant(texts[start:start + batch_size]))["label"].numpy()
        for start in range(0, len(texts), batch_size)
    ]
    return float(np.mean(np.concatenate(predicted) == labels))


def reload_over_http(out, model):
    """Serves the hub folder on loopback, loads the published encoder by URL, compares its outputs."""
    os.environ["TFHUB_CACHE_DIR"] = str(out / "tfhub_cache")
    handler = functools.partial(QuietHandler, directory=str(out / "hub"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        handle = f"http://127.0.0.1:{server.server_address[1]}/minilm-sst2-encoder/1"
        reloaded = hub.load(handle)
        print(f"    loaded {handle}")
    finally:
        server.shutdown()
        server.server_close()
    inputs = model.preprocessor(tf.constant(SAMPLE_SENTENCES))
    expected = model.encoder(inputs)["pooled_output"]
    return float(np.max(np.abs(reloaded(inputs, training=False)["pooled_output"] - expected)))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def classify_over_rest(base_dir, model):
    """Starts the development server on loopback and classifies the sample sentences through the client."""
    with tfhub_llm.DevelopmentServer(str(base_dir), port=0) as server:
        print(f"    serving {server.url}/v1/models/{MODEL_NAME}")
        client = tfhub_llm.ServingClient(server.url, MODEL_NAME)
        predictions = client.predict([{"text": sentence} for sentence in SAMPLE_SENTENCES])
    expected = model.predict(tf.constant(SAMPLE_SENTENCES), verbose=0)
    rows = []
    for sentence, prediction, probabilities in zip(SAMPLE_SENTENCES, predictions, expected):
        np.testing.assert_allclose(prediction["probabilities"], probabilities, atol=1e-4)
        rows.append((sentence, SENTIMENT[prediction["label"]], max(prediction["probabilities"])))
    return rows


def write_report(path, summary):
    lines = ["# tfhub-llm demo report", "", "| what | value |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in summary.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def print_table(summary):
    width = max(len(key) for key in summary)
    print("\nSummary")
    for key, value in summary.items():
        print(f"  {key:<{width}}  {value}")


if __name__ == "__main__":
    main()
