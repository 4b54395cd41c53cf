"""Safe archives: publishing, sha256 checks, refusing malicious tarballs, and the hub resolver."""

import os
import hashlib
import io
import shutil
import subprocess
import tarfile

import pytest
import tensorflow as tf
import tensorflow_hub as hub
from tensorflow_hub import registry

from tfhub_llm.hub import archive
from tfhub_llm.hub import resolver as hub_resolver


class _Scale(tf.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = tf.Variable(factor)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        return x * self.factor


def _save_model(path, factor=2.0):
    tf.saved_model.save(_Scale(factor), path)
    os.makedirs(os.path.join(path, "assets"), exist_ok=True)
    with open(os.path.join(path, "assets", "vocab.txt"), "w") as f:
        f.write("[PAD]\nhello\n")
    return path


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    return _save_model(str(tmp_path_factory.mktemp("model") / "sm"))


def _copy(saved_model, tmp_path):
    return shutil.copytree(saved_model, tmp_path / "copy")


def _malicious_tarball(path, bad_member, payload=b"evil"):
    """A tar.gz with a harmless file first, then ``bad_member``."""
    with tarfile.open(path, "w:gz") as tar:
        good = tarfile.TarInfo("saved_model.pb")
        good.size = 4
        tar.addfile(good, io.BytesIO(b"good"))
        if bad_member.isfile():
            bad_member.size = len(payload)
            tar.addfile(bad_member, io.BytesIO(payload))
        else:
            tar.addfile(bad_member)
    return path


def _member(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


MALICIOUS = {
    "absolute": (_member("/tmp/tfhub_llm_evil_absolute"), "absolute path"),
    "dotdot": (_member("../evil_dotdot"), "'..'"),
    "nested_dotdot": (_member("variables/../../evil_nested"), "'..'"),
    "symlink": (_member("variables", tarfile.SYMTYPE, "/etc"), "symbolic link"),
    "hardlink": (_member("copy_of_passwd", tarfile.LNKTYPE, "/etc/passwd"), "hard link"),
    "device": (_member("dev_null", tarfile.CHRTYPE), "device"),
    "fifo": (_member("pipe", tarfile.FIFOTYPE), "FIFO"),
}


# ---------------------------------------------------------------- writing


def test_archive_layout_is_the_saved_model_root_and_reproducible(saved_model, tmp_path):
    digest = archive.write_saved_model_archive(saved_model, tmp_path / "a" / "1")
    archive.write_saved_model_archive(saved_model, tmp_path / "b" / "1")
    first, second = (tmp_path / "a" / "1").read_bytes(), (tmp_path / "b" / "1").read_bytes()
    assert first == second and hashlib.sha256(first).hexdigest() == digest
    with tarfile.open(tmp_path / "a" / "1") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert "saved_model.pb" in names and "variables/variables.index" in names and "assets/vocab.txt" in names
    assert names.index("variables") < names.index("variables/variables.index")
    assert all(m.uid == m.gid == 0 and m.uname == m.gname == "" and m.mtime == 0 for m in members)
    assert all(m.isfile() or m.isdir() for m in members)


def test_sha256_file_is_sha256sum_format(saved_model, tmp_path):
    digest = archive.write_saved_model_archive(saved_model, tmp_path / "1")
    assert (tmp_path / "1.sha256").read_text() == f"{digest}  1\n"
    assert subprocess.run(["sha256sum", "-c", "1.sha256"], cwd=tmp_path, capture_output=True).returncode == 0


def test_published_version_is_immutable(saved_model, tmp_path):
    target = tmp_path / "1"
    archive.write_saved_model_archive(saved_model, target)
    before = target.read_bytes()
    other = _save_model(str(tmp_path / "other"), factor=3.0)
    with pytest.raises(archive.ArchiveExistsError, match="immutable"):
        archive.write_saved_model_archive(other, target)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["1", "1.sha256", "other"]


@pytest.mark.parametrize("kind, message", [
    ("symlink", "bad_symlink is a symbolic link"),
    ("hardlink", "is a hard link"),
    ("fifo", "bad_fifo is not a regular file"),
])
def test_source_with_links_or_special_files_is_refused(saved_model, tmp_path, kind, message):
    source = _copy(saved_model, tmp_path)
    bad = source / "variables" / f"bad_{kind}"
    if kind == "symlink":
        os.symlink("/etc/passwd", bad)
    elif kind == "hardlink":
        os.link(source / "saved_model.pb", bad)
    else:
        os.mkfifo(bad)
    out = tmp_path / "out"
    with pytest.raises(archive.UnsafeArchiveError, match=message):
        archive.write_saved_model_archive(source, out / "1")
    assert not out.exists() or os.listdir(out) == []


@pytest.mark.parametrize("kind, message", [("symlink", "is a symbolic link"), ("fifo", "is not a regular file")])
@pytest.mark.parametrize("write", ["archive", "copy"])
def test_a_file_swapped_after_the_walk_is_refused(saved_model, tmp_path, monkeypatch, kind, message, write):
    source = _copy(saved_model, tmp_path)
    swapped = source / "variables" / "variables.index"
    walk = archive._archive_members

    def walk_then_swap(*args):
        members = list(walk(*args))
        swapped.unlink()
        os.symlink("/etc/passwd", swapped) if kind == "symlink" else os.mkfifo(swapped)
        return iter(members)

    monkeypatch.setattr(archive, "_archive_members", walk_then_swap)
    with pytest.raises(archive.UnsafeArchiveError, match=f"{swapped} {message}"):
        if write == "archive":
            archive.write_saved_model_archive(source, tmp_path / "out" / "1")
        else:
            archive.copy_saved_model(source, tmp_path / "out")
    assert not (tmp_path / "out" / "1").exists()


def test_copy_of_some_entries_takes_only_those(saved_model, tmp_path):
    source = _copy(saved_model, tmp_path)
    os.symlink("/etc/passwd", source / "elsewhere")  # not visited, so not refused
    archive.copy_saved_model(source, tmp_path / "out", only=("variables", "fingerprint.pb"))
    assert sorted(os.listdir(tmp_path / "out")) == ["fingerprint.pb", "variables"]
    for name in os.listdir(source / "variables"):
        assert (tmp_path / "out" / "variables" / name).read_bytes() == (source / "variables" / name).read_bytes()


def test_archive_inside_the_source_is_refused(saved_model, tmp_path):
    source = _copy(saved_model, tmp_path)
    with pytest.raises(ValueError, match="inside the SavedModel folder"):
        archive.write_saved_model_archive(source, source / "1")


def test_folder_without_saved_model_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        archive.write_saved_model_archive(tmp_path, tmp_path.parent / "never")


# ---------------------------------------------------------------- checksums


def test_verify_sha256(saved_model, tmp_path):
    target = tmp_path / "1"
    digest = archive.write_saved_model_archive(saved_model, target)
    assert archive.verify_sha256(target) is True
    tampered = bytearray(target.read_bytes())
    tampered[-1] ^= 0xFF
    target.write_bytes(bytes(tampered))
    with pytest.raises(archive.ChecksumMismatchError) as caught:
        archive.verify_sha256(target)
    assert digest in str(caught.value) and hashlib.sha256(tampered).hexdigest() in str(caught.value)
    (tmp_path / "1.sha256").unlink()
    assert archive.verify_sha256(target) is False


def test_malformed_sha256_file_is_an_error(saved_model, tmp_path):
    target = tmp_path / "1"
    archive.write_saved_model_archive(saved_model, target)
    (tmp_path / "1.sha256").write_text("not-a-digest  1\n")
    with pytest.raises(ValueError, match="1.sha256"):
        archive.verify_sha256(target)


# ---------------------------------------------------------------- unpacking


def test_safe_extract_round_trip(saved_model, tmp_path):
    archive.write_saved_model_archive(saved_model, tmp_path / "1")
    dest = archive.safe_extract(tmp_path / "1", tmp_path / "unpacked")
    loaded = tf.saved_model.load(dest)
    assert loaded(tf.constant([1.5])).numpy().tolist() == [3.0]
    assert (tmp_path / "unpacked" / "assets" / "vocab.txt").read_text() == "[PAD]\nhello\n"


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_members_are_refused_and_nothing_is_written(tmp_path, case):
    member, problem = MALICIOUS[case]
    tarball = _malicious_tarball(tmp_path / "evil.tar.gz", member)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(archive.UnsafeArchiveError) as caught:
        archive.safe_extract(tarball, work / "dest")
    assert member.name in str(caught.value) and problem in str(caught.value)
    assert os.listdir(work) == []
    assert not os.path.exists("/tmp/tfhub_llm_evil_absolute")
    assert not (tmp_path / "evil_dotdot").exists() and not (tmp_path / "evil_nested").exists()


def test_extract_refuses_non_empty_destination(saved_model, tmp_path):
    archive.write_saved_model_archive(saved_model, tmp_path / "1")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        archive.safe_extract(tmp_path / "1", tmp_path / "dest")
    assert os.listdir(tmp_path / "dest") == ["keep.txt"]


def test_extract_of_non_archive_names_the_file(tmp_path):
    (tmp_path / "junk").write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match="junk"):
        archive.safe_extract(tmp_path / "junk", tmp_path / "dest")
    assert os.listdir(tmp_path) == ["junk"]


# ---------------------------------------------------------------- resolver over loopback http


@pytest.fixture(scope="module")
def hub_root(saved_model, tmp_path_factory):
    """A hub directory: good, checksum-less, tampered and malicious versions."""
    root = tmp_path_factory.mktemp("hub")
    archive.write_saved_model_archive(saved_model, root / "good" / "1")
    archive.write_saved_model_archive(saved_model, root / "nosha" / "1")
    (root / "nosha" / "1.sha256").unlink()
    archive.write_saved_model_archive(saved_model, root / "tampered" / "1")
    other = _save_model(str(tmp_path_factory.mktemp("other") / "sm"), factor=-1.0)
    (root / "tampered" / "1").unlink()
    archive.write_saved_model_archive(other, root / "tampered" / "1.new")
    os.replace(root / "tampered" / "1.new", root / "tampered" / "1")
    for case in ("dotdot", "symlink"):
        (root / case).mkdir()
        tarball = _malicious_tarball(root / case / "1", MALICIOUS[case][0])
        (root / case / "1.sha256").write_text(f"{archive.file_sha256(tarball)}  1\n")
    return root


@pytest.fixture
def hub_server(hub_root, serve_directory):
    return serve_directory(hub_root)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    hub_resolver.install_resolver()
    return tmp_path / "cache"


def _cached_modules(cache):
    return [name for name in os.listdir(cache) if os.path.isdir(cache / name)] if cache.exists() else []


@pytest.mark.parametrize("name", ["good", "nosha"])
def test_resolver_loads_good_archives(hub_server, hub_cache, saved_model, name):
    path = hub.resolve(f"{hub_server}/{name}/1")
    assert open(os.path.join(path, "saved_model.pb"), "rb").read() == \
        open(os.path.join(saved_model, "saved_model.pb"), "rb").read()
    assert hub.load(f"{hub_server}/{name}/1")(tf.constant([2.0])).numpy().tolist() == [4.0]


def test_resolver_refuses_archive_that_does_not_match_its_sha256(hub_server, hub_cache):
    with pytest.raises(archive.ChecksumMismatchError, match="sha256 mismatch"):
        hub.resolve(f"{hub_server}/tampered/1")
    assert _cached_modules(hub_cache) == []


@pytest.mark.parametrize("case", ["dotdot", "symlink"])
def test_resolver_refuses_malicious_archives(hub_server, hub_cache, case):
    with pytest.raises(archive.UnsafeArchiveError, match=MALICIOUS[case][1]):
        hub.resolve(f"{hub_server}/{case}/1")
    assert _cached_modules(hub_cache) == []


def test_install_resolver_is_idempotent(hub_cache):
    hub_resolver.install_resolver()
    installed = [impl for impl in registry.resolver._impls
                 if isinstance(impl, hub_resolver.VerifyingHttpCompressedFileResolver)]
    assert len(installed) == 1


def test_checksum_url():
    assert hub_resolver.checksum_url("https://hub.example/models/bert/3?x=1") == \
        "https://hub.example/models/bert/3.sha256"
