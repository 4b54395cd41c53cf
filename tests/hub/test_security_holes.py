"""Issue 14: one hand-made artifact per way past the scan, each refused, with positive controls.

Each attack is a tiny SavedModel (tf.Module / tf.function / tf.raw_ops, or an edit of its
protobuf), a ``.keras`` file with an edited config, or an archive made with tarfile. Where
a positive control is cheap, the same artifact is loaded with ``trust=True`` and shown to
do its harm (into a ``tmp_path`` stand-in file), so the test proves the scan is what stops it.
"""

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import zipfile

import keras
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tests.harness import HandMadeEncoder, resolve_error_in_thread
from tfhub_llm import cli
from tfhub_llm.hub import archive, assets, handles, security, staging, trust
from tfhub_llm.hub_contract import ENCODER_INPUT_KEYS

WORDS = ["[PAD]", "[UNK]", "hello", "world"]


class TableModel(tf.Module):
    """A vocabulary table from an asset; ``__call__`` looks words up (-1: not in the table)."""

    def __init__(self, vocab_path):
        super().__init__()
        self.vocab_file = tf.saved_model.Asset(vocab_path)
        initializer = tf.lookup.TextFileInitializer(
            self.vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
        self.table = tf.lookup.StaticHashTable(initializer, -1)
        self.scale = tf.Variable(1.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, words):
        return self.table.lookup(words)


def _write_vocab(path, words=WORDS):
    with open(path, "w") as f:
        f.write("\n".join(words) + "\n")
    return str(path)


def _save(module, path, **kwargs):
    tf.saved_model.save(module, str(path), **kwargs)
    return str(path)


def _proto(path):
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    return saved_model


def _write_proto(path, saved_model):
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(saved_model.SerializeToString())


@contextlib.contextmanager
def _edited(source, dest):
    """Copy a SavedModel to ``dest`` and yield its MetaGraph to edit; written back on exit."""
    shutil.copytree(source, dest)
    saved_model = _proto(str(dest))
    yield saved_model.meta_graphs[0]
    _write_proto(str(dest), saved_model)


def _function(meta_graph, part):
    (function,) = [f for f in meta_graph.graph_def.library.function if part in f.signature.name]
    return function


def _refused(path, *, op=None, **kwargs):
    with pytest.raises(security.UntrustedModelError) as caught:
        security.check_saved_model(path, **kwargs)
    if op is not None:
        assert op in {finding.op for finding in caught.value.findings}, caught.value
    return caught.value


def _v1_load(path):
    """Load as TF Serving does (a TF1 session, restore op fed with the variables path)."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        tf.compat.v1.saved_model.loader.load(session, ["serve"], path)


@pytest.fixture(autouse=True)
def no_trusted_dirs(monkeypatch):
    monkeypatch.delenv(trust.TRUSTED_DIRS_ENV, raising=False)
    monkeypatch.delenv(trust.REMOTE_HANDLES_ENV, raising=False)
    monkeypatch.setattr(trust, "_trusted_directories", [])


@pytest.fixture(scope="module")
def table_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("table")
    return _save(TableModel(_write_vocab(root / "vocab.txt")), root / "model")


@pytest.fixture(scope="module")
def secret(tmp_path_factory):
    """A stand-in for a private file outside every model: its one line is a token an attack may leak."""
    return _write_vocab(tmp_path_factory.mktemp("home") / "secret.txt", ["s3cr3t-token"])


def test_clean_table_model_passes_and_loads_from_a_scanned_copy(table_model, tmp_path):
    copy = security.scanned_copy(table_model)
    assert copy != table_model
    with open(os.path.join(copy, "saved_model.pb"), "rb") as f, open(os.path.join(table_model, "saved_model.pb"), "rb") as g:
        assert f.read() == g.read()
    assert handles.load(table_model)(tf.constant(["world", "nope"])).numpy().tolist() == [3, -1]


# ---------------------------------------------------------------- 1. checkpoint functions


def test_save_function_run_by_the_restore_op_is_refused(table_model, tmp_path):
    """restore_op_name points at the save call: the saver's one function is both save and restore."""
    path = tmp_path / "model"
    with _edited(table_model, path) as meta_graph:
        meta_graph.saver_def.restore_op_name = _saver_node(meta_graph, "traced_save").name
    _refused(str(path), op="SaveV2")


def _saver_node(meta_graph, part):
    (node,) = [n for n in meta_graph.graph_def.node if n.attr["f"].func.name and part in n.attr["f"].func.name]
    return node


def test_checkpoint_write_in_call_with_a_dummy_attribute_from_the_saver_is_refused(tmp_path):
    target = tmp_path / "home" / "bashrc"

    class Writer(tf.Module):
        def __init__(self):
            super().__init__()
            self.v = tf.Variable(1.0)

        @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
        def __call__(self, x):
            save = tf.raw_ops.SaveV2(prefix=str(target), tensor_names=["x"], shape_and_slices=[""], tensors=[x])
            with tf.control_dependencies([save]):
                return x * self.v

    source = _save(Writer(), tmp_path / "source", signatures={})  # __call__ reached from no signature
    path = tmp_path / "model"
    with _edited(source, path) as meta_graph:
        call = _function(meta_graph, "__call__").signature.name
        _saver_node(meta_graph, "traced_save").attr["_hint"].func.name = call
    _refused(str(path), op="SaveV2")
    tf.saved_model.load(str(path))(tf.constant(1.0))  # positive control
    assert os.path.exists(str(target) + ".index")


def test_saver_function_shared_with_the_object_graph_or_a_saveable_loses_its_checkpoint_ops(table_model, tmp_path):
    path = tmp_path / "model"
    with _edited(table_model, path) as meta_graph:
        objects = meta_graph.object_graph_def
        node = objects.nodes.add()
        node.bare_concrete_function.concrete_function_name = _function(meta_graph, "traced_save").signature.name
        objects.nodes[0].saveable_objects["x"].save_function = len(objects.nodes) - 1
        objects.nodes[0].saveable_objects["x"].restore_function = len(objects.nodes) - 1
    error = _refused(str(path), op="SaveV2")
    assert {"SaveV2", "MergeV2Checkpoints"} <= {f.op for f in error.findings}


@pytest.mark.parametrize("edit", ["constant_prefix", "dotdot_suffix", "v1_op", "missing_function"])
def test_checkpoint_prefix_v1_ops_and_missing_functions_are_refused(table_model, tmp_path, edit):
    path = tmp_path / "model"
    with _edited(table_model, path) as meta_graph:
        restore, save = _function(meta_graph, "traced_restore"), _function(meta_graph, "traced_save")
        if edit == "constant_prefix":  # RestoreV2 reads a checkpoint at a path of the graph's choosing
            const = restore.node_def.add(name="evil_prefix", op="Const")
            const.attr["dtype"].type = tf.string.as_datatype_enum
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(str(tmp_path / "elsewhere")))
            (node,) = [n for n in restore.node_def if n.op == "RestoreV2"]
            node.input[0] = "evil_prefix:output:0"
            op = "RestoreV2"
        elif edit == "dotdot_suffix":  # the save prefix climbs out of variables/
            (const,) = [n for n in save.node_def if n.name == "Const_1"]
            const.attr["value"].tensor.string_val[0] = b"/../../../../home/x"
            op = "SaveV2"
        elif edit == "v1_op":
            save.node_def.add(name="v1", op="Save")
            op = "Save"
        else:
            call = _function(meta_graph, "__call__")
            node = call.node_def.add(name="ghost", op="StatefulPartitionedCall")
            node.attr["f"].func.name = "__inference_not_in_the_library_1"
            op = "StatefulPartitionedCall"
    _refused(str(path), op=op)


def test_tf1_graph_with_a_checkpoint_write_reached_by_the_restore_op_is_refused(tmp_path):
    target = tmp_path / "home" / "stolen"
    path = str(tmp_path / "tf1")
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        tf.compat.v1.Variable(1.0, name="v")
        evil = tf.raw_ops.SaveV2(prefix=str(target), tensor_names=["v"], shape_and_slices=[""],
                                 tensors=[tf.constant(1.0)], name="evil")
        session.run(tf.compat.v1.global_variables_initializer())
        builder = tf.compat.v1.saved_model.Builder(path)
        builder.add_meta_graph_and_variables(session, ["serve"], saver=tf.compat.v1.train.Saver())
        builder.save()
    saved_model = _proto(path)
    meta_graph = saved_model.meta_graphs[0]
    for node in meta_graph.graph_def.node:
        if node.name in (meta_graph.saver_def.restore_op_name, _tensor_node(meta_graph.saver_def.save_tensor_name)):
            node.input.append("^" + evil.name)
    _write_proto(path, saved_model)
    _refused(path, op="SaveV2")
    _v1_load(path)  # positive control
    assert os.path.exists(str(target) + ".index")


def _tensor_node(name):
    return name.split(":")[0]


# ---------------------------------------------------------------- 2. trust never travels in a file


def _writer_encoder(folder, target):
    """A hand-made encoder (the test_security one) that writes ``target`` when called."""
    os.makedirs(folder)
    encoder = HandMadeEncoder(_write_vocab(os.path.join(folder, "vocab.txt")), _writes(target))
    spec = {key: tf.TensorSpec([None, None], tf.int32, name=key) for key in ENCODER_INPUT_KEYS}
    for training in (False, True):
        encoder.__call__.get_concrete_function(spec, training=training)
    return _save(encoder, os.path.join(folder, "model"))


def _writes(target):
    def payload(pooled):
        tf.io.write_file(target, "pwned")
        return pooled
    return payload


@pytest.fixture(scope="module")
def writer(tmp_path_factory):
    root = tmp_path_factory.mktemp("writer")
    target = str(root / "home" / "bashrc")
    return _writer_encoder(str(root / "encoder"), target), target


def _keras_file(encoder_path, path, **config_edits):
    """A .keras model over a HubEncoder (saved with trust=True), its layer config edited afterwards."""
    from tfhub_llm.layers.hub_layers import HubEncoder

    inputs = {key: keras.Input((None,), dtype="int32", name=key) for key in ENCODER_INPUT_KEYS}
    outputs = HubEncoder(encoder_path, trust=True, output_key="pooled_output", micro_batches=1)(inputs)
    keras.Model(inputs, outputs).save(path)
    with zipfile.ZipFile(path) as source:
        files = {name: source.read(name) for name in source.namelist()}
    config = json.loads(files["config.json"])
    (layer,) = [layer for layer in config["config"]["layers"] if layer["class_name"] == "HubEncoder"]
    layer["config"].update(config_edits)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as target:
        for name, data in files.items():
            target.writestr(name, data)
    return str(path)


def _call_keras_model(model):
    ones = tf.ones([1, 3], tf.int32)
    return model({key: ones for key in ENCODER_INPUT_KEYS})


def test_trust_is_not_saved_and_a_trust_in_a_keras_file_is_ignored(writer, tmp_path):
    encoder, target = writer
    from tfhub_llm.layers.hub_layers import HubEncoder

    assert "trust" not in HubEncoder(encoder, trust=True).get_config()
    model_file = _keras_file(encoder, tmp_path / "m.keras", trust=True)
    for safe_mode in (True, False):
        with pytest.raises(Exception, match="Refusing to run SavedModel"):
            keras.models.load_model(model_file, safe_mode=safe_mode)
    assert not os.path.exists(target)
    with trust.trusting():  # positive control: the caller's trust, not the file's
        _call_keras_model(keras.models.load_model(model_file))
    assert os.path.exists(target)
    os.remove(target)


def test_remote_handle_in_a_keras_file_is_refused_unless_the_caller_allows_it(writer, tmp_path, serve_directory,
                                                                               monkeypatch):
    encoder, _ = writer
    clean = str(tmp_path / "clean")
    shutil.copytree(os.path.join(os.path.dirname(encoder)), clean)
    archive.write_saved_model_archive(_save(TableModel(_write_vocab(tmp_path / "v.txt")), tmp_path / "table"),
                                      tmp_path / "hub" / "table" / "1")
    url = serve_directory(tmp_path / "hub") + "/table/1"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    model_file = _keras_file(encoder, tmp_path / "m.keras", handle=url)
    with pytest.raises(Exception, match="remote handle"):
        keras.models.load_model(model_file)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    with trust.allowing_remote_handles(), pytest.raises(Exception, match="not a TF-Hub BERT encoder"):
        keras.models.load_model(model_file)  # positive control: it downloads (then finds a table, not an encoder)
    assert any((tmp_path / "cache").iterdir())


def test_a_download_into_a_trusted_folder_is_not_trusted(writer, tmp_path, serve_directory, monkeypatch):
    encoder, _ = writer
    archive.write_saved_model_archive(encoder, tmp_path / "hub" / "writer" / "1")
    url = serve_directory(tmp_path / "hub") + "/writer/1"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "trusted" / "cache"))
    trust.trust_directory(tmp_path / "trusted")
    with pytest.raises(security.UntrustedModelError, match="WriteFile"):
        handles.load(url)
    assert handles.load(url, trust=True)  # positive control: the caller's trust=True


# ---------------------------------------------------------------- 3. assets


@pytest.mark.parametrize("name", ["absolute", "dotdot", "symlink"])
def test_asset_outside_the_model_is_refused(table_model, secret, tmp_path, name):
    path = tmp_path / "model"
    with _edited(table_model, path) as meta_graph:
        if name == "absolute":
            meta_graph.asset_file_def[0].filename = secret
        elif name == "dotdot":
            meta_graph.asset_file_def[0].filename = os.path.relpath(secret, path / "assets")
    if name == "symlink":
        (path / "assets" / "vocab.txt").unlink()
        (path / "assets" / "vocab.txt").symlink_to(secret)
    _refused(str(path), op="asset")
    leaked = tf.saved_model.load(str(path))(tf.constant(["s3cr3t-token"])).numpy().tolist()
    assert leaked == [0]  # positive control: the unscanned load read the secret as its vocabulary


def test_table_file_name_passed_through_if_is_refused(table_model, secret, tmp_path):
    """If's branch argument i is the node's input i + 1: the asset sits at input 0 (the condition)."""
    @tf.function
    def initialize(filename, table):
        init = tf.raw_ops.InitializeTableFromTextFileV2(table_handle=table, filename=filename, key_index=-2,
                                                        value_index=-1)
        with tf.control_dependencies([init]):
            return tf.constant(0, tf.int64)

    init = initialize.get_concrete_function(tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.resource))

    class Leaker(tf.Module):
        def __init__(self):
            super().__init__()
            self.vocab_file = tf.saved_model.Asset(_write_vocab(tmp_path / "vocab.txt"))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, words):
            table = tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64)
            (done,) = tf.raw_ops.If(cond=self.vocab_file.asset_path, input=[tf.constant(secret), table],
                                    Tout=[tf.int64], then_branch=init, else_branch=init)
            with tf.control_dependencies([done]):
                return tf.raw_ops.LookupTableFindV2(table_handle=table, keys=words,
                                                    default_value=tf.constant(-1, tf.int64))

    path = _save(Leaker(), tmp_path / "model")
    _refused(path, op="InitializeTableFromTextFileV2")
    assert tf.saved_model.load(path)(tf.constant(["s3cr3t-token"])).numpy().tolist() == [0]  # positive control


def test_stateful_op_in_a_stateless_body_is_refused(tmp_path):
    class Counter(tf.Module):
        def __init__(self):
            super().__init__()
            self.count = tf.Variable(0)

        @tf.function(input_signature=[tf.TensorSpec([], tf.bool)])
        def __call__(self, flag):
            return tf.cond(flag, lambda: self.count.assign(5).read_value(), lambda: self.count.read_value())

    source = _save(Counter(), tmp_path / "source")
    path = tmp_path / "model"
    with _edited(source, path) as meta_graph:
        (node,) = [n for f in meta_graph.graph_def.library.function for n in f.node_def if n.op == "If"]
        node.op = "StatelessIf"
    security.check_saved_model(source)
    _refused(str(path), op="AssignVariableOp")


def test_inspect_and_model_card_read_only_regular_files_inside_the_model(table_model, secret, tmp_path):
    from tfhub_llm.hub.describe import describe
    from tfhub_llm.publishing import publish

    path = tmp_path / "model"
    with _edited(table_model, path) as meta_graph:
        meta_graph.asset_file_def[0].filename = secret
    assert tf.saved_model.load(str(path)).vocab_file.asset_path.numpy().decode() == secret
    with pytest.raises(ValueError, match="refusing to read"):
        describe(str(path), trust=True)
    with pytest.raises(ValueError, match="refusing to read"):  # the model card comes from the same describer
        publish(str(path), tmp_path / "hub", "m", 1, trust=True)
    assert not (tmp_path / "hub").exists()
    with pytest.raises(ValueError, match="refusing to read"):
        assets.read_asset("/dev/zero")
    assert describe(table_model)["vocab_size"] == len(WORDS)


def test_a_vocabulary_asset_that_is_not_utf8_is_named(table_model, tmp_path):
    path = shutil.copytree(table_model, tmp_path / "model")
    vocab = next((path / "assets").iterdir())
    vocab.write_bytes(b"hello\n\xff\xfe\n")
    with pytest.raises(ValueError, match=r"vocab.*not UTF-8 text"):
        assets.read_asset_lines(str(vocab))


# ---------------------------------------------------------------- 4. every loading command scans


@pytest.fixture(scope="module")
def writer_keras(writer, tmp_path_factory):
    return _keras_file(writer[0], tmp_path_factory.mktemp("keras") / "writer.keras")


@pytest.mark.parametrize("command", ["inspect", "publish", "check-serving", "serve", "evaluate", "export serving",
                                     "export hub", "export litert"])
def test_every_loading_command_refuses_an_untrusted_model(command, writer, writer_keras, tmp_path, capsys):
    encoder, target = writer
    data = tmp_path / "data.csv"
    data.write_text("text,label\nhello,0\n")
    argv = {
        "inspect": ["inspect", encoder],
        "publish": ["publish", encoder, str(tmp_path / "hub"), "--name", "w", "--version", "1"],
        "check-serving": ["check-serving", encoder],
        "serve": ["serve", os.path.dirname(encoder), "--port", "0"],
        "evaluate": ["evaluate", "classify", writer_keras, "--data", str(data)],
        "export serving": ["export", "serving", writer_keras, str(tmp_path / "out")],
        "export hub": ["export", "hub", writer_keras, str(tmp_path / "out")],
        "export litert": ["export", "litert", writer_keras, str(tmp_path / "out")],
    }[command]
    if command == "serve":  # a base folder whose version 1 is the writer
        base = tmp_path / "base"
        shutil.copytree(encoder, base / "1")
        argv = ["serve", str(base), "--port", "0"]
    assert cli.main(argv) == cli.EXIT_BAD_INPUT
    assert "Refusing to run SavedModel" in capsys.readouterr().err
    assert not os.path.exists(target) and not (tmp_path / "out").exists() and not (tmp_path / "hub").exists()


def test_trust_flag_lets_the_user_override(writer):
    assert cli.main(["inspect", writer[0], "--trust"]) == cli.EXIT_OK
    assert cli.main(["inspect", writer[0]]) == cli.EXIT_BAD_INPUT


# ---------------------------------------------------------------- 5. what is loaded is what was scanned


def test_a_swap_after_the_scan_does_not_reach_the_load(table_model, writer, tmp_path):
    path = shutil.copytree(table_model, tmp_path / "model")
    copy = security.scanned_copy(path)
    shutil.copyfile(os.path.join(writer[0], "saved_model.pb"), path / "saved_model.pb")
    (path / "assets" / "vocab.txt").write_text("swapped\n")
    loaded = tf.saved_model.load(copy)
    assert loaded(tf.constant(["world", "swapped"])).numpy().tolist() == [3, -1]
    _refused(str(path), op="WriteFile")


def test_a_copy_for_one_load_is_removed_when_the_load_is_done(table_model):
    with security.scanned_for_load(table_model) as folder:
        assert folder != table_model
        loaded = tf.saved_model.load(folder)
    assert not os.path.exists(folder)
    assert loaded(tf.constant(["world"])).numpy().tolist() == [3]  # tables were filled at load
    with security.scanned_for_load(table_model, trust=True) as folder:
        assert folder == table_model
    assert os.path.isdir(table_model)


def test_a_copy_with_its_variables_is_a_whole_saved_model_of_regular_files(table_model, tmp_path):
    path = shutil.copytree(table_model, tmp_path / "model")
    (path / "notes.txt").write_text("not scanned")
    with security.scanned_for_load(path, copy_variables=True) as folder:
        names = {os.path.relpath(os.path.join(root, name), folder)
                 for root, folders, files in os.walk(folder) for name in folders + files}
        assert not any(os.path.islink(os.path.join(folder, name)) for name in names)
        assert "notes.txt" not in names and "fingerprint.pb" in names
        assert {name for name in names if name.startswith("variables")} == {
            os.path.relpath(os.path.join(root, name), path)
            for root, folders, files in os.walk(path / "variables") for name in folders + files} | {"variables"}
        shutil.rmtree(path / "variables")  # the copy does not depend on the original any more
        assert tf.saved_model.load(folder)(tf.constant(["world"])).numpy().tolist() == [3]
    assert not os.path.exists(folder)


def test_a_refused_model_leaves_no_copy_behind(writer):
    before = set(os.listdir(staging.process_folder()))
    for copy_variables in (False, True):
        with pytest.raises(security.UntrustedModelError, match="WriteFile"):
            security.scanned_copy(writer[0], copy_variables=copy_variables)
    assert set(os.listdir(staging.process_folder())) == before


# ---------------------------------------------------------------- 6. bounds


class _Loop(tf.saved_model.experimental.TrackableResource):
    """A resource whose initializer runs ``body`` at load time."""

    def __init__(self, body):
        super().__init__()
        self._body = body

    def _create_resource(self):
        return tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64)

    def _initialize(self):
        return self._body(self.resource_handle)


def _resource_model(body, path):
    module = tf.Module()
    module.resource = _Loop(body)
    module.__call__ = tf.function(lambda x: x, input_signature=[tf.TensorSpec([], tf.float32)])
    return _save(module, path)


def _endless(table):
    """A loop whose result fills the table, so no optimiser may drop it."""
    count = tf.while_loop(lambda i: tf.constant(True), lambda i: i + 1, [tf.constant(0, tf.int64)])
    return tf.raw_ops.LookupTableInsertV2(table_handle=table, keys=tf.constant(["n"]), values=tf.reshape(count, [1]))


def _fill_16_gib(table):
    total = tf.cast(tf.reduce_sum(tf.fill(tf.constant([1 << 32], tf.int64), 1.0)), tf.int64)
    return tf.raw_ops.LookupTableInsertV2(table_handle=table, keys=tf.constant(["n"]), values=tf.reshape(total, [1]))


@pytest.mark.parametrize("body, op", [(_endless, "While"), (_fill_16_gib, "Fill")])
def test_unbounded_load_time_code_is_refused(tmp_path, body, op):
    error = _refused(_resource_model(body, tmp_path / "model"), op=None)
    assert any(f.op.endswith(op) and "while the model loads" in f.reason for f in error.findings), error


def test_endless_initializer_really_hangs_an_unscanned_load(tmp_path):
    path = _resource_model(_endless, tmp_path / "model")
    code = f"import tensorflow as tf; tf.saved_model.load({path!r})"
    with pytest.raises(subprocess.TimeoutExpired):  # positive control
        result = subprocess.run([sys.executable, "-c", code], timeout=15, capture_output=True, text=True)
        pytest.fail(f"the load ended (exit {result.returncode}): {result.stderr[-2000:]}")


def test_constant_that_expands_to_gigabytes_is_refused(table_model, tmp_path):
    path = tmp_path / "model"
    with _edited(table_model, path) as meta_graph:
        call = _function(meta_graph, "__call__")
        node = call.node_def.add(name="splat", op="Const")
        node.attr["dtype"].type = tf.float32.as_datatype_enum
        tensor = node.attr["value"].tensor
        tensor.dtype = tf.float32.as_datatype_enum
        tensor.tensor_shape.dim.add(size=1 << 31)
        tensor.float_val.append(1.0)
    error = _refused(str(path), op="Const")
    assert "MiB" in str(error)


class _Zeros(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_compression_bomb_is_refused_before_anything_is_written(tmp_path):
    bomb = tmp_path / "bomb.tar.gz"
    size = 80 << 20
    with tarfile.open(bomb, "w:gz") as tar:
        member = tarfile.TarInfo("variables/variables.data-00000-of-00001")
        member.size = size
        tar.addfile(member, _Zeros(size))
    assert os.path.getsize(bomb) < size / 500
    with pytest.raises(archive.UnsafeArchiveError, match="compression bomb"):
        archive.safe_extract(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_member_name_the_file_system_cannot_hold_is_an_unsafe_archive_error(tmp_path):
    path = tmp_path / "long.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        member = tarfile.TarInfo("assets/" + "a" * 300)
        member.size = 1
        tar.addfile(member, io.BytesIO(b"x"))
    with pytest.raises(archive.UnsafeArchiveError, match="file system cannot hold"):
        archive.safe_extract(path, tmp_path / "out")


def test_download_from_a_server_that_never_answers_times_out(tmp_path, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    monkeypatch.setenv("TFHUB_LLM_DOWNLOAD_TIMEOUT", "0.5")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    error = resolve_error_in_thread(f"http://127.0.0.1:{listener.getsockname()[1]}/silent/1", 30)
    listener.close()
    assert isinstance(error, handles.HandleError)
