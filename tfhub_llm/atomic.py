"""Writing files and folders that others may read meanwhile: a temporary sibling, renamed into place.

A reader (TF Serving polling its base folder, tensorflow_hub's cache, another process) sees the
old state or the complete new one, never half a write: the content goes to a hidden temporary
sibling in the same folder (so the rename stays on one file system), a file is flushed to disk
before the rename (``fsync``: a crash must not leave an empty file under the final name), and the
sibling is renamed onto the final name. When the writing fails the sibling is removed and the
final name is left as it was. Files and folders get the modes ``open()`` and ``mkdir()`` would give
them under the process umask (0644 / 0755 under umask 022), not the private 0600 / 0700 of
:mod:`tempfile`, so a web server or a model server running as another user can read what was
written. This module is the package's one way to do that.
"""

import contextlib
import os
import pathlib
import shutil
import tempfile

from tfhub_llm.errors import TargetExistsError


def _folder_exists_error(path):
    return TargetExistsError(f"{path} already exists and is not empty; pass overwrite=True to replace it")


def _file_exists_error(path):
    return TargetExistsError(f"{path} already exists; pass overwrite=True to replace it")


def ordinary_mode(requested: int) -> int:
    """``requested`` (0o666 for a file, 0o777 for a folder) less the process umask: what ``open()`` / ``mkdir()`` give.

    ``os`` has no umask getter: it is read by setting it and setting it straight back.
    """
    umask = os.umask(0o077)
    os.umask(umask)
    return requested & ~umask


def is_missing_or_empty_dir(path) -> bool:
    """Whether ``path`` does not exist or is a folder with nothing in it."""
    path = pathlib.Path(path)
    return not os.path.lexists(path) or (path.is_dir() and not any(path.iterdir()))


@contextlib.contextmanager
def atomic_directory(path, *, overwrite=False, prefix=None, exists_error=_folder_exists_error):
    """Yields an empty temporary sibling of ``path`` to fill; renames it to ``path`` when the block succeeds.

    A missing ``path`` or an empty folder is replaced; anything else only with ``overwrite``, else
    ``exists_error(path)`` is raised, before the block runs and again just before the rename.
    ``prefix`` names the sibling (default ``.NAME.tmp-``); it must not look like a final name to
    whoever polls the parent folder.
    """
    path = pathlib.Path(path)
    _refuse_unless_replaceable(path, overwrite, exists_error)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=prefix or f".{path.name}.tmp-", dir=path.parent))
    staging.chmod(ordinary_mode(0o777))
    try:
        yield staging
        _refuse_unless_replaceable(path, overwrite, exists_error)
        _rename_into_place(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _refuse_unless_replaceable(path, overwrite, exists_error):
    if not overwrite and not is_missing_or_empty_dir(path):
        raise exists_error(path)


def _rename_into_place(staging, path):
    if is_missing_or_empty_dir(path):
        os.replace(staging, path)  # POSIX rename replaces an empty folder in one step
        return
    retired = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    os.rename(path, retired / path.name)
    os.rename(staging, path)
    shutil.rmtree(retired)


@contextlib.contextmanager
def atomic_file(path, *, overwrite=True, suffix=".tmp", exists_error=_file_exists_error):
    """Yields the name of a temporary sibling of ``path`` to write; fsyncs and renames it when the block succeeds.

    With ``overwrite=False`` an existing ``path`` raises ``exists_error(path)``; the final step is
    then a hard link, which fails when ``path`` appeared meanwhile, so nothing is ever replaced.
    ``suffix`` ends the temporary name (``".keras"`` for writers that check the extension).
    """
    path = os.path.abspath(os.fspath(path))
    if not overwrite and os.path.lexists(path):
        raise exists_error(path)
    folder, base = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{base}.", suffix=suffix, dir=folder)
    try:
        os.fchmod(fd, ordinary_mode(0o666))
    finally:
        os.close(fd)
    try:
        yield temporary
        _fsync(temporary)
        if overwrite:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise exists_error(path) from None
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path, content: str, *, overwrite=True, exists_error=_file_exists_error) -> None:
    """Writes ``content`` (UTF-8) to ``path`` through :func:`atomic_file`."""
    with atomic_file(path, overwrite=overwrite, exists_error=exists_error) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(content)
