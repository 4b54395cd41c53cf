"""DevelopmentServer's request limits and TF Serving's statuses: one bad request fails alone, the server stays up."""

import json
import socket
import threading
import time

import pytest
import tensorflow as tf

from tests.harness import SERVED_MODEL_NAME, build_tiny_model
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.tf_serving import DevelopmentServer, ServerLimits, ServingClient, VersionPolicy

LIMITS = ServerLimits(max_body_bytes=4096, read_timeout=2.0, max_batch_size=3, max_workers=3, request_deadline=2.0)
PREDICT = f"/v1/models/{SERVED_MODEL_NAME}:predict"


class Spinner(tf.Module):
    """A signature that loops `n` times: n = 2**62 never ends (a model whose call outlives any deadline)."""

    @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="n")])
    def spin(self, n):
        count = tf.while_loop(lambda i: i < n, lambda i: i + 1, [tf.constant(0, tf.int64)])[0]
        return {"count": count}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / SERVED_MODEL_NAME
    build_tiny_model(str(base / "1"), scale=1.0)
    spinner = Spinner()
    tf.saved_model.save(spinner, str(base / "2"), signatures={"serving_default": spinner.spin})
    with DevelopmentServer(str(base), limits=LIMITS, policy=VersionPolicy("all")) as running:
        yield running


def connect(server) -> socket.socket:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=60)


def read_answer(sock) -> tuple[int, dict, str]:
    """(status, JSON body, raw head) of the answer on `sock`, read to its end."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    head = head.decode("latin-1")
    return int(head.split()[1]), json.loads(body) if body else None, head


def exchange(server, raw: bytes) -> tuple[int, dict, str]:
    with connect(server) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def request(method, path, body=b"", headers=""):
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\n\r\n").encode() + body


def assert_serving(server):
    assert ServingClient(server.url, SERVED_MODEL_NAME, version=1, signature_name="length").predict(["abc"]) == [3]


@pytest.mark.parametrize("path", [PREDICT, "/v2/unrouted"])
def test_oversized_content_length_gets_413_unread(server, path):
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n".encode()
    status, answer, _ = exchange(server, head + b'{"instances": [')
    if path == PREDICT:
        assert status == 413 and "Content-Length 10000000000 exceeds the limit of 4096 bytes" in answer["error"]
    else:  # an unrouted path is answered before its body would be read
        assert status == 400 and answer["error"].startswith("Malformed request: POST /v2/unrouted")
    assert_serving(server)


def test_a_content_length_of_non_ascii_digits_gets_411(server):
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: \u00b2\r\n\r\n".encode("latin-1")  # '²'
    status, answer, _ = exchange(server, head)
    assert status == 411 and "Content-Length" in answer["error"]
    assert_serving(server)


def test_trickling_client_gets_408_and_does_not_hold_the_server(server):
    with connect(server) as sock:
        sock.sendall(request("POST", PREDICT, b'{"instances": ["a"]}')[:-10])
        started = time.monotonic()
        for byte in b'{"instanc':  # a byte every 0.5 s: each read is quick, the request never completes in time
            assert_serving(server)
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server answered and closed: what the test waits for
                break
            time.sleep(0.5)
        status, answer, _ = read_answer(sock)
    assert status == 408 and "not received within 2 s" in answer["error"]
    assert time.monotonic() - started < 30
    assert_serving(server)


def test_silent_client_gets_408_for_its_headers(server):
    with connect(server) as sock:
        sock.sendall(b"GET /v1/models/")
        status, answer, _ = read_answer(sock)
    assert status == 408 and "Request Timeout" in answer["error"]


def test_worker_pool_is_bounded_further_connections_wait(server):
    limits = ServerLimits(read_timeout=600, max_workers=2)  # stalled clients hold their workers for the whole test
    with DevelopmentServer(server.model.base_dir, limits=limits, policy=VersionPolicy("all")) as bounded:
        stalled = [connect(bounded) for _ in range(limits.max_workers)]
        for sock in stalled:
            sock.sendall(b"GET /v1/models/")
        answered = threading.Event()
        waiting = threading.Thread(target=lambda: (assert_serving(bounded), answered.set()))
        try:
            time.sleep(0.5)
            waiting.start()
            assert not answered.wait(1.0)  # every worker taken: the request waits in the accept queue
        finally:
            stalled.pop().close()  # one worker freed
        waiting.join(60)
        assert answered.is_set()
        for sock in stalled:
            sock.close()


@pytest.mark.parametrize("method, path, status, fragment", [
    ("GET", PREDICT, 400, f"Malformed request: GET {PREDICT}"),
    ("PUT", f"/v1/models/{SERVED_MODEL_NAME}", 400, "Malformed request: PUT"),
    ("DELETE", f"/v1/models/{SERVED_MODEL_NAME}", 400, "Malformed request: DELETE"),
    ("OPTIONS", "*", 400, "Malformed request: OPTIONS *"),
    ("GET", "/v2/anything", 400, "Malformed request: GET /v2/anything"),
    ("GET", f"/v1/models/{SERVED_MODEL_NAME}/versions/²", 400, "Malformed request"),
    ("BREW", "/", 501, "Unsupported method"),
])
def test_other_requests_get_tf_serving_statuses_as_json(server, method, path, status, fragment):
    got, answer, head = exchange(server, request(method, path))
    assert got == status and fragment in answer["error"]
    assert "Content-Type: application/json" in head
    assert_serving(server)


def test_head_gets_json_headers_and_no_body(server):
    status, answer, head = exchange(server, request("HEAD", f"/v1/models/{SERVED_MODEL_NAME}"))
    assert (status, answer) == (400, None) and "Content-Type: application/json" in head


def test_garbage_request_line_gets_json_400(server):
    status, answer, _ = exchange(server, b"\x00\x01 nonsense\r\n\r\n")
    assert status == 400 and answer["error"]


@pytest.mark.parametrize("action, kind", [("classify", "classification"), ("regress", "regression")])
def test_classify_and_regress_on_a_predict_signature(server, action, kind):
    body = b'{"examples": [{"text": "a"}]}'
    status, answer, _ = exchange(server, request("POST", f"/v1/models/{SERVED_MODEL_NAME}/versions/1:{action}", body))
    assert status == 400
    assert answer["error"] == (f"Expected {kind} signature method_name to be tensorflow/serving/{action}. "
                               "Was: tensorflow/serving/predict")


def test_chunked_upload_is_refused_with_411(server):
    raw = (f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           '14\r\n{"instances": ["a"]}\r\n0\r\n\r\n').encode()
    status, answer, _ = exchange(server, raw)
    assert status == 411 and "Transfer-Encoding" in answer["error"]
    assert_serving(server)


@pytest.mark.parametrize("body", [b'{"instances": ["a", "b", "c", "d"]}', b'{"inputs": {"text": ["a", "b", "c", "d"]}}'])
def test_batch_above_the_cap_gets_400(server, body):
    status, answer, _ = exchange(server, request("POST", f"/v1/models/{SERVED_MODEL_NAME}/versions/1:predict", body))
    assert status == 400 and "Task size 4 is larger than the maximum batch size 3" in answer["error"]
    assert ServingClient(server.url, SERVED_MODEL_NAME, version=1, signature_name="length").predict(
        ["a", "b", "c"]) == [1, 1, 1]


@pytest.mark.slow
def test_model_call_past_the_deadline_is_cancelled_504_and_the_worker_is_freed(server):
    spinner = ServingClient(server.url, SERVED_MODEL_NAME, version=2)
    assert spinner.predict_columnar(5) == 5
    for _ in range(LIMITS.max_workers + 1):  # more than the pool: each call really ended, or the last would wait
        status, answer, _ = exchange(server, request("POST", f"/v1/models/{SERVED_MODEL_NAME}/versions/2:predict",
                                                     json.dumps({"inputs": 2 ** 62}).encode()))
        assert status == 504 and "Deadline exceeded" in answer["error"]
    assert_serving(server)


@pytest.mark.parametrize("field", ["max_body_bytes", "read_timeout", "max_batch_size", "max_workers",
                                   "request_deadline"])
def test_limits_must_be_positive(field):
    with pytest.raises(InvalidArgumentError, match=f"{field}=0"):
        ServerLimits(**{field: 0})
