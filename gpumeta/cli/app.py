"""The typer application, the shared options, and the error contract of every command."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import __version__
from ..backend import DEVICES
from ..errors import GpumetaError

app = typer.Typer(
    name="gpumeta",
    help="GPU-native meta-models that correct splice-site base models (SpliceAI and kin).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: The --device option shared by every command that computes.
DeviceOption = Annotated[str, typer.Option(
    "--device", help=f"Where to compute: {'|'.join(DEVICES)} (auto = cuda when a GPU and RAPIDS import).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display (for scripts).")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gpumeta {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool | None, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """GPU-native meta-models for splice-site prediction."""


#: What an interrupted command says, with exit status 130.
INTERRUPTED = "interrupted: outputs written so far are complete; rerun with --resume"


def main(argv: list[str] | None = None) -> int:
    """Console entry point: runs the app and turns GpumetaError into one line + exit 2, Ctrl-C into one line +
    exit 130."""
    try:
        # standalone_mode=False: click hands back Exit codes and raises usage errors instead of exiting.
        result = app(args=argv, standalone_mode=False)
        if result == 130:  # recent typer's answer to Ctrl-C: Exit(130), handed back as the result
            typer.echo(INTERRUPTED, err=True)
        return result if isinstance(result, int) else 0
    except GpumetaError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo(INTERRUPTED, err=True)
        return 130
    except Exception as exc:
        # Usage errors (unknown command or option, bad value) from click, which recent typer vendors:
        # recognised by click's protocol so both layouts work.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            return 2
        raise
