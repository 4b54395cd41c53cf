"""SavedModel op scanning: hand-made encoders that misbehave when called are refused."""

import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfhub_llm.hub import security, trust
from tfhub_llm.hub.resolved_handle import ResolvedHandle

from tests.harness import MODEL_GARDEN_BERT, REPO, save_hand_made_encoder, writes_file
from tfhub_llm.hub_contract import ENCODER_INPUT_KEYS

FIXTURE = str(MODEL_GARDEN_BERT)


def _no_payload(pooled):
    return pooled


def _reads_file(pooled):
    secret = tf.io.read_file("/etc/hostname")
    return pooled + tf.cast(tf.strings.length(secret), tf.float32) * 0.0


def _calls_python(pooled):
    return tf.py_function(lambda x: x, [pooled], tf.float32)


def _calls_numpy(pooled):
    return tf.numpy_function(lambda x: x, [pooled], tf.float32)


def _saves_checkpoint(target):
    def payload(pooled):
        tf.raw_ops.SaveV2(prefix=target, tensor_names=["stolen"], shape_and_slices=[""], tensors=[pooled])
        return pooled
    return payload


def _table_from_chosen_file(pooled):
    table = tf.raw_ops.HashTableV2(key_dtype=tf.string, value_dtype=tf.int64)
    tf.raw_ops.InitializeTableFromTextFileV2(
        table_handle=table, filename=tf.constant("/etc/hostname"), key_index=-2, value_index=-1)
    return pooled


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hand_made")
    payloads = {
        "clean": _no_payload,
        "writes_file": writes_file(str(root / "written.txt")),
        "reads_file": _reads_file,
        "calls_python": _calls_python,
        "calls_numpy": _calls_numpy,
        "saves_checkpoint": _saves_checkpoint(str(root / "stolen_ckpt")),
        "table_from_chosen_file": _table_from_chosen_file,
    }
    return {name: save_hand_made_encoder(str(root / name), payload) for name, payload in payloads.items()}


@pytest.fixture(autouse=True)
def no_trusted_dirs(monkeypatch):
    monkeypatch.delenv(trust.TRUSTED_DIRS_ENV, raising=False)
    monkeypatch.setattr(trust, "_trusted_directories", [])


@pytest.mark.parametrize("part", ["encoder", "preprocessor"])
def test_model_garden_fixture_passes(part):
    security.check_saved_model(os.path.join(FIXTURE, part))


def test_clean_hand_made_encoder_passes(models):
    security.check_saved_model(models["clean"])


@pytest.mark.parametrize("name, op", [
    ("writes_file", "WriteFile"),
    ("reads_file", "ReadFile"),
    ("calls_python", "EagerPyFunc"),
    ("calls_numpy", "PyFunc"),
    ("saves_checkpoint", "SaveV2"),
    ("table_from_chosen_file", "InitializeTableFromTextFileV2"),
])
def test_misbehaving_encoder_is_refused_naming_op_and_function(models, name, op):
    with pytest.raises(security.UntrustedModelError) as caught:
        security.check_saved_model(ResolvedHandle(f"https://hub.example/{name}/1", models[name], remote=True))
    error = caught.value
    assert {f.op for f in error.findings} == {op}
    functions = {f.function for f in error.findings if f.op == op}
    assert functions and all("__call__" in f for f in functions)
    message = str(error)
    assert op in message and next(iter(functions)) in message
    assert f"https://hub.example/{name}/1" in message and "trust=True" in message


def test_refused_write_model_really_writes_when_run(models, tmp_path):
    target = os.path.join(os.path.dirname(os.path.dirname(models["writes_file"])), "written.txt")
    loaded = tf.saved_model.load(models["writes_file"])
    ones = tf.ones([1, 3], tf.int32)
    loaded({key: ones for key in ENCODER_INPUT_KEYS}, training=False)
    assert os.path.exists(target)


def test_trust_overrides(models):
    security.check_saved_model(models["writes_file"], trust=True)


def test_allow_ops_overrides_only_the_named_ops(models):
    security.check_saved_model(models["writes_file"], allow_ops=["WriteFile"])
    with pytest.raises(security.UntrustedModelError):
        security.check_saved_model(models["writes_file"], allow_ops=["ReadFile"])


def test_trusted_directory_skips_scan(models):
    folder = os.path.dirname(models["reads_file"])
    trust.trust_directory(folder)
    security.check_saved_model(models["reads_file"])
    with pytest.raises(security.UntrustedModelError):
        security.check_saved_model(models["calls_python"])


def test_a_trusted_folder_does_not_trust_a_remote_handle_cached_in_it(models):
    folder = os.path.dirname(models["calls_python"])
    trust.trust_directory(folder)
    security.check_saved_model(ResolvedHandle(models["calls_python"], models["calls_python"]))
    with pytest.raises(security.UntrustedModelError, match=r"'https://hub.example/m/1' \("):
        security.check_saved_model(ResolvedHandle("https://hub.example/m/1", models["calls_python"], remote=True))


def test_trusted_directories_from_environment(models, monkeypatch):
    folder = os.path.dirname(models["calls_python"])
    monkeypatch.setenv(trust.TRUSTED_DIRS_ENV, os.pathsep.join(["/nonexistent", folder]))
    security.check_saved_model(models["calls_python"])


def test_trusted_directory_is_not_a_string_prefix(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models-evil").mkdir()
    trust.trust_directory(tmp_path / "models")
    assert trust.is_trusted_path(tmp_path / "models" / "x")
    assert not trust.is_trusted_path(tmp_path / "models-evil")


def test_checkpoint_ops_are_fine_in_save_restore_functions_only(models):
    op_types = security.saved_model_op_types(models["clean"])
    assert any("SaveV2" in ops for ops in op_types.values())
    assert any("RestoreV2" in ops for ops in op_types.values())
    assert security.TOP_LEVEL_GRAPH in op_types
    security.check_saved_model(models["clean"])


def _with_extra_node(source, dest, function_part, op):
    """Copy a SavedModel, adding a node of type ``op`` to the function named like ``function_part``."""
    shutil.copytree(source, dest)
    saved_model = saved_model_pb2.SavedModel()
    pb = os.path.join(dest, "saved_model.pb")
    with open(pb, "rb") as f:
        saved_model.ParseFromString(f.read())
    (function,) = [f for f in saved_model.meta_graphs[0].graph_def.library.function
                   if function_part in f.signature.name]
    function.node_def.add(name="injected", op=op)
    with open(pb, "wb") as f:
        f.write(saved_model.SerializeToString())
    return function.signature.name


@pytest.mark.parametrize("function_part, op", [
    ("_traced_restore", "SaveV2"),
    ("_traced_restore", "WriteFile"),
    ("_traced_save", "WriteFile"),
    ("_traced_save", "RestoreV2"),
])
def test_save_and_restore_functions_get_only_their_own_checkpoint_ops(models, tmp_path, function_part, op):
    function = _with_extra_node(models["clean"], tmp_path / "model", function_part, op)
    with pytest.raises(security.UntrustedModelError) as caught:
        security.check_saved_model(tmp_path / "model")
    assert caught.value.findings == (security.Finding(function, op, security.denied_ops()[op]),)


def test_op_types_of_fixture_encoder():
    op_types = security.saved_model_op_types(os.path.join(FIXTURE, "encoder"))
    assert "StatefulPartitionedCall" in op_types[security.TOP_LEVEL_GRAPH]
    assert any("Einsum" in ops for ops in op_types.values())
    assert not any(name in ops for ops in op_types.values() for name in op_types)


def test_scan_is_cached_by_content_not_by_stat(models, monkeypatch, tmp_path):
    path = shutil.copytree(models["writes_file"], tmp_path / "model")
    with pytest.raises(security.UntrustedModelError):
        security.check_saved_model(path)

    def fail(*_):
        raise AssertionError("rescanned")
    monkeypatch.setattr(security, "graph_findings", fail)
    with pytest.raises(security.UntrustedModelError):
        security.check_saved_model(path)
    pb = os.path.join(path, "saved_model.pb")
    stat = os.stat(pb)
    with open(pb, "r+b") as f:  # same size, same mtime, other bytes
        last = f.seek(stat.st_size - 1) and f.read(1)
        f.seek(stat.st_size - 1)
        f.write(bytes([last[0] ^ 1]))
    os.utime(pb, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(AssertionError, match="rescanned"):
        security.check_saved_model(path)


def test_missing_saved_model_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        security.check_saved_model(tmp_path)


def test_policy_files_are_consistent():
    denied = security.denied_ops()
    assert not security.allowed_ops() & denied.keys()
    for op in ("ReadFile", "WriteFile", "MatchingFiles", "PyFunc", "EagerPyFunc", "TFRecordDataset", "PrintV2"):
        assert op in denied
    for op in ("Einsum", "WordpieceTokenizeWithOffsets", "FastWordpieceTokenizeWithOffsets", "Substr", "TopKV2"):
        assert op in security.allowed_ops()


@pytest.mark.slow
def test_allow_list_is_up_to_date():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "derive_allowed_ops.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_layers_refuse_an_untrusted_encoder_before_calling_it(models, tmp_path):
    from tfhub_llm.layers.hub_layers import HubEncoder

    with pytest.raises(security.UntrustedModelError, match="WriteFile"):
        HubEncoder(models["writes_file"])
    assert HubEncoder(models["writes_file"], trust=True).weights


def test_resaved_preprocessor_reads_its_asset_through_wrapper_functions(tmp_path):
    import tensorflow_hub as hub

    from tests.harness import TINY_PREPROCESSOR

    resaved = str(tmp_path / "resaved")
    tf.saved_model.save(hub.load(TINY_PREPROCESSOR), resaved)  # wraps the table initializer in more functions
    security.check_saved_model(resaved)
