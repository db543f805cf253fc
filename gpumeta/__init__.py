"""gpumeta: GPU-native meta-models that correct a splice-site base model's errors.

The Python API is what notebooks use; each CLI command is a thin layer over one of these functions.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .backend import get_backend
from .errors import GpumetaError

__all__ = ["GpumetaError", "__version__", "get_backend"]
