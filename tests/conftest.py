import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# Keep BLAS and xgboost from oversubscribing the 2-core CI machine when tests run workers.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def _cuda_available() -> bool:
    try:
        from gpumeta.backend import get_backend

        return get_backend("auto").name == "cuda"
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU with the RAPIDS stack")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
