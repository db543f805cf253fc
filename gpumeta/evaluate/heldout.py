"""Honest evaluation of a trained meta-model on genes it never saw, base model alongside.

`evaluate_heldout` scores the held-out genes' rows, compares base and meta (`metrics`), draws the
figures (`plots`), explains the model (`explain`) and writes, into one directory:

    meta_evaluation_summary.json   every figure below, the test genes, what rows each is computed on, and
                                   "warnings": sentences saying when the held-out set is too small for a claim
    base_vs_meta_performance.tsv   one row per held-out gene (from the headline rows)
    plots/                         ROC, PR, calibration, learning curves, per-gene F1, importance, SHAP
    shap_importance.csv, feature_importance.csv

Rows of a built dataset are a sample of each gene's nucleotides (easy negatives down-sampled), which
flatters any model: FP counts and precision are those of the sample. When a dataset of every nucleotide of
the same genes is given (`full_dataset`, built with --all-positions), that evaluation is the headline.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import write_csv, write_json
from ..errors import GpumetaError, shown
from ..learners import learner_class
from ..learners.base import no_shap_error
from ..model import normalise
from ..schema import LABELS
from ..structure import gene_positions
from . import drawing, plots
from .explain import DEFAULT_MAX_SHAP_ROWS, explain_model
from .metrics import (
    SITE_TYPES,
    binary_counts,
    calibration_stats,
    evaluate_predictions,
    learning_curve_gaps,
    reliability_bins,
)
from .statistics import error_change_interval, heldout_differences

SUMMARY_FILE = "meta_evaluation_summary.json"
PER_GENE_FILE = "base_vs_meta_performance.tsv"
CURVES_FILE = "learning_curves.json"
#: Below these, a held-out figure rests on too little to support a claim (issue 9): genes, and true sites of a type.
MIN_HELDOUT_GENES = 10
MIN_HELDOUT_SITES = 50
DEFAULT_SAMPLE_NOTE = ("rows are a sample of each gene's nucleotides (easy negatives down-sampled): false "
                       "positives and precision are those of the sample, not of whole genes")


def read_gene_list(path: str | Path) -> list[str]:
    """Gene ids from a text file: one per line; blank lines and lines starting with # are skipped."""
    path = Path(path)
    if not path.is_file():
        raise GpumetaError(f"{path}: no such gene list; give a text file with one gene id per line")
    genes = [line.strip() for line in path.read_text().splitlines()]
    genes = [g for g in genes if g and not g.startswith("#")]
    if not genes:
        raise GpumetaError(f"{path}: lists no gene ids; give one gene id per line")
    return genes


def resolve_test_genes(model, dataset, genes: Iterable[str] | None) -> list[str]:
    """The genes to evaluate (all of the dataset's when None), refusing any the model trained on."""
    available = {str(g) for g in dataset.genes}
    chosen = sorted(available) if genes is None else sorted({str(g) for g in genes})
    if not chosen:
        raise GpumetaError("no genes to evaluate: the gene list is empty")
    missing = [g for g in chosen if g not in available]
    if missing:
        raise GpumetaError(f"{dataset.path}: has no rows for gene(s) {shown(missing)}; "
                           "check the gene list against this dataset")
    trained = sorted(set(chosen) & {str(g) for g in model.training_genes})
    if trained:
        raise GpumetaError(f"{len(trained)} of the genes to evaluate were used to train the model "
                           f"({shown(trained)}); evaluate only held-out genes (e.g. --genes-file RUN/test_genes.txt)")
    return chosen


def gene_structure_comparison(model, data, meta_proba: np.ndarray, seed: int = 0) -> dict[str, Any] | None:
    """Calls decoded by the model's gene structures (gpumeta.structure) beside the plain calls at the tuned
    thresholds, base and meta, on the same rows: per site type TP/FP/FN, FP+FN in all, and the relative
    change of FP+FN from the base model's tuned calls to the meta-model's decoded ones with its gene-bootstrap
    interval. None when the rows cannot be placed in their genes (no position column, or a nucleotide in two
    rows)."""
    genes = data.gene_codes  # integers: the decoding groups rows by gene without comparing strings
    positions, _ = gene_positions(genes, data.meta)
    if positions is None:
        return None
    probas = {"base": data.base_proba, "meta": meta_proba}
    tuned = {"base": model.base_thresholds, "meta": model.thresholds}
    block: dict[str, Any] = {"structures": {who: s.to_dict() for who, s in model.gene_structure.items()},
                             "site_types": {t: {} for t in SITE_TYPES}, "fp_fn": {}}
    present, gene_of_row = np.unique(genes, return_inverse=True)  # the rows' genes, numbered 0..n-1
    per_gene: dict[str, np.ndarray] = {}  # FP+FN of each gene, by "<who>_tuned" / "<who>_decoded"
    for who in ("base", "meta"):
        structure = model.gene_structure.get(who)
        posterior = None if structure is None else model.structure_posteriors(who, genes, positions, probas[who])
        for j, t in enumerate(SITE_TYPES):
            y_bin = data.y == LABELS.index(t)
            calls = {"tuned": probas[who][:, LABELS.index(t)] >= tuned[who][t]}
            if posterior is not None:
                calls["decoded"] = posterior[:, j] >= structure.cuts[j]
            for how, called in calls.items():
                key = f"{who}_{how}"
                block["site_types"][t][key] = binary_counts(y_bin, called)
                per_gene[key] = per_gene.get(key, 0) + np.bincount(gene_of_row, weights=called ^ y_bin,
                                                                   minlength=len(present))
    for key, errors in per_gene.items():
        block["fp_fn"][key] = int(errors.sum())
    if "meta_decoded" in per_gene:
        change, low, high = error_change_interval(per_gene["base_tuned"], per_gene["meta_decoded"], seed=seed)
        block["meta_decoded_vs_base_tuned"] = {"change": change, "low": low, "high": high, "genes": len(present)}
    return block


def _scored(model, dataset, genes: list[str]):
    """(the rows of `genes` without their matrix: labels, genes, base scores; the model's margins of them).

    The margins are computed a block of rows at a time straight from the dataset's matrix (or its Parquet
    files), in the model's feature order, so no copy of the held-out matrix is ever made."""
    rows = dataset.without_matrix()
    if len(genes) != len(dataset.genes):
        rows = rows.select_genes(genes)
    _, margins = dataset.map_blocks(genes, model.margins, model.feature_names)
    return rows, margins


def model_curves(evals_result: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(label, evals_result) pairs: one for a single model, one per instance for an ensemble."""
    if not evals_result:
        return []
    if any(label in evals_result for label in LABELS):
        return [("final", evals_result)]
    return [(str(name), sub) for name, sub in evals_result.items() if isinstance(sub, Mapping)]


def _saved_curves(out_dir: Path) -> list[tuple[str, Mapping[str, Any]]]:
    file = out_dir / CURVES_FILE
    if not file.is_file():
        return []
    try:
        saved = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise GpumetaError(f"{file}: not valid JSON ({exc.msg}); rerun training or remove it") from None
    return [(str(label), evals) for label, evals in saved.items() if isinstance(evals, Mapping)]


def _gene_changes(per_gene: pd.DataFrame) -> dict[str, dict[str, int]]:
    out = {}
    for t in SITE_TYPES:
        delta = per_gene[f"delta_{t}_f1"].dropna()
        out[t] = {"better": int((delta > 0).sum()), "worse": int((delta < 0).sum()),
                  "same": int((delta == 0).sum())}
    return out


def heldout_warnings(n_genes: int, block: Mapping[str, Any], what: str) -> list[str]:
    """Sentences warning that the held-out set is too small to support a claim: fewer than
    MIN_HELDOUT_GENES genes, or fewer than MIN_HELDOUT_SITES true sites of a type. `block` is one
    `evaluate_predictions` summary (its tuned TP + FN of the base model are the true sites); `what`
    names its rows (e.g. "the sampled rows")."""
    warnings = []
    if n_genes < MIN_HELDOUT_GENES:
        warnings.append(f"Only {n_genes} held-out gene(s): too few to support a claim (at least "
                        f"{MIN_HELDOUT_GENES} are needed); a gene or two can swing every figure. Evaluate on more "
                        "genes (a larger dataset, or --test-dataset).")
    for t in SITE_TYPES:
        counts = block["site_types"][t]["tuned"]["base"]
        n_sites = counts["tp"] + counts["fn"]
        if n_sites < MIN_HELDOUT_SITES:
            warnings.append(f"Only {n_sites:,.0f} true {t} site(s) in {what}: too few to support a claim about "
                            f"{t}s (at least {MIN_HELDOUT_SITES} are needed); {t} F1, FP and FN may change a lot "
                            "with other genes.")
    return warnings


def evaluate_heldout(
    model,
    dataset,
    out_dir: str | Path,
    genes: Iterable[str] | None = None,
    full_dataset=None,
    shap_genes: int = 200,
    skip_shap: bool = False,
    minimal: bool = False,
    seed: int = 0,
    sample_note: str | None = None,
    max_shap_rows: int = DEFAULT_MAX_SHAP_ROWS,
    curves: Sequence[tuple[str, Mapping[str, Any]]] | None = None,
    meanwhile: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Evaluate `model` on the rows of `genes` (held-out genes; all of `dataset`'s when None).

    `minimal` writes only the summary JSON and the per-gene TSV (no figures, calibration or SHAP);
    `skip_shap` leaves out SHAP only. `curves` are the (label, evals_result) learning curves to plot and
    check for overfitting (CV folds and final model); when None, out_dir/learning_curves.json
    ({label: evals_result}, written by the trainer) when present, else the model's own. `meanwhile` is
    further work (the trainer's feature-importance analysis) run once every figure is queued, so that inside a
    `drawing` block it is computed while workers draw. Returns the summary written to
    meta_evaluation_summary.json, last: after every figure.
    """
    silent = [a for a in model.algorithms if not learner_class(a).explains()]
    if silent and not (skip_shap or minimal):  # said before anything is written
        raise no_shap_error(silent[0])
    out_dir = Path(out_dir)
    test_genes = resolve_test_genes(model, dataset, genes)
    rows, margins = _scored(model, dataset, test_genes)  # once: calibrated and uncalibrated both come from them
    note = (sample_note or DEFAULT_SAMPLE_NOTE) if rows.is_sampled else None
    meta_proba = model.calibrate_margins(margins, rows.base_proba)
    rows_summary, rows_per_gene = evaluate_predictions(rows.y, rows.base_proba, meta_proba, rows.gene_ids,
                                                       model.base_thresholds, model.thresholds)
    summary: dict[str, Any] = {
        "headline": "rows",
        "n_test_genes": len(test_genes),
        "rows_sampled": bool(rows.is_sampled),
        "sample_note": note,
        "dataset": str(rows.path),
        "thresholds": {"base": dict(model.base_thresholds), "meta": dict(model.thresholds)},
        "rows": rows_summary,
    }
    if rows.is_sampled and rows.weights is not None:
        # Each sampled row stands for 1 / inclusion_prob nucleotides: an estimate of whole-gene figures.
        summary["reweighted"], _ = evaluate_predictions(rows.y, rows.base_proba, meta_proba, rows.gene_ids,
                                                        model.base_thresholds, model.thresholds,
                                                        weights=rows.weights)
    head = {"data": rows, "proba": meta_proba, "margins": margins, "per_gene": rows_per_gene,
            "what": f"the {'sampled ' if rows.is_sampled else ''}rows of the {len(test_genes)} held-out genes"}
    if full_dataset is not None:
        if full_dataset.is_sampled:
            raise GpumetaError(f"{full_dataset.path}: is not a dataset of every nucleotide (its dataset_card.json "
                               "lacks all_positions: true); build it with gpumeta build --all-positions")
        resolve_test_genes(model, full_dataset, test_genes)  # every test gene present, none trained on
        full, full_margins = _scored(model, full_dataset, test_genes)
        full_proba = model.calibrate_margins(full_margins, full.base_proba)
        summary["full_resolution"], full_per_gene = evaluate_predictions(
            full.y, full.base_proba, full_proba, full.gene_ids, model.base_thresholds, model.thresholds)
        summary["full_resolution"]["dataset"] = str(full.path)
        summary["headline"] = "full_resolution"
        head = {"data": full, "proba": full_proba, "margins": full_margins, "per_gene": full_per_gene,
                "what": f"every nucleotide of the {len(test_genes)} held-out genes"}
    head_note = note if head["data"] is rows else None
    if model.gene_structure:
        summary["gene_structure"] = gene_structure_comparison(model, head["data"], head["proba"], seed)
        if summary["gene_structure"] is not None:
            summary["gene_structure"]["scored_on"] = summary["headline"]
    summary["per_gene_source"] = summary["headline"]
    summary["warnings"] = heldout_warnings(len(test_genes), summary[summary["headline"]], head["what"])
    summary["gene_changes"] = _gene_changes(head["per_gene"])
    # Is each difference more than the luck of which genes were held out? (statistics.heldout_differences)
    summary["statistics"] = heldout_differences(head["per_gene"], seed=seed)
    write_csv(out_dir / PER_GENE_FILE, head["per_gene"], sep="\t")

    figures: dict[str, str] = {}
    drawn = []  # (figure, what it is computed on), queued (drawing.draw): drawn while the rest is computed
    if not minimal:
        plots_dir = out_dir / "plots"
        data = head["data"]
        uncalibrated = normalise(1.0 / (1.0 + np.exp(-head["margins"])))
        summary["calibration"] = calibration_stats(data.y, uncalibrated, head["proba"])
        curves = list(curves) if curves is not None else _saved_curves(out_dir) or model_curves(model.evals_result)
        gaps = learning_curve_gaps(curves)
        summary["overfitting"] = gaps.to_dict(orient="records")
        drawn.append((drawing.draw(plots.plot_roc_pr, data.y, data.base_proba, head["proba"], plots_dir,
                                   note=head_note), head["what"]))
        reliability = {label: {"before": reliability_bins(data.y == k, uncalibrated[:, k]),
                               "after": reliability_bins(data.y == k, head["proba"][:, k])}
                       for k, label in enumerate(LABELS)}
        drawn.append((drawing.draw(plots.plot_reliability, reliability, plots_dir, note=head_note), head["what"]))
        drawn.append((drawing.draw(plots.plot_gene_f1_scatter, head["per_gene"], plots_dir, note=head_note),
                      f"{head['what']}, at the tuned thresholds"))
        drawn.append((drawing.draw(plots.plot_learning_curves, curves, plots_dir),
                      "training and validation genes of each fit (" + ", ".join(label for label, _ in curves)
                      + "); no held-out gene"))
        # SHAP on the sampled rows: they hold the errors, and every nucleotide would cost 100× more.
        explained = explain_model(model, dataset, out_dir, plots_dir=plots_dir, shap_genes=shap_genes,
                                  seed=seed, skip_shap=skip_shap, max_rows=max_shap_rows, note=note,
                                  genes=test_genes)
        summary["shap"] = explained["shap"]
    if meanwhile is not None:
        meanwhile()
    drawing.wait_all()  # explain_model's figures too
    for paths, what in zip(drawing.wait(future for future, _ in drawn), (what for _, what in drawn)):
        for path in paths if isinstance(paths, list) else [paths]:
            if path is not None:  # plot_learning_curves: None when no fit has both curves
                figures[path.name] = what
    if not minimal:
        figures["feature_importance.png"] = "gain: training rows; mean |SHAP|: the SHAP gene sample"
        if summary["shap"] is not None:
            for label in LABELS:
                for figure in ("beeswarm", "dependence", "waterfall"):
                    figures[f"shap_{figure}_{label}.png"] = (
                        f"{summary['shap']['n_genes']} held-out genes sampled with seed {seed} "
                        f"({summary['shap']['n_rows']} {'sampled ' if rows.is_sampled else ''}rows)")
    summary["figures"] = figures
    summary["test_genes"] = test_genes
    # Written last: its presence means the evaluation finished.
    write_json(out_dir / SUMMARY_FILE, summary)
    return summary
