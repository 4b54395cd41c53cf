"""Fine-tuning runs: the run machinery (options, fit and save, backups, results) and one module per task's run.

Imports nothing itself, so the task models can use its leaves (``options``, ``optimization``,
``distribute``) without a cycle: import the module you need, e.g. ``tfhub_llm.training.classifier``.
"""
