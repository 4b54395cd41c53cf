"""What the scripts deriving committed data files share: check a file is current, or write it atomically."""

import os
import sys


def check_current(path, rendered, script):
    """0 when ``path`` holds ``rendered``; else says which script to re-run and returns 1."""
    with open(path) as f:
        if f.read() == rendered:
            return 0
    print(f"{path} is out of date; re-run {script}", file=sys.stderr)
    return 1


def write_atomically(path, rendered):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(rendered)
    os.replace(tmp, path)
