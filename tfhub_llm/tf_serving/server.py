"""A local development server that answers TF Serving's REST API for one model's versioned exports.

`tfhub-llm serve BASE_DIR` serves the model named by BASE_DIR's last folder, whose versions are BASE_DIR's
subfolders named by digits (others, such as an export in progress, are ignored), so demos and tests exercise
`ServingClient` end to end without a TF Serving install. It behaves as TF Serving does where a client can tell:
versions load in the background and requests see only AVAILABLE ones (:mod:`~tfhub_llm.tf_serving.versions`),
the endpoints, statuses and error bodies are TF Serving's (:mod:`~tfhub_llm.tf_serving.rest_api`), and one
request cannot hold the host (:mod:`~tfhub_llm.tf_serving.limits`, :mod:`~tfhub_llm.tf_serving.http_handler`).

This module owns the server's life: it listens only once the loader's first look at BASE_DIR is done (the latest
good version is AVAILABLE, when there is one), runs at most ``max_workers`` requests at once (further connections
wait in the accept queue), and stops gracefully on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from http.server import ThreadingHTTPServer

from tfhub_llm.errors import InvalidArgumentError, InvalidFileError, TfhubLlmError
from tfhub_llm.tf_serving.http_handler import RestHandler
from tfhub_llm.tf_serving.limits import ServerLimits
from tfhub_llm.tf_serving.versions import DEFAULT_POLL_INTERVAL, ModelVersions, VersionPolicy

DEFAULT_GRACE_PERIOD = 5.0  # seconds the requests in flight get to finish once a stop is asked
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SLOT_WAIT_SECONDS = 0.1  # how often the accept loop, waiting for a free worker, checks for a stop


class _HTTPServer(ThreadingHTTPServer):
    """One thread per request, at most ``limits.max_workers`` at once, counted for a graceful stop."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, model: ModelVersions, limits: ServerLimits, log_requests: bool):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.model = model
        self.limits = limits
        self.log_requests = log_requests
        self._in_flight = 0
        self._stopping = False
        self._idle = threading.Condition()
        super().__init__(address, RestHandler, bind_and_activate=False)
        try:
            self.server_bind()  # the port is taken now; connections are refused until activate()
        except BaseException:
            self.server_close()
            raise

    def activate(self):
        """Starts listening (connections queue from here on)."""
        self.server_activate()

    def process_request(self, request, client_address):
        with self._idle:  # counted before its thread starts, so a stop right after accept waits for it
            while self._in_flight >= self.limits.max_workers:
                if self._stopping:
                    self.shutdown_request(request)
                    return
                self._idle.wait(_SLOT_WAIT_SECONDS)
            self._in_flight += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._finished_one()
            raise

    def shutdown(self):
        with self._idle:
            self._stopping = True
        super().shutdown()

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

    def __init__(self, base_dir: str, host: str = "127.0.0.1", port: int = 0, model_name: str | None = None,
                 log_requests: bool = False, trust: bool = False, *, policy: VersionPolicy = VersionPolicy(),
                 labels: dict[str, int] | None = None, limits: ServerLimits = ServerLimits(),
                 poll_interval: float = DEFAULT_POLL_INTERVAL):
        self.model = ModelVersions(base_dir, model_name, trust, policy, labels, poll_interval)
        self._httpd = _HTTPServer((host, port), self.model, limits, log_requests)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> "DevelopmentServer":
        """Loads what the version policy picks, then listens and serves on a background thread."""
        self._listen()
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name=f"tfhub-llm-serve-{self.model.name}")
        self._thread.start()
        return self

    def _listen(self):
        self.model.start()
        self._httpd.activate()

    def serve_forever(self, grace_period: float = DEFAULT_GRACE_PERIOD, on_ready=None):
        """Loads what the version policy picks, then serves on the calling (main) thread until SIGINT (Ctrl-C) or
        SIGTERM, then stops gracefully.

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

        self._listen()  # before the handlers: Ctrl-C during a long first load interrupts it as the caller chose
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
            self.model.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def stop(self, grace_period: float = DEFAULT_GRACE_PERIOD):
        """Stops accepting, waits up to `grace_period` seconds for the requests in flight, closes the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._httpd.wait_until_idle(grace_period)
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self.model.stop()

    def __enter__(self) -> "DevelopmentServer":
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def serve(base_dir: str, host: str = "127.0.0.1", port: int = 8501, model_name: str | None = None,
          trust: bool = False, grace_period: float = DEFAULT_GRACE_PERIOD, *, policy: VersionPolicy = VersionPolicy(),
          labels: dict[str, int] | None = None, limits: ServerLimits = ServerLimits(),
          poll_interval: float = DEFAULT_POLL_INTERVAL) -> None:
    """For `tfhub-llm serve`: loads (scanned) what the policy picks, prints the URL, serves until Ctrl-C / SIGTERM.

    Raises the load error at once when BASE_DIR has versions and none can be served (e.g. the scan refuses
    them); later, a version that fails is skipped and logged while the others serve on.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C while loading, even if inherited ignored
    server = DevelopmentServer(base_dir, host, port, model_name, log_requests=True, trust=trust, policy=policy,
                               labels=labels, limits=limits, poll_interval=poll_interval)
    model = server.model
    try:
        model.start()
        failures = model.load_failures()
        if failures and not model.available_versions():  # a start over nothing servable: say why at once
            raise failures[0] if isinstance(failures[0], TfhubLlmError) else InvalidFileError(str(failures[0]))
    except BaseException:
        server.stop(grace_period=0)
        raise

    def on_ready():
        versions = model.available_versions()
        if not versions:
            print(f"no servable version in {model.base_dir} yet: predict answers 503 until one is loaded",
                  file=sys.stderr, flush=True)
        print(f"serving model '{model.name}' (AVAILABLE versions {versions}) from {model.base_dir}\n"
              f"  {server.url}/v1/models/{model.name}\n"
              f"  POST {server.url}/v1/models/{model.name}:predict\n"
              "press Ctrl-C to stop", flush=True)

    server.serve_forever(grace_period, on_ready=on_ready)
