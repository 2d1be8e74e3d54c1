"""Atomic file writes: a reader (or the next run) sees the old file or the new one, never half.

A run killed while it writes its reports (CI's timeout, an OOM kill, Ctrl-C twice) used
to leave a truncated report.json, report.html or accepted baseline behind, and the next
run then failed on the baseline instead of on the change under review. Every writer goes
through `atomic_open`: the data goes to a temporary file in the same folder, is
fsync'ed, and replaces the target with one ``os.replace`` (atomic on POSIX and Windows).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO


@contextlib.contextmanager
def atomic_open(path: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` when the block ends without an exception.

    On an exception (or a kill) ``path`` keeps its old content; the temporary file is
    removed when Python still can.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, _mode_for(path))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_folder(path.parent)


@contextlib.contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """`atomic_open` for UTF-8 text (the HTML report is streamed through it)."""
    with atomic_open(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8")
        yield text
        text.flush()
        text.detach()


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Replace ``path`` with ``data`` (str is written as UTF-8) in one step."""
    with atomic_open(path) as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _mode_for(path: Path) -> int:
    """Keep the mode of the file being replaced; a new file gets what ``open`` would give."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); folders cannot be opened on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
