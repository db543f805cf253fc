"""The `gpumeta` command: thin typer commands over the Python API.

Each submodule registers its commands on `app`; a `GpumetaError` anywhere becomes one ``error: ...`` line
on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

from .app import app, main  # noqa: F401

# Command modules, in the order of the flow (help lists commands as registered): importing registers them.
from . import synth  # noqa: F401,E402
from . import build  # noqa: F401,E402
from . import data  # noqa: F401,E402
from . import train  # noqa: F401,E402
from . import evaluate  # noqa: F401,E402
from . import demo  # noqa: F401,E402
