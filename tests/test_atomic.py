"""tfhub_llm.atomic: what it writes gets the modes ``open()`` / ``mkdir()`` would give, whatever the umask."""

import os

import pytest

from tests.harness import assert_ordinary_modes
from tfhub_llm.atomic import atomic_directory, atomic_file, write_text


@pytest.fixture(params=[0o022, 0o027, 0o002], ids=lambda umask: f"umask{umask:03o}")
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def test_files_get_the_umasks_ordinary_mode(tmp_path, umask):
    write_text(tmp_path / "metrics.json", "{}\n")
    write_text(tmp_path / "kept.txt", "x", overwrite=False)  # the hard-link path
    with atomic_file(tmp_path / "model.keras", suffix=".keras") as temporary:
        with open(temporary, "wb") as f:
            f.write(b"weights")
    assert_ordinary_modes(tmp_path / "metrics.json", tmp_path / "kept.txt", tmp_path / "model.keras")
    assert os.stat(tmp_path / "metrics.json").st_mode & 0o777 == 0o666 & ~umask


def test_folders_get_the_umasks_ordinary_mode(tmp_path, umask):
    with atomic_directory(tmp_path / "export") as staging:
        (staging / "saved_model.pb").write_bytes(b"")
    assert_ordinary_modes(tmp_path / "export", tmp_path / "export" / "saved_model.pb")
    assert os.stat(tmp_path / "export").st_mode & 0o777 == 0o777 & ~umask
