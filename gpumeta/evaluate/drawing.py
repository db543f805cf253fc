"""Figures drawn two or more at a time: worker processes beside the caller, which draws too while it waits.

matplotlib lays out text and rasterises in Python under the GIL: 0.1-0.4 s a figure, and a training run's
evaluation draws about twenty (issue 10: 6.5 of the 8.9 s of its evaluation phase on a 2-core machine), so
threads cannot draw two figures at once; processes can. Inside a `drawing(workers)` block `draw(function,
...)` queues the call and returns a Future; worker processes take calls off the queue, and `wait` has the
caller draw queued calls itself until the ones it waits for are done; `wait_all` waits for every call queued
so far (`evaluate_heldout` before it writes its summary, so a summary still means its figures exist).

A worker is a fresh interpreter running `serve`, not a fork or a multiprocessing spawn: neither the caller's
CUDA context and OpenMP threads nor its ``__main__`` script (which spawn would re-run in a script without a
main guard) reach it, and it works inside daemonic processes (dask workers).
It reads (function, args, kwargs, figure formats) pickles on stdin and answers ("ok", result) or ("error",
exception) on the stdout it had at start; its prints go to stderr. A worker that cannot start or dies
leaves its calls to the caller: a figure is never lost to the pool. Outside a block, with no workers, and
for calls whose arguments cannot be pickled, `draw` draws at once.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from contextvars import ContextVar

from ..errors import GpumetaError

#: Workers at most: a run draws about twenty figures, and each worker costs ~1.5 CPU-s to start and
#: ~290 MB of memory (matplotlib, shap and the scikit-learn it imports; measured).
MAX_WORKERS = 4
#: A worker starts while the run fits its models: its imports (~1.5 CPU-s) take only the cycles the fits leave.
WORKER_NICENESS = 10
_POLL_S = 0.02


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers() -> int:
    """One worker per core beside the caller's, at most MAX_WORKERS: none on a one-core machine."""
    return max(0, min(available_cores() - 1, MAX_WORKERS))


class _Call:
    __slots__ = ("args", "formats", "function", "future", "kwargs", "payload")

    def __init__(self, function: Callable, args: tuple, kwargs: dict, formats: tuple[str, ...]):
        self.function, self.args, self.kwargs, self.formats = function, args, kwargs, formats
        self.future: Future = Future()
        self.payload: bytes | None = None

    def run_here(self) -> None:
        from . import plots

        try:
            with plots.figure_formats(self.formats):
                self.future.set_result(self.function(*self.args, **self.kwargs))
        except Exception as error:  # handed to whoever waits on the figure
            self.future.set_exception(error)


class _Worker:
    """One worker process and the thread in this process that feeds it calls from the pool's queue."""

    def __init__(self, pool: _Pool):
        env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen([sys.executable, "-c", f"from {__name__} import serve; serve()"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.pool = pool
        self.thread = threading.Thread(target=self._feed, name="gpumeta-drawing", daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        while True:
            call = self.pool.calls.get()
            if call is None:
                return
            try:
                self.process.stdin.write(call.payload)
                self.process.stdin.flush()
                status, value = pickle.load(self.process.stdout)
            except Exception:  # the worker is gone (killed, out of memory): the caller draws the rest
                self.pool.calls.put(call)
                return
            if status == "ok":
                call.future.set_result(value)
            else:
                call.future.set_exception(value)

    def stop(self, kill: bool) -> None:
        """Stop the worker once its feeder has taken the stop signal. A worker told to finish exits on its own
        (its interpreter's teardown, ~0.4 s, is no figure's business): a daemon thread reaps it."""
        if kill:
            self.process.kill()
        with suppress(OSError):  # a killed worker's pipe may be broken
            self.process.stdin.close()
        self.thread.join()
        if kill:
            self.process.wait()
        else:
            threading.Thread(target=self.process.wait, name="gpumeta-drawing-reaper", daemon=True).start()


class _Pool:
    def __init__(self, workers: int):
        self.calls: queue.Queue[_Call | None] = queue.Queue()
        self.submitted: list[Future] = []
        self.workers: list[_Worker] = []
        for _ in range(workers):
            try:
                self.workers.append(_Worker(self))
            except OSError:  # no interpreter to start: this process draws everything
                break

    def submit(self, call: _Call) -> Future:
        self.submitted.append(call.future)
        if any(w.thread.is_alive() for w in self.workers):
            with suppress(Exception):  # e.g. a lambda or an open file among the arguments: drawn here
                call.payload = pickle.dumps((call.function, call.args, call.kwargs, call.formats),
                                            pickle.HIGHEST_PROTOCOL)
        if call.payload is None:
            call.run_here()
        else:
            self.calls.put(call)
        return call.future

    def wait(self, futures: Iterable[Future]) -> None:
        """Draw queued calls here until every one of `futures` is done."""
        for future in futures:
            while not future.done():
                try:
                    call = self.calls.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if call is None:  # a worker's stop signal, queued while calls were still coming back
                    self.calls.put(None)
                    continue
                call.run_here()

    def close(self, kill: bool) -> None:
        for _ in self.workers:
            self.calls.put(None)
        for worker in self.workers:
            worker.stop(kill)


_pool: ContextVar[_Pool | None] = ContextVar("drawing_pool", default=None)


@contextmanager
def drawing(workers: int | None = None) -> Iterator[None]:
    """Within the block, `draw` queues figures for `workers` worker processes (default `default_workers()`;
    0: this process draws each at once). On leaving, every queued figure is drawn and the first error
    among them is raised; an exception in the block stops the workers at once."""
    workers = default_workers() if workers is None else workers
    if workers < 0:
        raise GpumetaError(f"figure workers is {workers}: give 0 (draw in this process) or more")
    pool = _Pool(workers)
    token = _pool.set(pool)
    try:
        yield
        pool.wait(pool.submitted)
    except BaseException:
        pool.close(kill=True)
        raise
    finally:
        _pool.reset(token)
    pool.close(kill=False)
    for future in pool.submitted:
        future.result()


def draw(function: Callable, *args, **kwargs) -> Future:
    """`function(*args, **kwargs)` (a module-level plotting function) drawn by a worker inside a `drawing`
    block, here and now outside one; the Future holds its return value."""
    from . import plots

    call = _Call(function, args, kwargs, plots._formats.get())
    pool = _pool.get()
    if pool is None:
        call.run_here()
        return call.future
    return pool.submit(call)


def wait(futures: Iterable[Future]) -> list:
    """The results of `futures`, drawing queued figures here meanwhile; raises the first one's error."""
    futures = list(futures)
    pool = _pool.get()
    if pool is not None:
        pool.wait(futures)
    return [future.result() for future in futures]


def wait_all() -> None:
    """Inside a `drawing` block: return once every figure queued so far is drawn (drawing queued ones here
    meanwhile), raising the first one's error. Outside one, every figure is already drawn."""
    pool = _pool.get()
    if pool is not None:
        wait(list(pool.submitted))


def serve() -> None:
    """A worker's loop: answer the calls read from stdin until it closes."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a library's print must not corrupt the answers
    with suppress(OSError):  # its imports while the run still fits must not slow the fits
        os.nice(WORKER_NICENESS)
    from . import plots

    plots._pyplot()  # matplotlib and shap imported before the first call arrives (~1.5 CPU-s)
    with suppress(ImportError):
        import shap  # noqa: F401
    while True:
        try:
            function, args, kwargs, formats = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        try:
            with plots.figure_formats(formats):
                answer = ("ok", function(*args, **kwargs))
        except Exception as error:
            answer = ("error", error)
        try:
            data = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception:  # an exception that does not pickle: its text
            data = pickle.dumps(("error", RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}")))
        answers.write(data)
        answers.flush()

