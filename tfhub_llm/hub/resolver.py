"""A tensorflow_hub resolver for http(s) handles that checks checksums and unpacks safely.

tensorflow_hub's own ``HttpCompressedFileResolver`` streams the archive straight
into its cache. This subclass keeps its URL handling, cache location and atomic,
locked download (``resolver.atomic_download``) but, in between,

1. downloads ``<handle>?tf-hub-format=compressed`` to a temporary file,
2. fetches ``<handle>.sha256`` (a 404 means the hub publishes no checksum) and
   refuses the archive when it does not match,
3. unpacks it with ``archive.safe_extract`` (no links, devices, absolute or ``..`` paths, size caps).

Every request times out after ``$TFHUB_LLM_DOWNLOAD_TIMEOUT`` seconds (default 60) without data, a whole
download (archive and checksum) after :func:`tfhub_llm.hub.limits.download_deadline` however steadily data
trickles in, a download stops at ``archive.MAX_UNPACKED_BYTES`` and a checksum at ``MAX_SIDECAR_BYTES``. A sha256 served by the same host proves
the archive arrived intact, not who made it: trust comes from the handle, not from the checksum.

``install_resolver()`` registers it with tensorflow_hub once (:mod:`tfhub_llm.hub.handles` calls it
before resolving the first remote handle); registered resolvers are tried newest first, so it takes
over http(s) handles.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from tensorflow_hub import compressed_module_resolver, registry, resolver

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub import archive
from tfhub_llm.hub.limits import DOWNLOAD_DEADLINE_ENV, MAX_SIDECAR_BYTES, download_deadline

_installed = False
TIMEOUT_ENV = "TFHUB_LLM_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 60.0


def _download_timeout() -> float:
    """Seconds a download request may wait for data: ``$TFHUB_LLM_DOWNLOAD_TIMEOUT`` or 60."""
    value = os.environ.get(TIMEOUT_ENV, "")
    try:
        return float(value) if value else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        raise InvalidArgumentError(f"${TIMEOUT_ENV} must be a number of seconds, got {value!r}") from None


def checksum_url(handle: str) -> str:
    """``HUB/NAME/N`` -> ``HUB/NAME/N.sha256`` (query and fragment dropped)."""
    parts = urllib.parse.urlsplit(handle)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + archive.SHA256_SUFFIX,
                                                  query="", fragment=""))


class VerifyingHttpCompressedFileResolver(compressed_module_resolver.HttpCompressedFileResolver):
    """Resolves http(s) handles like tensorflow_hub, plus sha256 check and safe unpacking."""

    def _call_urlopen(self, request):
        context = {"context": self._context} if self._context is not None else {}
        return urllib.request.urlopen(request, timeout=_download_timeout(), **context)

    def __call__(self, handle: str) -> str:
        module_dir = compressed_module_resolver._module_dir(handle)
        return resolver.atomic_download(handle, self._download, module_dir, self._lock_file_timeout_sec())

    def _download(self, handle: str, tmp_dir: str) -> None:
        workspace = tempfile.mkdtemp(prefix=".download.", dir=os.path.dirname(os.path.abspath(tmp_dir)))
        deadline = time.monotonic() + download_deadline()
        try:
            archive_path = os.path.join(workspace, "module.tar.gz")
            request = urllib.request.Request(self._append_compressed_format_query(handle))
            with self._call_urlopen(request) as response, open(archive_path, "wb") as f:
                _copy_capped(response, f, archive.MAX_UNPACKED_BYTES, handle, deadline)
            expected = self._published_sha256(handle, deadline)
            if expected is not None:
                archive.check_sha256(archive_path, expected, handle)
            archive.safe_extract(archive_path, tmp_dir)
        finally:
            shutil.rmtree(workspace, ignore_errors=True)

    def _published_sha256(self, handle: str, deadline: float) -> str | None:
        url = checksum_url(handle)
        try:
            with self._call_urlopen(urllib.request.Request(url)) as response:
                content = _read_capped(response, MAX_SIDECAR_BYTES, url, deadline)
                return archive.parse_sha256_file(content.decode("utf-8", "replace"), url)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise


def _chunks(source, max_bytes: int, url: str, deadline: float):
    """What ``source`` sends, as it arrives (``read1``), refused past ``max_bytes`` or past the ``deadline``."""
    received = 0
    while chunk := source.read1(1 << 20):
        received += len(chunk)
        if received > max_bytes:
            raise archive.UnsafeArchiveError(f"{url}: the download exceeds {max_bytes} bytes; refusing it")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: the download took longer than its deadline (${DOWNLOAD_DEADLINE_ENV}); "
                               "giving up")
        yield chunk


def _copy_capped(source, target, max_bytes: int, handle: str, deadline: float) -> None:
    for chunk in _chunks(source, max_bytes, handle, deadline):
        target.write(chunk)


def _read_capped(source, max_bytes: int, url: str, deadline: float) -> bytes:
    return b"".join(_chunks(source, max_bytes, url, deadline))


def install_resolver() -> None:
    """Register the verifying resolver with tensorflow_hub (idempotent)."""
    global _installed
    if not _installed:
        registry.resolver.add_implementation(VerifyingHttpCompressedFileResolver())
        _installed = True
