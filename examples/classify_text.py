"""Sentiment classification the way the TF Hub tutorials do it, in Keras 3.

The classic flow is ``hub.KerasLayer(preprocessor)`` → ``hub.KerasLayer(encoder, trainable=True)`` →
Dropout → Dense, then ``compile`` / ``fit`` / ``predict``. ``hub.KerasLayer`` is a tf-keras layer and
cannot sit in a Keras 3 model; ``HubPreprocessor`` and ``HubEncoder`` take its place, nothing else
changes. This script fine-tunes the bundled MiniLM encoder on a sample of SST-2, reports accuracy on
held-out phrases and classifies a few new sentences.

    .venv/bin/python examples/classify_text.py                       # MiniLM, a few minutes on 2 cores
    .venv/bin/python examples/classify_text.py --max-examples 4000 --epochs 2

Writes ``OUT/classify_text/metrics.json``.
"""

import time

import common
import keras

from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.readers.datasets import to_dataset

NEW_SENTENCES = [
    "a gripping, beautifully acted film",
    "dull, predictable and far too long",
    "the best thing i have seen all year",
    "i wanted my two hours back",
]


def build_classifier(encoder_handle, preprocessor_handle, seq_length, num_classes=2, dropout=0.1):
    """Raw strings → class probabilities: HubPreprocessor, trainable HubEncoder, Dropout, Dense."""
    text = keras.Input(shape=(), dtype="string", name="text")
    encoder_inputs = HubPreprocessor(preprocessor_handle, seq_length=seq_length, pad_to_longest=True)(text)
    pooled = HubEncoder(encoder_handle, trainable=True)(encoder_inputs)["pooled_output"]
    features = keras.layers.Dropout(dropout)(pooled)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(features)
    return keras.Model(text, probabilities, name="sentiment_classifier")


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    common.add_sst2_flags(parser)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    train, validation = common.read_sst2_sample(args)
    print(f"data: {len(train)} training and {len(validation)} held-out phrases from {args.train}")

    model = build_classifier(args.encoder, args.preprocessor, args.seq_length)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"model: {model.count_params():,} parameters, encoder {args.encoder}")

    started = time.monotonic()
    history = model.fit(to_dataset(train, args.batch_size, seed=args.seed),
                        validation_data=to_dataset(validation, args.batch_size, shuffle=False),
                        epochs=args.epochs, verbose=2)
    train_seconds = time.monotonic() - started
    accuracy = history.history["val_accuracy"][-1]
    print(f"fit: {args.epochs} epoch(s) in {train_seconds:.0f} s; held-out accuracy {accuracy:.3f}")

    probabilities = model.predict(keras.ops.convert_to_tensor(NEW_SENTENCES), verbose=0)
    predictions = [{"text": text, "positive": float(p[1])} for text, p in zip(NEW_SENTENCES, probabilities)]
    for prediction in predictions:
        print(f"predict: P(positive) = {prediction['positive']:.2f}  {prediction['text']!r}")

    path = common.write_json(f"{args.out}/classify_text/metrics.json", {
        "encoder": args.encoder, "train_examples": len(train), "validation_examples": len(validation),
        "epochs": args.epochs, "validation_accuracy": accuracy, "history": history.history,
        "train_seconds": train_seconds, "predictions": predictions})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
