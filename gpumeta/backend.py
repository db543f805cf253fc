"""The backend seam: every difference between the GPU stack and the CPU fallback lives here.

``get_backend("auto"|"cpu"|"cuda")`` returns a `Backend`; the rest of gpumeta receives one and never asks
where it runs. GPU packages (cuDF, CuPy, RMM, dask-cuda) are imported lazily inside `_CudaBackend`, so the
CPU install needs none. `Backend.reason` says which device was chosen and why (logged, kept in run_info).

Training on the GPU needs CuPy and a CUDA build of xgboost; cuDF and RMM (`OPTIONAL_GPU_MODULES`) are used
when they are installed, and a part of them that is installed but does not import is a broken stack (refused,
never skipped). Without them the same code runs, only the Parquet columns pass through host memory.

| need          | cuda                                  | cpu                          |
|---------------|---------------------------------------|------------------------------|
| arrays        | CuPy                                  | NumPy                        |
| Parquet→matrix| cuDF from Arrow, assembled on device (*)  | NumPy fill from Arrow  |
| memory        | one RMM pool for cuDF, CuPy and xgboost (*) | the process heap       |
| boosting      | xgboost device="cuda", QuantileDMatrix on device arrays | xgboost device="cpu" |
| SHAP          | pred_contribs on the GPU (GPUTreeShap) | pred_contribs on CPU        |
| cluster       | dask-cuda LocalCUDACluster            | dask LocalCluster            |
| memory budget | free device memory before any data    | available host memory        |
| dask partition| stays on the device (CuPy)            | NumPy                        |

(*) Without cuDF the columns are assembled on the host and copied once; without RMM CuPy keeps its own pool,
capped alike, and xgboost its own allocator.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import importlib
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import GpumetaError

DEVICES = ("auto", "cpu", "cuda")
#: RAPIDS parts the cuda backend uses when installed: cuDF assembles Parquet columns into a device matrix,
#: RMM gives cuDF, CuPy and xgboost one memory pool. CuPy and a CUDA xgboost alone train on the GPU (a
#: pip install of two packages instead of RAPIDS' several hundred MB), so neither is required.
OPTIONAL_GPU_MODULES = ("cudf", "rmm")
#: Share of the free device memory the RMM pool may grow to: CUDA contexts, cuBLAS and NCCL need the rest.
RMM_POOL_FRACTION = 0.85
#: What the pool reserves at start; it grows on demand up to its maximum, so a process that only plans
#: work (the driver of a multi-instance run beside a worker on the same GPU) holds little.
RMM_POOL_INITIAL = 1 << 30
#: Rows gathered at a time when the cpu backend turns Arrow columns into a row-major matrix.
_BAND_ROWS = 1 << 14
#: What to do when a device runs out of memory (said once, in every such error).
_OOM_ADVICE = ("use a smaller --genes-per-instance or --strategy multi-instance (instances that each fit), "
               "or --device cpu")


class Backend(abc.ABC):
    """One execution target. `name` is "cpu" or "cuda"; `xp` the array module (NumPy or CuPy); `reason` why
    this backend was chosen."""

    name: str

    def __init__(self, xp: Any, reason: str):
        self.xp, self.reason = xp, reason

    def __reduce__(self):
        # Workers get a Backend of their own (their GPU, their pool), never this process's objects.
        return get_backend, (self.name,)

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    # ---- arrays -------------------------------------------------------------------------------------
    @property
    def xgb_device(self) -> str:
        return self.name

    def asarray(self, values, dtype=None):
        """Put host or device values into this backend's array type."""
        return self.xp.asarray(values, dtype=dtype)

    def empty(self, shape, dtype=np.float32):
        return self.xp.empty(shape, dtype=dtype)

    def to_host(self, values) -> np.ndarray:
        """A NumPy copy of any array this backend made (no-op on cpu)."""
        if isinstance(values, np.ndarray):
            return values
        get = getattr(values, "get", None)
        return get() if get is not None else np.asarray(values)

    @abc.abstractmethod
    def matrix_from_arrow(self, table, columns, out=None):
        """A float32 (rows, columns) C-ordered matrix of these Arrow columns on this backend, written into
        `out` (a slice of a larger matrix) when given."""

    def dask_partition(self, values):
        """One partition of a dask array as the workers should hold it (device memory on cuda)."""
        return self.asarray(values)

    # ---- boosting -----------------------------------------------------------------------------------
    def quantile_dmatrix(self, X, label=None, weight=None, ref=None, max_bin=256, feature_names=None):
        """xgboost's QuantileDMatrix over backend arrays (device memory on cuda: no host round trip)."""
        import xgboost as xgb

        return xgb.QuantileDMatrix(X, label=label, weight=weight, ref=ref, max_bin=max_bin,
                                   feature_names=feature_names, nthread=self.n_threads)

    def dmatrix(self, X, feature_names=None):
        """A plain DMatrix for prediction and SHAP (no binning needed)."""
        import xgboost as xgb

        return xgb.DMatrix(X, feature_names=feature_names, nthread=self.n_threads)

    @property
    def n_threads(self) -> int:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    # ---- resources ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def memory_budget(self) -> int:
        """Bytes one worker of this backend can use for data: device memory free before any data, or
        available host memory."""

    @abc.abstractmethod
    def worker_budget(self, budget: int, memory_limit: int | None) -> int:
        """A dask worker's budget: its own `budget`, capped by its dask `memory_limit` where that limit
        governs the memory the data lives in."""

    @abc.abstractmethod
    def local_cluster(self, n_workers: int | None = None, threads_per_worker: int | None = None):
        """A dask cluster on this machine."""

    def sklearn_like(self, sklearn_path: str, cuml_path: str) -> type:
        """The estimator class a learner fits with on this backend: scikit-learn's on cpu, its cuML
        counterpart on cuda ("module.Class" paths; the same estimator API). The one place a learner picks
        a library by device."""
        module, _, name = (cuml_path if self.name == "cuda" else sklearn_path).rpartition(".")
        if self.name == "cuda" and not _installed("cuml"):
            raise GpumetaError(f"{name} on cuda comes from cuML, which is not installed: pip install cuml-cu12 (in "
                               "the gpu extra), or use --device cpu (scikit-learn)")
        return getattr(importlib.import_module(module), name)


class _CpuBackend(Backend):
    name = "cpu"

    def __init__(self, reason: str):
        super().__init__(np, reason)

    def matrix_from_arrow(self, table, columns, out=None):
        return _host_matrix(table, columns, out)

    def dask_partition(self, values):
        return np.asarray(values)

    def memory_budget(self) -> int:
        import psutil

        return int(psutil.virtual_memory().available)

    def worker_budget(self, budget: int, memory_limit: int | None) -> int:
        return int(min(budget, memory_limit)) if memory_limit else int(budget)

    def local_cluster(self, n_workers: int | None = None, threads_per_worker: int | None = None):
        from dask.distributed import LocalCluster

        n_workers = n_workers or max(1, min(2, self.n_threads))
        threads = threads_per_worker or max(1, self.n_threads // n_workers)
        return LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True,
                            dashboard_address=":0")


def _host_matrix(table, columns, out=None) -> np.ndarray:
    """A float32 row-major NumPy matrix of these Arrow columns (into `out` when given).

    Columns are gathered a band of rows at a time into a small column-major buffer (contiguous writes) and
    the band is transposed into place: filling a row-major matrix column by column strides through all of
    it once per column, about 2x slower. No pandas frame, no second matrix.
    """
    n = table.num_rows
    out = np.empty((n, len(columns)), dtype=np.float32) if out is None else out
    values = [table.column(name).to_numpy(zero_copy_only=False) for name in columns]
    band = np.empty((len(columns), min(n, _BAND_ROWS)), dtype=np.float32)
    for start in range(0, n, _BAND_ROWS):
        stop = min(n, start + _BAND_ROWS)
        for j, column in enumerate(values):
            band[j, :stop - start] = column[start:stop]
        out[start:stop] = band[:, :stop - start].T
    return out


class _CudaBackend(Backend):
    """The RAPIDS stack on this process's current GPU.

    At start the free device memory is read (before any data is resident: that is the budget) and one RMM
    pool, growing up to `RMM_POOL_FRACTION` of it, is made the allocator of cuDF, CuPy and xgboost, so the
    three never hold separate caches. A process that already has a pool (a dask-cuda worker started with
    ``--rmm-pool-size``) keeps it. Without RMM installed, CuPy's own pool is capped at the same share.
    """

    name = "cuda"

    def __init__(self, reason: str):
        import cupy

        super().__init__(cupy, reason)
        self.uses_cudf, self.uses_rmm = (_installed(module) for module in OPTIONAL_GPU_MODULES)
        self._free_at_start, _total = cupy.cuda.runtime.memGetInfo()
        self._share_one_pool()

    def _share_one_pool(self) -> None:
        maximum = int(self._free_at_start * RMM_POOL_FRACTION) // 256 * 256  # RMM wants 256-byte multiples
        if not self.uses_rmm:  # CuPy's own pool, capped alike; xgboost keeps its own caching allocator
            self.xp.get_default_memory_pool().set_limit(size=maximum)
            return
        import rmm
        import xgboost as xgb
        from rmm.allocators.cupy import rmm_cupy_allocator

        if not isinstance(rmm.mr.get_current_device_resource(), rmm.mr.PoolMemoryResource):
            rmm.reinitialize(pool_allocator=True, initial_pool_size=min(RMM_POOL_INITIAL, maximum),
                             maximum_pool_size=maximum)
        self.xp.cuda.set_allocator(rmm_cupy_allocator)
        xgb.set_config(use_rmm=True)

    def matrix_from_arrow(self, table, columns, out=None):
        if not self.uses_cudf:  # assembled on the host, then one copy to the device
            block = self.xp.asarray(_host_matrix(table, columns))
        else:
            # cuDF takes the Arrow columns to the device and assembles the row-major matrix there. Schema
            # metadata is dropped: cuDF honours pandas' index metadata and would look for an index column.
            import cudf

            selected = table.select(list(columns)).replace_schema_metadata(None)
            block = cudf.DataFrame.from_arrow(selected).to_cupy(dtype=np.float32)
        if out is None:
            return block
        out[...] = block
        return out

    def memory_budget(self) -> int:
        # Read once at start: the data this run loads is not counted against itself.
        return int(self._free_at_start)

    def worker_budget(self, budget: int, memory_limit: int | None) -> int:
        return int(budget)  # dask's memory_limit is host memory; the data lives on the device

    def local_cluster(self, n_workers: int | None = None, threads_per_worker: int | None = None):
        if not _installed("dask_cuda"):
            raise GpumetaError("a dask cluster on cuda needs dask-cuda (one worker per GPU): pip install dask-cuda "
                               "(in the gpu extra), pass --scheduler-address of a running cluster, or use --device cpu")
        from dask_cuda import LocalCUDACluster

        visible = self.xp.cuda.runtime.getDeviceCount()
        if n_workers is not None and n_workers > visible:
            raise GpumetaError(f"--n-workers {n_workers}: this machine shows {visible} GPU(s) and a cuda worker "
                               f"needs one of its own; use --n-workers {visible} or fewer, or --scheduler-address "
                               "for a cluster of several machines")
        return LocalCUDACluster(n_workers=n_workers)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _cuda_problem() -> str | None:
    """Why the cuda backend cannot run here, or None when it can."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device is visible"
    except Exception as exc:  # ImportError, or CUDA driver errors surface as various types
        return f"CuPy is not usable ({_first_line(exc)})"
    for module in OPTIONAL_GPU_MODULES:
        try:
            _installed(module)
        except Exception as exc:  # installed but broken (a missing libcudf, a CUDA mismatch): not skipped
            return f"{module} is installed but does not import ({_first_line(exc)})"
    import xgboost as xgb

    if not xgb.build_info().get("USE_CUDA"):
        return (f"xgboost {xgb.__version__} is a CPU-only build (build_info USE_CUDA is false); install the CUDA "
                "build (pip: xgboost or xgboost-cu13; conda-forge: py-xgboost with a CUDA variant)")
    return None


def _installed(module: str) -> bool:
    """Whether `module` imports: False when it is not installed; an installed module that fails to import
    raises its own error (a broken stack is said, never taken for an absent one)."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return False
        raise
    return True


def _optional_parts() -> str:
    """Which optional RAPIDS parts this cuda backend uses, in words."""
    cudf = "cuDF" if _installed("cudf") else "no cuDF (Parquet columns staged through host memory)"
    rmm = "one RMM pool" if _installed("rmm") else "no RMM (CuPy's own pool)"
    return f"{cudf}, {rmm}"


def _cuda_summary() -> str:
    import cupy
    import xgboost as xgb

    device = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    device = device.decode() if isinstance(device, bytes) else str(device)
    return f"{device} with CuPy {cupy.__version__}, xgboost {xgb.__version__} (CUDA build), {_optional_parts()}"


@functools.cache
def get_backend(device: str = "auto") -> Backend:
    """The backend for `device` ("auto" picks cuda when a GPU, CuPy and a CUDA xgboost work, else cpu)."""
    device = (device or "auto").lower()
    if device not in DEVICES:
        raise GpumetaError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return _CpuBackend("cpu: requested with --device cpu")
    problem = _cuda_problem()
    if problem is None:
        try:
            return _CudaBackend(f"cuda: {'requested' if device == 'cuda' else 'auto found'} {_cuda_summary()}")
        except Exception as exc:  # the RMM pool or the device itself refused
            problem = f"the GPU stack failed to start ({_first_line(exc)})"
    if device == "cuda":
        raise GpumetaError(f"--device cuda needs a GPU with CuPy and a CUDA build of xgboost: {problem}; "
                           "install the gpu extra (pip install 'gpumeta[gpu]') or use --device cpu")
    return _CpuBackend(f"cpu: auto fell back because {problem}")


def booster_device(booster) -> str:
    """The device a booster was configured for ("cpu", "cuda", "cuda:0"), from its saved configuration: the
    evidence that a fit ran where it was asked to (GPU tests and model params check it)."""
    import json

    return json.loads(booster.save_config())["learner"]["generic_param"]["device"]


def _is_memory_error(exc: BaseException) -> bool:
    """CuPy's OutOfMemoryError, RMM/cuDF's MemoryError (std::bad_alloc) and xgboost's allocation errors;
    probed by name, so nothing GPU-side is imported to check."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return type(exc).__name__ == "XGBoostError" and any(
        s in text for s in ("out of memory", "bad_alloc", "cudaerrormemoryallocation", "memory allocation"))


def _is_cuda_error(exc: BaseException) -> bool:
    name, text = type(exc).__name__, str(exc).lower()
    return name in ("CUDARuntimeError", "CUDADriverError") or (name == "XGBoostError" and "cuda" in text)


@contextlib.contextmanager
def device_errors(what: str) -> Iterator[None]:
    """Turn device failures inside the block into one-line GpumetaErrors that say what to do.

    `what` names the work ("loading the dataset", "training instance 3"). Other exceptions pass untouched.
    """
    try:
        yield
    except GpumetaError:
        raise
    except Exception as exc:
        if _is_memory_error(exc):
            raise GpumetaError(f"out of memory while {what} ({_first_line(exc)}); {_OOM_ADVICE}") from None
        if _is_cuda_error(exc):
            raise GpumetaError(f"CUDA error while {what} ({_first_line(exc)}); check the GPU with nvidia-smi, or "
                               "use --device cpu") from None
        raise
