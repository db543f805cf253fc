"""The backend seam: which device and why, what workers receive, one-line device errors, array types."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb

from gpumeta import backend as backend_module
from gpumeta.backend import device_errors, get_backend
from gpumeta.errors import GpumetaError

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.fixture
def fresh_backends():
    """get_backend caches its answer per process; tests that change what the probe sees start afresh."""
    get_backend.cache_clear()
    yield
    get_backend.cache_clear()


@pytest.mark.parametrize("device", DEVICES)
def test_a_backend_travels_to_workers_as_the_same_backend(device):
    backend = get_backend(device)
    assert pickle.loads(pickle.dumps(backend)) is backend  # __reduce__: rebuilt by get_backend, not copied
    assert backend.name == device and backend.reason.startswith(f"{device}:")


@pytest.mark.parametrize("device", DEVICES)
def test_arrow_columns_become_the_same_float32_matrix(device):
    backend = get_backend(device)
    table = pa.table({"a": [1, 2, 3], "b": [0.5, 0.25, 0.125], "flag": [True, False, True]})
    table = table.replace_schema_metadata({b"pandas": b'{"index_columns": ["a"]}'})  # must not steer cuDF
    matrix = backend.matrix_from_arrow(table, ["b", "a"])
    assert isinstance(matrix, backend.xp.ndarray) and matrix.dtype == np.float32 and matrix.flags.c_contiguous
    np.testing.assert_array_equal(backend.to_host(matrix), [[0.5, 1], [0.25, 2], [0.125, 3]])
    assert isinstance(backend.dask_partition(np.arange(3)), backend.xp.ndarray)


def test_auto_without_a_usable_gpu_says_why_it_chose_cpu(fresh_backends, monkeypatch):
    monkeypatch.setattr(backend_module, "_cuda_problem", lambda: "no CUDA device is visible")
    chosen = get_backend("auto")
    assert chosen.name == "cpu" and chosen.reason == "cpu: auto fell back because no CUDA device is visible"


def test_device_cuda_error_carries_the_underlying_message(fresh_backends, monkeypatch):
    monkeypatch.setattr(backend_module, "_cuda_problem",
                        lambda: "CuPy is not usable (CUDARuntimeError: cudaErrorInsufficientDriver)")
    with pytest.raises(GpumetaError, match=r"needs a GPU .*cudaErrorInsufficientDriver.*--device cpu"):
        get_backend("cuda")


def _fake_gpu_modules(monkeypatch) -> None:
    """CuPy that sees one device, importable cuDF and RMM: what a GPU node shows the probe."""
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime)))
    monkeypatch.setitem(sys.modules, "cudf", types.ModuleType("cudf"))
    monkeypatch.setitem(sys.modules, "rmm", types.ModuleType("rmm"))


def test_a_cpu_only_xgboost_is_refused_for_cuda(fresh_backends, monkeypatch):
    _fake_gpu_modules(monkeypatch)
    monkeypatch.setattr(xgb, "build_info", lambda: {"USE_CUDA": False})
    assert "CPU-only build" in backend_module._cuda_problem()
    with pytest.raises(GpumetaError, match=r"xgboost .* is a CPU-only build .*USE_CUDA"):
        get_backend("cuda")
    assert "CPU-only build" in get_backend("auto").reason


def test_the_probe_passes_a_working_stack(monkeypatch):
    _fake_gpu_modules(monkeypatch)
    monkeypatch.setattr(xgb, "build_info", lambda: {"USE_CUDA": True})
    assert backend_module._cuda_problem() is None
    assert backend_module._optional_parts() == "cuDF, one RMM pool"


def test_cupy_and_a_cuda_xgboost_suffice_without_cudf_and_rmm(monkeypatch):
    # Not installed is not broken: the GPU trains, Parquet columns pass through host memory, CuPy keeps its pool.
    _fake_gpu_modules(monkeypatch)
    for module in backend_module.OPTIONAL_GPU_MODULES:
        monkeypatch.setitem(sys.modules, module, None)  # import raises ModuleNotFoundError naming the module
    monkeypatch.setattr(xgb, "build_info", lambda: {"USE_CUDA": True})
    assert backend_module._cuda_problem() is None
    assert backend_module._optional_parts() == ("no cuDF (Parquet columns staged through host memory), "
                                                "no RMM (CuPy's own pool)")


def test_an_installed_but_broken_cudf_is_a_broken_stack(fresh_backends, monkeypatch):
    _fake_gpu_modules(monkeypatch)
    monkeypatch.setattr(xgb, "build_info", lambda: {"USE_CUDA": True})
    real_import = backend_module.importlib.import_module

    def import_module(name, *args):
        if name == "cudf":  # what a cuDF built for another CUDA shows: its own module loads, its library not
            raise ImportError("libcudf.so: cannot open shared object file: No such file or directory")
        return real_import(name, *args)

    monkeypatch.setattr(backend_module.importlib, "import_module", import_module)
    assert backend_module._cuda_problem() == ("cudf is installed but does not import (ImportError: libcudf.so: "
                                              "cannot open shared object file: No such file or directory)")
    with pytest.raises(GpumetaError, match=r"--device cuda needs .*cudf is installed but does not import"):
        get_backend("cuda")


def test_cuda_parts_that_are_not_installed_are_one_line_errors(monkeypatch):
    # cuML for the scikit-learn-like learners and dask-cuda for a local cluster: each missing one is said in
    # one line with what to do (a bare object: no GPU is needed to reach the check).
    cuda = object.__new__(backend_module._CudaBackend)
    monkeypatch.setitem(sys.modules, "cuml", None)
    monkeypatch.setitem(sys.modules, "dask_cuda", None)
    with pytest.raises(GpumetaError, match=r"^RandomForestClassifier on cuda comes from cuML, .*--device cpu"):
        cuda.sklearn_like("sklearn.ensemble.RandomForestClassifier", "cuml.ensemble.RandomForestClassifier")
    with pytest.raises(GpumetaError, match=r"^a dask cluster on cuda needs dask-cuda .*--device cpu"):
        cuda.local_cluster()


class OutOfMemoryError(Exception):
    """Named like CuPy's: device_errors recognises it by name, without importing CuPy."""


@pytest.mark.parametrize("error", [
    OutOfMemoryError("Out of memory allocating 8,589,934,592 bytes (allocated so far: 0 bytes)."),
    MemoryError("std::bad_alloc: out_of_memory: RMM failure at:arena.hpp:1"),
    xgb.core.XGBoostError("[10:02:11] cudaErrorMemoryAllocation: out of memory\nStack trace: ..."),
])
def test_device_memory_errors_become_one_line_with_what_to_do(error):
    with pytest.raises(GpumetaError) as caught, device_errors("training fold 1"):
        raise error
    message = str(caught.value)
    assert "\n" not in message and message.startswith("out of memory while training fold 1")
    assert type(error).__name__ in message and "--genes-per-instance" in message and "--device cpu" in message


def test_device_errors_name_cuda_failures_and_pass_everything_else():
    with pytest.raises(GpumetaError, match=r"CUDA error while loading .*nvidia-smi"), device_errors("loading x"):
        raise xgb.core.XGBoostError("CUDA driver version is insufficient for CUDA runtime version")
    with pytest.raises(ValueError, match="not a device problem"), device_errors("loading x"):
        raise ValueError("not a device problem")


def test_cpu_worker_budget_is_capped_by_its_dask_memory_limit():
    cpu = get_backend("cpu")
    assert cpu.worker_budget(8_000, 3_000) == 3_000
    assert cpu.worker_budget(8_000, None) == 8_000
    assert cpu.worker_budget(8_000, 0) == 8_000  # dask's "no limit"
