"""The one exception type users see.

Every check at a boundary (files, columns, config keys, CLI options) raises `GpumetaError` with a single
line that names the file, column or value and says what to do. The CLI prints it as ``error: ...`` and
exits with status 2; notebooks get an ordinary exception (it is a ValueError).
"""

from __future__ import annotations


def shown(values, n: int = 5, quote: bool = False) -> str:
    """The first `n` values for a message, then how many more: "a, b, c and 4 more"."""
    values = list(values)
    text = ", ".join(map(repr if quote else str, values[:n]))
    return text + (f" and {len(values) - n} more" if len(values) > n else "")


class GpumetaError(ValueError):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2

    def __init__(self, message: str):
        # One line, always: a multi-line message would defeat grep-able logs and the CLI contract.
        super().__init__(" ".join(str(message).split()))
