"""Batch inference with Apache Beam over TF Serving exports (the ``beam`` extra: ``pip install "tfhub-llm[beam]"``).

* :mod:`~tfhub_llm.batch.readers`: the rows of JSON Lines, CSV / TSV, text and Parquet files, bad rows named.
* :mod:`~tfhub_llm.batch.handler`: ``ServingExportHandler``, Beam's ``ModelHandler`` over an export's ``serving_default``.
* :mod:`~tfhub_llm.batch.shards`: the output folder: atomic shards, dead letters, resuming.
* :mod:`~tfhub_llm.batch.pipeline`: ``run_batch``, the pipeline, and its ``BatchSummary``.

Importing this package imports neither TensorFlow nor Beam; its modules do.
"""
