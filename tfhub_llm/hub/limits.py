"""The caps on what an untrusted model can make this package allocate or read, each settable by environment.

Every cap has a default and one environment variable, named in the error that a model over the cap
raises, so a user with a legitimately large model knows what to raise.

* :func:`load_memory_limit`: the bytes loading and input-independent call-time code may allocate,
  ``$TFHUB_LLM_MEMORY_PER_FILE_BYTE`` (default 4) times the bytes of the model's files (allocated on
  disk, so sparse files do not raise it) plus ``$TFHUB_LLM_MEMORY_FLOOR_MIB`` (default 256).
* :func:`check_config_sizes`: sequence lengths (``$TFHUB_LLM_MAX_SEQ_LENGTH``, default 8192) and other
  size fields of a ``.keras`` config, checked before the layer is built.
* :func:`max_total_asset_bytes`: all of a model's assets, ``$TFHUB_LLM_MAX_ASSET_MIB`` (default 1024).
* :func:`download_deadline`: a whole download, ``$TFHUB_LLM_DOWNLOAD_DEADLINE`` seconds (default 3600),
  on top of the per-read timeout; a ``.sha256`` sidecar is read up to ``MAX_SIDECAR_BYTES``.
* warmup requests: at most ``MAX_WARMUP_REQUESTS`` records in a file of at most ``MAX_WARMUP_FILE_BYTES``,
  each tensor at most ``MAX_WARMUP_TENSOR_BYTES`` as declared.
"""

from __future__ import annotations

import dataclasses
import os

from tfhub_llm.errors import InvalidArgumentError, InvalidFileError

MEMORY_RATIO_ENV = "TFHUB_LLM_MEMORY_PER_FILE_BYTE"
MEMORY_FLOOR_ENV = "TFHUB_LLM_MEMORY_FLOOR_MIB"
_DEFAULT_MEMORY_RATIO = 4.0
_DEFAULT_MEMORY_FLOOR_MIB = 256.0


def _env_number(name: str, default: float) -> float:
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
    ratio = _env_number(MEMORY_RATIO_ENV, _DEFAULT_MEMORY_RATIO)
    floor = _env_number(MEMORY_FLOOR_ENV, _DEFAULT_MEMORY_FLOOR_MIB)
    limit = int(ratio * file_bytes + floor * 2**20)
    return MemoryLimit(limit, f"{limit / 2**20:.0f} MiB = {ratio:g} x the model's {file_bytes / 2**20:.1f} MiB of "
                              f"files (${MEMORY_RATIO_ENV}) + {floor:g} MiB (${MEMORY_FLOOR_ENV})")


# ---------------------------------------------------------------- values read outside the graph

MAX_SEQ_LENGTH_ENV = "TFHUB_LLM_MAX_SEQ_LENGTH"
MAX_TOTAL_ASSET_MIB_ENV = "TFHUB_LLM_MAX_ASSET_MIB"
DOWNLOAD_DEADLINE_ENV = "TFHUB_LLM_DOWNLOAD_DEADLINE"
MAX_SIDECAR_BYTES = 4096  # a sha256sum line: 64 hex digits, two spaces, a file name
MAX_WARMUP_REQUESTS = 1000  # TF Serving replays at most this many warmup records
MAX_WARMUP_FILE_BYTES = 64 << 20
MAX_WARMUP_TENSOR_BYTES = 16 << 20
# Integer fields of a saved layer, task or encoder config that size what building it allocates; sequence
# lengths follow $TFHUB_LLM_MAX_SEQ_LENGTH, the others have fixed caps far above any real model.
_SEQUENCE_FIELDS = ("seq_length", "max_seq_length", "max_query_length", "max_answer_length", "doc_stride",
                    "max_position_embeddings", "max_sequence_length")
_SIZE_FIELDS = {"num_classes": 1 << 16, "micro_batches": 1 << 10, "n_best_size": 1 << 10, "vocab_size": 1 << 21,
                "hidden_size": 1 << 14, "intermediate_size": 1 << 16, "num_layers": 1 << 8, "num_heads": 1 << 8,
                "num_attention_heads": 1 << 8, "embedding_size": 1 << 14, "type_vocab_size": 1 << 10}


def check_config_sizes(config, source: str) -> None:
    """Refuse a config read from a file whose size fields (at any depth) exceed their caps, before anything is built."""
    max_seq_length = int(_env_number(MAX_SEQ_LENGTH_ENV, 8192))
    todo = [("", config)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, dict):
            todo.extend((f"{path}.{key}" if path else str(key), item) for key, item in value.items())
            continue
        if isinstance(value, (list, tuple)):
            todo.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
            continue
        field = path.rsplit(".", 1)[-1]
        cap, how = ((max_seq_length, f"${MAX_SEQ_LENGTH_ENV}") if field in _SEQUENCE_FIELDS
                    else (_SIZE_FIELDS.get(field), "the cap"))
        if cap is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value > cap:
            raise InvalidFileError(f"{source}: config field {path!r} is {value}, above {how} of {cap}; "
                                   "refusing to build what it sizes")


def max_total_asset_bytes() -> int:
    """The bytes a model's assets may hold in all, counted both apparent and allocated (sparse files count)."""
    return int(_env_number(MAX_TOTAL_ASSET_MIB_ENV, 1024) * 2**20)


def download_deadline() -> float:
    """Seconds a whole download (archive and checksum) may take, however steadily data trickles in."""
    return _env_number(DOWNLOAD_DEADLINE_ENV, 3600)
