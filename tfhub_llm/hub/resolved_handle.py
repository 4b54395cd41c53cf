"""``ResolvedHandle``: a handle resolved once, the one value the loader, trust and the scan share.

:func:`tfhub_llm.hub.handles.resolve` builds it, once per load: the handle as the caller named it, the
local SavedModel folder it resolved to, and whether that folder was fetched by tensorflow_hub into its
cache (an http(s), tfhub.dev or Kaggle Models handle) rather than named on disk. Trust
(:mod:`tfhub_llm.hub.trust`) judges a folder by it, and a fetched model is never trusted by its cache
folder; the scan (:mod:`tfhub_llm.hub.security`) names the handle in its errors. :func:`local_path` is
the one place a handle string is classified local or remote: the builder uses it, and so does the check
of handles named inside saved Keras configs, which must decide before anything is fetched.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse


@dataclasses.dataclass(frozen=True)
class ResolvedHandle:
    """A handle and the local SavedModel folder it resolved to.

    Attributes:
        handle: the handle as the caller named it (a path as a string, or a URL).
        path: the local SavedModel folder: the path the handle names, or tensorflow_hub's cache folder.
        remote: whether the folder was fetched (http(s), tfhub.dev, Kaggle Models) rather than named on disk.
    """

    handle: str
    path: str
    remote: bool = False

    @classmethod
    def of(cls, model: str | os.PathLike | ResolvedHandle) -> ResolvedHandle:
        """``model`` itself when resolved already, else the SavedModel folder ``model`` names on disk."""
        if isinstance(model, ResolvedHandle):
            return model
        path = os.fspath(model)
        return cls(path, path)


def local_path(handle: str) -> str | None:
    """The file-system path a handle names (a bare path, ``file://``, or a Windows drive such as ``C:\\``), or
    None for a remote (http, hub) handle."""
    parsed = urllib.parse.urlparse(handle)
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path)
    return handle if parsed.scheme == "" or len(parsed.scheme) == 1 else None
