"""The resumable chunk runner: computes the chunks whose files are missing, in a process pool, with a progress bar."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .chunks import CHUNK_FUNCTIONS, Chunk, Task, load_chunk, save_chunk
from .settings import Settings


def run_task(args: tuple[Settings, Task, str]) -> Task:
    """Compute one chunk and store it (the worker's entry point)."""
    settings, task, work = args
    started = time.process_time()
    chunk = CHUNK_FUNCTIONS[task.stage](settings, task)
    chunk.seconds = time.process_time() - started
    save_chunk(task.path(Path(work)), chunk)
    return task


class Runner:
    """Runs tasks whose chunk files are missing, in a process pool, with a progress bar; counts reused chunks."""

    def __init__(self, settings: Settings, work: Path, workers: int):
        self.settings, self.work, self.workers = settings, work, workers
        self.reused = 0
        self._pool = None

    def __enter__(self):
        if self.workers > 1:
            import multiprocessing
            import signal

            # forkserver: workers forked from a clean process that has imported OpenMM but run nothing
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["hydronet_nb.reference.potentials"])
            # Ctrl-C reaches the whole process group: the workers ignore it (no traceback from each), the main
            # process stops and terminates the pool
            self._pool = ctx.Pool(self.workers, initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN))
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()

    def __call__(self, tasks: list[Task], desc: str) -> dict[Task, Chunk]:
        from tqdm import tqdm

        # largest clusters first, so that no long chunk starts last (the order does not change the results)
        todo = sorted((t for t in tasks if not t.path(self.work).exists()), key=lambda t: -t.stream)
        self.reused += len(tasks) - len(todo)
        jobs = [(self.settings, t, str(self.work)) for t in todo]
        with tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=desc, unit="chunk", file=sys.stderr) as bar:
            done = self._pool.imap_unordered(run_task, jobs) if self._pool else map(run_task, jobs)
            for _ in done:
                bar.update()
        return {t: load_chunk(t.path(self.work)) for t in tasks}


