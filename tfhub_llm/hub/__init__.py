"""The loader side: from a handle to a loaded, checked TF-Hub SavedModel.

* :mod:`~tfhub_llm.hub.handles`: resolve a handle (folder, URL, tfhub.dev / Kaggle) and load it.
* :mod:`~tfhub_llm.hub.resolver`: tensorflow_hub's http(s) resolver plus checksum and safe unpacking.
* :mod:`~tfhub_llm.hub.archive`: SavedModel archives: write, verify, unpack.
* :mod:`~tfhub_llm.hub.security`: the scan that runs before anything from a SavedModel does, and
  the scanned copy to load; its rules are in :mod:`~tfhub_llm.hub.scan_rules` (over the graph model of
  :mod:`~tfhub_llm.hub.saved_model_graph`), asset reading in :mod:`~tfhub_llm.hub.assets`, and who
  vouches for a model in :mod:`~tfhub_llm.hub.trust`.
* :mod:`~tfhub_llm.hub.describe`: what a SavedModel offers, as text (``inspect``) or Markdown (model cards).
"""
