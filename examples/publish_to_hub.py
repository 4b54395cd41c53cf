"""Publish a fine-tuned encoder to a self-hosted hub and load it back through an http handle.

``export_to_hub`` writes the fine-tuned encoder (and its preprocessor) as TF-Hub Reusable
SavedModels; ``publish`` turns one into ``HUB/NAME/VERSION``, the tar.gz that tensorflow_hub
fetches for ``hub.load("http://HOST/NAME/VERSION")``, with its sha256, a model card and the
Kaggle Models metadata. Any static web server over ``HUB`` is then a model hub: this script
starts one on loopback, loads the encoder back with ``hub.load`` and checks that it computes what
the fine-tuned model computes.

    .venv/bin/python examples/publish_to_hub.py                # MiniLM, about a minute on 2 cores

Writes ``OUT/publish_to_hub/{export,hub,tfhub_cache}/`` and ``OUT/publish_to_hub/metrics.json``.
"""

import contextlib
import functools
import http.server
import os
import pathlib
import threading

import common
import keras
import numpy as np
import tensorflow as tf
import tensorflow_hub

from tfhub_llm.layers.hub_layers import HubEncoder
from tfhub_llm.publishing import ModelCard, export_to_hub, publish
from tfhub_llm.readers.datasets import to_dataset
from tfhub_llm.readers.text_examples import read_text_examples
from tfhub_llm.tasks.classifier import TextClassifier

SENTENCES = ["a gripping, beautifully acted film", "dull, predictable and far too long"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def static_server(directory):
    """Serves ``directory`` over http on loopback (any free port); yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def next_version(model_dir):
    """One more than the highest version already published under ``model_dir`` (published versions are immutable)."""
    versions = [int(path.name) for path in model_dir.glob("*") if path.name.isdecimal()] if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(common.DATA / "sst2" / "train.tsv"),
                        help="TSV with columns 'text' and 'label' (0/1)")
    parser.add_argument("--name", default="sst2-encoder", help="the model's name on the hub")
    common.add_training_flags(parser, max_examples=256, epochs=1, batch_size=32, seq_length=64,
                              learning_rate=5e-5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    out = pathlib.Path(args.out).resolve() / "publish_to_hub"
    os.environ.setdefault("TFHUB_CACHE_DIR", str(out / "tfhub_cache"))

    examples = read_text_examples(args.train, text_column="text", label_column="label", num_classes=2)
    train, _ = common.sample_split(examples, args.max_examples, 0, args.seed)
    model = TextClassifier(args.encoder, args.preprocessor, num_classes=2, seq_length=args.seq_length)
    model.compile(learning_rate=args.learning_rate)
    model.fit(to_dataset(train, args.batch_size, seed=args.seed), epochs=args.epochs, verbose=2)
    print(f"fit: {len(train)} phrases, {args.epochs} epoch(s)")

    version = next_version(out / "hub" / args.name)
    export_dir = export_to_hub(model, out / "export" / str(version))
    print(f"export: {export_dir}/encoder and {export_dir}/preprocessor (TF-Hub Reusable SavedModels)")

    with static_server(str(out / "hub")) as hub_url:
        card = ModelCard(summary="A MiniLM encoder fine-tuned on a sample of SST-2 sentiment phrases.",
                         training_data=["GLUE SST-2 (train.tsv sample)"], base_model=args.encoder, hub_url=hub_url)
        published = publish(export_dir / "encoder", out / "hub", args.name, version, model_card=card)
        print(f"publish: {published.archive} (sha256 {published.sha256[:12]}...), card {published.model_card}")

        handle = f"{hub_url}/{args.name}/{version}"
        reloaded = tensorflow_hub.load(handle)
        print(f"hub.load({handle!r}): cached in {tensorflow_hub.resolve(handle)}")

    encoder_inputs = model.preprocessor(tf.constant(SENTENCES))
    fine_tuned = model.encoder(encoder_inputs)["pooled_output"].numpy()
    loaded = reloaded(encoder_inputs, training=False)["pooled_output"].numpy()
    base = HubEncoder(args.encoder)(encoder_inputs)["pooled_output"].numpy()
    difference = float(np.abs(loaded - fine_tuned).max())
    change = float(np.abs(base - fine_tuned).max())
    print(f"the reloaded encoder's pooled_output matches the fine-tuned one within {difference:.1e} "
          f"(fine-tuning moved it by up to {change:.1e} from {args.encoder})")
    if difference > 1e-4:
        raise SystemExit("the published encoder does not compute what the fine-tuned one does")

    path = common.write_json(out / "metrics.json", {
        "encoder": args.encoder, "handle": handle, "archive": str(published.archive), "sha256": published.sha256,
        "model_card": str(published.model_card), "max_difference_to_fine_tuned": difference,
        "max_change_by_fine_tuning": change})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
