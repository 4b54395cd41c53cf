"""TF Hub's "Classify text with BERT" tutorial, run under Keras 3 through tfhub_llm.KerasLayer.

The model, training and saving code is the tutorial's own (tensorflow.org/text/tutorials/classify_text_with_bert),
with two changes: ``hub.KerasLayer(`` → ``tfhub_llm.KerasLayer(``, and the edit Keras 3 requires of any script,
``classifier_model.save(saved_model_path, include_optimizer=False)`` → ``classifier_model.export(saved_model_path)``.
It runs offline on the bundled models and a sample of SST-2 instead of downloading BERT and IMDB, then
reloads the export with ``tf.saved_model.load`` and classifies raw strings, as the tutorial does.

    .venv/bin/python examples/keras_layer_tutorial.py                    # MiniLM, a few minutes on 2 cores
    .venv/bin/python examples/keras_layer_tutorial.py --encoder savedmodels/bert_tiny_random_uncased/encoder \\
        --preprocessor savedmodels/bert_tiny_random_uncased/preprocessor --max-examples 64

Writes ``OUT/keras_layer_tutorial/metrics.json`` and the export ``OUT/keras_layer_tutorial/saved_model``.
"""

import shutil

import common
import tensorflow as tf

import tfhub_llm

EXAMPLES = [
    "this is such an amazing movie!",
    "The movie was great!",
    "The movie was meh.",
    "The movie was okish.",
    "The movie was terrible...",
]


def build_classifier_model(tfhub_handle_preprocess, tfhub_handle_encoder):
    """The tutorial's build_classifier_model, with tfhub_llm.KerasLayer where it has hub.KerasLayer."""
    text_input = tf.keras.layers.Input(shape=(), dtype=tf.string, name="text")
    preprocessing_layer = tfhub_llm.KerasLayer(tfhub_handle_preprocess, name="preprocessing")
    encoder_inputs = preprocessing_layer(text_input)
    encoder = tfhub_llm.KerasLayer(tfhub_handle_encoder, trainable=True, name="BERT_encoder")
    outputs = encoder(encoder_inputs)
    net = outputs["pooled_output"]
    net = tf.keras.layers.Dropout(0.1)(net)
    net = tf.keras.layers.Dense(1, activation=None, name="classifier")(net)
    return tf.keras.Model(text_input, net)


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    common.add_sst2_flags(parser, validation_examples=200)
    args = parser.parse_args(argv)
    tf.keras.utils.set_random_seed(args.seed)
    train, validation = common.read_sst2_sample(args)

    def dataset(examples):
        return tf.data.Dataset.from_tensor_slices((examples.texts, examples.labels)).batch(args.batch_size)

    classifier_model = build_classifier_model(args.preprocessor, args.encoder)
    bert_raw_result = classifier_model(tf.constant(EXAMPLES[:1]))
    print(f"untrained: {tf.sigmoid(bert_raw_result).numpy()[0, 0]:.3f}")

    loss = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    metrics = tf.keras.metrics.BinaryAccuracy()
    optimizer = tf.keras.optimizers.AdamW(learning_rate=args.learning_rate)
    classifier_model.compile(optimizer=optimizer, loss=loss, metrics=[metrics])
    history = classifier_model.fit(x=dataset(train), validation_data=dataset(validation), epochs=args.epochs,
                                   verbose=2)
    loss_value, accuracy = classifier_model.evaluate(dataset(validation), verbose=0)
    print(f"held-out: loss {loss_value:.4f}, accuracy {accuracy:.3f}")

    saved_model_path = f"{args.out}/keras_layer_tutorial/saved_model"
    shutil.rmtree(saved_model_path, ignore_errors=True)
    classifier_model.export(saved_model_path, verbose=False)  # Keras 3: model.save(dir) became model.export(dir)
    reloaded_model = tf.saved_model.load(saved_model_path)
    reloaded_results = tf.sigmoid(reloaded_model.serve(tf.constant(EXAMPLES))).numpy()[:, 0]
    original_results = tf.sigmoid(classifier_model(tf.constant(EXAMPLES))).numpy()[:, 0]
    for text, reloaded, original in zip(EXAMPLES, reloaded_results, original_results):
        print(f"input: {text:<32} : reloaded {reloaded:.6f}  keras {original:.6f}")

    path = common.write_json(f"{args.out}/keras_layer_tutorial/metrics.json", {
        "encoder": args.encoder, "train_examples": len(train), "validation_examples": len(validation),
        "validation_accuracy": accuracy, "history": history.history,
        "max_reloaded_difference": float(abs(reloaded_results - original_results).max()),
        "reloaded_results": dict(zip(EXAMPLES, map(float, reloaded_results)))})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
