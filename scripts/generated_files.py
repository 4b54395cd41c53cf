"""What the scripts deriving committed data files share: check a file is current, or write it atomically."""

import sys


def check_current(path, rendered, script):
    """0 when ``path`` holds ``rendered``; else says which script to re-run and returns 1."""
    with open(path) as f:
        if f.read() == rendered:
            return 0
    print(f"{path} is out of date; re-run {script}", file=sys.stderr)
    return 1


def write_atomically(path, rendered):
    """Writes ``rendered`` to ``path`` with the package's atomic writer (imported only when writing)."""
    from tfhub_llm.atomic import write_text

    write_text(path, rendered)
