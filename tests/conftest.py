"""Shared test fixtures: the Model Garden reference pair and a loopback static HTTP server."""

import functools
import http.server
import os
import pathlib
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
MODEL_GARDEN_BERT = FIXTURES / "model_garden" / "mg_bert_tiny_uncased"
FIXTURE = MODEL_GARDEN_BERT
FIXTURE_ENCODER = str(FIXTURE / "encoder")
FIXTURE_PREPROCESSOR = str(FIXTURE / "preprocessor")
DATA = REPO / "data"
SAVEDMODELS = REPO / "savedmodels"
TINY_ENCODER = str(SAVEDMODELS / "bert_tiny_random_uncased" / "encoder")
TINY_PREPROCESSOR = str(SAVEDMODELS / "bert_tiny_random_uncased" / "preprocessor")
MINILM_ENCODER = str(SAVEDMODELS / "minilm_l6_h384_uncased" / "encoder")
MINILM_PREPROCESSOR = str(SAVEDMODELS / "minilm_l6_h384_uncased" / "preprocessor")


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
