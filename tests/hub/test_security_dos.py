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


# ---------------------------------------------------------------- 2. load-time memory bound


class _LoadTimeVariable(tf.saved_model.experimental.TrackableResource):
    """A variable created and assigned ``value()`` while the model loads (a resource initializer)."""

    def __init__(self, value, dtype=tf.float32):
        super().__init__()
        self._value, self._dtype = value, dtype

    def _create_resource(self):
        return tf.raw_ops.VarHandleOp(dtype=self._dtype, shape=tf.TensorShape(None), shared_name="")

    def _initialize(self):
        return tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=self._value(), validate_shape=False)


class _LoadTimeTable(tf.saved_model.experimental.TrackableResource):
    """A dense hash table created while the model loads, with the bucket count and key width given."""

    def __init__(self, buckets, key_width):
        super().__init__()
        self._buckets, self._key_width = buckets, key_width

    def _create_resource(self):
        return tf.raw_ops.MutableDenseHashTableV2(
            empty_key=tf.constant(0, tf.int64, shape=[self._key_width]),
            deleted_key=tf.constant(-1, tf.int64, shape=[self._key_width]),
            value_dtype=tf.float32, value_shape=[8], initial_num_buckets=self._buckets)

    def _initialize(self):
        return tf.raw_ops.NoOp()


def _resource_model(resource, path):
    module = tf.Module()
    module.resource = resource
    module.__call__ = tf.function(_benign, input_signature=[tf.TensorSpec([None], tf.float32)])
    return _save(module, path)


def _broadcast(size):
    """SelectV2 of two tiny-on-disk constants, [size, 1] and [1, size]: size² floats."""
    return lambda: tf.raw_ops.SelectV2(condition=tf.constant(True), t=tf.constant(1.0, shape=[size, 1]),
                                       e=tf.constant(2.0, shape=[1, size]))


def _packed(size):
    """One constant of ``size`` floats packed 64 times."""
    return lambda: (lambda c: tf.raw_ops.Pack(values=[c] * 64))(tf.constant(1.0, shape=[size]))


@pytest.mark.parametrize("attack, benign", [
    (lambda: _LoadTimeVariable(_broadcast(1 << 16)), lambda: _LoadTimeVariable(_broadcast(4))),  # 16 GiB
    (lambda: _LoadTimeVariable(_packed(1 << 22)), lambda: _LoadTimeVariable(_packed(4))),  # 1 GiB
    (lambda: _LoadTimeTable(1 << 20, 1 << 12), lambda: _LoadTimeTable(8, 1)),  # 32 GiB of buckets
], ids=["select_v2_broadcast", "pack_repeated_input", "dense_hash_table_buckets"])
def test_load_time_memory_beyond_the_files_is_refused(tmp_path, attack, benign):
    path = _resource_model(attack(), tmp_path / "attack")
    assert os.path.getsize(os.path.join(path, "saved_model.pb")) < 1 << 20
    error = _refused(path, "memory")
    assert "TFHUB_LLM_MEMORY_PER_FILE_BYTE" in str(error) and "loading can allocate" in str(error)
    assert {f.op for f in error.findings} == {"memory"}, error  # refused for its size, not for its ops
    _answers(_resource_model(benign(), tmp_path / "benign"))


def test_load_time_memory_limit_is_configurable(tmp_path, monkeypatch):
    path = _resource_model(_LoadTimeVariable(_packed(1 << 22)), tmp_path / "attack")
    _refused(path, "memory")
    monkeypatch.setenv("TFHUB_LLM_MEMORY_FLOOR_MIB", "8192")
    security.check_saved_model(path)
    monkeypatch.setenv("TFHUB_LLM_MEMORY_FLOOR_MIB", "lots")
    with pytest.raises(ValueError, match="TFHUB_LLM_MEMORY_FLOOR_MIB"):
        security.check_saved_model(path)


def test_broadcast_attack_really_allocates_when_trusted(tmp_path):
    """Positive control, under a 3 GiB address-space cap: the trusted load of the 16 GiB broadcast fails."""
    path = _resource_model(_LoadTimeVariable(_broadcast(1 << 16)), tmp_path / "attack")
    result = _run_limited(f"import tensorflow as tf; tf.saved_model.load({path!r}); print('loaded')")
    assert result.returncode != 0 and "loaded" not in result.stdout, result.stdout


# ---------------------------------------------------------------- 3. call time: constant shapes, endless loops


def _constant_fill(x):
    return x + tf.reduce_sum(tf.fill(tf.constant([1 << 30]), 1.0))


def _input_fill(x):
    return x * 2.0 + tf.reduce_sum(tf.fill(tf.shape(x), 0.0))


def _constant_tile(x):
    return x + tf.reduce_sum(tf.tile(tf.constant(1.0, shape=[1024]), [1 << 20]))


def _input_tile(x):
    return x * 2.0 + tf.reduce_sum(tf.tile(tf.constant(0.0, shape=[2]), tf.shape(x)))


def _constant_random(x):
    return x + tf.reduce_sum(tf.random.uniform(tf.constant([1 << 15, 1 << 15])))


def _input_random(x):
    return x * 2.0 + 0.0 * tf.reduce_sum(tf.random.uniform(tf.shape(x)))


def _constant_range(x):
    return x + tf.cast(tf.reduce_sum(tf.range(tf.constant(1 << 31, tf.int64))), tf.float32)


def _input_range(x):
    return x * 2.0 + 0.0 * tf.cast(tf.reduce_sum(tf.range(tf.size(x))), tf.float32)


def _endless(x):
    count = tf.while_loop(lambda i: tf.constant(True), lambda i: i + 1, [tf.constant(0)])
    return x + tf.cast(count, tf.float32)


def _loop_over_input(x):
    total = tf.while_loop(lambda i, s: i < tf.size(x), lambda i, s: (i + 1, s + 1.0), [0, 0.0])[1]
    return x * 2.0 + 0.0 * total


@pytest.mark.parametrize("attack, benign, op", [
    (_constant_fill, _input_fill, "Fill"), (_constant_tile, _input_tile, "Tile"),
    (_constant_random, _input_random, "memory"), (_constant_range, _input_range, "memory"),
    (_endless, _loop_over_input, "StatelessWhile"),
], ids=["fill", "tile", "random_uniform", "range", "endless_while"])
def test_call_time_cost_that_does_not_depend_on_the_inputs_is_refused(tmp_path, attack, benign, op):
    error = _refused(_call_model(attack, tmp_path / "attack"), op)
    assert "inputs" in str(error)
    _answers(_call_model(benign, tmp_path / "benign"))


def test_a_shape_read_from_a_variable_is_not_an_input(tmp_path):
    module = tf.Module()
    module.dims = tf.Variable([1 << 30])
    module.__call__ = tf.function(lambda x: x + tf.reduce_sum(tf.fill(module.dims, 1.0)),
                                  input_signature=[tf.TensorSpec([None], tf.float32)])
    error = _refused(_save(module, tmp_path / "attack"), "Fill")
    assert "cannot be bounded" in str(error)


# ---------------------------------------------------------------- 6. scanned copies a crash cannot strand


def test_a_copy_left_by_a_killed_process_is_swept_by_the_next_load(tmp_path):
    path = _call_model(_benign, tmp_path / "model")
    code = (f"import os, signal\nfrom tfhub_llm.hub import security\n"
            f"print(security.scanned_copy({path!r}), flush=True)\nos.kill(os.getpid(), signal.SIGKILL)")
    result = _run_limited(code)
    assert result.returncode == -9, result.stderr[-2000:]
    stranded = result.stdout.strip()
    assert os.path.isfile(os.path.join(stranded, "saved_model.pb"))  # SIGKILL ran no exit hook
    copy = security.scanned_copy(path)  # the next load
    assert not os.path.exists(os.path.dirname(stranded)) and os.path.isdir(copy)
    _answers(path)


# ---------------------------------------------------------------- 5. strings from a model reach no terminal raw


FORGED = "out\x1b]0;owned\x07\x1b[2J\nrequest OK\u202e"


def test_model_chosen_names_are_escaped_in_inspect_scan_and_model_cards(tmp_path, capsys):
    from tfhub_llm import cli
    from tfhub_llm.hub.describe import describe, format_markdown

    module = tf.Module()
    module.__call__ = tf.function(lambda x: {FORGED: x * 2.0}, input_signature=[tf.TensorSpec([None], tf.float32)])
    path = _save(module, tmp_path / "model")
    assert cli.main(["inspect", path]) == 0
    printed = capsys.readouterr().out
    assert "\\x1b]0;owned\\x07\\x1b[2J\\x0arequest OK\\u202e" in printed  # shown, escaped
    assert not any(c in printed for c in "\x1b\x07\u202e") and "\nrequest OK" not in printed
    card = format_markdown(describe(path))
    assert "\\x1b" in card and "\x1b" not in card and "\u202e" not in card
    with _edited(path, tmp_path / "planted") as meta_graph:
        _function(meta_graph, "lambda").node_def.add(name="planted", op="Abort\x1b[2J")
    assert cli.main(["scan", str(tmp_path / "planted")]) != 0
    printed = capsys.readouterr().out
    assert "Abort\\x1b[2J" in printed and "\x1b" not in printed


# ---------------------------------------------------------------- the same classes, in forms no rule names


def _nested_packs(size):
    """A helper function (a call node, not inlined) that packs a constant 8 times, called 16 times."""
    helper = tf.function(lambda: tf.raw_ops.Pack(values=[tf.constant(1.0, shape=[size])] * 8))
    return lambda: tf.raw_ops.Pack(values=[helper() for _ in range(16)])


def _long_strings(size):
    """StringJoin of 64 copies of ``size`` 1 KiB strings (stored once): 64 KiB a string."""
    return lambda: (lambda c: tf.raw_ops.StringJoin(inputs=[c] * 64))(tf.constant("a" * 1024, shape=[size]))


@pytest.mark.parametrize("value, dtype", [(_nested_packs(1 << 18), tf.float32), (_long_strings(1 << 14), tf.string)],
                         ids=["calls_repeat_a_pack", "string_join_repeats"])
def test_load_time_allocations_through_other_ops_and_calls_are_bounded(tmp_path, value, dtype):
    error = _refused(_resource_model(_LoadTimeVariable(value, dtype), tmp_path / "attack"), "memory")
    assert "loading can allocate" in str(error)


def _constant_broadcast_to(x):
    return x + tf.reduce_sum(tf.broadcast_to(tf.constant(1.0), tf.constant([1 << 15, 1 << 15])))


def _constant_concat(x):
    part = tf.constant(1.0, shape=[1 << 22])
    return x + tf.reduce_sum(tf.concat([part] * 64, axis=0))


class _Counter(tf.Module):
    def __init__(self):
        super().__init__()
        self.count = tf.Variable(0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        tf.while_loop(lambda i: tf.constant(True), lambda i: (self.count.assign_add(1), i + 1)[1], [0])
        return x * 2.0


@pytest.mark.parametrize("attack, op", [(_constant_broadcast_to, "BroadcastTo"), (_constant_concat, "ConcatV2")])
def test_call_time_constant_allocations_through_other_ops_are_refused(tmp_path, attack, op):
    _refused(_call_model(attack, tmp_path / "attack"), op)


def test_an_endless_loop_with_side_effects_is_refused(tmp_path):
    _refused(_save(_Counter(), tmp_path / "attack"), "While")
