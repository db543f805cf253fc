import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# Keep BLAS and xgboost from oversubscribing the 2-core CI machine when tests run workers.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# Idle OpenMP threads sleep instead of spinning: on a shared or busy machine spinning threads starve the
# ones doing work (measured: the same tiny fits took 0.2-66 s spinning, steady when passive). Set before
# xgboost loads its OpenMP runtime; subprocesses inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def gpu_visible() -> bool:
    """A GPU this machine shows (a device node, or nvidia-smi listing one), whatever the Python stack says.

    GPU tests are skipped only without one: with a GPU they run, so a broken RAPIDS or a CPU-only xgboost
    fails them instead of passing silently on the CPU.
    """
    if Path("/dev/nvidia0").exists():
        return True
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def pytest_collection_modifyitems(config, items):
    if gpu_visible():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none visible: no /dev/nvidia0, nvidia-smi lists none)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
