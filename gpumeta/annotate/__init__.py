"""Whole-region inference: a trained model + genome + regions + base-model scores -> meta-corrected
per-nucleotide scores, site calls, genome-browser tracks and a per-gene summary (`gpumeta annotate`).

Public API: `annotate`, `score_batch` (with `base_scores`), `recipe_of_dataset` (training copies it into the model).
"""

from __future__ import annotations

from .recipe import recipe_of_dataset, recipe_params
from .scoring import BatchScores, base_scores, score_batch
from .workflow import AnnotateResult, annotate

__all__ = ["AnnotateResult", "BatchScores", "annotate", "base_scores", "recipe_of_dataset", "recipe_params",
           "score_batch"]
