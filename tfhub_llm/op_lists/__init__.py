"""The op lists shipped with the package, and the one way to read them.

``allowed_ops.json`` and ``denied_ops.json`` (the op types untrusted SavedModels may use, and those
refused by family with a reason; written by ``scripts/derive_allowed_ops.py``) feed the scan of
:mod:`tfhub_llm.hub.security`; ``tf_serving_ops.json`` (the op types each TF Serving release's model
server registers; written by ``scripts/derive_serving_ops.py``) is read per release by
:mod:`tfhub_llm.op_lists.tf_serving_releases`.
"""

import json
from importlib import resources

from tfhub_llm.errors import PackageDataError


def read_op_list(name: str) -> dict:
    """The parsed JSON of the op list ``name`` (``"allowed_ops"``, ``"denied_ops"`` or ``"tf_serving_ops"``)."""
    file = resources.files(__name__) / f"{name}.json"
    if not file.is_file():
        raise PackageDataError(f"the package has no op list {name!r} ({file}); reinstall tfhub-llm")
    return json.loads(file.read_text(encoding="utf-8"))
