"""Crash injection: ``export_for_serving`` killed with SIGKILL at random points leaves only complete versions.

A child process loads a tiny TextClassifier from a ``.keras`` file and exports it into one TF Serving
base dir in a loop; the test kills it at seeded delays spread over the measured export duration.
After every kill each numeric folder (what TF Serving would load) is a complete SavedModel with its
warmup file, and whatever the killed export left behind has a non-numeric name, which TF Serving ignores.
"""

import os
import pathlib
import select
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.harness import REPO, TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm.tf_serving.export import WARMUP_FILE, export_for_serving, read_warmup_requests
from tfhub_llm.tasks.classifier import TextClassifier

KILLS_ANYWHERE = 2  # at delays spread over a whole export, from the child's start
KILLS_WHILE_WRITING = 4  # at delays spread over the write phase, from the temp folder's appearance
SEED = 8
EXPORTS_PER_CHILD = 3  # bounded: a child that is never killed still ends
TIMEOUT_SECONDS = 120
POLL_SECONDS = 0.002

CHILD = """
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from tfhub_llm.tf_serving.export import export_for_serving
model = keras.models.load_model(sys.argv[1])
print("ready", flush=True)
for _ in range(int(sys.argv[3])):
    print("exported", export_for_serving(model, sys.argv[2]), flush=True)
"""


@pytest.fixture(scope="session")
def classifier():
    return TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2, seq_length=32)


@pytest.fixture(scope="session")
def keras_file(classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("crash_model") / "classifier.keras"
    classifier.save(path)
    return path


def _start_child(keras_file, base_dir):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(keras_file), str(base_dir), str(EXPORTS_PER_CHILD)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    started, _, _ = select.select([child.stdout], [], [], TIMEOUT_SECONDS)
    line = child.stdout.readline() if started else "(nothing within the timeout)"
    if line.strip() != "ready":
        child.kill()
        child.wait()
        pytest.fail(f"the exporting child did not start: {line!r}")
    return child


def _wait_for_new_entry(child, base_dir, known):
    """Returns once a folder that was not in ``known`` appears in ``base_dir`` (the export's temp folder)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not set(os.listdir(base_dir)) - known:
        if child.poll() is not None or time.monotonic() > deadline:
            pytest.fail("the child wrote nothing into the base dir")
        time.sleep(POLL_SECONDS)


def _kill(child):
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the child finished before it was killed: raise EXPORTS_PER_CHILD"
    return [pathlib.Path(line.split()[1]).name for line in child.stdout.read().splitlines()
            if line.startswith("exported")]


def _timed_export(model, base_dir):
    """Exports in this process; returns the export's duration and how long its temp folder existed."""
    appeared = []

    def watch():
        while not appeared:
            if any(not name.isdigit() for name in os.listdir(base_dir)):
                appeared.append(time.perf_counter())
            time.sleep(POLL_SECONDS)

    base_dir.mkdir(parents=True)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    export_for_serving(model, base_dir)
    finished = time.perf_counter()
    appeared.append(finished)
    watcher.join()
    return finished - started, finished - appeared[0]


def _assert_complete_version(path):
    assert (path / WARMUP_FILE).is_file(), f"{path} has no warmup file"
    assert read_warmup_requests(path / WARMUP_FILE)
    loaded = tf.saved_model.load(str(path))
    assert "serving_default" in loaded.signatures, f"{path} has no serving signature"


@pytest.mark.slow  # six child processes, each importing TensorFlow
def test_sigkill_during_export_leaves_only_complete_versions(classifier, keras_file, tmp_path):
    base_dir = tmp_path / "classifier"
    export_seconds, write_seconds = _timed_export(classifier, base_dir)  # also version 1
    rng = np.random.default_rng(SEED)
    kills = [(False, delay) for delay in export_seconds * (np.arange(KILLS_ANYWHERE) + rng.random(KILLS_ANYWHERE))
             / KILLS_ANYWHERE]
    kills += [(True, delay) for delay in write_seconds * (np.arange(KILLS_WHILE_WRITING)
                                                          + rng.random(KILLS_WHILE_WRITING)) / KILLS_WHILE_WRITING]
    checked, interrupted_writes = set(), 0
    for while_writing, delay in kills:
        before = set(os.listdir(base_dir))
        child = _start_child(keras_file, base_dir)
        try:
            if while_writing:
                _wait_for_new_entry(child, base_dir, before)
            time.sleep(delay)
            reported = _kill(child)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        entries = set(os.listdir(base_dir))
        versions = {name for name in entries if name.isdigit()}
        assert set(reported) <= versions
        for name in sorted(versions - checked):
            _assert_complete_version(base_dir / name)
            checked.add(name)
        leftovers = entries - versions
        assert all(name.startswith(".tmp-") for name in leftovers), leftovers
        interrupted_writes += while_writing and bool(leftovers - before)
    assert interrupted_writes >= KILLS_WHILE_WRITING // 2, (
        f"only {interrupted_writes} of {KILLS_WHILE_WRITING} kills hit an export while it was writing")

    highest = max(int(name) for name in os.listdir(base_dir) if name.isdigit())
    after_crashes = export_for_serving(classifier, base_dir)
    assert pathlib.Path(after_crashes).name == str(highest + 1)
    _assert_complete_version(pathlib.Path(after_crashes))
