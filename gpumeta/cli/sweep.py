"""`gpumeta sweep`: a grid of training runs on a dask cluster, resumable, with one results table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import QuietOption, app


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="Sweep spec (YAML): datasets, algorithms, params, seeds, devices.")],
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Sweep directory: cells/, results.parquet/.csv, "
                                                            "comparison.png, report.html.")],
    cluster: Annotated[str | None, typer.Option(
        "--cluster", help="'local' (the default): a LocalCluster for cpu cells, dask-cuda (one worker per GPU) "
                          "for cuda cells.")] = None,
    scheduler_address: Annotated[str | None, typer.Option(
        "--scheduler-address", help="Run the cells on a running dask cluster (tcp://HOST:PORT).")] = None,
    n_workers: Annotated[int | None, typer.Option(
        "--n-workers", help="Workers of --cluster local (default: one per GPU on cuda, 2 on cpu).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue a sweep in --out-dir: finished cells are skipped, failed ones run again.")] = False,
    quiet: QuietOption = False,
) -> None:
    """Run a benchmark sweep: every cell a `gpumeta train` run directory; exit 1 when cells failed."""
    from ..sweep import run_sweep

    result = run_sweep(spec, out_dir, cluster=cluster, scheduler_address=scheduler_address, n_workers=n_workers,
                       resume=resume, quiet=quiet)
    n = len(result.table)
    typer.echo(f"{n - len(result.failed)} of {n} cells complete ({len(result.ran)} run now, "
               f"{len(result.skipped)} finished before), {len(result.failed)} failed; table: "
               f"{out_dir / 'results.csv'}; page: {out_dir / 'report.html'}")
    if result.failed:
        raise typer.Exit(1)
