"""Progress display for long steps (rich), silent with --quiet, plus the run log."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("gpumeta")


class Progress:
    """Progress of named tasks; every call is a no-op when quiet.

    On a terminal: rich bars, started with the first task (so a command that fails before any task
    prints nothing but its error line). Redirected (a file, a pipe): one plain line per task when it
    ends, so the output reads in the order things happened; rich would print its bars only when the
    display closes, after every note.
    """

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._console = None
        self._rich = None
        self._plain: dict[int, list] = {}  # task id -> [description, total, completed, start]: redirected
        self._next_id = 0
        self._lock = threading.Lock()  # CV folds fitted side by side add and advance tasks from their threads

    def __enter__(self) -> Progress:
        if not self.quiet:
            from rich.console import Console

            self._console = Console()
        return self

    def __exit__(self, *exc) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)
        for task_id in list(self._plain):
            self._finish_plain(task_id)

    def _bars(self):
        if self._rich is None:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=self._console, transient=False)
            self._rich.__enter__()
        return self._rich

    def _finish_plain(self, task_id: int) -> None:
        description, total, completed, start = self._plain.pop(task_id)
        of = f"/{total}" if total is not None else ""
        self._console.print(f"{description}: {completed}{of} in {time.perf_counter() - start:.1f} s",
                            highlight=False, markup=False)

    def task(self, description: str, total: int | None):
        """A callable that advances the new task by one (or n); `.done()` completes it."""
        if self._console is None:
            return _Advance(lambda n: None, lambda: None)
        if self._console.is_terminal:
            with self._lock:
                rich = self._bars()
            task_id = rich.add_task(description, total=total)
            return _Advance(lambda n: rich.advance(task_id, n),
                            lambda: rich.update(task_id, total=rich.tasks[task_id].completed))
        with self._lock:
            task_id, self._next_id = self._next_id, self._next_id + 1
            self._plain[task_id] = [description, total, 0, time.perf_counter()]

        def advance(n: int) -> None:
            with self._lock:
                state = self._plain.get(task_id)
                if state is not None:
                    state[2] += n
                    if state[1] is not None and state[2] >= state[1]:
                        self._finish_plain(task_id)

        def done() -> None:
            with self._lock:
                if task_id in self._plain:
                    self._plain[task_id][1] = self._plain[task_id][2]
                    self._finish_plain(task_id)

        return _Advance(advance, done)

    def note(self, message: str) -> None:
        log.info(message)
        if self._console is not None:
            self._console.print(message, highlight=False, markup=False)


class _Advance:
    """Advance a task: `advance()` by one, `advance(n)` by n, `advance.done()` to complete it."""

    def __init__(self, advance, done):
        self._advance, self.done = advance, done

    def __call__(self, n: int = 1) -> None:
        self._advance(n)


class Timings:
    """Wall-clock seconds per named part (e.g. time inside xgboost vs the whole train).

    A part measured by several threads at once (CV folds fitted side by side) counts the wall time during
    which at least one of them was inside it, so no part exceeds the run's wall time.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._inside: dict[str, tuple[int, float]] = {}  # name -> (threads inside it, when the first entered)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[None]:
        with self._lock:
            count, start = self._inside.get(name) or (0, time.perf_counter())
            self._inside[name] = (count + 1, start)
        try:
            yield
        finally:
            with self._lock:
                count, start = self._inside.pop(name)
                if count > 1:
                    self._inside[name] = (count - 1, start)
                else:
                    self.seconds[name] += time.perf_counter() - start


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Send gpumeta's log records to `path` while a run lasts."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    try:
        with _logging_to(handler):
            yield
    finally:
        handler.close()


@contextlib.contextmanager
def verbose_log(verbose: bool) -> Iterator[None]:
    """With `verbose` (-v), gpumeta's log records (each step and its figures) also go to stderr."""
    if not verbose:
        yield
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    with _logging_to(handler):
        yield


@contextlib.contextmanager
def _logging_to(handler: logging.Handler) -> Iterator[None]:
    """gpumeta's INFO records also go to `handler` while the block runs."""
    log.addHandler(handler)
    previous = log.level
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)
