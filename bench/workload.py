"""The benchmark's inputs and the worker protocol that every measured system runs under.

Standard library only: it is imported both by ``bench/run.py`` (any Python) and by the workers,
which run in the package's ``.venv`` (ours) or in the peers' ``.bench-venv`` (KerasHub, Hugging Face).

The workload is one seeded sample of real sentences, written once to a JSON file that every
worker reads, so all systems see exactly the same batches:
  * ``sst2``: SST-2 training phrases in batches (short texts);
  * ``squad``: SQuAD v2.0 paragraphs in batches (long texts, truncated at 128 tokens by every system);
  * ``train`` / ``train_labels``: SST-2 phrases and labels for ``fit`` throughput;
  * ``warmup`` / ``warmup_labels``: other phrases and contexts, run once before any timing.

A worker answers JSON commands, one per line on stdin, with one JSON line on stdout:
``{"phase": NAME}`` runs ``system.<NAME>(workload)`` and replies ``{"seconds": ..., **extra}``;
``{"phase": "quit"}`` ends it. Anything else the worker prints goes to stderr.
"""

import csv
import json
import os
import random
import sys
import time

SEQ_LENGTH = 128
BATCH_SIZE = 32
SHORT_SENTENCE = "a gripping, beautifully acted film."


def read_sst2(path):
    """(text, label) rows of a GLUE SST-2 TSV file."""
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["text"].strip(), int(row["label"])) for row in reader]


def read_squad_contexts(path):
    """Every paragraph (context) of a SQuAD JSON file, in file order."""
    with open(path, encoding="utf-8") as file:
        articles = json.load(file)["data"]
    return [paragraph["context"] for article in articles for paragraph in article["paragraphs"]]


def _batches(items, batch_size):
    return [items[start:start + batch_size] for start in range(0, len(items), batch_size)]


def build_workload(sst2_path, squad_path, seed, sst2_batches, squad_batches, train_batches,
                   warmup_batches=2, batch_size=BATCH_SIZE):
    """A seeded sample of real texts cut into batches (see the module docstring)."""
    rng = random.Random(seed)
    sst2 = read_sst2(sst2_path)
    contexts = read_squad_contexts(squad_path)
    needed = (sst2_batches + train_batches + warmup_batches) * batch_size
    squad_needed = (squad_batches + warmup_batches) * batch_size
    if needed > len(sst2) or squad_needed > len(contexts):
        raise ValueError(f"the workload needs {needed} SST-2 rows and {squad_needed} SQuAD contexts; "
                         f"{sst2_path} has {len(sst2)} and {squad_path} has {len(contexts)}")
    rows = rng.sample(sst2, needed)
    picked_contexts = rng.sample(contexts, squad_needed)
    infer_rows = rows[:sst2_batches * batch_size]
    train_rows = rows[len(infer_rows):len(infer_rows) + train_batches * batch_size]
    warmup_rows = rows[len(infer_rows) + len(train_rows):]
    warmup_texts = [text for text, _ in warmup_rows] + picked_contexts[squad_batches * batch_size:]
    return {
        "seed": seed,
        "batch_size": batch_size,
        "sst2": _batches([text for text, _ in infer_rows], batch_size),
        "squad": _batches(picked_contexts[:squad_batches * batch_size], batch_size),
        "train": _batches([text for text, _ in train_rows], batch_size),
        "train_labels": _batches([label for _, label in train_rows], batch_size),
        "warmup": _batches(warmup_texts, batch_size),
        "warmup_labels": _batches([label for _, label in warmup_rows], batch_size),
    }


def flat(batches):
    """The batches' items as one list, in order."""
    return [item for batch in batches for item in batch]


def cpu_has_bfloat16():
    """Whether the CPU advertises native bfloat16 matmul instructions (AVX512-BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            flags = file.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def protocol_stdout():
    """The worker's reply stream; afterwards anything else written to stdout (even by C code) goes to stderr."""
    sys.stdout.flush()
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return replies


def run_worker(workload_path, build_system, ready):
    """A worker's whole life: its reply stream, the workload, ``build_system()``, ``{"ready": ready}``, the phases."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    replies = protocol_stdout()
    with open(workload_path, encoding="utf-8") as file:
        workload = json.load(file)
    system = build_system()
    replies.write(json.dumps({"ready": ready}) + "\n")
    replies.flush()
    serve_commands(system, workload, replies)


def serve_commands(system, workload, stdout, stdin=sys.stdin):
    """Answers the phase commands of ``bench/run.py`` with timings of ``system`` (see the module docstring)."""
    for line in stdin:
        phase = json.loads(line)["phase"]
        if phase == "quit":
            return
        try:
            start = time.perf_counter()
            extra = getattr(system, phase)(workload) or {}
            reply = {"seconds": time.perf_counter() - start, **extra}
        except Exception as error:  # reported to run.py, which shows it in the table
            reply = {"error": f"{phase}: {type(error).__name__}: {error}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()
