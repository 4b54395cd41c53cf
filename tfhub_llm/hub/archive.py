"""Safe SavedModel archives: writing them for publishing, checking and unpacking them.

* ``write_saved_model_archive`` writes the tar.gz tensorflow_hub's
  ``?tf-hub-format=compressed`` protocol expects (root = the SavedModel root),
  reproducibly (sorted members, fixed mtime, owner 0 with empty names), plus a
  ``<archive>.sha256`` file in ``sha256sum`` format. A published archive is never
  overwritten.
* ``verify_sha256`` checks an archive against the ``.sha256`` file next to it.
* ``copy_saved_model`` copies a SavedModel folder (or some of its top-level entries) with the
  same refusals as archiving (no links, no special files).
* ``safe_extract`` unpacks only regular files and folders with relative paths
  that stay inside the destination and that the file system can hold, at most
  ``MAX_UNPACKED_BYTES`` in all and ``MAX_COMPRESSION_RATIO`` times the archive's size.

Every write goes through :mod:`tfhub_llm.atomic`, so readers never see
half-written archives or folders.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Collection

from tfhub_llm.atomic import atomic_directory, atomic_file, write_text
from tfhub_llm.errors import InvalidArgumentError, InvalidFileError, MissingFileError, TargetExistsError, TfhubLlmError
from tfhub_llm.hub.limits import MAX_SIDECAR_BYTES

SHA256_SUFFIX = ".sha256"
_ARCHIVE_MTIME = 0
_CHUNK = 1 << 20
# tarfile's own "data" filter as a second line of defence, where Python has it (3.10.12+, 3.11.4+).
_DATA_FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
MAX_UNPACKED_BYTES = 16 << 30
MAX_MEMBERS = 100_000
# SavedModels (float weights, protobufs, vocabularies) compress 1-10x; a bomb compresses 1000x.
MAX_COMPRESSION_RATIO = 100
_RATIO_FREE_BYTES = 64 << 20  # archives unpacking to less than this are not held to the ratio
_NAME_MAX = 255
_PATH_MAX = 4096


class UnsafeArchiveError(TfhubLlmError, ValueError):
    """An archive (or a folder to archive) holds a member that is not a plain file or folder."""


class ChecksumMismatchError(TfhubLlmError, ValueError):
    """An archive's sha256 differs from the published one."""


class ArchiveExistsError(TargetExistsError):
    """A published archive version already exists; versions are immutable."""

    def __init__(self, path):
        super().__init__(f"{path} already exists; published versions are immutable, "
                         "publish a new version number instead")


# ---------------------------------------------------------------- checksums


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_sha256_file(content: str, source: str) -> str:
    """The hex digest from ``sha256sum`` output (``<hex>  <name>``, or just ``<hex>``)."""
    fields = content.split()
    digest = fields[0].lower() if fields else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InvalidFileError(f"{source}: expected '<64 hex digits>  <file name>', got {content[:100]!r}")
    return digest


def check_sha256(archive_path: str | os.PathLike, expected: str, source: str) -> None:
    """Raise ``ChecksumMismatchError`` naming both digests unless the archive matches."""
    actual = file_sha256(archive_path)
    if actual != expected:
        raise ChecksumMismatchError(
            f"{source}: sha256 mismatch: the published checksum is {expected} but the archive has "
            f"{actual}; the archive is corrupted or was tampered with, refusing to use it")


def verify_sha256(archive_path: str | os.PathLike) -> bool:
    """Verify ``archive_path`` against ``<archive_path>.sha256`` when that file exists.

    Returns whether a check happened; raises ``ChecksumMismatchError`` on a mismatch.
    """
    checksum_path = os.fspath(archive_path) + SHA256_SUFFIX
    if not os.path.exists(checksum_path):
        return False
    with open(checksum_path, "rb") as f:
        content = f.read(MAX_SIDECAR_BYTES + 1)
    if len(content) > MAX_SIDECAR_BYTES:
        raise InvalidFileError(f"{checksum_path}: more than {MAX_SIDECAR_BYTES} bytes; not a sha256sum line")
    expected = parse_sha256_file(content.decode("utf-8", "replace"), checksum_path)
    check_sha256(archive_path, expected, os.fspath(archive_path))
    return True


# ---------------------------------------------------------------- writing


def _archive_members(saved_model_dir: str, only: Collection[str] | None = None):
    """(path on disk, name in archive) in a fixed order; refuses links and special files.

    ``only`` names the top-level entries to take (every entry when None); the others are not visited.
    """
    for folder, subfolders, files in os.walk(saved_model_dir):
        if only is not None and folder == saved_model_dir:
            subfolders[:] = [name for name in subfolders if name in only]
            files = [name for name in files if name in only]
        subfolders.sort()
        for name in subfolders + sorted(files):
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                raise UnsafeArchiveError(f"{path} is a symbolic link; refusing to archive it")
            if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                raise UnsafeArchiveError(f"{path} is a hard link ({info.st_nlink} names); refusing to archive it")
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                raise UnsafeArchiveError(f"{path} is not a regular file or folder; refusing to archive it")
            yield path, os.path.relpath(path, saved_model_dir).replace(os.sep, "/")


def _open_member(path: str):
    """``path`` opened for reading, refusing a file swapped for a link or special file since it was walked."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeArchiveError(f"{path} is a symbolic link; refusing to archive it") from None
        raise
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise UnsafeArchiveError(f"{path} is not a regular file or folder; refusing to archive it")
    return f


def copy_saved_model(saved_model_dir: str | os.PathLike, dest_dir: str | os.PathLike,
                     only: Collection[str] | None = None) -> None:
    """Copy a SavedModel folder's regular files and folders into ``dest_dir`` (created if missing).

    Refuses links and special files, as archiving does. ``only`` names the top-level entries to copy
    (e.g. ``("variables",)``); every entry when None.
    """
    saved_model_dir = os.path.realpath(saved_model_dir)
    os.makedirs(dest_dir, exist_ok=True)
    for path, name in _archive_members(saved_model_dir, only):
        target = os.path.join(dest_dir, *name.split("/"))
        if os.path.isdir(path):
            os.mkdir(target)
        else:
            with _open_member(path) as source, open(target, "xb") as copy:
                shutil.copyfileobj(source, copy, _CHUNK)


def _tar_info(name: str, size: int | None) -> tarfile.TarInfo:
    """The member ``name``: a folder when ``size`` is None, else a file of ``size`` bytes."""
    info = tarfile.TarInfo(name)
    info.mtime = _ARCHIVE_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if size is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    else:
        info.size, info.mode = size, 0o644
    return info


def write_saved_model_archive(saved_model_dir: str | os.PathLike, archive_path: str | os.PathLike) -> str:
    """Write ``saved_model_dir`` as a reproducible tar.gz plus ``<archive_path>.sha256``.

    Returns the archive's hex sha256. Refuses symlinks, hard links and special files
    in the source, an existing ``archive_path`` and an archive inside the source.
    """
    saved_model_dir = os.path.realpath(saved_model_dir)
    archive_path = os.path.abspath(archive_path)
    if not os.path.isfile(os.path.join(saved_model_dir, "saved_model.pb")):
        raise MissingFileError(f"{saved_model_dir} is not a SavedModel: it has no saved_model.pb")
    if os.path.commonpath([os.path.realpath(os.path.dirname(archive_path)), saved_model_dir]) == saved_model_dir:
        raise InvalidArgumentError(f"{archive_path} is inside the SavedModel folder {saved_model_dir}; write it elsewhere")
    with atomic_file(archive_path, overwrite=False, exists_error=ArchiveExistsError) as temporary:
        members = list(_archive_members(saved_model_dir))
        with open(temporary, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=_ARCHIVE_MTIME) as zipped:
                with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for path, name in members:
                        if os.path.isdir(path):
                            tar.addfile(_tar_info(name, None))
                        else:
                            with _open_member(path) as f:
                                tar.addfile(_tar_info(name, os.fstat(f.fileno()).st_size), f)
        digest = file_sha256(temporary)
    write_text(archive_path + SHA256_SUFFIX, f"{digest}  {os.path.basename(archive_path)}\n")
    return digest


# ---------------------------------------------------------------- unpacking


def _member_problem(member: tarfile.TarInfo) -> str | None:
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(parts[0]) == 2 and parts[0][1] == ":"):
        return "has an absolute path"
    if ".." in parts:
        return "has a '..' path component"
    if member.issym():
        return f"is a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"is a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "is a device file"
    if member.isfifo():
        return "is a FIFO"
    if not (member.isfile() or member.isdir()):
        return f"has unsupported tar type {member.type!r}"
    encoded = os.fsencode(name) if "\x00" not in name else None
    if encoded is None or len(encoded) > _PATH_MAX or any(len(part) > _NAME_MAX for part in encoded.split(b"/")):
        return f"has a name the file system cannot hold (a NUL byte, a part over {_NAME_MAX} bytes or over {_PATH_MAX} in all)"
    return None


def _check_members(tar: tarfile.TarFile, source: str, archive_bytes: int | None = None) -> list[tarfile.TarInfo]:
    """All members of ``tar``; raises ``UnsafeArchiveError`` naming the first unsafe one.

    With ``archive_bytes`` (the archive file's size), also refuses more than ``MAX_MEMBERS``
    members, more than ``MAX_UNPACKED_BYTES`` in all, or more than ``MAX_COMPRESSION_RATIO``
    times the archive's size once past ``_RATIO_FREE_BYTES``.
    """
    members, total = [], 0
    for member in tar:
        problem = _member_problem(member)
        if problem:
            raise UnsafeArchiveError(f"{source}: member {member.name!r} {problem}; refusing to unpack the archive")
        members.append(member)
        total += member.size if member.isfile() else 0
        if archive_bytes is not None:
            _check_unpacked_size(source, len(members), total, archive_bytes)
    return members


def _check_unpacked_size(source: str, count: int, total: int, archive_bytes: int) -> None:
    if count > MAX_MEMBERS:
        raise UnsafeArchiveError(f"{source}: more than {MAX_MEMBERS} members; refusing to unpack the archive")
    if total > MAX_UNPACKED_BYTES:
        raise UnsafeArchiveError(f"{source}: unpacks to more than {MAX_UNPACKED_BYTES} bytes; refusing to unpack it")
    if total > _RATIO_FREE_BYTES and total > MAX_COMPRESSION_RATIO * max(archive_bytes, 1):
        raise UnsafeArchiveError(
            f"{source}: unpacks to {total} bytes from {archive_bytes}, more than {MAX_COMPRESSION_RATIO} times "
            "its size (a compression bomb?); refusing to unpack it")


def safe_extract(archive_path: str | os.PathLike, dest_dir: str | os.PathLike) -> str:
    """Unpack a tar(.gz) archive into ``dest_dir`` (which must be missing or empty).

    Every member is checked before anything is written; the archive is unpacked into
    a temporary sibling that is renamed to ``dest_dir`` only when complete.
    Returns ``dest_dir``.
    """
    archive_path, dest_dir = os.fspath(archive_path), os.path.abspath(dest_dir)

    def not_empty(path):
        return TargetExistsError(f"{path} is not empty; refusing to unpack {archive_path} over it")

    with atomic_directory(dest_dir, exists_error=not_empty) as staging:
        try:
            with tarfile.open(archive_path, mode="r:*") as tar:
                members = _check_members(tar, archive_path, os.path.getsize(archive_path))
                tar.extractall(staging, members=members, **_DATA_FILTER)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise InvalidFileError(f"{archive_path} is not a valid tar archive: {error}") from None
        except OSError as error:  # a name or size the destination's file system refuses
            if error.errno in (errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL, errno.EFBIG):
                raise UnsafeArchiveError(f"{archive_path}: a member cannot be written here ({error}); "
                                         "refusing to unpack the archive") from None
            raise
    return dest_dir
