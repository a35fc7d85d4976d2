"""Files written whole or not at all, and their checksums.

:func:`atomic_write` is the package's one write-then-replace: the content goes into a temporary
file beside the target (same folder, so the final ``os.replace`` is one atomic rename), is flushed
to disk, and only then takes the target's name. A run killed while writing leaves the previous
file intact and, at worst, a ``.<name>.<random>.tmp`` file that :func:`remove_stale_temporaries`
cleans up. The temporary file is not made with ``tempfile.mkstemp``, which would give the result
mode 0600 instead of the usual permissions.

A full disk reads the same for every writer: :func:`disk_full` turns ``ENOSPC`` / ``EDQUOT`` and torch's
errno-less write failures into ``FILE: could not write it (No space left on device); the previous FILE is
intact``. :func:`atomic_write` uses it, and so do the few writers that append (:func:`writing`).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

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
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        full = disk_full(path, exc)
        if full is not None:
            raise full from exc
        raise
    return path


class DiskFull(OSError):
    """A write that found the disk full (or the quota used up); the message names the file and what is kept."""

    def __str__(self) -> str:  # the message alone, as the README shows it (no "[Errno 28]")
        return str(self.strerror)


#: torch's zip writer reports a short write without an errno, in one of these words
_TORCH_WRITE_FAILED = ("file write failed", "unexpected pos")


def _full_errno(exc: BaseException | None) -> int | None:
    """ENOSPC or EDQUOT when ``exc``, or an exception it was raised from or during, says the disk is full."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc.errno
        if isinstance(exc, RuntimeError) and any(words in str(exc) for words in _TORCH_WRITE_FAILED):
            return errno.ENOSPC
        exc = exc.__cause__ or exc.__context__
    return None


def disk_full(path: str | Path, exc: BaseException, kept: str | None = None) -> DiskFull | None:
    """The package's one message for a full disk while writing ``path``, or None when ``exc`` is another error.

    ``kept`` says what is left as it was; default: the previous file is intact (or none was written).
    """
    code = None if isinstance(exc, DiskFull) else _full_errno(exc)  # a DiskFull is already worded
    if code is None:
        return None
    path = Path(path)
    if kept is None:
        kept = f"the previous {path.name} is intact" if path.exists() else f"no {path.name} was written"
    return DiskFull(code, f"{path}: could not write it ({os.strerror(code)}); {kept}")


@contextmanager
def writing(path: str | Path, kept: str | None = None) -> Iterator[None]:
    """Writes to ``path`` in the ``with`` block that are not :func:`atomic_write` (appends): a full disk
    ends in :func:`disk_full`'s message, ``kept`` saying what is left."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 -- only a full disk is reworded; the rest is raised as it was
        full = disk_full(path, exc, kept)
        if full is not None:
            raise full from exc
        raise


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
