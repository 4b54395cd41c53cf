"""Readers: data files → checked examples, every problem named by file, line and field.

``text_files`` (lines, CSV / TSV records, JSON Lines objects: the one reader every other builds on),
``labels`` (label types and parsing), ``text_examples`` (classification data → ``TextExamples``),
``datasets`` (``TextExamples`` → ``tf.data``), ``conll`` (word-level tags → ``TaggedSentences``),
``tag_schemes`` (IOB1 / IOB2 / IOBES), ``squad`` (SQuAD JSON → ``SquadExample``). Import the module
you need; the public names are also exported from :mod:`tfhub_llm`.
"""
