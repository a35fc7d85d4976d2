"""One writer per run folder: a lock in the folder, and what an interrupted run leaves there.

Every command that writes a run folder (``pretrain``, ``finetune``, ``transfer``, ``md``, the studies,
``generate``) does its work inside :func:`run_folder`. A second process pointed at the same folder is
refused at once, with a one-line :class:`FolderInUse` naming the folder and the holder's pid. The lock is
filelock's ``flock`` on ``FOLDER/.lock``: the kernel drops it when the holder ends, killed or not, so a
stale lock never blocks a rerun. The holder's pid is written into ``FOLDER/.lock.pid`` for the message
only, and removed (while the lock is still held) when the run ends.

A ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM as the command line turns it into one) that leaves
:func:`run_folder` gets an attribute, :data:`SAVED`: a sentence saying what the folder keeps. The outermost
folder's sentence wins (a study's, not its arm's); ``hydronet-nb`` prints it in its one line.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock, Timeout

#: the lock file and the file holding the holder's pid, inside the run folder
LOCK, PID = ".lock", ".lock.pid"
#: the attribute of an interrupt that says what the interrupted run saved
SAVED = "hydronet_saved"


class FolderInUse(RuntimeError):
    """Another process holds the run folder; the message names the folder and the holder's pid."""


def holder_pid(folder: str | Path) -> int | None:
    """The pid written by the process that holds ``folder`` (None if none is written, or not yet)."""
    try:
        return int((Path(folder) / PID).read_text().strip())
    except (OSError, ValueError):
        return None


def _refusal(folder: Path) -> FolderInUse:
    pid = None
    for _ in range(20):  # the holder writes its pid just after taking the lock
        pid = holder_pid(folder)
        if pid is not None:
            break
        time.sleep(0.01)
    holder = f"pid {pid}" if pid is not None else "pid unknown"
    return FolderInUse(f"{folder}: in use by another hydronet-nb process ({holder}); wait for it to end, or "
                       "use another folder")


def study_kept(folder: Path) -> str:
    """What an interrupted study's folder keeps, in words."""
    return f"the finished runs, and what the running one had saved, are kept in {folder}"


@contextmanager
def run_folder(folder: str | Path, saved: Callable[[Path], str] | None = None) -> Iterator[Path]:
    """Hold the lock of ``folder`` (made if missing) for the ``with`` block; :class:`FolderInUse` if another
    process holds it. ``saved(folder)``: what the folder keeps when the block is interrupted (a sentence),
    attached to the interrupt as :data:`SAVED`; default: that the finished work is kept."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise _refusal(folder) from None
    try:
        (folder / PID).write_text(f"{os.getpid()}\n")
        yield folder
    except KeyboardInterrupt as interrupt:
        try:
            setattr(interrupt, SAVED, saved(folder) if saved else f"the finished work is kept in {folder}")
        except Exception:  # noqa: BLE001 -- a sentence that cannot be made must not hide the interrupt
            setattr(interrupt, SAVED, f"the finished work is kept in {folder}")
        raise
    finally:
        try:
            (folder / PID).unlink(missing_ok=True)  # before the release: a new holder's pid is never removed
        finally:
            lock.release()


@contextmanager
def run_folders(folders, saved: Callable[[Path], str] | None = None) -> Iterator[None]:
    """:func:`run_folder` of each of ``folders`` (the same folder named twice is locked once)."""
    seen, unique = set(), []
    for folder in folders:
        if os.path.abspath(folder) not in seen:
            seen.add(os.path.abspath(folder))
            unique.append(Path(folder))
    if not unique:
        yield
        return
    with run_folder(unique[0], saved):
        with run_folders(unique[1:], saved):
            yield


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program was (see :func:`sigterm_as_interrupt`): the run stops as after Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` inside the block (in the main thread; elsewhere nothing changes)."""
    import signal

    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: signal handlers cannot be set
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_line(stop: BaseException, argv: list[str]) -> str:
    """The one line a command interrupted by ``stop`` ends with: what was saved and the command that continues."""
    import shlex

    saved, seen = None, stop
    while seen is not None and saved is None:  # a second Ctrl-C during the clean-up: the first one knows
        saved, seen = getattr(seen, SAVED, None), seen.__context__
    if saved is None:
        return "hydronet-nb: interrupted; no run folder was written"
    return f"hydronet-nb: interrupted; {saved}; rerun the same command to continue: hydronet-nb {shlex.join(argv)}"
