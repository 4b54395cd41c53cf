"""The benchmark's inputs, the phases every measured system runs, and the worker protocol.

Standard library only: it is imported both by ``bench/run.py`` and by the workers, which run in
the package's ``.venv`` (ours) or in the peers' ``.bench-venv`` (KerasHub, torch, ONNX Runtime).

The workload is written once to a JSON file that every worker reads, so all systems see exactly
the same batches (strings in, probabilities out, tokenization included everywhere):
  * ``sentences``: whole SST-2 sentences (the demo's held-out ones, file order), batches of 32;
  * ``long``: SQuAD v2.0 paragraphs in file order, batches of 32, cut at 128 word pieces by every system;
  * ``train`` / ``train_labels``: other held-out SST-2 sentences and their labels, for ``fit``;
  * ``short_sentence`` / ``median_sentence``: the batch-1 latency inputs.

A worker hosts one or more named systems and answers JSON commands, one per line on stdin, with
one JSON line on stdout: ``{"system": NAME, "phase": PHASE}`` runs ``systems[NAME].<PHASE>(workload)``
and replies ``{"seconds": ..., **extra}``; ``{"phase": "quit"}`` ends it. Anything else the worker
prints goes to stderr.
"""

import json
import os
import sys
import time

SEQ_LENGTH = 128
BATCH_SIZE = 32
LATENCY_CALLS = 200
SHORT_SENTENCE = "a gripping, beautifully acted film."


def read_squad_contexts(path):
    """Every paragraph (context) of a SQuAD JSON file, in file order."""
    with open(path, encoding="utf-8") as file:
        articles = json.load(file)["data"]
    return [paragraph["context"] for article in articles for paragraph in article["paragraphs"]]


def batches_of(items, batch_size=BATCH_SIZE):
    """``items`` cut into consecutive batches of ``batch_size`` (the last one may be shorter)."""
    return [items[start:start + batch_size] for start in range(0, len(items), batch_size)]


def flat(batches):
    """The batches' items as one list, in order."""
    return [item for batch in batches for item in batch]


def median_by_words(texts):
    """The text whose word count is the median of ``texts`` (the first such text in order)."""
    counts = sorted(len(text.split()) for text in texts)
    median = counts[len(counts) // 2]
    return next(text for text in texts if len(text.split()) == median)


def build_workload(sentences, labels, squad_path, sentence_batches, long_batches, train_batches,
                   batch_size=BATCH_SIZE):
    """The workload of the module docstring from held-out ``sentences`` (file order) and a SQuAD file."""
    needed = (sentence_batches + train_batches) * batch_size
    contexts = read_squad_contexts(squad_path)
    if needed > len(sentences) or long_batches * batch_size > len(contexts):
        raise ValueError(f"the workload needs {needed} held-out sentences and {long_batches * batch_size} "
                         f"SQuAD contexts; there are {len(sentences)} and {len(contexts)} in {squad_path}")
    inference = sentences[:sentence_batches * batch_size]
    train = slice(len(inference), needed)
    return {
        "batch_size": batch_size,
        "sentences": batches_of(inference, batch_size),
        "long": batches_of(contexts[:long_batches * batch_size], batch_size),
        "train": batches_of(sentences[train], batch_size),
        "train_labels": batches_of(labels[train], batch_size),
        "short_sentence": SHORT_SENTENCE,
        "median_sentence": median_by_words(inference),
    }


def sub_batches(lengths, parts):
    """Row indices of one batch sorted by ``lengths`` and cut into ``parts`` consecutive groups."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    size = max(1, -(-len(order) // parts))
    return [order[start:start + size] for start in range(0, len(order), size)]


def in_input_order(groups, outputs):
    """Each group's output rows put back at the group's row indices (the inverse of :func:`sub_batches`)."""
    rows = [None] * sum(len(group) for group in groups)
    for group, group_rows in zip(groups, outputs, strict=True):
        for index, row in zip(group, group_rows, strict=True):
            rows[index] = row
    return rows


def percentile(values, q):
    """The ``q``-th percentile of ``values`` with linear interpolation (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class MeasuredSystem:
    """The benchmark's phases in terms of ``predict(texts)`` (a batch's probabilities, rows in order)
    and, for systems that train, ``fit(batches, labels)`` (one optimiser step per batch)."""

    trains = False
    details = {}

    def predict(self, texts):
        raise NotImplementedError

    def fit(self, batches, labels):
        raise NotImplementedError(f"{type(self).__name__} does not train")

    def warmup(self, workload):
        """Runs each kind of input of the timed phases first (tracing, compiling; not timed)."""
        if self.trains:
            self.fit(workload["train"][:1], workload["train_labels"][:1])
            return
        for texts in workload["sentences"][:2] + workload["long"][:1]:
            self.predict(texts)
        for _ in range(3):
            self.predict([workload["short_sentence"]])
            self.predict([workload["median_sentence"]])

    def sentences(self, workload):
        for texts in workload["sentences"]:
            self.predict(texts)

    def long(self, workload):
        for texts in workload["long"]:
            self.predict(texts)

    def train(self, workload):
        self.fit(workload["train"], workload["train_labels"])

    def latency_short(self, workload):
        return self._latency([workload["short_sentence"]])

    def latency_median(self, workload):
        return self._latency([workload["median_sentence"]])

    def _latency(self, texts, calls=LATENCY_CALLS):
        """Milliseconds per batch-1 call: p50 and p99 of ``calls`` calls."""
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            self.predict(texts)
            times.append(time.perf_counter() - start)
        return {"p50_ms": 1e3 * percentile(times, 50), "p99_ms": 1e3 * percentile(times, 99)}

    def info(self, workload):
        """What the system is beyond its name (file size, fused operators...), for the results."""
        return {"details": self.details}

    def probabilities(self, workload):
        """The probabilities of every inference sentence, for the equality checks."""
        rows = [row for texts in workload["sentences"] for row in self.predict(texts)]
        return {"probabilities": [[float(value) for value in row] for row in rows]}


def protocol_stdout():
    """The worker's reply stream; afterwards anything else written to stdout (even by C code) goes to stderr."""
    sys.stdout.flush()
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return replies


def run_worker(workload_path, build_systems):
    """A worker's whole life: its reply stream, the workload, ``build_systems()`` (name -> system),
    ``{"ready": [names]}``, then the commands."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    replies = protocol_stdout()
    with open(workload_path, encoding="utf-8") as file:
        workload = json.load(file)
    systems = build_systems()
    replies.write(json.dumps({"ready": sorted(systems)}) + "\n")
    replies.flush()
    serve_commands(systems, workload, replies)


def serve_commands(systems, workload, stdout, stdin=sys.stdin):
    """Answers the commands of ``bench/run.py`` with timings of ``systems`` (see the module docstring)."""
    for line in stdin:
        command = json.loads(line)
        if command["phase"] == "quit":
            return
        try:
            start = time.perf_counter()
            extra = getattr(systems[command["system"]], command["phase"])(workload) or {}
            reply = {"seconds": time.perf_counter() - start, **extra}
        except Exception as error:  # reported to run.py, which shows it in the table
            reply = {"error": f"{command['phase']}: {type(error).__name__}: {error}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()
