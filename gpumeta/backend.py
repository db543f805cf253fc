"""The backend seam: every difference between the GPU stack and the CPU fallback lives here.

``get_backend("auto"|"cpu"|"cuda")`` returns a `Backend`; the rest of gpumeta receives one and never asks
where it runs. GPU packages (cuDF, CuPy, dask-cuda) are imported lazily, so the CPU install needs none.

| need          | cuda                                  | cpu                          |
|---------------|---------------------------------------|------------------------------|
| arrays        | CuPy                                  | NumPy                        |
| Parquet→matrix| cuDF from Arrow, assembled on device  | NumPy fill from Arrow        |
| boosting      | xgboost device="cuda", QuantileDMatrix on device arrays | xgboost device="cpu" |
| SHAP          | pred_contribs on the GPU (GPUTreeShap) | pred_contribs on CPU        |
| cluster       | dask-cuda LocalCUDACluster            | dask LocalCluster            |
| memory budget | free device memory                    | available host memory        |
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import GpumetaError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Backend:
    """One execution target. `name` is "cpu" or "cuda"; `xp` the array module (NumPy or CuPy)."""

    name: str
    xp: Any

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

    def matrix_from_arrow(self, table, columns):
        """A float32 (rows, columns) matrix of these Arrow columns on this backend.

        cuda: cuDF takes the Arrow columns to the device and assembles the row-major matrix there, so the
        host never builds it; cpu: one NumPy fill, column by column.
        """
        if self.name == "cuda":
            import cudf

            return cudf.DataFrame.from_arrow(table.select(list(columns))).to_cupy(dtype=np.float32)
        block = np.empty((table.num_rows, len(columns)), dtype=np.float32)
        for j, name in enumerate(columns):
            block[:, j] = table.column(name).to_numpy(zero_copy_only=False)
        return block

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
    def memory_budget(self) -> int:
        """Bytes one worker of this backend can use now: free device memory, or available host memory."""
        if self.name == "cuda":
            free, _total = self.xp.cuda.runtime.memGetInfo()
            return int(free)
        import psutil

        return int(psutil.virtual_memory().available)

    def local_cluster(self, n_workers: int | None = None, threads_per_worker: int | None = None):
        """A dask cluster on this machine: one worker per GPU on cuda, process workers on cpu."""
        if self.name == "cuda":
            from dask_cuda import LocalCUDACluster

            return LocalCUDACluster(n_workers=n_workers)
        from dask.distributed import LocalCluster

        n_workers = n_workers or max(1, min(2, self.n_threads))
        threads = threads_per_worker or max(1, self.n_threads // n_workers)
        return LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True,
                            dashboard_address=":0")


def _cuda_problem() -> str | None:
    """Why the cuda backend cannot run here, or None when it can."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device is visible"
    except Exception as exc:  # ImportError, or CUDA driver errors surface as various types
        return f"CuPy is not usable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    try:
        import cudf  # noqa: F401
    except Exception as exc:
        return f"cuDF is not importable ({type(exc).__name__})"
    return None


@functools.cache
def get_backend(device: str = "auto") -> Backend:
    """The backend for `device` ("auto" picks cuda when a GPU and the RAPIDS stack import, else cpu)."""
    device = (device or "auto").lower()
    if device not in DEVICES:
        raise GpumetaError(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    if device == "cpu":
        return Backend("cpu", np)
    problem = _cuda_problem()
    if problem is None:
        import cupy

        return Backend("cuda", cupy)
    if device == "cuda":
        raise GpumetaError(f"--device cuda needs a GPU with the RAPIDS stack: {problem}; "
                           "install the gpu extra (pip install 'gpumeta[gpu]') or use --device cpu")
    return Backend("cpu", np)
