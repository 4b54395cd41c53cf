"""The op types each TF Serving release's model server registers (``tf_serving_ops.json`` of :mod:`tfhub_llm.op_lists`).

Core TensorFlow of that release plus the TF Text it bundles (see ``scripts/derive_serving_ops.py``).
A leaf module beside the data: the check of an export (:mod:`tfhub_llm.tf_serving.check`) and the
choice of a signature's packing (:mod:`tfhub_llm.tasks.packing`) both read it.
"""

import functools

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.op_lists import read_op_list

DEFAULT_TF_SERVING_VERSION = "2.19"


@functools.lru_cache(maxsize=None)
def _ops_data():
    return read_op_list("tf_serving_ops")


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
