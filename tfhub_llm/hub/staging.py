"""Where scanned copies live: one folder per process, which no crash can strand for good.

All processes of a user share one parent, ``$TMPDIR/tfhub_llm-scanned-<uid>`` (mode 0700, owned by
the user, not a link). Each process stages its copies in ``<parent>/pid-<pid>``, removed when the
process exits normally; a process killed by a signal, ``Abort`` or the OOM killer cannot remove it,
so :func:`process_folder` sweeps, before creating its own, every ``pid-<n>`` folder whose process is
no longer alive. A recycled PID keeps a stale folder only until that process ends too.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import stat
import tempfile

from tfhub_llm.ascii_digits import is_ascii_digits
from tfhub_llm.errors import InvalidFileError

_PREFIX = "pid-"


def _parent_folder() -> str:
    """The user's private parent of the per-process folders, created if missing."""
    parent = os.path.join(tempfile.gettempdir(), f"tfhub_llm-scanned-{os.getuid()}")
    try:
        os.mkdir(parent, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(parent)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise InvalidFileError(f"{parent} must be a folder of this user that nobody else can open (mode 0700); "
                               "remove it and try again")
    return parent


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (another user's process counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _sweep(parent: str) -> list[str]:
    """Remove the folders of processes that are gone; returns their paths."""
    removed = []
    for name in os.listdir(parent):
        number = name[len(_PREFIX):]
        if name.startswith(_PREFIX) and is_ascii_digits(number) and int(number) != os.getpid() \
                and not process_alive(int(number)):
            path = os.path.join(parent, name)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def process_folder() -> str:
    """This process's folder for scanned copies, after sweeping the folders of dead processes (on every call)."""
    _sweep(_parent_folder())
    return _folder_of(os.getpid())


@functools.cache
def _folder_of(pid: int) -> str:
    folder = os.path.join(_parent_folder(), f"{_PREFIX}{pid}")
    shutil.rmtree(folder, ignore_errors=True)  # a dead process's folder under a recycled PID
    os.mkdir(folder, 0o700)
    atexit.register(_remove_own, folder, pid)
    return folder


def _remove_own(folder: str, pid: int) -> None:
    if os.getpid() == pid:  # not in a forked child that inherited the handler
        shutil.rmtree(folder, ignore_errors=True)
