"""Rows/s of ``tfhub_llm.batch`` on the DirectRunner against a plain predict loop over the same export and data.

    .venv/bin/python bench/batch_inference.py                 # MiniLM, 512 SST-2 sentences, 3 rounds, about a minute
    .venv/bin/python bench/batch_inference.py --modes multi_processing       # also: --rows N, --rounds N

Exports ``TextClassifier`` over the embedded MiniLM (2 classes, seeded head) for TF Serving, writes the
first ``--rows`` SST-2 training rows of at least 8 words to a text file, and times, in ``--rounds``
interleaved rounds in one process (so a busy machine slows both sides alike; compare within a round):
  * ``loop``: the export loaded once as TF Serving loads it (``ServingSession``), warmed up with one request,
    and called on consecutive batches of 32 in file order: what a user writes by hand (load time reported apart);
  * ``pipeline MODE``: ``run_batch`` over the file on the DirectRunner in each ``--modes`` running mode
    (``default``: the pipeline's own defaults, multi_threading with a worker thread per core), end to end
    (start, model load in the workers, scoring, writing the shards); without the model load
    (``BatchSummary.model_load_seconds``, Beam's own metric); and after the model load: from the end of the
    workers' load to the end of the run (scoring and writing; start-up, planning and reading come before it),
    the rate a long run tends to. multi_processing loads in other processes, so it has no after-load figures.
``cores busy`` is the process's CPU seconds (worker processes included) per second of the same span.
Each round prints the load average; the last lines are the medians over the rounds.
"""

import argparse
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import time
from unittest import mock

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tfhub_llm.cpu_info import read_cpu_info  # noqa: E402  (no TensorFlow)

BATCH_SIZE = 32
MIN_WORDS = 8


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


def loaded_session(export, texts):
    """The export in a ``ServingSession`` after one warm-up request (as ``ServingExportHandler.load_model``)."""
    import numpy as np

    from tfhub_llm.tf_serving.check import ServingSession

    session = ServingSession(export)
    session.run({"text": np.array(texts[:1], dtype=object)})
    return session


def loop(session, texts):
    """Seconds and CPU seconds of one pass over ``texts`` in batches of BATCH_SIZE."""
    import numpy as np

    _, seconds, cpu = timed(lambda: [session.run({"text": np.array(texts[start:start + BATCH_SIZE], dtype=object)})
                                     for start in range(0, len(texts), BATCH_SIZE)])
    return seconds, cpu


MODE_ARGS = {"default": [], "in_memory": ["--direct_running_mode=in_memory", "--direct_num_workers=1"],
             "multi_processing": ["--direct_running_mode=multi_processing"]}


def pipeline(export, source, output, mode):
    """``(summary, seconds, cpu seconds, after-load seconds or None, after-load CPU seconds or None)``."""
    from tfhub_llm.batch.handler import ServingExportHandler
    from tfhub_llm.batch.pipeline import run_batch

    loaded = []  # (wall, cpu) when a worker of this process finished loading the export
    load_model = ServingExportHandler.load_model

    def marked_load(handler):
        model = load_model(handler)
        loaded.append((time.perf_counter(), cpu_seconds()))
        return model

    with mock.patch.object(ServingExportHandler, "load_model", marked_load):
        summary, seconds, cpu = timed(lambda: run_batch(export, source, output, pipeline_args=MODE_ARGS[mode]))
        ended = time.perf_counter(), cpu_seconds()
    assert summary.rows_scored == summary.rows_read, summary.format()
    if not loaded:
        return summary, seconds, cpu, None, None
    return summary, seconds, cpu, ended[0] - max(loaded)[0], ended[1] - max(loaded)[1]


def main():
    from tfhub_llm.batch.pipeline import direct_num_workers

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["default", "in_memory"], choices=list(MODE_ARGS))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    texts = sst2_sentences(args.rows)
    print(f"CPU: {read_cpu_info().describe()}; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"data: {len(texts)} SST-2 sentences ({MIN_WORDS}+ words, {sum(map(len, texts)) / len(texts):.0f} "
          f"characters on average); model: MiniLM-L6-H384 classifier export; default: multi_threading, "
          f"{direct_num_workers()} worker threads")
    ratios = {mode: ([], []) for mode in args.modes}  # without the load, after the load
    baselines = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as folder:
        export = build_export(pathlib.Path(folder) / "served")
        source = pathlib.Path(folder) / f"in-{len(texts)}.txt"
        source.write_text("\n".join(texts) + "\n", encoding="utf-8")
        session, load_seconds, _ = timed(lambda: loaded_session(export, texts))
        print(f"loop: load and warm-up {load_seconds:.1f} s, apart from its rates")
        with session:
            for round_number in range(1, args.rounds + 1):
                seconds, cpu = loop(session, texts)
                baseline = len(texts) / seconds
                baselines.append(baseline)
                print(f"round {round_number} (load average {os.getloadavg()[0]:.1f}): loop (ServingSession, batches "
                      f"of {BATCH_SIZE}, file order) {baseline:.1f} rows/s, cores busy {cpu / seconds:.2f}")
                for mode in args.modes:
                    output = pathlib.Path(folder) / f"out-{mode}-{round_number}"
                    summary, seconds, cpu, after_seconds, after_cpu = pipeline(export, source, output, mode)
                    without_load = len(texts) / (seconds - summary.model_load_seconds)
                    ratios[mode][0].append(without_load / baseline)
                    line = (f"  pipeline {mode}: {len(texts) / seconds:.1f} rows/s end to end ({seconds:.1f} s, cores "
                            f"busy {cpu / seconds:.2f}); without the model load ({summary.model_load_seconds:.1f} s) "
                            f"{without_load:.1f} rows/s = {without_load / baseline:.2f}x the loop")
                    if after_seconds is not None:
                        ratios[mode][1].append(len(texts) / after_seconds / baseline)
                        line += (f"; after it ({after_seconds:.1f} s) {len(texts) / after_seconds:.1f} rows/s = "
                                 f"{len(texts) / after_seconds / baseline:.2f}x, cores busy {after_cpu / after_seconds:.2f}")
                    print(line, flush=True)
    print(f"medians over {args.rounds} rounds: loop {statistics.median(baselines):.1f} rows/s; " + "; ".join(
        f"{mode} {statistics.median(without):.2f}x without the model load"
        + (f", {statistics.median(after):.2f}x after it" if after else "")
        for mode, (without, after) in ratios.items()))


if __name__ == "__main__":
    main()
