"""The `gpumeta` command: thin typer commands over the Python API.

Each submodule registers its commands on `app`; a `GpumetaError` anywhere becomes one ``error: ...`` line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

# Command modules, in the order of the flow (help lists commands as registered): importing registers them.
from . import (
    annotate,  # noqa: F401
    build,  # noqa: F401
    data,  # noqa: F401
    demo,  # noqa: F401
    evaluate,  # noqa: F401
    sweep,  # noqa: F401
    synth,  # noqa: F401
    train,  # noqa: F401
)
from .app import app, main  # noqa: F401
