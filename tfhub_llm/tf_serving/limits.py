"""The development server's request limits, and the socket reader that enforces its read deadline.

One request must not hold the host: its body is capped (checked from Content-Length before a byte is read),
reading its headers and body has one total deadline (a client trickling a byte at a time cannot hold a worker),
its batch is capped, at most ``max_workers`` requests run at once, and its model call runs under a deadline that
TensorFlow enforces (``RunOptions.timeout_in_ms``, which cancels the step, endless loops included).
"""

from __future__ import annotations

import dataclasses
import io
import socket
import time

from tfhub_llm.errors import InvalidArgumentError


@dataclasses.dataclass(frozen=True)
class ServerLimits:
    """What one request may take; every field has a sane default and a ``tfhub-llm serve`` flag."""

    # A request body above it: 413, unread. Parsed JSON takes 9-15x its text (measured: 8 MiB of floats, 72 MiB;
    # of short strings, 121 MiB), so 8 MiB (thousands of texts) and 8 workers bound requests to about 1 GiB.
    max_body_bytes: int = 8 * 1024 * 1024
    read_timeout: float = 30.0  # seconds to receive a request's headers and body: 408 after
    max_batch_size: int = 1024  # instances (or the first dimension of "inputs") per request: 400 above
    max_workers: int = 8  # requests handled at once; further connections wait in the accept queue
    request_deadline: float = 60.0  # seconds a model call may run: 504 (TF Serving's DEADLINE_EXCEEDED) after

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if not getattr(self, field.name) > 0:
                raise InvalidArgumentError(f"server limit {field.name}={getattr(self, field.name)}: must be > 0")


class ReadDeadlineExceeded(Exception):
    """The client did not send its request within the read deadline (answered with 408)."""


class DeadlineSocketReader(io.RawIOBase):
    """A socket's input that raises :class:`ReadDeadlineExceeded` once `deadline` (time.monotonic()) has passed.

    Each receive waits at most the time left, so the deadline bounds the whole request, not each read.
    """

    def __init__(self, sock: socket.socket, deadline: float):
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise ReadDeadlineExceeded()
        self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            raise ReadDeadlineExceeded() from None
