"""A client for TF Serving's REST API (predict, model status, model metadata), stdlib only.

It speaks exactly the protocol of the tensorflow/serving model server, so the same code talks to a
production server and to `tfhub_llm.tf_serving.server.DevelopmentServer`:

    POST /v1/models/NAME[/versions/N]:predict   {"instances": [...]} or {"inputs": {...}}
    GET  /v1/models/NAME[/versions/N]           model status
    GET  /v1/models/NAME[/versions/N]/metadata  signature definitions

Python `bytes` values are sent as `{"b64": ...}`; numpy arrays and scalars are sent as lists and
numbers. A server's `{"error": ...}` answer raises `ServingError` naming the URL, status and
message.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

from tfhub_llm.errors import InvalidArgumentError, TfhubLlmError


class ServingError(TfhubLlmError, RuntimeError):
    """A request to a model server failed; `status` is the HTTP status (None if no answer)."""

    def __init__(self, url: str, status: int | None, message: str):
        self.url = url
        self.status = status
        self.message = message
        where = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{url}: {where}: {message}")


class ServerUnreachableError(ServingError):
    """No HTTP answer at all: the server is down, the address is wrong or it timed out."""

    def __init__(self, url: str, reason: str):
        super().__init__(url, None, f"cannot reach the model server ({reason}); is it running?")


def to_json_value(value):
    """Returns `value` in TF Serving's JSON encoding: bytes as {"b64": ...}, numpy as lists."""
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(item) for item in value]
    if hasattr(value, "tolist"):  # numpy arrays and numpy scalars
        return to_json_value(value.tolist())
    return value


class ServingClient:
    """Calls one model (and optionally one version and signature) on a TF Serving REST endpoint.

    Args:
        server_url: e.g. "http://127.0.0.1:8501".
        model_name: the model's name on the server (its base directory's last folder).
        version: a specific version number; None means the server's latest.
        label: a version label (TF Serving's ``/labels/LABEL``), instead of a version number.
        signature_name: the SignatureDef to call; None means "serving_default".
        timeout: seconds to wait for each answer.

    Example:
        client = ServingClient("http://127.0.0.1:8501", "sst2")
        client.predict(["a gripping film", "dull"])           # row format
        client.predict_columnar({"text": ["a gripping film"]})  # columnar format
    """

    def __init__(self, server_url: str, model_name: str, version: int | None = None,
                 signature_name: str | None = None, timeout: float = 30, label: str | None = None):
        parsed = urllib.parse.urlsplit(server_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidArgumentError(f"server URL {server_url!r} must look like http://HOST:PORT")
        if not model_name:
            raise InvalidArgumentError("model_name must not be empty")
        if version is not None and label is not None:
            raise InvalidArgumentError(f"give a version ({version}) or a label ({label!r}), not both")
        self.server_url = server_url.rstrip("/")
        self.model_name = model_name
        self.version = None if version is None else int(version)
        self.label = label
        self.signature_name = signature_name
        self.timeout = timeout

    @property
    def model_url(self) -> str:
        """The model's (or version's) base URL, to which ':predict' and '/metadata' are added."""
        url = f"{self.server_url}/v1/models/{urllib.parse.quote(self.model_name, safe='')}"
        if self.version is not None:
            url += f"/versions/{self.version}"
        elif self.label is not None:
            url += f"/labels/{urllib.parse.quote(self.label, safe='')}"
        return url

    def predict(self, instances: list) -> list:
        """Row format: one item per example (a value, or a dict of named inputs); returns the
        "predictions" list (values for a single-output signature, dicts for several outputs)."""
        return self._predict({"instances": instances})["predictions"]

    def predict_columnar(self, inputs):
        """Columnar format: a value (single input) or a dict of named input tensors; returns the
        "outputs" value (a value for a single-output signature, a dict for several outputs)."""
        return self._predict({"inputs": inputs})["outputs"]

    def model_status(self) -> dict:
        """GET the model status: {"model_version_status": [{"version", "state", "status"}, ...]}."""
        return self._request(self.model_url)

    def metadata(self) -> dict:
        """GET the model metadata: {"model_spec": ..., "metadata": {"signature_def": ...}}."""
        return self._request(self.model_url + "/metadata")

    def _predict(self, body: dict) -> dict:
        if self.signature_name is not None:
            body = {"signature_name": self.signature_name, **body}
        return self._request(self.model_url + ":predict", to_json_value(body))

    def _request(self, url: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method="GET" if data is None else "POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _parse_answer(url, response.status, response.read())
        except urllib.error.HTTPError as error:
            with error:
                answer = _parse_answer(url, error.code, error.read())
            raise ServingError(url, error.code, answer.get("error", json.dumps(answer))) from None
        except urllib.error.URLError as error:
            raise ServerUnreachableError(url, str(error.reason)) from None
        except TimeoutError:
            raise ServerUnreachableError(url, f"no answer within {self.timeout} s") from None
        except ConnectionError as error:
            raise ServerUnreachableError(url, str(error)) from None


def _parse_answer(url: str, status: int, raw: bytes) -> dict:
    """The JSON object of an answer; a non-JSON answer becomes a ServingError quoting its start."""
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ServingError(url, status, f"answer is not JSON: {raw[:200]!r}") from None
    if not isinstance(answer, dict):
        raise ServingError(url, status, f"answer is not a JSON object: {raw[:200]!r}")
    if status < 400 and "error" in answer:
        raise ServingError(url, status, str(answer["error"]))
    return answer


def predict_texts(server: str, model: str, texts: list[str], version: int | None = None,
                  signature: str | None = None, columnar: bool = False,
                  timeout: float = 30) -> dict:
    """For `tfhub-llm predict`: sends `texts` to a single-string-input signature and returns the
    server's parsed JSON answer ({"predictions": [...]} or, with columnar, {"outputs": ...})."""
    client = ServingClient(server, model, version=version, signature_name=signature,
                           timeout=timeout)
    if columnar:
        return {"outputs": client.predict_columnar(list(texts))}
    return {"predictions": client.predict(list(texts))}
