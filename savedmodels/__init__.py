"""The embedded models that ``savedmodels/build.py`` builds: one folder each, with ``encoder/`` and ``preprocessor/``.

Scripts, examples, the benchmark and the tests name the models through these constants only
(they put the repository root on ``sys.path``; pytest does it through ``pythonpath`` in pyproject.toml).
"""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parent
MINILM = ROOT / "minilm_l6_h384_uncased"  # the real all-MiniLM-L6-v2: 6 layers, width 384, uncased WordPiece
TINY = ROOT / "bert_tiny_random_uncased"  # 2 layers, width 32, random weights, with an MLM head: for unit tests
