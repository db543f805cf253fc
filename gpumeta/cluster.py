"""A dask client for the strategies that spread training over workers (multi-instance, distributed).

`get_client` is the one way gpumeta gets a cluster: ``cluster="local"`` starts one on this machine through
the backend (dask-cuda ``LocalCUDACluster``, one worker per GPU, on cuda; a ``LocalCluster`` of processes on
cpu), ``scheduler_address="tcp://host:8786"`` joins a running one (dask-cuda workers on many nodes). Neither
yields ``None``: the strategies then run in this process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .backend import Backend, get_backend
from .errors import GpumetaError
from .progress import log

CLUSTERS = ("local",)
#: Seconds to wait for an existing scheduler before saying it cannot be reached.
CONNECT_TIMEOUT_S = 10


@contextlib.contextmanager
def get_client(backend: Backend, cluster: str | None = None, scheduler_address: str | None = None,
               n_workers: int | None = None, quiet: bool = False) -> Iterator[object | None]:
    """Yield a dask `Client` (or None when neither `cluster` nor `scheduler_address` is given); prints the
    dashboard link; closes what it started on exit."""
    if cluster is not None and scheduler_address is not None:
        raise GpumetaError("give either --cluster local or --scheduler-address, not both")
    if cluster is not None and cluster not in CLUSTERS:
        raise GpumetaError(f"--cluster {cluster!r} is unknown: use 'local', or --scheduler-address tcp://HOST:PORT "
                           "for a running cluster")
    if n_workers is not None and n_workers < 1:
        raise GpumetaError(f"--n-workers {n_workers}: give at least 1 worker")
    if cluster is None and scheduler_address is None:
        yield None
        return
    from dask.distributed import Client

    with contextlib.ExitStack() as stack:
        if scheduler_address is not None:
            if n_workers is not None:
                raise GpumetaError("--n-workers applies to --cluster local only; a running cluster keeps its workers")
            try:
                client = Client(scheduler_address, timeout=CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, ValueError) as exc:
                raise GpumetaError(f"cannot reach the dask scheduler at {scheduler_address} "
                                   f"({type(exc).__name__}); start it (dask scheduler / dask cuda worker) or fix "
                                   "--scheduler-address") from None
        else:
            local = stack.enter_context(backend.local_cluster(n_workers=n_workers))
            client = Client(local)
        stack.enter_context(client)
        message = f"dask cluster: {n_workers_of(client)} worker(s), dashboard {client.dashboard_link}"
        log.info(message)
        if not quiet:
            print(message, flush=True)
        yield client


def n_workers_of(client) -> int:
    """Workers the client's scheduler knows now (0 without a client)."""
    return 0 if client is None else len(client.scheduler_info(n_workers=-1)["workers"])


def _budget_on_worker(device: str) -> int:
    return get_backend(device).memory_budget()


def worker_memory_budget(client, backend: Backend) -> int:
    """Bytes the smallest worker can use: its free device memory (cuda) or available host memory capped by
    its dask memory limit (cpu). Without a client, this process's budget."""
    if client is None:
        return backend.memory_budget()
    budgets = client.run(_budget_on_worker, backend.name)
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return min(backend.worker_budget(budgets[address], workers.get(address, {}).get("memory_limit"))
               for address in budgets)
