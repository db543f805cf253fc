"""Is the meta-model's difference from the base model distinguishable from noise?

Three views, each paired (both models on the same genes):

- `heldout_differences`: on the held-out genes, a gene bootstrap (genes drawn with replacement, every
  figure pooled over the drawn genes) of meta - base for FP+FN and F1 per site type, and 3-class accuracy;
  95 % percentile intervals. Genes, not rows, are resampled because a gene's rows share its errors.
- `paired_test`: meta vs base across CV folds or benchmark splits: Wilcoxon signed-rank and paired t.
  With 3-5 pairs neither test can reach p < 0.05 unless every pair agrees (Wilcoxon's smallest two-sided
  p with 5 pairs is 0.0625), so a non-significant result there means "too few folds to tell".
- `error_change_interval`: the relative change of total FP+FN with its bootstrap interval (study scripts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import GpumetaError
from .metrics import SITE_TYPES

#: Bootstrap replicates and confidence level of every interval here.
N_BOOT = 2000
LEVEL = 0.95
#: Replicates drawn at once: bounds the (chunk, n_genes) count matrix.
_CHUNK = 200

#: Fold metric pairs (base column, meta column, what it is) tested across CV folds (gene_cv_metrics.csv).
FOLD_PAIRS = (
    ("base_macro_f1", "test_macro_f1", "macro F1 (3 classes)"),
    ("base_f1", "meta_f1", "splice-vs-not F1 at 0.5"),
    ("base_top_k_accuracy", "top_k_accuracy", "top-k accuracy"),
    ("ap_base", "ap_meta", "splice-vs-not average precision"),
    ("auc_base", "auc_meta", "splice-vs-not ROC AUC"),
)


def resampled_sums(values: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Column sums of `values` (genes x k) over `n_boot` gene bootstrap samples: (n_boot, k)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n == 0:
        raise GpumetaError("a gene bootstrap needs at least one gene")
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, values.shape[1]))
    for start in range(0, n_boot, _CHUNK):
        size = min(_CHUNK, n_boot - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size)  # how often each gene is drawn
        out[start:start + size] = counts @ values
    return out


def _interval(draws: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _f1(tp, fp, fn):
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), np.nan)


def verdict(low: float, high: float, lower_is_better: bool) -> str:
    """Words for an interval of meta - base."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "not estimable"
    if low > 0 or high < 0:
        better = (high < 0) == lower_is_better
        return f"distinguishable from noise: the meta-model is {'better' if better else 'worse'}"
    return "not distinguishable from noise (the interval includes 0)"


def _difference(columns: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], n_boot: int, seed: int,
                lower_is_better: bool) -> dict[str, Any]:
    """`statistic` maps summed columns (..., k) to (base, meta); returns the point figures and the interval."""
    base, meta = statistic(columns.sum(axis=0, keepdims=True))
    draws = statistic(resampled_sums(columns, n_boot, seed))
    low, high = _interval(draws[1] - draws[0])
    return {"base": float(base[0]), "meta": float(meta[0]), "difference": float(meta[0] - base[0]),
            "low": low, "high": high, "verdict": verdict(low, high, lower_is_better)}


def heldout_differences(per_gene: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Gene-bootstrap 95 % intervals of meta - base on held-out genes.

    `per_gene` is the table of `evaluate_predictions` (base_vs_meta_performance.tsv): per gene and type
    n_{t}, {base,meta}_{t}_fp/_fn at the tuned thresholds; with n_rows, {base,meta}_correct (3-class argmax
    hits) when accuracy is to be included. Returns {type: {"fp_fn": ..., "f1": ...}, "all": {"fp_fn"[,
    "accuracy"]}, n_genes, n_boot, level, method}; each figure {base, meta, difference, low, high, verdict}.
    """
    if per_gene.empty:
        raise GpumetaError("no held-out genes to bootstrap")
    out: dict[str, Any] = {"n_genes": len(per_gene), "n_boot": n_boot, "level": LEVEL,
                           "method": "paired gene bootstrap (genes resampled with replacement, figures pooled "
                                     "over the drawn genes), percentile interval of meta - base"}
    errors_all = np.zeros((len(per_gene), 2))
    for i, t in enumerate(SITE_TYPES):
        sites = per_gene[f"n_{t}"].to_numpy(np.float64)
        cols = {m: (per_gene[f"{m}_{t}_fp"].to_numpy(np.float64), per_gene[f"{m}_{t}_fn"].to_numpy(np.float64))
                for m in ("base", "meta")}
        errors = np.column_stack([cols["base"][0] + cols["base"][1], cols["meta"][0] + cols["meta"][1]])
        errors_all += errors
        # F1 from pooled counts: TP = true sites - FN.
        counts = np.column_stack([sites - cols["base"][1], cols["base"][0], cols["base"][1],
                                  sites - cols["meta"][1], cols["meta"][0], cols["meta"][1]])
        out[t] = {
            "fp_fn": _difference(errors, lambda s: (s[:, 0], s[:, 1]), n_boot, seed + i, lower_is_better=True),
            "f1": _difference(counts, lambda s: (_f1(s[:, 0], s[:, 1], s[:, 2]), _f1(s[:, 3], s[:, 4], s[:, 5])),
                              n_boot, seed + i, lower_is_better=False),
        }
    out["all"] = {"fp_fn": _difference(errors_all, lambda s: (s[:, 0], s[:, 1]), n_boot, seed,
                                       lower_is_better=True)}
    if {"base_correct", "meta_correct"} <= set(per_gene.columns):
        hits = per_gene[["n_rows", "base_correct", "meta_correct"]].to_numpy(np.float64)
        out["all"]["accuracy"] = _difference(hits, lambda s: (s[:, 1] / s[:, 0], s[:, 2] / s[:, 0]), n_boot,
                                             seed, lower_is_better=False)
    return out


def error_change_interval(base_errors, meta_errors, n_boot: int = N_BOOT, seed: int = 0
                          ) -> tuple[float, float, float]:
    """Relative change of total errors (meta vs base) and its gene-bootstrap interval, from per-gene counts."""
    errors = np.column_stack([np.asarray(base_errors, np.float64), np.asarray(meta_errors, np.float64)])
    total = errors.sum(axis=0)
    draws = resampled_sums(errors, n_boot, seed)
    low, high = _interval((draws[:, 1] - draws[:, 0]) / np.maximum(draws[:, 0], 1))
    return float((total[1] - total[0]) / max(total[0], 1)), low, high


def paired_test(base, meta, lower_is_better: bool = False) -> dict[str, Any]:
    """Wilcoxon signed-rank and paired t of meta - base over paired units (CV folds, benchmark splits)."""
    from scipy import stats

    base, meta = np.asarray(base, np.float64), np.asarray(meta, np.float64)
    keep = np.isfinite(base) & np.isfinite(meta)
    diff = meta[keep] - base[keep]
    n = int(diff.size)
    result: dict[str, Any] = {"n": n, "mean_difference": float(diff.mean()) if n else float("nan"),
                              "std_difference": float(diff.std(ddof=1)) if n > 1 else float("nan"),
                              "wilcoxon_p": float("nan"), "t_p": float("nan")}
    if n >= 2 and np.any(diff != 0):
        result["wilcoxon_p"] = float(stats.wilcoxon(diff).pvalue)
        if diff.std(ddof=1) > 0:
            result["t_p"] = float(stats.ttest_1samp(diff, 0.0).pvalue)
        else:  # every pair moved by the same amount: no spread, the sign is certain in this sample
            result["t_p"] = 0.0
    smallest = 2 * 0.5 ** n if n else 1.0  # Wilcoxon's smallest two-sided p: every pair the same sign
    significant = [p for p in (result["wilcoxon_p"], result["t_p"]) if np.isfinite(p)]
    if n < 2:
        result["verdict"] = f"not testable ({n} pair)"
    elif significant and min(significant) < 0.05:
        better = (result["mean_difference"] < 0) == lower_is_better
        result["verdict"] = f"distinguishable from noise: the meta-model is {'better' if better else 'worse'}"
    elif smallest >= 0.05:
        result["verdict"] = (f"not distinguishable with {n} pairs (the signed-rank test cannot go below "
                             f"p = {smallest:.3g} with so few; the paired t assumes normal differences)")
    else:
        result["verdict"] = "not distinguishable from noise"
    return result


def fold_tests(cv: pd.DataFrame) -> dict[str, Any]:
    """Paired tests of meta vs base across the CV folds of gene_cv_metrics.csv (its FOLD_PAIRS columns),
    and delta_fp / delta_fn against 0."""
    out: dict[str, Any] = {}
    for base, meta, what in FOLD_PAIRS:
        if {base, meta} <= set(cv.columns):
            out[meta] = {"what": what, **paired_test(cv[base], cv[meta])}
    for delta in ("delta_fp", "delta_fn"):
        if delta in cv.columns:
            out[delta] = {"what": f"{delta[6:].upper()} meta - base (splice-vs-not at 0.5)",
                          **paired_test(np.zeros(len(cv)), cv[delta], lower_is_better=True)}
    return out


def summary_lines(heldout: Mapping[str, Any] | None, folds: Mapping[str, Any] | None,
                  splits: Mapping[str, Any] | None = None) -> list[str]:
    """The statistics in words, for training_summary.txt."""
    lines: list[str] = []
    if heldout:
        lines.append(f"Held-out genes ({heldout['n_genes']}; {heldout['method']}, {heldout['n_boot']} replicates, "
                     f"{heldout['level']:.0%} intervals):")
        for t in (*SITE_TYPES, "all"):
            for figure, block in heldout.get(t, {}).items():
                name = {"fp_fn": "FP+FN", "f1": "F1", "accuracy": "accuracy"}[figure]
                f = "g" if figure == "fp_fn" else ".4f"
                lines.append(f"  {t} {name}: base {block['base']:{f}} -> meta {block['meta']:{f}}, difference "
                             f"{block['difference']:+{f}} [{block['low']:+{f}}, {block['high']:+{f}}]: "
                             f"{block['verdict']}")
    for title, tests in (("CV folds", folds), ("benchmark splits", splits)):
        if tests:
            lines.append(f"Across {title} (paired Wilcoxon signed-rank and t, meta - base):")
            for block in tests.values():
                lines.append(f"  {block['what']}: mean difference {block['mean_difference']:+.4g} over {block['n']}; "
                             f"Wilcoxon p {block['wilcoxon_p']:.3g}, t p {block['t_p']:.3g}: {block['verdict']}")
    return lines


def split_row(split: int, n_test_genes: int, block: Mapping[str, Any]) -> dict[str, Any]:
    """One benchmark split's figures from its headline evaluation block (`evaluate_predictions` summary):
    macro F1, per type FP / FN / F1 at the tuned thresholds, AP and top-k, base and meta."""
    row: dict[str, Any] = {"split": split, "n_test_genes": n_test_genes}
    for m in ("base", "meta"):
        row[f"{m}_macro_f1"] = block["macro_f1"][m]
        for t in SITE_TYPES:
            tuned = block["site_types"][t]["tuned"][m]
            row[f"{m}_{t}_fp"], row[f"{m}_{t}_fn"], row[f"{m}_{t}_f1"] = tuned["fp"], tuned["fn"], tuned["f1"]
            row[f"{m}_{t}_ap"] = block["per_class"][t][m]["ap"]
            row[f"{m}_{t}_top_k"] = block["top_k"][t][m]
    return row


def across_splits(table: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """(aggregate, tests) over benchmark splits: for each figure of `split_row`, mean, std and a 95 % t
    interval of the mean over splits; and paired tests of meta vs base per figure (statistics.paired_test)."""
    from scipy import stats

    n = len(table)
    t_crit = float(stats.t.ppf(0.5 + LEVEL / 2, n - 1)) if n > 1 else float("nan")
    aggregate: dict[str, Any] = {}
    for column in table.columns:
        if column in ("split", "n_test_genes"):
            continue
        values = table[column].to_numpy(np.float64)
        mean, std = float(np.nanmean(values)), float(np.nanstd(values, ddof=1)) if n > 1 else float("nan")
        half = t_crit * std / np.sqrt(n) if n > 1 else float("nan")
        aggregate[column] = {"mean": mean, "std": std, "low": mean - half, "high": mean + half}
    tests: dict[str, Any] = {}
    for column in table.columns:
        if column.startswith("meta_"):
            figure = column[len("meta_"):]
            lower = figure.endswith(("_fp", "_fn"))
            tests[figure] = {"what": figure.replace("_", " "),
                             **paired_test(table[f"base_{figure}"], table[column], lower_is_better=lower)}
    return aggregate, tests
