"""Task models over a TF-Hub BERT encoder, each with its features, metrics and serving signatures.

* :mod:`~tfhub_llm.tasks.classifier`: ``TextClassifier``, texts or text pairs → classes, labels or a value.
* :mod:`~tfhub_llm.tasks.question_answering`: ``SpanQuestionAnswerer``, extractive QA (SQuAD v1.1 / v2.0).
* :mod:`~tfhub_llm.tasks.token_classification`: ``TokenClassifier``, a tag per word and the entities they make.
* :mod:`~tfhub_llm.tasks.embedding`: ``TextEmbedder``, one vector per text (sentence embeddings).

What they share: :mod:`~tfhub_llm.tasks.base` (``BertTask`` and the serving protocols),
:mod:`~tfhub_llm.tasks.windows` (windows over long texts, QA and NER), :mod:`~tfhub_llm.tasks.serving`
(the signatures every exporter builds), :mod:`~tfhub_llm.tasks.packing` (packing inside exported graphs).
"""
