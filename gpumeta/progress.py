"""Progress display for long steps (rich), silent with --quiet, plus the run log."""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("gpumeta")


class Progress:
    """A rich progress display of named tasks; every call is a no-op when quiet."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._rich = None

    def __enter__(self) -> Progress:
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), transient=False)
            self._rich.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)

    def task(self, description: str, total: int | None):
        """A callable that advances the new task by one; `.done()` completes it."""
        rich, task_id = self._rich, None
        if rich is not None:
            task_id = rich.add_task(description, total=total)

        class Advance:
            def __call__(self, n: int = 1) -> None:
                if rich is not None:
                    rich.advance(task_id, n)

            def done(self) -> None:
                if rich is not None:
                    rich.update(task_id, total=rich.tasks[task_id].completed)

        return Advance()

    def note(self, message: str) -> None:
        log.info(message)
        if self._rich is not None:
            self._rich.console.print(message)


class Timings:
    """Wall-clock seconds per named part (e.g. time inside xgboost vs the whole train)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def measure(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Send gpumeta's log records to `path` while a run lasts."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    previous = log.level
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
        log.setLevel(previous)
