"""The loader side: from a handle to a loaded, checked TF-Hub SavedModel.

* :mod:`~tfhub_llm.hub.handles`: resolve a handle (folder, URL, tfhub.dev / Kaggle), once, into the
  :class:`~tfhub_llm.hub.resolved_handle.ResolvedHandle` that trust and the scan consume, and load it.
* :mod:`~tfhub_llm.hub.resolver`: tensorflow_hub's http(s) resolver plus checksum and safe unpacking.
* :mod:`~tfhub_llm.hub.archive`: SavedModel archives: write, verify, unpack.
* :mod:`~tfhub_llm.hub.security`: the scan that runs before anything from a SavedModel does, and
  the scanned copy to load; its rules are in :mod:`~tfhub_llm.hub.scan_rules` (over the graph model of
  :mod:`~tfhub_llm.hub.saved_model_graph`, with :mod:`~tfhub_llm.hub.scan_roles`,
  :mod:`~tfhub_llm.hub.checkpoint_prefix`, :mod:`~tfhub_llm.hub.table_assets` and the memory bound of
  :mod:`~tfhub_llm.hub.memory_bound` over :mod:`~tfhub_llm.hub.shape_rules`), asset reading in
  :mod:`~tfhub_llm.hub.assets`, per-process folders of scanned copies in :mod:`~tfhub_llm.hub.staging`,
  every cap on what a model makes us read or allocate in :mod:`~tfhub_llm.hub.limits`, and who vouches
  for a model in :mod:`~tfhub_llm.hub.trust`.
* :mod:`~tfhub_llm.hub.describe`: what a SavedModel offers, as text (``inspect``) or Markdown (model cards).
"""
