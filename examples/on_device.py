"""On-device sentiment: fine-tune, export LiteRT models that take raw strings, run them as an app would.

Fine-tunes a ``TextClassifier`` on a sample of SST-2, exports it with ``tfhub_llm.export_litert`` as a
float32 and a dynamic-int8 ``.tflite`` file (tokenizer inside: the app passes strings), runs both with
``tfhub_llm.LiteRTModel`` on held-out phrases and prints how often they give the Keras model's labels,
their accuracy, file size and batch-1 latency.

    .venv/bin/python examples/on_device.py                       # MiniLM, a few minutes on 2 cores
    .venv/bin/python examples/on_device.py --max-examples 4000

Writes ``OUT/on_device/{float32,int8}.tflite`` and ``OUT/on_device/metrics.json``.
"""

import time

import common
import keras
import numpy as np

from tfhub_llm import LiteRTModel, TextClassifier, export_litert
from tfhub_llm.readers.datasets import to_dataset

LABEL_NAMES = ["negative", "positive"]
LATENCY_CALLS = 50
SENTENCE = "a gripping, beautifully acted film"


def batch1_latency_ms(litert):
    """Median milliseconds of one call on one sentence."""
    times = []
    for _ in range(LATENCY_CALLS):
        start = time.perf_counter()
        litert([SENTENCE])
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    common.add_sst2_flags(parser)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    train, validation = common.read_sst2_sample(args)
    model = TextClassifier(args.encoder, args.preprocessor, num_classes=2, label_names=LABEL_NAMES,
                           seq_length=args.seq_length)
    model.compile(learning_rate=args.learning_rate)
    model.fit(to_dataset(train, args.batch_size, seed=args.seed), epochs=args.epochs, verbose=2)

    texts, labels = list(validation.texts), np.asarray(validation.labels)
    keras_labels = model.predict(to_dataset(validation, args.batch_size, shuffle=False), verbose=0).argmax(axis=1)
    print(f"keras: held-out accuracy {np.mean(keras_labels == labels):.3f} on {len(texts)} phrases")
    results = {"keras_accuracy": float(np.mean(keras_labels == labels)), "validation_examples": len(texts)}
    for name, quantize in (("float32", None), ("int8", "dynamic_int8")):
        path = export_litert(model, f"{args.out}/on_device/{name}.tflite", quantize=quantize, overwrite=True)
        litert = LiteRTModel(path)
        predicted = np.concatenate([litert(texts[start:start + args.batch_size])["label"]
                                    for start in range(0, len(texts), args.batch_size)])
        results[name] = {"agreement_with_keras": float(np.mean(predicted == keras_labels)),
                         "accuracy": float(np.mean(predicted == labels)), "size_mb": litert.size_bytes / 1e6,
                         "batch1_latency_ms": batch1_latency_ms(litert)}
        print(f"{name}: {path}, {results[name]['size_mb']:.1f} MB; agrees with keras on "
              f"{100 * results[name]['agreement_with_keras']:.1f}% of held-out phrases, accuracy "
              f"{results[name]['accuracy']:.3f}, batch-1 latency {results[name]['batch1_latency_ms']:.1f} ms")
        print(f"{name}: {SENTENCE!r} -> {litert([SENTENCE])['label_name'][0]}")
    print(f"wrote {common.write_json(f'{args.out}/on_device/metrics.json', results)}")


if __name__ == "__main__":
    main()
