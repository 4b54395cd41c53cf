"""Shared test fixtures (a loopback static HTTP server), and TensorFlow's log level, set once for every test.

Paths and assertions that tests import live in :mod:`tests.harness`; pytest loads this file itself.
"""

import functools
import http.server
import os
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

@pytest.fixture
def serve_directory():
    """Starts a loopback static HTTP server over a directory; yields a function returning its base URL."""
    servers = []

    def start(directory):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
