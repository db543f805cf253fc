"""Commands on datasets: validate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..dataset import validate_dataset
from .app import app


@app.command()
def validate(
    dataset: Annotated[Path, typer.Argument(help="Dataset: DIR (with master/*.parquet), a directory of Parquet "
                                                 "files, or one Parquet file.")],
) -> None:
    """Check a dataset against the contract; print every problem, one line each (exit 2 if any)."""
    report = validate_dataset(dataset)
    if report.problems:
        for line in report.problems:
            typer.echo(f"error: {line}", err=True)
        raise typer.Exit(2)
    counts = ", ".join(f"{k} {v:,}" for k, v in report.class_counts.items())
    typer.echo(f"ok: {dataset}: {len(report.files)} file(s), {report.n_rows:,} rows ({counts})")
