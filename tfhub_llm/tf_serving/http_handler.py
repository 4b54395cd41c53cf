"""The development server's HTTP side of one connection: limits enforced, every answer JSON, whatever the method.

The request's headers and body must arrive within ``read_timeout`` (else 408), its body is refused from
Content-Length alone when above ``max_body_bytes`` (413) and is never read for a request that does not use it;
chunked uploads are refused (411: send a Content-Length). Errors of ``http.server`` itself (a bad request line,
an unknown method) are JSON too. What the endpoints answer is :func:`tfhub_llm.tf_serving.rest_api.answer`.
"""

from __future__ import annotations

import io
import json
import socket
import time
from http.server import BaseHTTPRequestHandler

from tfhub_llm.tf_serving.limits import DeadlineSocketReader, ReadDeadlineExceeded
from tfhub_llm.tf_serving.rest_api import answer
from tfhub_llm.tf_serving.rest_json import RequestError
from tfhub_llm.ascii_digits import is_ascii_digits

_DRAIN_SECONDS = 1.0  # after answering a request whose body was not read: how long its rest is read and dropped
_DRAIN_BYTES = 1024 * 1024  # ... and how much of it, so the client reads the answer rather than a reset


class RestHandler(BaseHTTPRequestHandler):
    """One connection (HTTP/1.0: one request); ``self.server`` has ``model`` and ``limits``."""

    server_version = "tfhub-llm-dev-server"
    default_request_version = "HTTP/1.0"  # errors about the request line get a status line and JSON, not HTTP/0.9

    def setup(self):
        super().setup()
        self.rfile.close()
        deadline = time.monotonic() + self.server.limits.read_timeout
        self.rfile = io.BufferedReader(DeadlineSocketReader(self.connection, deadline))
        # What http.server sets while parsing, for an answer sent before the request line was read.
        self.command, self.requestline, self.request_version = None, "", self.default_request_version
        self._body_read = False

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except ReadDeadlineExceeded:
            self.close_connection = True
            self._send_json(408, {"error": self._timeout_message()})

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (bad request line, unknown method, headers too long) as JSON."""
        self.close_connection = True
        self._send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def _answer(self):
        try:
            status, body = 200, answer(self.server.model, self.server.limits, self.command, self.path, self._read_body)
        except RequestError as error:
            status, body = error.status, {"error": error.message}
        except ReadDeadlineExceeded:
            status, body = 408, {"error": self._timeout_message()}
        except Exception as error:  # noqa: BLE001  (a bug must not stop the server)
            status, body = 500, {"error": f"internal error: {type(error).__name__}: {error}"}
        unread = not self._body_read and (self.headers.get("Content-Length", "0") != "0"
                                          or "Transfer-Encoding" in self.headers)
        self._send_json(status, body)
        if unread:
            self._drop_unread_body()

    # Every method gets a JSON answer (TF Serving's 400 "Malformed request" for those it does not route).
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _answer  # noqa: N815

    def _read_body(self) -> bytes:
        if "Transfer-Encoding" in self.headers:
            raise RequestError(411, "Length Required: chunked uploads (Transfer-Encoding) are not supported; "
                                    "send the body with a Content-Length header")
        length = self.headers.get("Content-Length")
        if length is None or not is_ascii_digits(length):
            raise RequestError(411, f"Length Required: a POST needs a Content-Length header (got {length!r})")
        size, limit = int(length), self.server.limits.max_body_bytes
        if size > limit:
            raise RequestError(413, f"Payload Too Large: Content-Length {size} exceeds the limit of {limit} bytes "
                                    "(tfhub-llm serve --max-body-bytes)")
        body = self.rfile.read(size)
        self._body_read = True
        if len(body) != size:
            raise RequestError(400, f"the body ended after {len(body)} of its {size} bytes")
        return body

    def _timeout_message(self) -> str:
        return (f"Request Timeout: the request was not received within {self.server.limits.read_timeout:g} s "
                "(tfhub-llm serve --read-timeout)")

    def _send_json(self, status: int, body: dict):
        payload = json.dumps(body).encode("utf-8")
        self.connection.settimeout(self.server.limits.read_timeout)  # for each send; not what the reads left
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    def _drop_unread_body(self):
        """Ends our side, then reads and drops what the client still sends, within bounds, before closing."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_WR)
            deadline, dropped = time.monotonic() + _DRAIN_SECONDS, 0
            while dropped < _DRAIN_BYTES and (left := deadline - time.monotonic()) > 0:
                self.connection.settimeout(left)
                chunk = self.connection.recv(64 * 1024)
                if not chunk:
                    break
                dropped += len(chunk)
        except OSError:  # the client went away or stayed silent: nothing more to do
            pass

    def log_message(self, format, *args):  # noqa: A002  (http.server's signature)
        if self.server.log_requests:
            super().log_message(format, *args)
