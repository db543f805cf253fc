"""Evaluation and explanation: base vs meta metrics, SHAP, figures, and the run's summary and report.

Modules: `metrics` (pure NumPy/pandas figures), `plots` (matplotlib figures), `drawing` (figures drawn by
worker processes while the caller computes), `explain` (SHAP and gain),
`heldout` (one held-out evaluation written to a directory), `report` (training_summary.txt and
report.html rendered from a run directory's files).
"""

from __future__ import annotations

from .heldout import evaluate_heldout
from .metrics import best_f1_threshold, calibration_stats, evaluate_predictions, fold_metrics, learning_curve_gaps
from .report import write_report_html, write_training_summary

__all__ = ["best_f1_threshold", "calibration_stats", "evaluate_heldout", "evaluate_predictions", "fold_metrics",
           "learning_curve_gaps", "write_report_html", "write_training_summary"]
