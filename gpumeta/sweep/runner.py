"""Run a sweep's cells as dask tasks, resumably, and write its results.

Layout of the sweep directory::

    sweep.json                 the spec as run (grid shape, cell ids); its presence marks a sweep directory
    cells/<cell-id>/           one finished `gpumeta train` run directory per cell, with cell.json
    cells/<cell-id>.partial/   a cell being trained (or interrupted: its next attempt resumes it)
    attempts/<cell-id>.json    every attempt of the cell: worker, start, end, status, one-line error
    results.parquet, results.csv, comparison.png, report.html

Scheduling: the client keeps one cell in flight per worker (a cell uses the worker's whole device: one task
per GPU on dask-cuda), and gives a free worker a cell of the dataset it trained last when there is one, so
the cells of one dataset follow each other on the same worker (its files stay in that node's page cache).
The loaded matrix itself is not shared between cells: `train()` takes a dataset path and narrows the matrix
it loads to the screened features in place, so a cached matrix would be altered by the first cell that
used it. Finished cells are skipped on `resume`; a failed cell is tried again up to `retries` times, then
reported in the table with its one-line error.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..atomic import write_json
from ..backend import get_backend
from ..cluster import get_client
from ..dataset import _fingerprint, find_parquet_files
from ..errors import GpumetaError, shown
from ..progress import Progress
from .cell import CELL_FILE, run_cell
from .results import write_results
from .spec import Cell, SweepSpec, load_spec

SWEEP_FILE = "sweep.json"
#: Seconds to wait for a running cluster to have at least one worker.
WORKER_WAIT_S = 60


@dataclass
class SweepResult:
    """What `run_sweep` did: the results table (every cell of the spec) and which cells ran now."""

    out_dir: Path
    table: pd.DataFrame
    ran: list[str] = field(default_factory=list)       # cell ids finished by this call
    skipped: list[str] = field(default_factory=list)   # finished before this call
    failed: list[str] = field(default_factory=list)    # still failed after their retries


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, GpumetaError):
        return str(exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class _Ledger:
    """attempts/<id>.json: each attempt of each cell (written by this process only, atomically)."""

    def __init__(self, out_dir: Path):
        self.dir = out_dir / "attempts"
        self._lock = threading.Lock()

    def read(self, cell_id: str) -> list[dict]:
        path = self.dir / f"{cell_id}.json"
        return json.loads(path.read_text())["attempts"] if path.is_file() else []

    def _write(self, cell_id: str, attempts: list[dict]) -> None:
        write_json(self.dir / f"{cell_id}.json", {"cell_id": cell_id, "attempts": attempts})

    def close_interrupted(self, cell_id: str, finished: bool) -> None:
        """Attempts a stopped sweep left "running" become "interrupted", or "complete" for the last attempt of a
        cell that finished on its worker after the client stopped listening."""
        attempts = self.read(cell_id)
        if any(a["status"] == "running" for a in attempts):
            last = len(attempts) - 1
            self._write(cell_id, [{**a, "status": "complete" if finished and i == last else "interrupted"}
                                  if a["status"] == "running" else a for i, a in enumerate(attempts)])

    def start(self, cell_id: str, worker: str) -> None:
        with self._lock:
            self._write(cell_id, [*self.read(cell_id), {"worker": worker, "started": _now(), "status": "running"}])

    def end(self, cell_id: str, status: str, error: str = "") -> None:
        with self._lock:
            attempts = self.read(cell_id)
            attempts[-1].update({"ended": _now(), "status": status, **({"error": error} if error else {})})
            self._write(cell_id, attempts)


def _finished(cells_dir: Path, cell: Cell) -> dict | None:
    path = cells_dir / cell.id / CELL_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _check_out_dir(out_dir: Path, spec: SweepSpec, resume: bool) -> dict[str, dict]:
    """Refuse a directory that holds something else or a sweep not asked to resume; return finished cells.

    A finished cell whose dataset has changed since it ran is refused too: its figures would no longer be
    those of the dataset the table names.
    """
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / SWEEP_FILE).is_file():
            raise GpumetaError(f"{out_dir}: not a sweep directory (no {SWEEP_FILE}); choose another --out-dir")
        if not resume:
            raise GpumetaError(f"{out_dir}: already holds a sweep; use --resume to continue it, or another --out-dir")
    finished = {c.id: r for c in spec.cells if (r := _finished(out_dir / "cells", c)) is not None}
    fingerprints = {path: _fingerprint(find_parquet_files(path)) for path in spec.datasets.values()}
    stale = [cid for cid, r in finished.items() if r["dataset_fingerprint"] != fingerprints[r["dataset_path"]]]
    if stale:
        raise GpumetaError(f"{out_dir}: the dataset of cell(s) {shown(stale)} changed since they ran; "
                           "sweep into a new --out-dir (or remove those cells/ directories to rerun them)")
    return finished


def _workers(client) -> list[str]:
    return sorted(client.scheduler_info(n_workers=-1)["workers"])


def _import_training() -> None:
    """Import what a cell runs on a worker before its first cell, so that cell's peak memory is its own
    and not that of the libraries (measured: ~170 MB more on the first cell of each worker without this)."""
    import matplotlib.figure  # noqa: F401
    import xgboost  # noqa: F401

    from ..evaluate import heldout, plots, report  # noqa: F401
    from ..train import workflow  # noqa: F401


def _drive(client, cells: list[Cell], spec: SweepSpec, out_dir: Path, ledger: _Ledger, report,
           stop: threading.Event) -> None:
    """Run `cells` on `client`'s workers, one in flight per worker, retrying failures (see module docstring).

    Once `stop` is set (the sweep was interrupted) nothing more is recorded: errors then come from the
    clusters closing, not from the cells, and the attempts in flight stay "running" until the next call
    marks them interrupted."""
    from dask.distributed import as_completed

    if not _workers(client):
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            raise GpumetaError(f"the dask cluster at {client.scheduler.address} has no worker after {WORKER_WAIT_S} "
                               "s; start workers (dask worker / dask cuda worker) or use --cluster local") from None
    client.run(_import_training)
    configs = {c.id: c.train_config() for c in cells}
    queue, tries = deque(cells), dict.fromkeys(configs, 0)
    last_dataset: dict[str, str] = {}
    busy: dict[object, tuple[Cell, str]] = {}
    running = as_completed()

    def fill() -> None:
        for worker in _workers(client):
            if not queue:
                return
            if worker in {w for _, w in busy.values()}:
                continue
            cell = next((c for c in queue if c.dataset_path == last_dataset.get(worker)), queue[0])
            queue.remove(cell)
            tries[cell.id] += 1
            ledger.start(cell.id, worker)
            future = client.submit(run_cell, cell, configs[cell.id], str(out_dir / "cells"), workers=[worker],
                                   allow_other_workers=True, pure=False, key=f"sweep-cell-{cell.id}-{tries[cell.id]}")
            busy[future] = (cell, worker)
            last_dataset[worker] = cell.dataset_path
            running.add(future)

    fill()
    for future in running:
        if stop.is_set():
            return
        cell, _ = busy.pop(future)
        try:
            record = future.result()
        except Exception as exc:  # any failure of a cell is reported, not raised: the others go on
            if stop.is_set():
                return
            error = _one_line(exc)
            ledger.end(cell.id, "failed", error)
            if tries[cell.id] <= spec.retries:
                queue.append(cell)
            report(cell, None, error, tries[cell.id] <= spec.retries)
        else:
            ledger.end(cell.id, "complete")
            report(cell, record, "", False)
        fill()


def _run_threads(jobs: list, stop: threading.Event) -> None:
    """Run each job in its own thread (one per cluster); re-raise the first failure. The threads are daemons
    and this thread waits in short joins, so Ctrl-C reaches it at once: leaving the clients' context then
    closes the clusters (after `stop` is set), and the sweep resumes from its finished cells."""
    failures: list[BaseException] = []

    def guarded(job) -> None:
        try:
            job()
        except BaseException as exc:  # handed to the calling thread
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
    except BaseException:
        stop.set()
        raise
    if failures:
        raise failures[0]


@contextlib.contextmanager
def _clients(spec: SweepSpec, client, cluster: str | None, scheduler_address: str | None,
             n_workers: int | None, quiet: bool) -> Iterator[dict[str, object]]:
    """device -> the dask client that runs its cells: the given client or running cluster for every device,
    or with cluster="local" one local cluster per device (dask-cuda for cuda, one worker per GPU)."""
    if client is not None:
        yield dict.fromkeys(spec.devices, client)
        return
    if scheduler_address is not None:
        with get_client(get_backend("cpu"), cluster, scheduler_address, n_workers, quiet) as shared:
            yield dict.fromkeys(spec.devices, shared)
        return
    backends = {device: get_backend(device) for device in spec.devices}  # cuda without a GPU: refused here
    with contextlib.ExitStack() as stack:
        yield {device: stack.enter_context(get_client(backend, cluster or "local", None, n_workers, quiet))
               for device, backend in backends.items()}


def run_sweep(spec: str | Path | SweepSpec, out_dir: str | Path, *, cluster: str | None = None,
              scheduler_address: str | None = None, n_workers: int | None = None, resume: bool = False,
              quiet: bool = False, client=None) -> SweepResult:
    """Run every cell of `spec` (a path or a `load_spec` result) into `out_dir` (see module docstring).

    The cluster: `client` (an existing dask Client, used for every device), or `scheduler_address` (a
    running cluster), or by default `cluster="local"`: a LocalCluster of `n_workers` for cpu cells and a
    dask-cuda LocalCUDACluster for cuda cells. Everything is checked before anything is written.
    """
    spec = spec if isinstance(spec, SweepSpec) else load_spec(spec)
    out_dir = Path(out_dir)
    finished = _check_out_dir(out_dir, spec, resume)
    todo = [c for c in spec.cells if c.id not in finished]
    ledger = _Ledger(out_dir)
    result = SweepResult(out_dir, pd.DataFrame(), skipped=sorted(finished))

    # Nothing left to run: no cluster is started, the table and page are rewritten from the cells.
    clients_or_none = (_clients(spec, client, cluster, scheduler_address, n_workers, quiet) if todo
                       else contextlib.nullcontext({}))
    with clients_or_none as clients, Progress(quiet) as progress:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / SWEEP_FILE, {"spec": str(spec.path.resolve()), "spec_text": spec.path.read_text(),
                                          "shape": spec.shape, "retries": spec.retries,
                                          "cells": [c.describe() for c in spec.cells]})
        for cell in spec.cells:  # a cell may have finished on its worker after the client was stopped
            ledger.close_interrupted(cell.id, cell.id in finished)
        progress.note(f"sweep: {len(spec.cells)} cells, {len(finished)} finished before, {len(todo)} to run")
        tick = progress.task("cells", total=len(todo))
        lock = threading.Lock()

        def report(cell: Cell, record: dict | None, error: str, retrying: bool) -> None:
            with lock:
                if record is not None:
                    result.ran.append(cell.id)
                    tick()
                    progress.note(f"cell {cell.id} ({cell.dataset}, {cell.algorithm}, {cell.params}, seed "
                                  f"{cell.seed}, {cell.device}): macro F1 {record['macro_f1_base']:.4f} -> "
                                  f"{record['macro_f1_meta']:.4f}, fit {record['fit_s']:.1f} s")
                else:
                    tick(0 if retrying else 1)
                    progress.note(f"cell {cell.id} failed{' (will retry)' if retrying else ''}: {error}")

        groups: dict[int, tuple[object, list[Cell]]] = {}
        for cell in todo:
            device_client = clients[cell.device]
            groups.setdefault(id(device_client), (device_client, []))[1].append(cell)
        stop = threading.Event()
        _run_threads([lambda c=c, cells=cells: _drive(c, cells, spec, out_dir, ledger, report, stop)
                      for c, cells in groups.values()], stop)
        tick.done()

    rows = []
    for cell in spec.cells:
        attempts = ledger.read(cell.id)
        record = _finished(out_dir / "cells", cell)
        if record is None:
            result.failed.append(cell.id)
            errors = [a.get("error", a["status"]) for a in attempts if a["status"] != "complete"]
            record = {**cell.describe(), "status": "failed", "error": errors[-1] if errors else "not run"}
        rows.append({**record, "attempts": len(attempts)})
    result.table = write_results(out_dir, pd.DataFrame(rows), spec)
    return result
