"""gpumeta: GPU-native meta-models that correct a splice-site base model's errors.

The Python API is what notebooks use; each CLI command is a thin layer over one of these functions.
"""

from __future__ import annotations

import os

# xgboost's (and scikit-learn's) OpenMP threads spin while they wait for work: on cores other jobs share,
# a spinning thread burns the time slice its partner needs (dmlc/xgboost#8729). One fold's three boosters
# on the bench_train dataset, 2 cores at load average 6: 45 s wall / 21.7 CPU-s by default, 6.9 s / 4.5
# CPU-s with passive waits. Set before any OpenMP runtime loads; an OMP_WAIT_POLICY already in the
# environment (ACTIVE: the spinning default) wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

from .backend import get_backend
from .errors import GpumetaError

__all__ = ["GpumetaError", "__version__", "get_backend"]
