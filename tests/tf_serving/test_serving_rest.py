"""TF Serving REST: ServingClient against DevelopmentServer on loopback, with tiny SavedModels."""

import base64
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.harness import SERVED_MODEL_NAME, build_tiny_model, http_json
from tfhub_llm.tf_serving import (
    DevelopmentServer,
    ServerUnreachableError,
    ServingClient,
    ServingError,
    VersionPolicy,
    predict_texts,
)

TEXTS = ["a", "a gripping film", "dull", "ünïcödé ✓"]


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / SERVED_MODEL_NAME
    for version in (1, 2):
        build_tiny_model(str(base / str(version)), scale=float(version))
    (base / "3.tmp-export").mkdir()  # an export in progress: not a version
    return base


@pytest.fixture(scope="module")
def server(base_dir):
    with DevelopmentServer(str(base_dir), policy=VersionPolicy("all")) as running:
        yield running


@pytest.fixture(scope="module")
def reference(base_dir):
    """The exported versions loaded in-process, to compare REST answers against."""
    return {version: tf.saved_model.load(str(base_dir / str(version))) for version in (1, 2)}


def call_in_process(loaded, signature, **inputs):
    return {name: tensor.numpy() for name, tensor in loaded.signatures[signature](
        **{key: tf.constant(value) for key, value in inputs.items()}).items()}


# --- status and metadata ---------------------------------------------------------------------

def test_status_lists_numeric_versions_only(server):
    status = ServingClient(server.url, SERVED_MODEL_NAME).model_status()
    assert [entry["version"] for entry in status["model_version_status"]] == ["2", "1"]
    for entry in status["model_version_status"]:
        assert entry["state"] == "AVAILABLE"
        assert entry["status"] == {"error_code": "OK", "error_message": ""}


def test_status_of_one_version(server):
    status = ServingClient(server.url, SERVED_MODEL_NAME, version=1).model_status()
    assert [entry["version"] for entry in status["model_version_status"]] == ["1"]


def test_metadata_has_tf_serving_shape(server):
    metadata = ServingClient(server.url, SERVED_MODEL_NAME).metadata()
    assert metadata["model_spec"] == {"name": SERVED_MODEL_NAME, "signature_name": "", "version": "2"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "length", "pair"} <= set(signatures)
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["text"]["dtype"] == "DT_STRING"
    assert default["inputs"]["text"]["tensor_shape"]["dim"][0]["size"] == "-1"
    assert default["inputs"]["text"]["name"].endswith(":0")
    probabilities = default["outputs"]["probabilities"]
    assert probabilities["dtype"] == "DT_FLOAT"
    assert [dim["size"] for dim in probabilities["tensor_shape"]["dim"]] == ["-1", "2"]
    assert default["outputs"]["label"]["dtype"] == "DT_INT64"
    assert ServingClient(server.url, SERVED_MODEL_NAME, version=1).metadata()["model_spec"]["version"] == "1"


# --- predict round trips ---------------------------------------------------------------------

def test_row_format_matches_in_process(server, reference):
    predictions = ServingClient(server.url, SERVED_MODEL_NAME).predict(TEXTS)
    expected = call_in_process(reference[2], "serving_default", text=TEXTS)
    assert len(predictions) == len(TEXTS)
    np.testing.assert_array_equal(
        np.array([p["probabilities"] for p in predictions], np.float32), expected["probabilities"])
    assert [p["label"] for p in predictions] == expected["label"].tolist()


def test_columnar_format_matches_in_process(server, reference):
    client = ServingClient(server.url, SERVED_MODEL_NAME)
    expected = call_in_process(reference[2], "serving_default", text=TEXTS)
    for inputs in (TEXTS, {"text": TEXTS}):
        outputs = client.predict_columnar(inputs)
        assert set(outputs) == {"probabilities", "label"}
        np.testing.assert_array_equal(np.array(outputs["probabilities"], np.float32),
                                      expected["probabilities"])
        assert outputs["label"] == expected["label"].tolist()


def test_single_output_signature_gives_plain_values(server, reference):
    client = ServingClient(server.url, SERVED_MODEL_NAME, signature_name="length")
    expected = call_in_process(reference[2], "length", text=TEXTS)["length"].tolist()
    assert client.predict(TEXTS) == expected
    assert client.predict([{"text": text} for text in TEXTS]) == expected
    assert client.predict_columnar(TEXTS) == expected


def test_two_inputs_row_and_columnar_with_b64(server, reference):
    client = ServingClient(server.url, SERVED_MODEL_NAME, signature_name="pair")
    questions = ["café".encode(), b"\xff\x00binary"]  # the second is not UTF-8
    features = [[0.5, 1.0, 2.0], [3.0, 0.0, 0.25]]
    expected = call_in_process(reference[2], "pair", question=questions,
                               features=np.array(features, np.float32))
    rows = client.predict([{"question": q, "features": f} for q, f in zip(questions, features)])
    columns = client.predict_columnar({"question": questions, "features": features})
    assert [row["score"] for row in rows] == columns["score"]
    np.testing.assert_array_equal(np.array(columns["score"], np.float32), expected["score"])
    assert [row["answer"] for row in rows] == columns["answer"]
    assert columns["answer"][0] == expected["answer"][0].decode("utf-8")
    assert base64.b64decode(columns["answer"][1]["b64"]) == expected["answer"][1]
    # Outputs named *_bytes are always base64, as in TF Serving.
    assert [base64.b64decode(item["b64"]) for item in columns["echo_bytes"]] == questions


def test_version_routing(server, reference):
    for version in (1, 2):
        predictions = ServingClient(server.url, SERVED_MODEL_NAME, version=version,
                                    signature_name="pair").predict_columnar(
            {"question": ["q"], "features": [[1.0, 2.0, 3.0]]})
        expected = call_in_process(reference[version], "pair", question=["q"],
                                   features=np.array([[1.0, 2.0, 3.0]], np.float32))
        assert predictions["score"] == pytest.approx(expected["score"].tolist())
    assert (ServingClient(server.url, SERVED_MODEL_NAME, version=1).predict(["abcdef"])
            != ServingClient(server.url, SERVED_MODEL_NAME, version=2).predict(["abcdef"]))


# --- bad requests ----------------------------------------------------------------------------

BAD_PREDICT_BODIES = {
    "malformed JSON": (b'{"instances": ["a"', "not valid JSON"),
    "not an object": (b'["a"]', "JSON object"),
    "neither instances nor inputs": (b'{"signature_name": "length"}', "exactly one of"),
    "both instances and inputs": (b'{"instances": ["a"], "inputs": ["a"]}', "exactly one of"),
    "unknown signature": (b'{"signature_name": "nope", "instances": ["a"]}', "'nope' not found"),
    "empty instances": (b'{"instances": []}', "non-empty list"),
    "instances not a list": (b'{"instances": "a"}', "non-empty list"),
    "number for a string": (b'{"instances": [1, 2]}', "not a valid DT_STRING"),
    "wrong input name": (b'{"instances": [{"txt": "a"}]}', "unknown ['txt']"),
    "wrong columnar name": (b'{"inputs": {"txt": ["a"]}}', "missing ['text']"),
    "mixed instances": (b'{"instances": [{"text": "a"}, "b"]}', "mixes"),
    "wrong shape": (b'{"inputs": {"text": [["a"]]}}', "does not fit"),
    "invalid base64": (b'{"instances": [{"b64": "***"}]}', "invalid base64"),
    "string for a float": (b'{"signature_name": "pair", "inputs": {"question": ["q"], '
                           b'"features": [["x", 1, 2]]}}', "not a valid DT_FLOAT"),
    "ragged floats": (b'{"signature_name": "pair", "inputs": {"question": ["q", "r"], '
                      b'"features": [[1, 2, 3], [1]]}}', "cannot make a DT_FLOAT tensor"),
    "plain values for two inputs": (b'{"signature_name": "pair", "instances": ["q"]}',
                                    "each instance must be an object"),
    "signature raises": (b'{"signature_name": "pair", "inputs": {"question": ["q"], '
                         b'"features": [[-1, 2, 3]]}}', "features must be >= 0"),
}


@pytest.mark.parametrize("case", sorted(BAD_PREDICT_BODIES))
def test_bad_predict_request_gets_400_and_server_keeps_serving(server, case):
    body, fragment = BAD_PREDICT_BODIES[case]
    status, answer = http_json(f"{server.url}/v1/models/{SERVED_MODEL_NAME}:predict", body)
    assert status == 400
    assert fragment in answer["error"]
    assert ServingClient(server.url, SERVED_MODEL_NAME, signature_name="length").predict(["ok"]) == [2]


@pytest.mark.parametrize("path, method, fragment", [
    ("/v1/models/other:predict", "POST", "'other' is not served"),
    (f"/v1/models/{SERVED_MODEL_NAME}/versions/9:predict", "POST", "version 9"),
    (f"/v1/models/{SERVED_MODEL_NAME}/versions/9", "GET", "version 9"),
    (f"/v1/models/{SERVED_MODEL_NAME}/versions/9/metadata", "GET", "version 9"),
    (f"/v1/models/{SERVED_MODEL_NAME}/labels/nope:predict", "POST", "label: nope"),
])
def test_unknown_model_version_or_label_gets_404(server, path, method, fragment):
    body = b'{"instances": ["a"]}' if method == "POST" else None
    status, answer = http_json(server.url + path, body, method)
    assert status == 404
    assert fragment in answer["error"]
    assert ServingClient(server.url, SERVED_MODEL_NAME).model_status()["model_version_status"]


def test_client_raises_serving_error_naming_url_status_and_message(server):
    client = ServingClient(server.url, SERVED_MODEL_NAME, signature_name="nope")
    with pytest.raises(ServingError) as caught:
        client.predict(["a"])
    assert caught.value.status == 400
    assert caught.value.url == f"{server.url}/v1/models/{SERVED_MODEL_NAME}:predict"
    assert "'nope' not found" in caught.value.message
    assert caught.value.url in str(caught.value) and "HTTP 400" in str(caught.value)
    with pytest.raises(ServingError) as caught:
        ServingClient(server.url, "other").model_status()
    assert caught.value.status == 404


def test_unreachable_server_names_the_url():
    url = f"http://127.0.0.1:{free_loopback_port()}"
    with pytest.raises(ServerUnreachableError) as caught:
        ServingClient(url, SERVED_MODEL_NAME, timeout=5).predict(["a"])
    assert caught.value.status is None
    assert f"{url}/v1/models/{SERVED_MODEL_NAME}:predict" in str(caught.value)
    assert "cannot reach" in str(caught.value)


def test_client_rejects_a_url_without_scheme():
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        ServingClient("127.0.0.1:8501", SERVED_MODEL_NAME)


def test_missing_base_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        DevelopmentServer(str(tmp_path / "nowhere"))


# --- command-line helpers --------------------------------------------------------------------

def test_predict_texts_helper(server, reference):
    expected = call_in_process(reference[1], "length", text=TEXTS)["length"].tolist()
    assert predict_texts(server.url, SERVED_MODEL_NAME, TEXTS, version=1, signature="length") == {
        "predictions": expected}
    assert predict_texts(server.url, SERVED_MODEL_NAME, TEXTS, version=1, signature="length",
                         columnar=True) == {"outputs": expected}


class ServeProcess:
    """`serve(base_dir, port=0)` in a child process whose stderr is drained, for the shutdown tests.

    `inherit_sigint_ignored` starts it as a background job of a non-interactive shell would (SIGINT ignored
    on entry). When the child outlives a stop, `thread_stacks()` has it dump every thread's stack (faulthandler
    on SIGUSR1), so the failure says which thread hung.
    """

    def __init__(self, base_dir, inherit_sigint_ignored=False, grace_period=5.0):
        script = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
                  "from tfhub_llm.tf_serving import serve; serve(sys.argv[1], port=0, grace_period=float(sys.argv[2]))")
        ignore_sigint = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if inherit_sigint_ignored else None
        self.process = subprocess.Popen([sys.executable, "-c", script, str(base_dir), str(grace_period)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        preexec_fn=ignore_sigint)
        self._stderr = []
        self._drain = threading.Thread(target=lambda: self._stderr.extend(self.process.stderr), daemon=True)
        self._drain.start()
        first_line = self.process.stdout.readline()
        if f"serving model '{SERVED_MODEL_NAME}'" not in first_line:
            self.close()
            pytest.fail(f"serve did not start: {first_line!r}\n{self.stderr()}")
        self.url = self.process.stdout.readline().split()[0].split("/v1/")[0]

    def stderr(self) -> str:
        return "".join(self._stderr)

    def exit_code_after(self, signum, timeout=60) -> int:
        """Sends `signum`; the exit code, or a failure showing every thread's stack when it does not exit."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(2)
            self.close()
            pytest.fail(f"serve still ran {timeout} s after {signal.Signals(signum).name}; its threads:\n"
                        f"{self.stderr()}")

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._drain.join(timeout=10)


@pytest.mark.parametrize("signum, inherit_sigint_ignored", [
    (signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl_c", "ctrl_c_in_background_job", "sigterm"])
def test_serve_prints_url_answers_and_stops_on_ctrl_c(base_dir, reference, signum, inherit_sigint_ignored):
    served = ServeProcess(base_dir, inherit_sigint_ignored)
    try:
        assert served.url.startswith("http://127.0.0.1:")
        expected = call_in_process(reference[2], "length", text=["four"])["length"].tolist()
        assert predict_texts(served.url, SERVED_MODEL_NAME, ["four"], signature="length")["predictions"] == expected
        assert served.exit_code_after(signum) == 0, served.stderr()
        assert "stopping" in served.stderr()
    finally:
        served.close()


def _stalled_request(url):
    """A POST whose body never comes: a request in flight until the server gives up on it.

    A complete request answered after it proves the server has accepted it (connections are accepted in order).
    """
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.sendall(f"POST /v1/models/{SERVED_MODEL_NAME}:predict HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 1000\r\n\r\n{".encode())
    predict_texts(url, SERVED_MODEL_NAME, ["four"], signature="length")
    return sock


def test_serve_gives_requests_in_flight_a_grace_period_then_exits_0(base_dir):
    served = ServeProcess(base_dir, grace_period=1.0)
    try:
        with _stalled_request(served.url):
            assert served.exit_code_after(signal.SIGINT) == 0, served.stderr()
        assert "1 request(s) unfinished after the 1 s grace period" in served.stderr()
    finally:
        served.close()


def test_serve_quits_at_once_on_a_second_ctrl_c(base_dir):
    served = ServeProcess(base_dir, grace_period=3600.0)
    try:
        with _stalled_request(served.url):
            served.process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 60
            while "stopping" not in served.stderr() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "stopping" in served.stderr()
            assert served.process.poll() is None  # still waiting for the stalled request
            assert served.exit_code_after(signal.SIGINT) == 128 + signal.SIGINT
    finally:
        served.close()
