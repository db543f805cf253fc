"""`gpumeta demo`: synth -> build -> train on an embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import DeviceOption, QuietOption, app


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where genome/, dataset/ and run/ go.")] = Path("demo-run"),
    genes: Annotated[int, typer.Option("--genes", help="Synthetic genes to make.")] = 80,
    seed: Annotated[int, typer.Option("--seed", help="Seed of everything.")] = 0,
    device: DeviceOption = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Remake the genome and dataset.")] = False,
    quiet: QuietOption = False,
) -> None:
    """The main job end to end on synthetic data it makes itself: synth, build, train, evaluate, report."""
    from ..demo import demo as run_demo

    result = run_demo(out_dir, n_genes=genes, seed=seed, device=device, overwrite=overwrite, quiet=quiet)
    headline = result.evaluation[result.evaluation["headline"]]
    typer.echo(f"held-out macro F1: base {headline['macro_f1']['base']:.4f} -> meta "
               f"{headline['macro_f1']['meta']:.4f} on {result.evaluation['n_test_genes']} genes")
    typer.echo(f"summary: {result.run_dir / 'training_summary.txt'}; report: {result.run_dir / 'report.html'}")
