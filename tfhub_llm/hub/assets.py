"""A SavedModel's asset files, read only where they belong: regular files inside ``<model>/assets``.

An asset name comes from ``saved_model.pb``, so an untrusted model chooses it. Every read here
opens the file relative to the ``assets`` folder without following any symbolic link, refuses
anything but a regular file, and caps the size of each and of all together, so a model cannot make the package read
``/etc/passwd``, ``../../x`` or ``/dev/zero``.

* ``read_assets`` reads the assets ``saved_model.pb`` names, for the scan, and says why it refuses
  the others (a name that is not relative and normalised, a link, not a regular file, too big);
  ``read_extra_assets`` reads ``assets.extra/`` (warmup requests) for the scanned copy;
* ``asset_file`` finds a loaded model's asset (``vocab_file``, ``sp_model_file``, ...) and
  ``read_asset`` / ``read_asset_lines`` read it, for the layers, the describer,
  the token classifier and the LiteRT tokenizer.
"""

from __future__ import annotations

import os
import posixpath
import stat

from tfhub_llm.errors import InvalidFileError
from tfhub_llm.hub.limits import MAX_TOTAL_ASSET_MIB_ENV, max_total_asset_bytes

MAX_ASSET_BYTES = 512 << 20
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
EXTRA_ASSETS = "assets.extra"


def _asset_name_problem(name: str) -> str | None:
    """Why an asset file name is not a relative, normalised path inside ``assets/``; None when it is."""
    if not name or "\x00" in name or "\\" in name or posixpath.isabs(name) or (len(name) > 1 and name[1] == ":"):
        return "is not a relative path"
    if posixpath.normpath(name) != name or any(part in ("", ".", "..") for part in name.split("/")):
        return "is not a normalised path inside assets/ (it has '..', '.' or empty parts)"
    return None


def _open_confined(folder: str, relative: str) -> int:
    """Open ``folder/relative`` for reading without following any symbolic link on the way."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(folder, flags | getattr(os, "O_DIRECTORY", 0))
    try:
        parts = relative.split("/")
        for part in parts[:-1]:
            inner = os.open(part, flags | getattr(os, "O_DIRECTORY", 0), dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], flags | getattr(os, "O_NONBLOCK", 0), dir_fd=fd)
    finally:
        os.close(fd)


def _read_confined(folder: str, relative: str, max_bytes: int, charge=None) -> bytes:
    """The bytes of a regular file inside ``folder``; OSError / InvalidFileError naming the problem otherwise.

    ``charge(stat)``, when given, sees the file's size before it is read and may refuse it.
    """
    fd = _open_confined(folder, relative)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InvalidFileError("is not a regular file")
        if info.st_size > max_bytes:
            raise InvalidFileError(f"has {info.st_size} bytes, more than the {max_bytes} an asset may have")
        if charge is not None:
            charge(info)
        return f.read(max_bytes + 1)[:max_bytes]


class _AssetBudget:
    """The bytes all of a model's assets may hold, counted apparent and allocated (so sparse files count)."""

    def __init__(self):
        self.limit = max_total_asset_bytes()
        self.apparent = self.allocated = 0

    def __call__(self, info) -> None:
        self.apparent += info.st_size
        self.allocated += getattr(info, "st_blocks", 0) * 512
        if max(self.apparent, self.allocated) > self.limit:
            raise InvalidFileError(f"brings the model's assets to {max(self.apparent, self.allocated)} bytes, more "
                                   f"than the {self.limit} all assets may hold (${MAX_TOTAL_ASSET_MIB_ENV})")


def read_assets(model_dir: str, names) -> tuple[dict[str, bytes], dict[str, str]]:
    """The bytes of each named asset of the SavedModel folder ``model_dir``, and why each other name was refused."""
    contents, problems, budget = {}, {}, _AssetBudget()
    for name in names:
        problem = _asset_name_problem(name)
        if problem is None:
            try:
                contents[name] = _read_confined(os.path.join(model_dir, "assets"), name, MAX_ASSET_BYTES, budget)
            except (OSError, InvalidFileError) as error:
                problem = f"cannot be read as a regular file inside assets/ without symbolic links ({error})"
        if problem:
            problems[name] = problem
    return contents, problems


def read_extra_assets(model_dir: str) -> dict[str, bytes]:
    """The regular files directly inside ``<model>/assets.extra`` (TF Serving's warmup requests), read as assets
    are: no links, each and all capped; other entries are left out. InvalidFileError names a file over a cap."""
    folder = os.path.join(model_dir, EXTRA_ASSETS)
    if not os.path.isdir(folder) or os.path.islink(folder):
        return {}
    contents, budget = {}, _AssetBudget()
    for name in sorted(os.listdir(folder)):
        if not stat.S_ISREG(os.lstat(os.path.join(folder, name)).st_mode):
            continue  # links, folders, devices: not copied, so never read
        try:
            contents[name] = _read_confined(folder, name, MAX_ASSET_BYTES, budget)
        except (OSError, InvalidFileError) as error:
            raise InvalidFileError(f"{folder}/{name} {error}") from None
    return contents


def read_asset(asset_path: str | os.PathLike, max_bytes: int = MAX_ASSET_BYTES) -> bytes:
    """The bytes of a loaded model's asset: a regular file inside ``<model>/assets``, reached without links."""
    parts = os.path.abspath(asset_path).split(os.sep)
    for i in range(len(parts) - 2, 0, -1):
        model = os.sep.join(parts[:i]) or os.sep
        if parts[i] == "assets" and any(os.path.isfile(os.path.join(model, name)) for name in SAVED_MODEL_FILES):
            try:
                return _read_confined(os.path.join(model, "assets"), "/".join(parts[i + 1:]), max_bytes)
            except (OSError, InvalidFileError) as error:
                raise InvalidFileError(f"{asset_path}: refusing to read this asset: {error}") from None
    raise InvalidFileError(f"{asset_path}: refusing to read an asset that is not inside a SavedModel's assets/ folder")


def asset_file(modules, attribute: str) -> str | None:
    """Path of the asset ``attribute`` (e.g. ``"vocab_file"``) of the first of the loaded ``modules`` that has it."""
    for module in modules:
        asset = getattr(module, attribute, None)
        if asset is not None:
            return asset.asset_path.numpy().decode()
    return None


def read_asset_lines(asset_path: str | os.PathLike) -> list[str]:
    """The UTF-8 lines of a loaded model's asset (a vocabulary: one token a line), read through ``read_asset``."""
    try:
        lines = read_asset(asset_path).decode("utf-8").split("\n")
    except UnicodeDecodeError as error:
        raise InvalidFileError(f"{asset_path}: not UTF-8 text ({error})") from None
    if lines and lines[-1] == "":
        lines.pop()
    return lines
