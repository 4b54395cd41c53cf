"""Tests of tfhub_llm.training, one file a module (a package: its basenames repeat those of tests/tasks/)."""
