"""The caps on what an untrusted model can make this package allocate or read, each settable by environment.

Every cap has a default and one environment variable, named in the error that a model over the cap
raises, so a user with a legitimately large model knows what to raise.

* :func:`load_memory_limit`: the bytes loading and input-independent call-time code may allocate,
  ``$TFHUB_LLM_MEMORY_PER_FILE_BYTE`` (default 4) times the bytes of the model's files (allocated on
  disk, so sparse files do not raise it) plus ``$TFHUB_LLM_MEMORY_FLOOR_MIB`` (default 256).
"""

from __future__ import annotations

import dataclasses
import os

from tfhub_llm.errors import InvalidArgumentError

MEMORY_RATIO_ENV = "TFHUB_LLM_MEMORY_PER_FILE_BYTE"
MEMORY_FLOOR_ENV = "TFHUB_LLM_MEMORY_FLOOR_MIB"
_DEFAULT_MEMORY_RATIO = 4.0
_DEFAULT_MEMORY_FLOOR_MIB = 256.0


def env_number(name: str, default: float) -> float:
    """A positive number from ``$name``, or ``default`` when it is unset or empty."""
    value = os.environ.get(name, "")
    try:
        number = float(value) if value else default
    except ValueError:
        number = -1.0
    if not number > 0:
        raise InvalidArgumentError(f"${name} must be a positive number, got {value!r}")
    return number


@dataclasses.dataclass(frozen=True)
class MemoryLimit:
    """A byte limit and how it was reached, for the error message."""

    bytes: int
    description: str


def load_memory_limit(file_bytes: int) -> MemoryLimit:
    """The memory a model with ``file_bytes`` of files may make loading (or a call, independent of inputs) use."""
    ratio = env_number(MEMORY_RATIO_ENV, _DEFAULT_MEMORY_RATIO)
    floor = env_number(MEMORY_FLOOR_ENV, _DEFAULT_MEMORY_FLOOR_MIB)
    limit = int(ratio * file_bytes + floor * 2**20)
    return MemoryLimit(limit, f"{limit / 2**20:.0f} MiB = {ratio:g} x the model's {file_bytes / 2**20:.1f} MiB of "
                              f"files (${MEMORY_RATIO_ENV}) + {floor:g} MiB (${MEMORY_FLOOR_ENV})")
