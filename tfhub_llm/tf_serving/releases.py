"""The op types each TF Serving release's model server registers (``tfhub_llm/data/tf_serving_ops.json``).

Core TensorFlow of that release plus the TF Text it bundles (see ``scripts/derive_serving_ops.py``).
A leaf module: the check of an export and the choice of a signature's packing both read it.
"""

import functools
import json
import pathlib

from tfhub_llm.errors import InvalidArgumentError

OPS_FILE = pathlib.Path(__file__).resolve().parents[1] / "data" / "tf_serving_ops.json"
DEFAULT_TF_SERVING_VERSION = "2.19"


@functools.lru_cache(maxsize=None)
def _ops_data():
    with open(OPS_FILE) as f:
        return json.load(f)


def tf_serving_releases():
    """The TF Serving releases (``"2.12"``, ...) whose op lists the package knows."""
    return sorted(_ops_data()["releases"], key=lambda release: tuple(map(int, release.split("."))))


def tf_serving_ops(tf_serving_version=DEFAULT_TF_SERVING_VERSION):
    """The op types a TF Serving release's model server registers (``"2.19"`` or ``"2.19.1"``)."""
    release = ".".join(str(tf_serving_version).split(".")[:2])
    data = _ops_data()
    if release not in data["releases"]:
        raise InvalidArgumentError(
            f"No op list for TF Serving {tf_serving_version!r}; known releases: {', '.join(tf_serving_releases())}.")
    parts = data["releases"][release]
    core = set.intersection(*(set(data["core"][version]) for version in parts["core"]))
    return frozenset(core | set(data["text"][parts["text"]]))
