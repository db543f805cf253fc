"""Benchmark sweeps: a grid of training runs (datasets × algorithms × parameter sets × seeds × devices) as dask
tasks, each a normal run directory, resumable, summed up in one results table, a figure and an HTML page."""

from .results import read_results, summarize
from .runner import SweepResult, run_sweep
from .spec import Cell, SweepSpec, load_spec

__all__ = ["Cell", "SweepResult", "SweepSpec", "load_spec", "read_results", "run_sweep", "summarize"]
