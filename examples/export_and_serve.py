"""From ``fit`` to a TF Serving endpoint: export a fine-tuned classifier, check it, serve it, query it over REST.

``export_for_serving`` writes ``BASE/<version>/`` as TF Serving expects it (a raw-text
``serving_default`` signature, warmup requests, written beside and renamed into place);
``check_serving`` loads it the way the model server does and lists ops a given TF Serving release
lacks; ``DevelopmentServer`` answers TF Serving's REST API on loopback, and ``ServingClient`` is
the client that talks to it and to a real model server alike.

    .venv/bin/python examples/export_and_serve.py              # MiniLM, a few minutes on 2 cores

Then, with Docker, the same folder serves in TF Serving itself:

    docker run -p 8501:8501 -v "$PWD/runs/examples/export_and_serve/serving/sst2:/models/sst2" \\
        -e MODEL_NAME=sst2 tensorflow/serving:2.19.0

Writes ``OUT/export_and_serve/serving/sst2/<version>/`` and ``OUT/export_and_serve/metrics.json``.
"""

import pathlib
import time

import common
import keras
import numpy as np

from tfhub_llm.readers.datasets import to_dataset
from tfhub_llm.readers.text_examples import read_text_examples
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tf_serving import DevelopmentServer, ServingClient, check_serving, export_for_serving

MODEL_NAME = "sst2"
SENTENCES = ["a gripping, beautifully acted film", "dull, predictable and far too long"]


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(common.DATA / "sst2" / "train.tsv"),
                        help="TSV with columns 'text' and 'label' (0/1)")
    parser.add_argument("--tf-serving-version", default="2.19", help="the model server release to check against")
    common.add_training_flags(parser, max_examples=1000, epochs=1, batch_size=32, seq_length=64,
                              learning_rate=5e-5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    examples = read_text_examples(args.train, text_column="text", label_column="label", num_classes=2)
    train, _ = common.sample_split(examples, args.max_examples, 0, args.seed)
    model = TextClassifier(args.encoder, args.preprocessor, num_classes=2, label_names=["negative", "positive"],
                           seq_length=args.seq_length)
    model.compile(learning_rate=args.learning_rate, train_steps=args.epochs * -(-len(train) // args.batch_size))
    started = time.monotonic()
    model.fit(to_dataset(train, args.batch_size, seed=args.seed), epochs=args.epochs, verbose=2)
    print(f"fit: {len(train)} phrases, {args.epochs} epoch(s) in {time.monotonic() - started:.0f} s")

    base_dir = pathlib.Path(args.out) / "export_and_serve" / "serving" / MODEL_NAME
    export_dir = export_for_serving(model, base_dir)
    print(f"export: {export_dir}")
    report = check_serving(export_dir, tf_serving_version=args.tf_serving_version)
    print(f"check-serving: {report.format()}")
    if not report.ok:
        raise SystemExit(f"the export would not serve in TF Serving {args.tf_serving_version}")

    in_process = model.predict(keras.ops.convert_to_tensor(SENTENCES), verbose=0)
    with DevelopmentServer(str(base_dir)) as server:
        client = ServingClient(server.url, MODEL_NAME)
        predictions = client.predict(SENTENCES)
        print(f"serve: {server.url}/v1/models/{MODEL_NAME}:predict")
    served = np.array([prediction["probabilities"] for prediction in predictions])
    for sentence, prediction in zip(SENTENCES, predictions):
        print(f"predict (REST): {prediction['label_name']} p={max(prediction['probabilities']):.2f}  {sentence!r}")
    difference = float(np.abs(served - in_process).max())
    print(f"REST answers match model.predict within {difference:.1e}")

    path = common.write_json(pathlib.Path(args.out) / "export_and_serve" / "metrics.json", {
        "encoder": args.encoder, "export_dir": export_dir, "check_serving_ok": report.ok,
        "tf_serving_version": args.tf_serving_version, "rest_predictions": predictions,
        "max_difference_to_model_predict": difference})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
