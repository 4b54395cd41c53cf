"""The package's errors: one base, :class:`TfhubLlmError`, under every error tfhub-llm raises.

Catch ``TfhubLlmError`` for anything the package reports about what it was given (a handle, a
file, a row, an argument, a server's answer); ``tfhub-llm`` prints those in one line and exits 2,
while any other exception is a bug and keeps its traceback. Each class also derives from the
built-in error that callers caught before the base existed (``ValueError``, ``FileExistsError``,
...), so ``except ValueError`` keeps working.

The classes here are the ones several modules raise; an error that belongs to one module's job
lives in that module and derives from one of these (``HandleError`` in :mod:`tfhub_llm.hub.handles`,
``UntrustedModelError`` in :mod:`tfhub_llm.hub.security`, ``ServingError`` in
:mod:`tfhub_llm.tf_serving.client`, ...).
"""

import os


class TfhubLlmError(Exception):
    """Base of every error the package raises; the message says what is wrong and what to do."""

    # AutoGraph re-raises an error from traced code as its own type only when the type's __init__ is
    # Exception's (else it becomes a StagingError, which is no ValueError): keep it for every subclass
    # that takes just a message.
    __init__ = Exception.__init__


class InvalidArgumentError(TfhubLlmError, ValueError):
    """An argument value the call cannot work with; the message names the argument and what it takes."""


class InvalidArgumentTypeError(TfhubLlmError, TypeError):
    """An argument of a type the call does not take."""


class TargetExistsError(TfhubLlmError, FileExistsError):
    """A file or folder to write already exists and may not be replaced."""


class MissingFileError(TfhubLlmError, FileNotFoundError):
    """A file or folder the call reads is not there (or is not what it should be, e.g. no saved_model.pb)."""


class InvalidFileError(TfhubLlmError, ValueError):
    """A file that is there but is not what it should be (not a SavedModel protobuf, not a tar archive, ...)."""


class UnsupportedPlatformError(TfhubLlmError, RuntimeError):
    """The machine lacks what an opt-in feature needs (e.g. native bfloat16 instructions)."""


class PackageDataError(TfhubLlmError, RuntimeError):
    """A data file shipped with the package contradicts itself: a broken install or a bad edit."""


class DataError(TfhubLlmError, ValueError):
    """Bad input data; the message names the file, where in it (line or record), and the field."""

    def __init__(self, path, where: str | None, field: str | None, problem: str):
        self.path = os.fspath(path)
        self.where = where
        self.field = field
        self.problem = problem
        parts = [self.path]
        if where:
            parts.append(where)
        if field is not None:
            parts.append(f"field {field!r}")
        super().__init__(": ".join(parts) + ": " + problem)
