"""Data-parallel fine-tuning with ``tf.distribute``: one ``TextClassifier``, ``fit``, two worker processes.

Run without ``TF_CONFIG``, the script starts two copies of itself on loopback, each with a
``TF_CONFIG`` naming both, and waits for them. Each worker creates a
``MultiWorkerMirroredStrategy``, builds the model INSIDE ``strategy.scope()`` (so the TF-Hub
encoder's variables become mirrored variables), and calls ``fit`` on the same globally batched
``tf.data`` pipeline; tf.distribute gives every worker its share of each global batch and sums the
gradients, so every step updates the weights as one process would on the whole batch. With
``--dropout 0`` and an encoder without dropout the result equals single-process training
(``tests/training/test_distribute.py`` checks it). ``--strategy mirrored`` or ``none`` runs in one process.

    .venv/bin/python examples/distributed_fit.py                   # 2 workers, MiniLM, a few minutes on 2 cores
    .venv/bin/python examples/distributed_fit.py --strategy mirrored

On a cluster, start the same script on every machine with its own ``TF_CONFIG`` instead. Writes
``OUT/distributed_fit/metrics.json`` (the chief) and ``OUT/distributed_fit/weights-worker<i>.npz``
(every worker).
"""

import io
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import common
import keras
import numpy as np
import tensorflow as tf

from tfhub_llm.readers.datasets import to_dataset
from tfhub_llm.readers.text_examples import read_text_examples
from tfhub_llm.tasks.classifier import TextClassifier

STRATEGIES = ("multi-worker", "mirrored", "none")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_workers(num_workers, argv, timeout):
    """Runs this script once per worker with TF_CONFIG on loopback; returns when all have finished."""
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(num_workers)]
    print(f"launch: {num_workers} workers at {', '.join(addresses)} (MultiWorkerMirroredStrategy)", flush=True)
    workers = []
    for index in range(num_workers):
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config)}
        workers.append(subprocess.Popen([sys.executable, __file__, *argv], env=env))
    deadline = time.monotonic() + timeout
    try:
        for index, worker in enumerate(workers):
            code = worker.wait(timeout=max(deadline - time.monotonic(), 1))
            if code:
                raise SystemExit(f"worker {index} exited with status {code}")
    except subprocess.TimeoutExpired:
        raise SystemExit(f"the workers did not finish within --timeout {timeout} s") from None
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def make_strategy(name):
    """(strategy, this process's worker index)."""
    if name == "multi-worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return strategy, strategy.cluster_resolver.task_id
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), 0
    return tf.distribute.get_strategy(), 0


def whole_batches(examples, batch_size):
    """The first examples that fill whole global batches, so every worker gets an equal share of each."""
    kept = len(examples) - len(examples) % batch_size
    if kept == 0:
        raise SystemExit(f"{len(examples)} examples do not fill one batch of {batch_size}")
    return examples.subset(range(kept))


def sharded_by_data(dataset):
    """Shards by element (each worker takes its slice of every global batch), as an in-memory dataset must."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def save_weights(model, path):
    """Every weight of ``model`` as .npz, keyed ``<index>/<Keras path>``, written through a temporary sibling."""
    buffer = io.BytesIO()
    np.savez(buffer, **{f"{index:03d}/{weight.path}": weight.numpy() for index, weight in enumerate(model.weights)})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, path)


def train(args):
    strategy, worker_index = make_strategy(args.strategy)
    is_chief = worker_index == 0
    keras.utils.set_random_seed(args.seed)
    examples = read_text_examples(args.train, text_column="text", label_column="label", num_classes=2)
    train_part, validation = common.sample_split(examples, args.max_examples, args.validation_examples, args.seed)
    train_part = whole_batches(train_part, args.batch_size)
    validation = whole_batches(validation, args.batch_size)
    if is_chief:
        print(f"data: {len(train_part)} training and {len(validation)} held-out phrases, global batch "
              f"{args.batch_size} over {strategy.num_replicas_in_sync} replica(s) ({args.strategy})", flush=True)

    with strategy.scope():  # the model's variables, the encoder's included, become distributed here
        model = TextClassifier(args.encoder, args.preprocessor, num_classes=2, dropout=args.dropout,
                               seq_length=args.seq_length)
        if args.optimizer == "sgd":
            model.compile(optimizer=keras.optimizers.SGD(args.learning_rate))
        else:
            model.compile(learning_rate=args.learning_rate, train_steps=args.epochs * len(train_part) // args.batch_size)

    started = time.monotonic()
    history = model.fit(sharded_by_data(to_dataset(train_part, args.batch_size, seed=args.seed)),
                        epochs=args.epochs, verbose=2 if is_chief else 0)
    scores = model.evaluate(sharded_by_data(to_dataset(validation, args.batch_size, shuffle=False)),
                            verbose=0, return_dict=True)
    train_seconds = time.monotonic() - started

    out = pathlib.Path(args.out) / "distributed_fit"
    save_weights(model, out / f"weights-worker{worker_index}.npz")
    if is_chief:
        print(f"fit: {args.epochs} epoch(s) in {train_seconds:.0f} s; held-out accuracy {scores['accuracy']:.3f}")
        path = common.write_json(out / "metrics.json", {
            "strategy": args.strategy, "replicas": strategy.num_replicas_in_sync, "encoder": args.encoder,
            "train_examples": len(train_part), "validation_examples": len(validation), "global_batch": args.batch_size,
            "epochs": args.epochs, "history": history.history, "validation": scores, "train_seconds": train_seconds})
        print(f"wrote {path} and the weights of each worker beside it")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(common.DATA / "sst2" / "train.tsv"),
                        help="TSV with columns 'text' and 'label' (0/1)")
    parser.add_argument("--validation-examples", type=int, default=256)
    parser.add_argument("--strategy", choices=STRATEGIES, default="multi-worker")
    parser.add_argument("--workers", type=int, default=2, help="worker processes to launch (multi-worker)")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout before the classification head")
    parser.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw",
                        help="adamw: BERT's default schedule; sgd: plain SGD, whose steps are proportional to the "
                             "gradients, so runs that must agree cannot hide a gradient scaled wrongly")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds the workers may take")
    common.add_training_flags(parser, max_examples=1024, epochs=1, batch_size=32, seq_length=64,
                              learning_rate=5e-5)
    args = parser.parse_args(argv)
    if args.strategy == "multi-worker" and "TF_CONFIG" not in os.environ:
        if args.batch_size % args.workers:
            parser.error(f"--batch-size {args.batch_size} must split evenly over --workers {args.workers}")
        launch_workers(args.workers, argv, args.timeout)
        print("done: every worker finished")
    else:
        train(args)


if __name__ == "__main__":
    main()
