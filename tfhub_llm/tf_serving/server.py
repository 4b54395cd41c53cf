"""A local development server that answers TF Serving's REST API for one model's versioned exports.

`tfhub-llm serve BASE_DIR` serves the model named by BASE_DIR's last folder, whose versions are
BASE_DIR's numeric subdirectories (others, such as an export in progress, are ignored), so demos
and tests exercise `ServingClient` end to end without a TF Serving install:

    GET  /v1/models/NAME[/versions/N]           model status (every version on disk)
    GET  /v1/models/NAME[/versions/N]/metadata  SignatureDefs, as TF Serving renders them
    POST /v1/models/NAME[/versions/N]:predict   row ("instances") or columnar ("inputs") format

The directory is listed again on every request (TF Serving polls it every second), so a version
that appears later is served; unlike TF Serving's default policy (latest only), every version
stays reachable by number. Each version is loaded once, with `tf.saved_model.load`. Bad requests
get status 400 (404 for unknown model or version paths) and `{"error": "..."}`; a version that
cannot be loaded gets 500; the server keeps serving.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the TF Text ops that the package's exports use)
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from tfhub_llm.errors import InvalidArgumentError, InvalidFileError, MissingFileError, TfhubLlmError
from tfhub_llm.hub import security
from tfhub_llm.interface import SERVING_SIGNATURE
from tfhub_llm.tf_serving.rest_json import RequestError, columnar_inputs, row_inputs, to_json

DEFAULT_GRACE_PERIOD = 5.0  # seconds the requests in flight get to finish once a stop is asked
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_ROUTE = re.compile(
    r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<action>/metadata|:predict)?$")


class ModelLoadError(TfhubLlmError, RuntimeError):
    """A version directory that tf.saved_model.load cannot load (answered with status 500)."""


# --- versions on disk ------------------------------------------------------------------------

class LoadedVersion:
    """One loaded SavedModel version (scanned first unless ``trust``): its signatures and SignatureDef protos."""

    def __init__(self, version: int, path: str, trust: bool = False):
        self.version = version
        self.path = path
        # Loading restores the variables and initializes the tables; serving reads no file afterwards.
        with security.scanned_for_load(path, trust=trust) as load_dir:
            self.model = tf.saved_model.load(load_dir)
            self.signature_defs = _read_signature_defs(load_dir)
        self.signatures = dict(self.model.signatures)


def _read_signature_defs(path: str):
    """The SignatureDef map of `path/saved_model.pb`'s "serve" MetaGraph, as TF Serving sees it."""
    for meta_graph in security.read_saved_model(path).meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph.signature_def
    raise InvalidFileError(f"{path}/saved_model.pb has no MetaGraph tagged 'serve'")


class VersionedModel:
    """A model name and base directory: finds numeric versions, loads each once, thread-safely."""

    def __init__(self, base_dir: str, name: str | None = None, trust: bool = False):
        self.base_dir = os.path.abspath(base_dir)
        self.trust = trust
        if not os.path.isdir(self.base_dir):
            raise MissingFileError(f"model base directory {self.base_dir} does not exist")
        self.name = name or os.path.basename(self.base_dir.rstrip(os.sep))
        self._loaded: dict[int, LoadedVersion] = {}
        self._lock = threading.Lock()

    def versions_on_disk(self) -> list[int]:
        """Numeric subdirectories of the base directory, highest first."""
        return sorted((int(entry) for entry in os.listdir(self.base_dir)
                       if entry.isdigit() and os.path.isdir(os.path.join(self.base_dir, entry))),
                      reverse=True)

    def resolve(self, model_name: str, version: int | None) -> list[int]:
        """The requested version (all versions when None); 404 for an unknown model or version."""
        if model_name != self.name:
            raise RequestError(404, f"model '{model_name}' is not served here; "
                                    f"this server serves '{self.name}' from {self.base_dir}")
        on_disk = self.versions_on_disk()
        if not on_disk:
            raise RequestError(404, f"model '{self.name}' has no numeric version directory in "
                                    f"{self.base_dir} yet")
        if version is None:
            return on_disk
        if version not in on_disk:
            raise RequestError(404, f"version {version} of model '{self.name}' not found; "
                                    f"versions on disk: {on_disk}")
        return [version]

    def load(self, version: int) -> LoadedVersion:
        """The loaded version, loading it on first use (once, under a lock)."""
        loaded = self._loaded.get(version)
        if loaded is not None:
            return loaded
        with self._lock:
            if version not in self._loaded:
                path = os.path.join(self.base_dir, str(version))
                try:
                    self._loaded[version] = LoadedVersion(version, path, self.trust)
                except Exception as error:  # noqa: BLE001  (any load failure is reported as such)
                    raise ModelLoadError(f"cannot load version {version} of model "
                                         f"'{self.name}' from {path}: {error}") from error
            return self._loaded[version]


def predict(loaded: LoadedVersion, body) -> dict:
    """Answers a predict request body (parsed JSON) with TF Serving's response shape."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    signature_name = body.get("signature_name", SERVING_SIGNATURE)
    signature = loaded.signatures.get(signature_name)
    if signature is None:
        raise RequestError(400, f"signature '{signature_name}' not found in version "
                                f"{loaded.version}; it has {sorted(loaded.signatures)}")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError(400, "the request must have exactly one of 'instances' (row format) "
                                "or 'inputs' (columnar format)")
    specs = signature.structured_input_signature[1]
    if "instances" in body:
        tensors, batch_size = row_inputs(body["instances"], specs)
    else:
        tensors, batch_size = columnar_inputs(body["inputs"], specs), None
    try:
        outputs = signature(**tensors)
    except (tf.errors.OpError, TypeError, ValueError) as error:
        message = error.message if isinstance(error, tf.errors.OpError) else str(error)
        raise RequestError(400, f"signature '{signature_name}' failed: {message}") from None
    encoded = {name: to_json(tensor, name) for name, tensor in outputs.items()}
    if batch_size is None:
        return {"outputs": next(iter(encoded.values())) if len(encoded) == 1 else encoded}
    for name, tensor in outputs.items():
        if tensor.shape.rank == 0 or tensor.shape[0] != batch_size:
            raise RequestError(400, f"output '{name}' has shape {tensor.shape.as_list()}, not "
                                    f"[{batch_size}, ...]: use the columnar format ('inputs')")
    if len(encoded) == 1:
        return {"predictions": next(iter(encoded.values()))}
    return {"predictions": [{name: values[index] for name, values in encoded.items()}
                            for index in range(batch_size)]}


# --- status and metadata ---------------------------------------------------------------------

def model_status(model: VersionedModel, versions: list[int]) -> dict:
    """GetModelStatusResponse as JSON; each version is loaded so its state is the real one."""
    statuses = []
    for version in versions:
        try:
            model.load(version)
            state, code, message = "AVAILABLE", "OK", ""
        except ModelLoadError as error:
            state, code, message = "END", "UNKNOWN", str(error)
        statuses.append({"version": str(version), "state": state,
                         "status": {"error_code": code, "error_message": message}})
    return {"model_version_status": statuses}


def model_metadata(model: VersionedModel, loaded: LoadedVersion) -> dict:
    """GetModelMetadataResponse as TF Serving renders it: model_spec plus the SignatureDef map."""
    signature_map = get_model_metadata_pb2.SignatureDefMap(signature_def=loaded.signature_defs)
    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(loaded.version)},
        "metadata": {"signature_def": json_format.MessageToDict(
            signature_map, preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True)},
    }


# --- HTTP ------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    """Routes the three TF Serving endpoints; every answer is JSON."""

    server_version = "tfhub-llm-dev-server"

    def do_GET(self):  # noqa: N802  (http.server's naming)
        self._answer("GET")

    def do_POST(self):  # noqa: N802
        self._answer("POST")

    def _answer(self, method: str):
        try:
            status, body = 200, self._route(method)
        except RequestError as error:
            status, body = error.status, {"error": error.message}
        except ModelLoadError as error:
            status, body = 500, {"error": str(error)}
        except Exception as error:  # noqa: BLE001  (a bug must not stop the server)
            status, body = 500, {"error": f"internal error: {type(error).__name__}: {error}"}
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _route(self, method: str) -> dict:
        match = _ROUTE.match(self.path.split("?", 1)[0])
        action = match and (match["action"] or "")
        if match is None or (method, action) not in {("GET", ""), ("GET", "/metadata"),
                                                     ("POST", ":predict")}:
            if method == "POST":
                self._read_body()  # drain it so the client reads our answer, not a reset
            raise RequestError(404, f"malformed request: {method} {self.path} (served: GET "
                                    "/v1/models/NAME[/versions/N][/metadata], POST "
                                    "/v1/models/NAME[/versions/N]:predict)")
        model = self.server.model
        version = None if match["version"] is None else int(match["version"])
        versions = model.resolve(urllib.parse.unquote(match["model"]), version)
        if action == "":
            return model_status(model, versions)
        loaded = model.load(versions[0])
        if action == "/metadata":
            return model_metadata(model, loaded)
        try:
            body = json.loads(self._read_body())
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RequestError(400, f"the request body is not valid JSON: {error}") from None
        return predict(loaded, body)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestError(400, "a POST needs a Content-Length header")
        return self.rfile.read(int(length))

    def log_message(self, format, *args):  # noqa: A002  (http.server's signature)
        if self.server.log_requests:
            super().log_message(format, *args)


class _HTTPServer(ThreadingHTTPServer):
    """One thread per request (daemon threads), counting the requests in flight for a graceful stop."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, model: VersionedModel, log_requests: bool):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.model = model
        self.log_requests = log_requests
        self._in_flight = 0
        self._idle = threading.Condition()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        with self._idle:  # counted before its thread starts, so a stop right after accept waits for it
            self._in_flight += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._finished_one()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._finished_one()

    def _finished_one(self):
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_until_idle(self, timeout: float) -> int:
        """Waits up to `timeout` seconds for the requests in flight; returns how many are still running."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout)
            return self._in_flight


class DevelopmentServer:
    """TF Serving's REST API for BASE_DIR's versions, on a background thread (port 0: any free one).

    Example:
        with DevelopmentServer("exports/sst2") as server:
            ServingClient(server.url, "sst2").predict(["great"])
    """

    def __init__(self, base_dir: str, host: str = "127.0.0.1", port: int = 0,
                 model_name: str | None = None, log_requests: bool = False, trust: bool = False):
        self.model = VersionedModel(base_dir, model_name, trust)
        self._httpd = _HTTPServer((host, port), self.model, log_requests)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> "DevelopmentServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name=f"tfhub-llm-serve-{self.model.name}")
        self._thread.start()
        return self

    def serve_forever(self, grace_period: float = DEFAULT_GRACE_PERIOD, on_ready=None):
        """Serves on the calling (main) thread until SIGINT (Ctrl-C) or SIGTERM, then stops gracefully.

        The first signal stops accepting connections and gives the requests in flight up to `grace_period`
        seconds; a second signal ends the process at once (exit status 128 + the signal's number). The
        handlers are installed whatever the process inherited (a server started from a background job,
        where SIGINT arrives ignored, still stops on Ctrl-C), before `on_ready()` is called (e.g. to print
        the URL: a signal sent as soon as it is printed is handled), and restored on return.
        """
        if threading.current_thread() is not threading.main_thread():
            raise InvalidArgumentError("DevelopmentServer.serve_forever() handles Ctrl-C, so it runs on the main "
                                       "thread; on another thread use start() / stop()")
        stopping = threading.Event()

        def on_signal(signum, _frame):
            if stopping.is_set():
                os._exit(128 + signum)
            stopping.set()
            print(f"{signal.Signals(signum).name}: stopping (again to quit at once)", file=sys.stderr, flush=True)
            # shutdown() waits for the serving loop, which runs on this very thread: ask from another one.
            threading.Thread(target=self._httpd.shutdown, name="tfhub-llm-serve-shutdown", daemon=True).start()

        previous = {signum: signal.signal(signum, on_signal) for signum in _STOP_SIGNALS}
        try:
            if on_ready is not None:
                on_ready()
            self._httpd.serve_forever()  # returns at once when a signal came before it started
            unfinished = self._httpd.wait_until_idle(grace_period)
            if unfinished:
                print(f"stopped with {unfinished} request(s) unfinished after the {grace_period:g} s grace period",
                      file=sys.stderr, flush=True)
        finally:
            self._httpd.server_close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def stop(self, grace_period: float = DEFAULT_GRACE_PERIOD):
        """Stops accepting, waits up to `grace_period` seconds for the requests in flight, closes the socket."""
        self._httpd.shutdown()
        self._httpd.wait_until_idle(grace_period)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> "DevelopmentServer":
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def serve(base_dir: str, host: str = "127.0.0.1", port: int = 8501, model_name: str | None = None,
          trust: bool = False, grace_period: float = DEFAULT_GRACE_PERIOD) -> None:
    """For `tfhub-llm serve`: scans and loads the latest version, prints the URL, serves until Ctrl-C / SIGTERM."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C while loading, even if inherited ignored
    server = DevelopmentServer(base_dir, host, port, model_name, log_requests=True, trust=trust)
    model = server.model
    versions = model.versions_on_disk()
    if versions:
        model.load(versions[0])  # scanned there, before anything of it runs
    else:
        print(f"no numeric version directory in {model.base_dir} yet; waiting for one",
              file=sys.stderr)
    server.serve_forever(grace_period, on_ready=lambda: print(
        f"serving model '{model.name}' (versions {versions}) from {model.base_dir}\n"
        f"  {server.url}/v1/models/{model.name}\n"
        f"  POST {server.url}/v1/models/{model.name}:predict\n"
        "press Ctrl-C to stop", flush=True))
