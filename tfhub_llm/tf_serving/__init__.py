"""TF Serving: exports with raw-text signatures, a check against a model server release, a REST client and a dev server.

* :mod:`~tfhub_llm.tf_serving.export`: ``export_for_serving``, ``BASE_DIR/N`` with warmup requests; what it saves
  is the task's own ``serving_module()`` (:mod:`tfhub_llm.tasks.serving`).
* :mod:`~tfhub_llm.tf_serving.keras_model`: any Keras model on raw text (e.g. built with ``KerasLayer``).
* :mod:`~tfhub_llm.tf_serving.check`: ``check_serving``, loads an export as the model server does
  (each release's op list in :mod:`~tfhub_llm.op_lists.tf_serving_releases`).
* :mod:`~tfhub_llm.tf_serving.client`: ``ServingClient``, TF Serving's REST API, stdlib only.
* :mod:`~tfhub_llm.tf_serving.server`: ``DevelopmentServer``, the same REST API over a base folder: its versions
  in :mod:`~tfhub_llm.tf_serving.versions` (``VersionPolicy``), its endpoints in :mod:`~tfhub_llm.tf_serving.rest_api`
  (JSON encoding in :mod:`~tfhub_llm.tf_serving.rest_json`), one connection in
  :mod:`~tfhub_llm.tf_serving.http_handler`, request limits in :mod:`~tfhub_llm.tf_serving.limits` (``ServerLimits``).
"""

from tfhub_llm.lazy_exports import lazy_exports

_MODULES = {  # loaded on first use: the REST client (``tfhub-llm predict``) needs no TensorFlow
    "tfhub_llm.tf_serving.check": ("ServingCheckReport", "check_serving", "compare_session_outputs", "session_predict"),
    "tfhub_llm.tf_serving.client": ("ServerUnreachableError", "ServingClient", "ServingError", "predict_texts"),
    "tfhub_llm.tf_serving.export": ("export_for_serving",),
    "tfhub_llm.tf_serving.limits": ("ServerLimits",),
    "tfhub_llm.tf_serving.server": ("DevelopmentServer", "serve"),
    "tfhub_llm.tf_serving.versions": ("VersionPolicy",),
}
__all__ = sorted(name for names in _MODULES.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _MODULES)
