"""Trust: when the caller vouches for a model, so that it skips the scan. Only the caller decides, never a file.

* ``trust=True`` on one call, or ``trusting()`` for a block of code (what ``--trust`` does);
* a trusted folder, ``trust_directory(path)`` or ``$TFHUB_LLM_TRUSTED_DIRS`` (``os.pathsep``-separated),
  judged by the handle the caller named, never by the cache folder a download landed in;
* http(s) / hub handles named inside a saved Keras model are refused unless the caller allows them
  (``allowing_remote_handles()``, ``trusting()`` or ``$TFHUB_LLM_ALLOW_REMOTE_HANDLES=1``):
  ``layer_config_for_load`` applies that to a HubEncoder / HubPreprocessor config and drops any
  ``trust`` the file carries.
"""

from __future__ import annotations

import contextlib
import contextvars
import os

from tfhub_llm.errors import InvalidFileError
from tfhub_llm.hub.limits import check_config_sizes
from tfhub_llm.hub.resolved_handle import ResolvedHandle, local_path

TRUSTED_DIRS_ENV = "TFHUB_LLM_TRUSTED_DIRS"
REMOTE_HANDLES_ENV = "TFHUB_LLM_ALLOW_REMOTE_HANDLES"

_trusted_directories: list[str] = []
_trust_all = contextvars.ContextVar("tfhub_llm_trust_all", default=False)
_remote_handles = contextvars.ContextVar("tfhub_llm_remote_handles", default=False)


class RemoteHandleError(InvalidFileError):
    """A saved Keras model names an http(s) handle, and the caller did not allow downloads from files."""


def trust_directory(path: str | os.PathLike) -> None:
    """Trust every SavedModel inside ``path`` (for this process): they are not scanned."""
    real = os.path.realpath(path)
    if real not in _trusted_directories:
        _trusted_directories.append(real)


def _trusted_folders() -> list[str]:
    """Folders whose SavedModels skip the scan: ``$TFHUB_LLM_TRUSTED_DIRS`` plus ``trust_directory``."""
    from_env = [os.path.realpath(p) for p in os.environ.get(TRUSTED_DIRS_ENV, "").split(os.pathsep) if p]
    return from_env + list(_trusted_directories)


def is_trusted_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` lies inside a trusted folder."""
    real = os.path.realpath(path)
    return any(os.path.commonpath([real, folder]) == folder for folder in _trusted_folders())


def is_trusted(model: ResolvedHandle, *, trust: bool = False) -> bool:
    """Whether the caller trusts a model: ``trust``, a ``trusting()`` block, or a handle naming a trusted folder.

    A folder is judged by the handle the caller named, never by the cache folder a download landed
    in: a remote handle is never trusted by folder.
    """
    if trust or _trust_all.get():
        return True
    return not model.remote and is_trusted_path(model.path)


@contextlib.contextmanager
def _switched_on(flag: contextvars.ContextVar):
    token = flag.set(True)
    try:
        yield
    finally:
        flag.reset(token)


def trusting():
    """Trust every SavedModel loaded inside the block (the caller vouches for it, like ``--trust``)."""
    return _switched_on(_trust_all)


def allowing_remote_handles():
    """Let saved Keras models loaded inside the block download the http(s) / hub handles their config names."""
    return _switched_on(_remote_handles)


def _remote_handles_allowed() -> bool:
    """Inside ``allowing_remote_handles()``, under ``trusting()``, or with ``$TFHUB_LLM_ALLOW_REMOTE_HANDLES=1``."""
    return _remote_handles.get() or _trust_all.get() or os.environ.get(REMOTE_HANDLES_ENV) == "1"


def layer_config_for_load(config: dict, layer: str) -> dict:
    """A HubEncoder / HubPreprocessor / HubTextEmbedding config from a saved file, made safe: its ``trust`` is dropped
    (trust never travels in a file) and a remote handle raises ``RemoteHandleError`` unless allowed."""
    config = {key: value for key, value in config.items() if key != "trust"}
    check_config_sizes(config, f"the saved {layer}")
    handle = str(config.get("handle", ""))
    if local_path(handle) is None and not _remote_handles_allowed():
        raise RemoteHandleError(
            f"The saved {layer} names the remote handle {handle!r}: a model file does not get to download "
            f"models. If you trust the file, load it inside tfhub_llm.allowing_remote_handles(), "
            f"or set {REMOTE_HANDLES_ENV}=1.")
    return config
