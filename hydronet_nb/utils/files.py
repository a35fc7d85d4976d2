"""Files written whole or not at all, and their checksums.

:func:`atomic_write` is the package's one write-then-replace: the content goes into a temporary
file beside the target (same folder, so the final ``os.replace`` is one atomic rename), is flushed
to disk, and only then takes the target's name. A run killed while writing leaves the previous
file intact and, at worst, a ``.<name>.<random>.tmp`` file that :func:`remove_stale_temporaries`
cleans up. The temporary file is not made with ``tempfile.mkstemp``, which would give the result
mode 0600 instead of the usual permissions.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Callable

#: the pattern of the temporary files :func:`atomic_write` leaves behind when killed
TEMPORARY_GLOB = ".*.tmp"


def atomic_write(path: str | Path, write: Callable[[Path], None], *, fsync: bool = True) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then move it onto ``path`` in one step.

    ``write`` receives the temporary path (to open, or to hand to a library such as h5py). On any
    error, including KeyboardInterrupt, the temporary file is removed and ``path`` is untouched.
    Missing parent folders are created. Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # a full disk: say what is left as it was
            kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
            raise OSError(exc.errno, f"{path}: could not write it ({os.strerror(exc.errno)}); {kept}") from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of ``text`` (UTF-8)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, value, *, indent: int | None = 2) -> Path:
    """:func:`atomic_write` of ``value`` as JSON, with a final newline."""
    return atomic_write_text(path, json.dumps(value, indent=indent) + "\n")


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete the temporary files killed :func:`atomic_write` calls left under ``folder``; returns how many."""
    stale = list(Path(folder).rglob(TEMPORARY_GLOB))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_SHA256_CACHE: dict[tuple[str, int, int], str] = {}


def cached_sha256_of(path: str | Path) -> str:
    """:func:`sha256_of`, remembered for the process while the file's size and modification time stay the same."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256_CACHE:
        _SHA256_CACHE[key] = sha256_of(path)
    return _SHA256_CACHE[key]
