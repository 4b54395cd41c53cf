"""Issue 27: denial of service by an untrusted model, each attack class refused, each with its positive control.

Attack models are tiny (a few-byte constants that *declare* gigabytes); the scan must refuse them from
the graph alone. Where a regression would make a test allocate what the attack declares, the load runs
in a subprocess under ``RLIMIT_AS`` (:func:`_run_limited`), so a broken scan fails the test, never the host.
The benign twin of each attack (the same model without the harmful op, or loaded with ``trust=True``
where the harm is safe to show) still loads and answers.
"""

import contextlib
import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfhub_llm.hub import handles, security, trust

SUBPROCESS_TIMEOUT_SECONDS = 120


@pytest.fixture(autouse=True)
def no_trusted_dirs(monkeypatch):
    monkeypatch.delenv(trust.TRUSTED_DIRS_ENV, raising=False)
    monkeypatch.delenv(trust.REMOTE_HANDLES_ENV, raising=False)
    monkeypatch.setattr(trust, "_trusted_directories", [])


def _save(module, path):
    tf.saved_model.save(module, str(path))
    return str(path)


def _call_model(body, path, spec=tf.TensorSpec([None], tf.float32)):
    """A module whose ``__call__`` is ``body``."""
    module = tf.Module()
    module.__call__ = tf.function(body, input_signature=[spec])
    return _save(module, path)


def _refused(path, op):
    with pytest.raises(security.UntrustedModelError) as caught:
        security.check_saved_model(path)
    assert op in {finding.op for finding in caught.value.findings}, caught.value
    return caught.value


@contextlib.contextmanager
def _edited(source, dest):
    """Copy a SavedModel to ``dest`` and yield its MetaGraph to edit; written back on exit."""
    shutil.copytree(source, dest)
    saved_model = saved_model_pb2.SavedModel()
    filename = os.path.join(dest, "saved_model.pb")
    with open(filename, "rb") as f:
        saved_model.ParseFromString(f.read())
    yield saved_model.meta_graphs[0]
    with open(filename, "wb") as f:
        f.write(saved_model.SerializeToString())


def _function(meta_graph, part):
    (function,) = [f for f in meta_graph.graph_def.library.function if part in f.signature.name]
    return function


def _run_limited(code, *, address_space=3 << 30, timeout=SUBPROCESS_TIMEOUT_SECONDS):
    """Run ``code`` in a fresh interpreter whose address space is capped (a regression fails, never swaps)."""
    prelude = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({address_space}, {address_space}))\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def _benign(x):
    return x * 2.0


def _answers(path):
    assert handles.load(path)(tf.constant([1.0, 2.0])).numpy().tolist() == [2.0, 4.0]


# ---------------------------------------------------------------- 1. escape hatches on the allow-list


def _aborts(x):
    with tf.control_dependencies([tf.raw_ops.Abort(error_msg="killed by the model", exit_without_error=True)]):
        return x * 2.0


def test_abort_in_call_is_refused_and_really_ends_a_trusted_process(tmp_path):
    path = _call_model(_aborts, tmp_path / "abort")
    error = _refused(path, "Abort")
    assert "ends the process" in str(error)
    with pytest.raises(security.UntrustedModelError):
        handles.load(path)
    _answers(_call_model(_benign, tmp_path / "benign"))
    # Positive control: trusted, one call ends the interpreter before it can print.
    code = (f"import tensorflow as tf; from tfhub_llm.hub import handles\n"
            f"handles.load({path!r}, trust=True)(tf.constant([1.0])); print('survived')")
    result = _run_limited(code)
    assert "survived" not in result.stdout, result.stderr[-2000:]


@pytest.mark.parametrize("op, family", [
    ("XlaCustomCall", "native code"), ("XlaCustomCallV2", "native code"), ("XlaLaunchV2", "native code"),
    ("TPUPartitionedCall", "TPU"), ("InfeedDequeue", "TPU"), ("_CopyFromHostToGpu", "TPU"),
    ("SleepDataset", "sleeps"), ("ExperimentalSleepDataset", "sleeps"), ("QueueDequeueV2", "sleeps"),
    ("Exit", "TF1 dataflow loop"), ("NextIteration", "TF1 dataflow loop"), ("MlirPassthroughOp", "as a string"),
])
def test_escape_hatch_ops_are_refused_at_scan_by_family(tmp_path, op, family):
    """Each op is planted in the benign model's ``__call__`` (never run): the scan names it and its family."""
    source = _call_model(_benign, tmp_path / "benign")
    _answers(source)
    path = tmp_path / "attack"
    with _edited(source, path) as meta_graph:
        _function(meta_graph, "inference__benign").node_def.add(name="planted", op=op)
    error = _refused(str(path), op)
    assert family in str(error)
    with pytest.raises(security.UntrustedModelError):
        handles.load(str(path))
