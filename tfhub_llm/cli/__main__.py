"""``python -m tfhub_llm.cli``: the ``tfhub-llm`` command."""

import sys

from tfhub_llm.cli import main

sys.exit(main())
