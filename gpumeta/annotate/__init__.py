"""Whole-region inference: a trained model + genome + regions + base-model scores -> meta-corrected
per-nucleotide scores, site calls, genome-browser tracks and a per-gene summary (`gpumeta annotate`).

Public API: `annotate`, `score_regions`, `recipe_of_dataset` (training copies it into the model).
"""

from __future__ import annotations

from .recipe import recipe_of_dataset, recipe_params
from .workflow import AnnotateResult, RegionScores, annotate, score_regions

__all__ = ["AnnotateResult", "RegionScores", "annotate", "recipe_of_dataset", "recipe_params", "score_regions"]
