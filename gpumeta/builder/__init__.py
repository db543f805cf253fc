"""The dataset builder: genome + annotation + base-model predictions -> a meta-model training dataset.

Public API: `build_dataset` (gpumeta build), `dedupe` (gpumeta dedupe), `summarize` (gpumeta summarize).
"""

from __future__ import annotations

from .builder import BuildResult, build_dataset
from .dedupe import DedupeResult, dedupe
from .params import BuildParams
from .summarize import summarize

__all__ = ["BuildParams", "BuildResult", "DedupeResult", "build_dataset", "dedupe", "summarize"]
