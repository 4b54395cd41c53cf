"""Rows/s of ``tfhub_llm.batch`` on the DirectRunner against a plain predict loop over the same export and data.

    .venv/bin/python bench/batch_inference.py                 # MiniLM, 512 SST-2 sentences, about a minute
    .venv/bin/python bench/batch_inference.py --modes multi_processing       # also: --rows N

Exports ``TextClassifier`` over the embedded MiniLM (2 classes, seeded head) for TF Serving, writes the
first ``--rows`` SST-2 training rows of at least 8 words to a text file, and times
  * ``loop``: the export loaded once as TF Serving loads it (``ServingSession``), warmed up with one request,
    and called on consecutive batches of 32 in file order: what a user writes by hand (load time reported apart);
  * ``pipeline MODE``: ``run_batch`` over the file on the DirectRunner in each ``--modes`` running mode,
    end to end (start, model load in the workers, scoring, writing the shards), and without the model load
    (``BatchSummary.model_load_seconds``, Beam's own metric): the rate a long run tends to.
Each line names the CPU; ``cores busy`` is the process's CPU seconds (worker processes included) per second.
"""

import argparse
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BATCH_SIZE = 32
MIN_WORDS = 8


def cpu_name():
    """The CPU model and its vector / matrix extensions that matter here (from /proc/cpuinfo)."""
    name = subprocess.run(["grep", "-m1", "model name", "/proc/cpuinfo"], capture_output=True, text=True).stdout
    flags = set()
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    wanted = sorted(flag for flag in flags if flag.startswith(("avx512", "amx")) or flag in ("avx2", "fma"))
    return f"{name.split(':', 1)[-1].strip()}, {os.cpu_count()} cores [{' '.join(wanted)}]"


def sst2_sentences(count):
    """The first ``count`` SST-2 training texts of at least MIN_WORDS words, in file order."""
    texts = []
    with open(REPO / "data" / "sst2" / "train.tsv", encoding="utf-8") as file:
        next(file)
        for line in file:
            text = line.split("\t")[0].strip()
            if len(text.split()) >= MIN_WORDS:
                texts.append(text)
                if len(texts) == count:
                    return texts
    raise SystemExit(f"data/sst2/train.tsv has fewer than {count} texts of {MIN_WORDS}+ words")


def cpu_seconds():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(function):
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = function()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def build_export(folder):
    import keras

    from savedmodels import MINILM
    from tfhub_llm.tasks.classifier import TextClassifier
    from tfhub_llm.tf_serving import export_for_serving

    keras.utils.set_random_seed(0)
    model = TextClassifier(str(MINILM / "encoder"), str(MINILM / "preprocessor"), num_classes=2)
    return export_for_serving(model, folder)


def loop(export, texts):
    import numpy as np

    from tfhub_llm.tf_serving.check import ServingSession

    def load():
        session = ServingSession(export)
        session.run({"text": np.array(texts[:1], dtype=object)})  # the warm-up call, as ServingExportHandler.load_model
        return session

    session, load_seconds, _ = timed(load)
    with session:
        _, seconds, cpu = timed(lambda: [session.run({"text": np.array(texts[start:start + BATCH_SIZE], dtype=object)})
                                         for start in range(0, len(texts), BATCH_SIZE)])
    return load_seconds, seconds, cpu


def pipeline(export, texts, folder, mode):
    from tfhub_llm.batch.pipeline import run_batch

    source = pathlib.Path(folder) / f"in-{len(texts)}-{mode}.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    workers = "1" if mode == "in_memory" else "2"
    summary, seconds, cpu = timed(lambda: run_batch(
        export, source, pathlib.Path(folder) / f"out-{mode}",
        pipeline_args=[f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]))
    assert summary.rows_scored == len(texts), summary.format()
    return summary, seconds, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--modes", nargs="+", default=["multi_threading", "in_memory"],
                        choices=["multi_threading", "in_memory", "multi_processing"])
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    texts = sst2_sentences(args.rows)
    print(f"CPU: {cpu_name()}; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"data: {len(texts)} SST-2 sentences ({MIN_WORDS}+ words, {sum(map(len, texts)) / len(texts):.0f} "
          f"characters on average); model: MiniLM-L6-H384 classifier export")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as folder:
        export = build_export(pathlib.Path(folder) / "served")
        load_seconds, seconds, cpu = loop(export, texts)
        baseline = len(texts) / seconds
        print(f"loop (ServingSession, batches of {BATCH_SIZE}, file order): {baseline:.1f} rows/s, "
              f"cores busy {cpu / seconds:.2f} (load and warm-up {load_seconds:.1f} s apart)")
        for mode in args.modes:
            summary, seconds, cpu = pipeline(export, texts, folder, mode)
            after_load = len(texts) / (seconds - summary.model_load_seconds)
            print(f"pipeline {mode}: {len(texts) / seconds:.1f} rows/s end to end ({seconds:.1f} s), "
                  f"{after_load:.1f} rows/s without the model load ({summary.model_load_seconds:.1f} s) = "
                  f"{after_load / baseline:.2f}x the loop, cores busy {cpu / seconds:.2f}")


if __name__ == "__main__":
    main()
