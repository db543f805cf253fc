"""Feature importance beyond gain and SHAP, as the original's feature_importance_analysis/ folder.

- xgboost's own measures per class: weight (splits on the feature), gain and cover (mean per split), and
  total_gain / total_cover; an ensemble averages its instances with their weights.
- permutation importance on HELD-OUT genes: the drop in average precision of each site type when one
  feature's values are shuffled among the sampled rows (the `max_features` features of highest gain:
  each costs one prediction per repeat).
- mutual information of each feature with the 3-class label, on the same held-out rows (k-NN estimate).
- stability across CV folds: Spearman correlation of the folds' gain vectors (pairwise) and the overlap of
  their top-20 features; per feature, in how many folds it is a top-20 feature.

Rows are sampled (`max_rows`, sites kept first, then other rows) so the cost is bounded on any dataset.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import write_csv, write_json
from ..schema import LABELS
from . import drawing, plots
from .metrics import SITE_TYPES, average_precision

DIRECTORY = "feature_importance_analysis"
XGBOOST_KINDS = ("weight", "gain", "cover", "total_gain", "total_cover")
TOP = 20
#: Rows for the k-NN mutual-information estimate (its cost grows like n log n per feature, plus a fixed
#: cost per feature). Issue 10 (142 features, shared machine): 5,000 rows 4.0 s, 2,000 rows 2.9 s; the same
#: top 5 features, Spearman 0.91 between the two rankings.
MI_ROWS = 2000
#: Held-out rows of the analysis (permutation costs one prediction of them per feature and repeat). Issue 10
#: (~840 trees, 30 features, 2 repeats): 25,000 rows 8.8 s, 10,000 rows 3.7 s; the same top 5 features,
#: Spearman 0.91 between the rankings. Every site row is kept up to half of it.
IMPORTANCE_ROWS = 10_000
PERMUTATION_REPEATS = 2


def _xgboost_boosters(model) -> list | None:
    """The model's per-class xgboost boosters (LABELS order); None when a class is not an xgboost booster
    (model.boosters before the learner interface, each learner's `booster` after it)."""
    boosters = getattr(model, "boosters", None)
    if boosters is None:
        boosters = [getattr(learner, "booster", None) for learner in getattr(model, "learners", [])]
    if len(boosters) != len(LABELS) or not all(hasattr(b, "get_score") for b in boosters):
        return None
    return list(boosters)


def booster_importance(model, kind: str) -> pd.DataFrame | None:
    """xgboost's `kind` importance per feature (rows) and class (columns); None for a model without
    xgboost boosters (other algorithms: gain-like `model.feature_importance()` only). An ensemble: the
    weighted mean over its instances."""
    instances = getattr(model, "instances", None)
    if instances is not None:
        parts = [booster_importance(m, kind) for m in instances]
        if any(p is None for p in parts):
            return None
        w = np.asarray(model.weights, dtype=np.float64)
        return sum(wi / w.sum() * p for wi, p in zip(w, parts))
    boosters = _xgboost_boosters(model)
    if boosters is None:
        return None
    names = list(model.feature_names)
    position = {name: i for i, name in enumerate(names)}
    values = np.zeros((len(names), len(LABELS)))
    for k, booster in enumerate(boosters):
        for key, value in booster.get_score(importance_type=kind).items():
            # keys are "f<i>" unless the booster was given feature names
            values[position[key] if key in position else int(key[1:]), k] = value
    return pd.DataFrame(values, index=pd.Index(names, name="feature"), columns=list(LABELS))


def fold_importance(model) -> dict[str, float]:
    """Total gain per feature summed over classes (written into each fold's fold.json)."""
    gain = booster_importance(model, "total_gain")
    table = gain if gain is not None else model.feature_importance()
    return {str(f): float(v) for f, v in table.sum(axis=1).items()}


def sample_rows(y: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Row indices: every site row up to half of `max_rows`, the rest from the other rows; sorted."""
    rng = np.random.default_rng(seed)
    sites, others = np.flatnonzero(y != LABELS.index("neither")), np.flatnonzero(y == LABELS.index("neither"))
    if len(sites) + len(others) <= max_rows:
        return np.arange(len(y))
    n_sites = min(len(sites), max(max_rows // 2, max_rows - len(others)))
    chosen = [rng.choice(sites, n_sites, replace=False),
              rng.choice(others, min(len(others), max_rows - n_sites), replace=False)]
    return np.sort(np.concatenate(chosen))


def _site_ap(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    return {t: average_precision(y == LABELS.index(t), proba[:, LABELS.index(t)]) for t in SITE_TYPES}


def permutation_importance(model, X: np.ndarray, y: np.ndarray, features: list[str], seed: int = 0,
                           repeats: int = PERMUTATION_REPEATS) -> pd.DataFrame:
    """Mean drop in each site type's average precision when a feature is shuffled (host matrix `X`)."""
    backend = model.backend
    reference = _site_ap(y, model.predict_proba(backend.asarray(X)))
    rng = np.random.default_rng(seed)
    names = list(model.feature_names)
    rows = []
    for feature in features:
        j = names.index(feature)
        drops = {t: [] for t in SITE_TYPES}
        for _ in range(repeats):
            shuffled = X.copy()
            shuffled[:, j] = X[rng.permutation(len(X)), j]
            ap = _site_ap(y, model.predict_proba(backend.asarray(shuffled)))
            for t in SITE_TYPES:
                drops[t].append(reference[t] - ap[t])
        row = {"feature": feature, **{f"ap_drop_{t}": float(np.mean(drops[t])) for t in SITE_TYPES}}
        row["ap_drop_mean"] = float(np.mean([row[f"ap_drop_{t}"] for t in SITE_TYPES]))
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["reference_ap"] = reference
    return table.sort_values("ap_drop_mean", ascending=False, ignore_index=True)


def mutual_information(X: np.ndarray, y: np.ndarray, feature_names: list[str], seed: int = 0) -> pd.DataFrame:
    """Mutual information (nats) of each feature with the 3-class label, on at most MI_ROWS rows."""
    from sklearn.feature_selection import mutual_info_classif

    keep = sample_rows(y, MI_ROWS, seed)
    values = mutual_info_classif(np.nan_to_num(X[keep].astype(np.float64)), y[keep], random_state=seed)
    return (pd.DataFrame({"feature": feature_names, "mutual_information": values})
            .sort_values("mutual_information", ascending=False, ignore_index=True))


def fold_stability(fold_gains: dict[str, dict[str, float]], top: int = TOP) -> tuple[dict[str, Any], pd.DataFrame]:
    """Agreement of the folds' gain rankings: (summary, per-feature table of top-`top` membership)."""
    from scipy.stats import spearmanr

    table = pd.DataFrame(fold_gains).fillna(0.0)  # features x folds
    tops = {fold: set(table[fold].nlargest(top).index) for fold in table.columns}
    rhos, overlaps = [], []
    for a, b in combinations(table.columns, 2):
        rho = spearmanr(table[a], table[b]).statistic
        rhos.append(float(rho) if np.isfinite(rho) else float("nan"))
        overlaps.append(len(tops[a] & tops[b]) / len(tops[a] | tops[b]) if tops[a] | tops[b] else float("nan"))
    per_feature = pd.DataFrame({"feature": table.index,
                                "folds_in_top": [sum(f in tops[k] for k in tops) for f in table.index],
                                "mean_gain": table.mean(axis=1).to_numpy(),
                                "cv_gain": (table.std(axis=1, ddof=0) / table.mean(axis=1).replace(0, np.nan))
                                .to_numpy()})
    per_feature = per_feature.sort_values(["folds_in_top", "mean_gain"], ascending=False, ignore_index=True)
    summary = {"n_folds": int(table.shape[1]), "top": top,
               "spearman_mean": float(np.nanmean(rhos)) if rhos else float("nan"),
               "spearman_min": float(np.nanmin(rhos)) if rhos else float("nan"),
               f"top{top}_jaccard_mean": float(np.nanmean(overlaps)) if overlaps else float("nan"),
               "features_in_every_top": int((per_feature["folds_in_top"] == table.shape[1]).sum())}
    return summary, per_feature


def _bars(table: pd.DataFrame, column: str, title: str, xlabel: str, out_dir: Path, name: str, note: str) -> Path:
    plt = plots._pyplot()
    best = table.nlargest(TOP, column)[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.26 * len(best) + 1.4))
    ax.barh(best["feature"], best[column], color="#1f77b4")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    return plots.save_figure(fig, out_dir, name, note)


def analyse_feature_importance(model, dataset, run_dir: str | Path, fold_gains: dict[str, dict[str, float]] | None,
                               genes=None, max_rows: int = IMPORTANCE_ROWS, max_features: int = 30,
                               seed: int = 0) -> dict[str, Any]:
    """Write RUN/feature_importance_analysis/ from the rows of `genes` (held-out genes only; default: all of the
    dataset's) and the folds' gain vectors; returns its summary (also importance_summary.json there). Only
    the sampled rows' features are read (`MetaDataset.take`)."""
    out = Path(run_dir) / DIRECTORY
    genes = list(dataset.genes) if genes is None else list(genes)
    rows = dataset.rows_of(genes)
    keep = sample_rows(dataset.y[rows], max_rows, seed)
    X = dataset.backend.to_host(dataset.take(rows[keep], model.feature_names))
    y = np.asarray(dataset.y[rows])[keep]
    names = list(model.feature_names)
    summary: dict[str, Any] = {"n_rows": len(keep), "n_genes": len(genes), "seed": seed,
                               "rows": "held-out genes' rows: every site row up to half the sample, then others"}

    drawn = []  # figures queued (drawing.draw) while the next measure is computed
    xgb = {kind: booster_importance(model, kind) for kind in XGBOOST_KINDS}
    if all(v is not None for v in xgb.values()):
        wide = pd.DataFrame({"feature": names})
        for kind, table in xgb.items():
            for label in LABELS:
                wide[f"{kind}_{label}"] = table[label].reindex(names).fillna(0.0).to_numpy()
        wide = wide.sort_values([f"total_gain_{label}" for label in LABELS], ascending=False, ignore_index=True)
        write_csv(out / "xgboost_importance.csv", wide)
        wide["weight_all"] = wide[[f"weight_{label}" for label in LABELS]].sum(axis=1)
        drawn.append(drawing.draw(_bars, wide, "weight_all", "xgboost weight: splits on the feature (all classes)",
                                  "splits", out, "xgboost_weight", "training rows of the final model"))
        ranking = wide[[f"total_gain_{label}" for label in LABELS]].sum(axis=1)
        candidates = list(wide.loc[ranking.sort_values(ascending=False).index, "feature"])
    else:
        gain = model.feature_importance().sum(axis=1)
        candidates = list(gain.sort_values(ascending=False).index)
    features = candidates[:max_features]

    permutation = permutation_importance(model, X, y, features, seed=seed)
    write_csv(out / "permutation_importance.csv", permutation)
    summary["permutation"] = {"features": len(features), "rows": len(keep), "repeats": PERMUTATION_REPEATS,
                              "reference_ap": permutation.attrs["reference_ap"],
                              "top": permutation.head(5)["feature"].tolist()}
    drawn.append(drawing.draw(_bars, permutation, "ap_drop_mean", "permutation importance on held-out genes",
                              "mean drop in donor/acceptor average precision when shuffled", out,
                              "permutation_importance", f"{len(keep):,} rows of {len(genes)} held-out genes, "
                              f"{PERMUTATION_REPEATS} shuffles each; top {len(features)} features by gain"))

    mi = mutual_information(X, y, names, seed=seed)
    write_csv(out / "mutual_information.csv", mi)
    mi_rows = int(min(len(keep), MI_ROWS))
    summary["mutual_information"] = {"rows": mi_rows, "top": mi.head(5)["feature"].tolist()}
    drawn.append(drawing.draw(_bars, mi, "mutual_information", "mutual information with the label",
                              "nats (k-NN estimate)", out, "mutual_information",
                              f"{mi_rows:,} rows of the held-out genes (sites first)"))

    if fold_gains and len(fold_gains) >= 2:
        stability, per_feature = fold_stability(fold_gains)
        write_csv(out / "fold_stability.csv", per_feature)
        summary["stability"] = stability
    else:
        summary["stability"] = None  # a resumed run whose folds predate the per-fold gains
    drawing.wait(drawn)
    write_json(out / "importance_summary.json", summary)
    return summary


def summary_lines(summary: dict[str, Any] | None) -> list[str]:
    """The analysis in words, for training_summary.txt."""
    if not summary:
        return []
    lines = [f"feature_importance_analysis/ ({summary['n_rows']:,} rows of {summary['n_genes']} held-out genes):",
             f"  permutation (AP drop when shuffled; {summary['permutation'].get('repeats', 2)} shuffles of "
             f"{summary['permutation'].get('rows', summary['n_rows']):,} rows), top: "
             f"{', '.join(summary['permutation']['top'])}",
             f"  mutual information with the label ({summary['mutual_information']['rows']:,} rows), top: "
             f"{', '.join(summary['mutual_information']['top'])}"]
    stability = summary.get("stability")
    if stability:
        top = stability["top"]
        lines.append(f"  stability across {stability['n_folds']} folds: gain rank correlation mean "
                     f"{stability['spearman_mean']:.3f} (min {stability['spearman_min']:.3f}); top-{top} overlap "
                     f"(Jaccard) {stability[f'top{top}_jaccard_mean']:.3f}; "
                     f"{stability['features_in_every_top']} features in every fold's top {top}")
    return lines
